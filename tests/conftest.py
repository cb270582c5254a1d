"""Shared fixtures: the tiny eHYD mirror, a local server that answers like eHYD, and the
synthetic project tree and the fake eHYD area built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehyd_server import DATA, EhydServer, build_mirror
from synthetic_results import write_synthetic


@pytest.fixture
def ehyd_data() -> Path:
    """tests/data/ehyd: real extracts of eHYD files and catalogs (read-only)."""
    return DATA


@pytest.fixture
def ehyd_mirror(tmp_path) -> Path:
    """A tiny eHYD mirror in a temporary folder (see ehyd_server.build_mirror)."""
    return build_mirror(tmp_path / "mirror")


@pytest.fixture
def ehyd_server(ehyd_mirror):
    """A running EhydServer for ``ehyd_mirror`` on 127.0.0.1; stopped after the test."""
    server = EhydServer(ehyd_mirror).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def synthetic_tree(tmp_path_factory) -> dict[str, Path]:
    """The paths of ``write_synthetic`` (3 wells, ARX, the library TL), written once per session.

    Read-only: tests that change or delete files write a tree of their own.
    """
    return write_synthetic(tmp_path_factory.mktemp("synthetic"), n_wells=3, baselines=("arx",), library=True)


@pytest.fixture(scope="session")
def fake_area(tmp_path_factory) -> Path:
    """The fake area 999 "Testfeld" of tests/test_basin.py as a mirror folder, built once per session.

    Read-only: tests that change files copy it (``fake_mirror`` in tests/test_basin.py).
    """
    from test_basin import build_fake_area

    return build_fake_area(tmp_path_factory.mktemp("area") / "fake")
