"""Shared fixtures: the tiny eHYD mirror and a local server that answers like eHYD."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehyd_server import DATA, EhydServer, build_mirror


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
