"""Reliability of `dvc repro` itself, in reduced temporary copies of the project.

* A `dvc repro` killed (SIGKILL to its process group) during ``pretrain`` and then
  while ``finetune`` fine-tunes the wells: no half-written output, the previous
  outputs come back with `dvc checkout`, `dvc status` names what is outdated, and a
  rerun completes with a clean `dvc status` without redoing the stages that had
  finished.
* Corrupt raw files in the data source (a mirror folder) and bad params.yaml values
  make `dvc repro` fail with a message that names the file, station or key and says
  what to do, and leave no half-written output. params.yaml is checked as a whole by
  the first stage, ``params``, so a typo (an unknown key or section) costs no stage
  its previous outputs; a failed stage's message says how to restore them.
* Forced reruns of ``pretrain`` and ``finetune`` with the same seed give
  byte-identical models and predictions.

The pipeline is run up to the ``finetune`` stage only (three wells, tiny budgets),
which is all these checks need; tests/test_pipeline.py runs every stage.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline_copy import ALWAYS_RUN, MIRROR, copy_project, pipeline_env, reduced_params, write_params

WELLS = [310854, 311001, 329144]
BUDGETS = {"pretrain__trials": 2, "train__max_epochs": 5, "ensemble__members": 1,
           "it_lstm__trials": 1, "it_lstm__budgets": [], "baselines__trials": 2}
GW = "Grundwasserstand-Monatsmittel-{}.csv"

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no eHYD mirror at {MIRROR}; set GWTL_EHYD_MIRROR")]


# --------------------------------------------------------------------------- helpers


def dvc(project: Path, env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["dvc", *args], cwd=project, env=env, capture_output=True, text=True)
    if ok:
        assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    done.output = done.stdout + done.stderr
    return done


def snapshot(folder: Path) -> dict[str, str] | None:
    """File name -> sha256 of ``folder`` or every file under it (None if it does not exist)."""
    if not folder.exists():
        return None
    if folder.is_file():
        return {folder.name: hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def outputs(project: Path, names: list[str]) -> dict[str, dict | None]:
    return {name: snapshot(project / name) for name in names}


def leftovers(project: Path, folders: list[str]) -> list[str]:
    """Temporary files or folders of an interrupted write (``.x.tmp``, ``.x.old``, ``.part``, ...)."""
    found = []
    for folder in folders:
        for path in (project / folder).glob(".*"):
            if path.name != ".gitignore":
                found.append(path.relative_to(project).as_posix())
        found += [p.relative_to(project).as_posix() for p in (project / folder).rglob("*.part")]
    return found


def assert_absent_or_same(now: dict, before: dict, context: str) -> None:
    """Each output is either gone (DVC removes a stage's outputs before running it) or as it was."""
    for name, files in now.items():
        assert files is None or files == before[name], f"{context}: {name} was changed or half written"


def status(project: Path, env: dict, *targets: str) -> str:
    """``dvc status`` without the entries of the stages that run on every repro (always changed)."""
    text = dvc(project, env, "status", *targets).output
    for stage in ALWAYS_RUN:
        text = text.replace(f"{stage}:\n\talways changed\n", "")
    return text.strip() or "Data and pipelines are up to date."


def repro_killed(project: Path, env: dict, args: list[str], when: Callable[[str], bool],
                 timeout: float = 180) -> str:
    """Start `dvc repro *args*`, SIGKILL its process group as soon as ``when(output so far)``.

    Returns the output. Fails if the run ended (or timed out) before ``when`` held.
    """
    proc = subprocess.Popen(["dvc", "repro", *args], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while not when("".join(lines)):
            assert proc.poll() is None, "dvc repro ended before it could be killed:\n" + "".join(lines)[-4000:]
            assert time.monotonic() < deadline, "timed out waiting to kill:\n" + "".join(lines)[-4000:]
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(10)
    return "".join(lines)


def stage_processes(project: Path) -> dict[int, str]:
    """Processes working in ``project`` (DVC, gwtl.pipeline.notebook, kernels): pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == project:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
            except OSError:
                pass
    return found


def assert_nothing_keeps_running(project: Path, timeout: float = 15.0) -> None:
    """After a kill, no process may go on computing the killed stage (a kernel, say)."""
    deadline = time.monotonic() + timeout
    while (left := stage_processes(project)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes still running {timeout:.0f} s after the kill: {left}"


def finetune_writing(project: Path) -> Callable[[str], bool]:
    """True once the ``finetune`` stage has made the temporary folder it fine-tunes the wells into."""
    def ready(output: str) -> bool:
        return "Running stage 'finetune'" in output and any((project / "models").glob(".finetune.*.tmp"))
    return ready


def stage_running(project: Path, stage: str, notebook: str) -> Callable[[str], bool]:
    """True once `stage` has started and its notebook is executing.

    papermill writes the executed notebook to ``notebook`` (a temporary name) as each
    cell starts; a copy left by an earlier killed run does not count.
    """
    started: list[float] = []

    def ready(output: str) -> bool:
        if not started:
            if f"Running stage '{stage}'" not in output:
                return False
            started.append(time.time() - 0.5)  # file times are rounded
        try:
            return (project / notebook).stat().st_mtime >= started[0]
        except FileNotFoundError:
            return False
    return ready


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A reduced copy in which `dvc repro finetune` (fetch .. finetune) has run."""
    folder = copy_project(tmp_path_factory.mktemp("reliability") / "project", reduced_params(WELLS, **BUDGETS))
    env = pipeline_env()
    dvc(folder, env, "repro", "finetune")
    yield folder, env


def mirror_files(params: dict) -> list[str]:
    basin = params["basin"]
    return ([f"catalog/messstellen_{kind}.csv" for kind in ("gw", "nlv", "owf")]
            + [f"gw/{GW.format(w)}" for w in basin["wells"]]
            + [f"nlv/N-Tagessummen-{s}.csv" for s in basin["rain_stations"]]
            + [f"owf/Q-Tagesmittel-{g}.csv" for g in basin["gauges"]])


@pytest.fixture(scope="module")
def sourced(tmp_path_factory):
    """A reduced copy whose data.source is a small mirror folder of its own; fetch and prepare have run."""
    root = tmp_path_factory.mktemp("sourced")
    params = reduced_params(WELLS, **BUDGETS)
    mirror = root / "mirror"
    for name in mirror_files(params):
        (mirror / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MIRROR / name, mirror / name)
    params["data"]["source"] = str(mirror)
    folder = copy_project(root / "project", params)
    env = pipeline_env(mirror=None)
    env.pop("GWTL_EHYD_MIRROR", None)
    dvc(folder, env, "repro", "prepare")
    yield folder, env, mirror


# --------------------------------------------------------------------------- killed runs


def test_killed_repro_leaves_restorable_outputs_and_a_rerun_completes(project):
    project, env = project
    outs = ["models/pretrain", "reports/pretrain.ipynb", "reports/pretrain.html",
            *(f"models/finetune/{w}" for w in WELLS)]
    before = outputs(project, outs)
    assert all(before.values()), before

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["seed"] += 1
    write_params(project, params)

    # 1. killed while the pretrain notebook runs
    out = repro_killed(project, env, ["finetune"], stage_running(project, "pretrain", "reports/pretrain.tmp.ipynb"))
    assert "Running stage 'finetune" not in out
    assert_nothing_keeps_running(project)
    text = status(project, env, "pretrain")
    assert "pretrain:" in text and "params.yaml" in text and "deleted" in text, text  # what changed, what is gone
    assert_absent_or_same(outputs(project, outs), before, "killed during pretrain")
    assert not leftovers(project, ["models", "models/finetune", "reports"])
    dvc(project, env, "checkout", "--with-deps", "finetune")
    assert outputs(project, outs) == before  # DVC's cache gives the previous outputs back

    # 2. killed while the finetune stage writes its wells: pretrain is done, finetune is not
    out = repro_killed(project, env, ["finetune"], finetune_writing(project))
    # Under load the kill of part 1 can land after DVC saved pretrain's run cache: then part 2 restores it.
    pretrained = "Running stage 'pretrain'" in out or "Stage 'pretrain' is cached" in out
    assert pretrained, out[-4000:]
    assert_nothing_keeps_running(project)
    now = outputs(project, outs)
    assert now["models/pretrain"] not in (None, before["models/pretrain"])  # new seed, committed by DVC
    assert_absent_or_same({f"models/finetune/{w}": now[f"models/finetune/{w}"] for w in WELLS},
                          before, "killed during finetune")
    # SIGKILL leaves the temporary folder of the wells done so far, never a half-written output
    assert set(leftovers(project, ["models"])) <= {p.relative_to(project).as_posix()
                                                   for p in (project / "models").glob(".finetune.*.tmp")}
    assert not leftovers(project, ["models/finetune", "reports"])
    text = status(project, env, "--with-deps", "finetune")
    assert "finetune:" in text and "pretrain:" not in text, text

    # 3. a rerun does only what is left and ends clean
    out = dvc(project, env, "repro", "finetune").output
    assert "Running stage 'pretrain'" not in out and "Running stage 'finetune'" in out
    assert "up to date" in status(project, env, "--with-deps", "finetune")
    assert not leftovers(project, ["models", "models/finetune", "reports"])
    assert not list((project / "reports").rglob("*.tmp.ipynb"))  # papermill's copies of the killed runs
    assert all(outputs(project, outs).values())


# --------------------------------------------------------------------------- same seed, same result


def test_forced_rerun_with_the_same_seed_gives_identical_models(project):
    project, env = project
    well = WELLS[0]
    folders = {"pretrain": project / "models" / "pretrain", "finetune": project / "models" / "finetune" / str(well)}
    dvc(project, env, "repro", "finetune")  # whatever ran before, start from a complete state

    def results() -> dict:
        """Every file but the timings (cost.json, the seconds and cpu_s columns of trials.csv)."""
        found = {}
        for name, folder in folders.items():
            for path in sorted(folder.iterdir()):
                if path.name == "trials.csv":
                    found[f"{name}/{path.name}"] = pd.read_csv(path).drop(columns=["seconds", "cpu_s"])
                elif path.name != "cost.json":
                    found[f"{name}/{path.name}"] = path.read_bytes()
        return found

    before = results()
    dvc(project, env, "repro", "-f", "-s", "pretrain")
    dvc(project, env, "repro", "-f", "-s", "finetune")
    after = results()
    assert {"pretrain/model.pt", "pretrain/trials.csv", "finetune/model.pt", "finetune/predictions.csv"} <= set(before)
    assert set(after) == set(before)
    for name, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(after[name], value, check_exact=True, obj=name)
        else:
            assert after[name] == value, f"models/{name} differs between two runs with the same seed"


# --------------------------------------------------------------------------- corrupt inputs


def garbage(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] + bytes(range(256)) + raw[len(raw) // 2:])


def cut_in_last_value(path: Path) -> None:
    """Cut the file inside the last number (``; 285,50 ;`` becomes ``; 28``): a truncated copy."""
    raw = path.read_bytes()
    last = raw.rstrip(b"\n").rsplit(b"\n", 2)[-2]  # the last line is the gap of 01.01.2022
    assert b"," in last, last
    path.write_bytes(raw[: raw.rindex(last) + last.index(b",") - 1])


def cut_lines(path: Path) -> None:
    """Keep the first half of the lines: a truncated copy that still parses."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))


CORRUPTIONS = {
    # case: (file, how, words the failure must show)
    "garbage": (f"gw/{GW.format(WELLS[1])}", garbage,
                ["station 311001", GW.format(WELLS[1]), "is corrupt", "replace the file in the mirror"]),
    "cut-value": ("nlv/N-Tagessummen-112516.csv", cut_in_last_value,
                  ["station 112516", "N-Tagessummen-112516.csv", "truncated", "replace the file in the mirror"]),
    "missing": (f"gw/{GW.format(WELLS[2])}", Path.unlink,
                ["basin.wells", "[329144]", "remove them from basin.wells", "data.source"]),
    "cut-lines": (f"gw/{GW.format(WELLS[0])}", cut_lines,
                  ["well 310854", "coverage", "prepare.min_coverage", "remove each from its list"]),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_source_file_fails_naming_it(sourced, case):
    project, env, mirror = sourced
    name, corrupt, words = CORRUPTIONS[case]
    outs = ["data/raw", "data/processed", "reports/data.ipynb"]
    before = outputs(project, outs)
    assert all(before.values()), before
    original = (mirror / name).read_bytes()
    corrupt(mirror / name)
    try:
        done = dvc(project, env, "repro", "-f", "prepare", ok=False)  # -f: the mirror is no DVC dependency
    finally:
        (mirror / name).write_bytes(original)
    assert done.returncode != 0, done.output[-3000:]
    for word in words:
        assert word in done.output, f"{word!r} not in the output of the failed dvc repro:\n{done.output[-3000:]}"
    assert not leftovers(project, ["data", "data/raw", "reports"])
    now = outputs(project, outs)
    failed = "prepare" if case == "cut-lines" else "fetch"
    assert f"failed to reproduce '{failed}'" in done.output
    assert f"`dvc checkout {failed}` restores them" in done.output  # how to get the deleted outputs back
    if failed == "prepare":  # fetch could not tell the shorter file from a real one and finished
        assert now["data/raw"] is not None and now["data/raw"] != before["data/raw"]
        assert "up to date" in status(project, env, "fetch")
        del now["data/raw"]
    assert_absent_or_same(now, before, case)
    assert "prepare:" in status(project, env, "prepare")  # DVC tells that prepare is to be redone

    dvc(project, env, "checkout", "--with-deps", "prepare")
    if failed == "prepare":  # the mirror file is back: fetch it again
        dvc(project, env, "repro", "-f", "-s", "fetch")
    assert outputs(project, outs) == before
    assert "up to date" in status(project, env, "prepare")


@pytest.mark.parametrize("section, key, value", [
    ("forecast", "leads", [0, 1]),  # lead 0: read by the model stages only (a misspelt key: the test below)
])
def test_bad_params_fail_before_any_work(sourced, section, key, value):
    project, env, _ = sourced
    good = (project / "params.yaml").read_text()
    params = yaml.safe_load(good)
    params[section][key] = value
    write_params(project, params)
    before = outputs(project, ["data/raw", "data/processed"])
    try:
        start = time.monotonic()
        done = dvc(project, env, "repro", ok=False)
        seconds = time.monotonic() - start
    finally:
        (project / "params.yaml").write_text(good)
    assert done.returncode != 0
    assert f"params.yaml: {section}.{key}:" in done.output, done.output[-3000:]
    assert "Nothing else was run or changed" in done.output
    assert done.output.count("Running stage") == 1, done.output[-3000:]  # DVC stops at the first failure
    assert "failed to reproduce 'params'" in done.output  # the first stage checks the whole of params.yaml
    assert "trial " not in done.output and seconds < 60  # no training started
    assert_absent_or_same(outputs(project, ["data/raw", "data/processed"]), before, f"{section}.{key}")
    dvc(project, env, "checkout", "--with-deps", "prepare")
    assert "up to date" in status(project, env, "prepare")


def test_params_are_checked_before_any_stage_deletes_its_outputs(sourced):
    """A typo in params.yaml (a key of a section, or a whole section) fails the first stage, ``params``,
    before DVC deletes any other stage's outputs; with params.yaml restored no other stage reruns."""
    project, env, _ = sourced
    dvc(project, env, "repro", "prepare")  # up to date with the mirror, whatever the tests before did
    good = (project / "params.yaml").read_text()
    outs = ["data/raw", "data/processed", "reports/fetch.ipynb", "reports/data.ipynb", "reports/data.html"]
    before = outputs(project, outs)
    assert all(before.values()), before
    typos = {"prepare.min_coverge": lambda p: p["prepare"].update(min_coverge=0.95),
             "pretrian": lambda p: p.update(pretrian={"trials": 3})}  # before: "up to date"
    for key, typo in typos.items():
        params = yaml.safe_load(good)
        typo(params)
        write_params(project, params)
        try:
            done = dvc(project, env, "repro", "prepare", ok=False)
        finally:
            (project / "params.yaml").write_text(good)
        assert done.returncode != 0, done.output[-3000:]
        assert f"params.yaml: {key}: unknown" in done.output, done.output[-3000:]
        assert "failed to reproduce 'params'" in done.output and done.output.count("Running stage") == 1
        assert "Nothing else was run or changed" in done.output
        assert outputs(project, outs) == before, key  # byte for byte

    done = dvc(project, env, "repro", "prepare")  # params.yaml as it was: at most the check itself reruns
    assert "Running stage 'fetch'" not in done.output and "Running stage 'prepare'" not in done.output, done.output
    assert outputs(project, outs) == before
    assert "up to date" in status(project, env, "--with-deps", "prepare")


def test_a_changed_source_file_is_fetched_again(sourced):
    """The stage source checks the mirror on every repro: an edit is fetched, an unchanged mirror reruns nothing."""
    project, env, mirror = sourced
    done = dvc(project, env, "repro", "prepare")
    assert "Running stage 'source'" in done.output  # always checked
    assert "Running stage 'fetch'" not in done.output and "Running stage 'prepare'" not in done.output, done.output
    before = outputs(project, ["data/raw"])
    path = mirror / "gw" / GW.format(WELLS[0])
    original = path.read_bytes()
    start = original.index(b"Werte:")
    value = re.compile(rb";\s+(\d+),(\d\d)").search(original, start)
    cents = int(value.group(2))
    edited = original[:value.start(2)] + b"%02d" % ((cents + 1) % 100) + original[value.end(2):]
    try:
        path.write_bytes(edited)
        done = dvc(project, env, "repro", "prepare")
        assert "Running stage 'fetch'" in done.output and "Running stage 'prepare'" in done.output, done.output
        assert outputs(project, ["data/raw"]) != before
    finally:
        path.write_bytes(original)
    dvc(project, env, "repro", "prepare")
    assert outputs(project, ["data/raw"]) == before
