"""Temporary copies of the project for pipeline-level tests and benchmarks.

A copy holds the project's git-tracked files (no data, models or reports), its own
``git init`` and, optionally, a params.yaml of its own, so that ``dvc repro`` can run
in it without touching the project. Used by ``tests/test_pipeline.py``,
``tests/test_reliability.py`` and ``benchmarks/bench_pipeline.py`` (which imports this
file by path)::

    project = copy_project(tmp_path / "project", reduced_params([310854, 311001, 329144]))
    env = pipeline_env()
    subprocess.run(["dvc", "repro"], cwd=project, env=env)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Stages that run on every ``dvc repro`` (``always_changed``): the check of the data source.
ALWAYS_RUN = tuple(name for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items()
                   if stage.get("always_changed"))
#: The offline eHYD mirror: GWTL_EHYD_MIRROR, else ../shared/data/ehyd beside the project.
MIRROR = Path(os.environ.get("GWTL_EHYD_MIRROR", ROOT.parent / "shared" / "data" / "ehyd"))


def project_params() -> dict:
    """The project's params.yaml as a dict."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def reduced_params(wells: list[int], **settings) -> dict:
    """The project's params.yaml with ``basin.wells`` = ``wells`` and small budgets.

    ``settings`` override single keys, written with ``__`` for the dot:
    ``reduced_params(wells, train__max_epochs=5, pretrain__search__hidden=[8])``.
    Defaults: pretrain.trials 2, search windows [6, 12], hidden [8], ensemble
    members 2, it_lstm trials 3 with budgets [2], baselines and library trials 2,
    library.clusters 1, train.max_epochs 20, patience 5.
    """
    params = project_params()
    params["basin"]["wells"] = list(wells)
    budgets = {
        "pretrain__trials": 2, "pretrain__search__window": [6, 12], "pretrain__search__hidden": [8],
        "it_lstm__trials": 3, "it_lstm__budgets": [2], "ensemble__members": 2, "baselines__trials": 2,
        "train__max_epochs": 20, "train__patience": 5, "library__trials": 2, "library__clusters": 1,
    }
    for name, value in {**budgets, **settings}.items():
        *path, key = name.split("__")
        section = params
        for part in path:
            section = section[part]
        if key not in section:
            raise KeyError(f"params.yaml has no key {'.'.join([*path, key])}")
        section[key] = value
    return params


def write_params(project: Path, params: dict) -> None:
    """Write ``params`` as the params.yaml of ``project``."""
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(dest: Path, params: dict | None = None, source: Path = ROOT) -> Path:
    """Copy the git-tracked files of the project into ``dest`` and ``git init`` it.

    Parameters
    ----------
    dest : Path
        Folder to fill (created if needed).
    params : dict, optional
        Written as the copy's params.yaml; None keeps the project's.
    source : Path
        The git checkout to copy (default this project; a benchmark may copy
        an older commit's checkout to time it side by side).

    Returns
    -------
    Path
        ``dest``.
    """
    tracked = subprocess.run(["git", "ls-files"], cwd=source, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (source / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, dest / name)
    if params is not None:
        write_params(dest, params)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def pipeline_env(mirror: Path | None = MIRROR) -> dict[str, str]:
    """Environment for ``dvc repro`` in a copy: this interpreter's bin first on PATH,
    GWTL_EHYD_MIRROR set to ``mirror`` when that folder exists."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    if mirror is not None and Path(mirror).exists():
        env["GWTL_EHYD_MIRROR"] = str(mirror)
    return env


def stages_run(output: str) -> list[str]:
    """The stages a ``dvc repro`` output says it ran, in order."""
    return re.findall(r"Running stage '([^']+)'", output)


def did_work(output: str) -> bool:
    """Whether a ``dvc repro`` ran any stage besides those of :data:`ALWAYS_RUN` (a no-op runs only them)."""
    return any(stage not in ALWAYS_RUN for stage in stages_run(output))
