"""``gwtl basin AREA --queue`` against DVC: one queued experiment per area in a git+dvc copy of the project.

Nothing is run: the queued task's params are read back from ``dvc exp show --json``, then the queue is
emptied. The fake area of tests/test_basin.py stands in for an eHYD area.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_copy import copy_project
from test_basin import FAKE_BASIN, fake_params_text

from gwtl.pipeline.area_experiments import exp_show
from gwtl.pipeline.cli import main

GIT = ["git", "-c", "user.name=gwtl tests", "-c", "user.email=tests@gwtl.invalid"]


@pytest.fixture(scope="module")
def mirror(fake_area) -> Path:
    return fake_area  # tests/conftest.py


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A committed git+dvc copy of the project with the fake area's period (its queue emptied at the end)."""
    folder = copy_project(tmp_path_factory.mktemp("queue") / "project")
    (folder / "params.yaml").write_text(fake_params_text(), encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "start"], cwd=folder, check=True)
    yield folder
    subprocess.run(["dvc", "queue", "remove", "--all"], cwd=folder, capture_output=True, env=ENV)


ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def in_project(project, monkeypatch) -> Path:
    monkeypatch.setenv("PATH", ENV["PATH"])
    monkeypatch.chdir(project)
    return project


def queued(project: Path) -> dict:
    """Name -> (state, params.yaml) of the experiments of ``dvc exp show --json``."""
    found = {}
    for entry in exp_show(project):
        for group in entry.get("experiments") or []:
            for rev in group["revs"]:
                found[group["name"]] = (group["executor"]["state"], rev["data"]["params"]["params.yaml"]["data"])
    return found


@pytest.mark.e2e
def test_queue_one_experiment_per_area(in_project, mirror, capsys):
    project = in_project
    before = (project / "params.yaml").read_text(encoding="utf-8")
    assert main(["basin", "999", "--queue", "--source", str(mirror), "-S", "train.max_epochs=7"]) == 0
    out = capsys.readouterr().out
    assert "Wells of area 999: 3 of 5 kept" in out  # the report of gwtl basin
    assert "queued experiment area-999 of area 999 Testfeld (3 wells); params.yaml not changed:" in out
    assert "dvc queue start -j 1" in out and "dvc queue status" in out and "gwtl areas" in out
    assert main(["basin", "999", "--queue", "--name", "narrow", "--source", str(mirror),
                 "-S", "basin.wells=[900001,900002,900003]", "-S", "basin.name=Testfeld Nord"]) == 0
    assert "queued experiment narrow of area 999 Testfeld (3 wells)" in capsys.readouterr().out
    assert (project / "params.yaml").read_text(encoding="utf-8") == before

    tasks = queued(project)
    state, params = tasks["area-999"]
    assert state == "queued"
    assert params["basin"] == {"name": "Testfeld", "area": 999, **FAKE_BASIN}
    assert params["forecast"]["forcings"] == ["precipitation", "discharge_700002"]
    assert params["data"]["source"] == str(mirror.resolve())  # absolute: the experiment runs elsewhere
    assert params["train"]["max_epochs"] == 7 and params["prepare"]["start"] == "2000-01"
    assert tasks["narrow"][1]["basin"]["name"] == "Testfeld Nord"

    assert main(["areas", "--out", "areas.csv"]) == 0
    out = capsys.readouterr().out
    assert "narrow" in out and "area-999" in out
    with open(project / "areas.csv", encoding="utf-8", newline="") as fh:
        rows = {row["experiment"]: row for row in csv.DictReader(fh)}
    assert {k: rows["area-999"][k] for k in ("state", "basin.name", "basin.area", "wells")} == \
        {"state": "queued", "basin.name": "Testfeld", "basin.area": "999", "wells": "3"}


@pytest.mark.e2e
def test_nothing_is_queued_on_an_error(in_project, mirror, capsys):
    assert main(["basin", "999", "--queue", "--name", "taken", "--source", str(mirror)]) == 0
    capsys.readouterr()
    names = set(queued(in_project))
    for args, message in [
            (["--name", "taken"], "an experiment or queued task named 'taken' exists already"),
            (["-S", "train.max_epoch=5"], "-S train.max_epoch=5: params.yaml has no key train.max_epoch"),
            (["-S", "train.max_epochs=0"], "nothing was queued:\nparams.yaml: train.max_epochs: 0")]:
        assert main(["basin", "999", "--queue", "--name", "other", "--source", str(mirror), *args]) == 1
        assert message in capsys.readouterr().err
    assert set(queued(in_project)) == names


@pytest.mark.parametrize("setup, message", [
    ([], "is not inside a git repository, and a DVC experiment is a git commit; run `git init`"),
    ([["git", "init", "-q"]], "has no commit yet, and an experiment is a commit on top of one"),
    ([["git", "init", "-q"], ["git", "add", "-A"], [*GIT, "commit", "-q", "-m", "start"]],
     "is not a DVC project (no .dvc folder); run `dvc init`"),
])
def test_a_folder_that_cannot_queue(tmp_path, monkeypatch, mirror, capsys, setup, message):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # tmp_path may lie inside a repo
    (tmp_path / "params.yaml").write_text(fake_params_text(), encoding="utf-8")
    for command in setup:
        subprocess.run(command, cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    assert main(["basin", "999", "--queue", "--source", str(mirror)]) == 1
    err = capsys.readouterr()
    assert message in err.err and "Wells of area" not in err.out  # checked before choosing


@pytest.mark.parametrize("tools, missing", [([], "git"), (["git"], "dvc")])
def test_tools_not_on_path(tmp_path, monkeypatch, mirror, capsys, tools, missing):
    (tmp_path / "bin").mkdir()
    for tool in tools:
        (tmp_path / "bin" / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    (tmp_path / "params.yaml").write_text(fake_params_text(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["basin", "999", "--queue", "--source", str(mirror)]) == 1
    assert f"--queue runs `dvc exp run --queue`, but `{missing}` is not on PATH" in capsys.readouterr().err


def test_queue_options_need_queue(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(fake_params_text(), encoding="utf-8")
    assert main(["basin", "999", "-S", "train.max_epochs=5"]) == 1
    assert "--name and -S go with --queue" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["basin", "999", "--queue", "--dry-run"])
    assert "not allowed with argument" in capsys.readouterr().err
