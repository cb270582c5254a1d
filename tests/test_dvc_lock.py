"""The committed dvc.lock records exactly the stages of dvc.yaml.

DVC keeps the entry of a stage that was deleted from dvc.yaml, and every DVC
command parses the whole lock file: when the 63 per-well ``finetune@<well>``
stages became one ``finetune`` stage, their stale entries made up 72 % of
dvc.lock and a no-op ``dvc repro`` took about 7 s instead of about 4 s.
A stage of dvc.yaml missing from the lock has not been run for the committed
results (metrics.json).
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _stage_names(dvc_yaml: dict) -> set[str]:
    """Stage names of a dvc.yaml; a ``foreach`` stage ``s`` runs as ``s@<item>``."""
    names = set()
    for name, stage in dvc_yaml["stages"].items():
        items = stage.get("foreach")
        if items is None:
            names.add(name)
        else:
            keys = items if isinstance(items, list) else list(items)
            names |= {f"{name}@{key}" for key in keys}
    return names


def lock_problems(dvc_yaml: dict, dvc_lock: dict) -> list[str]:
    """What is wrong between a dvc.yaml and its dvc.lock, one sentence each."""
    declared, locked = _stage_names(dvc_yaml), set(dvc_lock.get("stages", {}))
    problems = [f"dvc.lock holds stage {name!r}, which dvc.yaml no longer has: delete its entry from "
                "dvc.lock (next time, `dvc remove STAGE` removes both)" for name in sorted(locked - declared)]
    problems += [f"stage {name!r} of dvc.yaml has no entry in dvc.lock: run `dvc repro` and commit "
                 "dvc.lock with metrics.json" for name in sorted(declared - locked)]
    return problems


def test_the_committed_lock_records_exactly_the_stages_of_dvc_yaml():
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    dvc_lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    assert lock_problems(dvc_yaml, dvc_lock) == []


def test_a_stale_or_missing_stage_is_named():
    dvc_yaml = {"stages": {"prepare": {"cmd": "x"}, "fit": {"foreach": [1, 2], "do": {"cmd": "y"}}}}
    dvc_lock = {"stages": {"prepare": {}, "fit@1": {}, "finetune@310854": {}}}
    problems = lock_problems(dvc_yaml, dvc_lock)
    assert len(problems) == 2
    assert "'finetune@310854', which dvc.yaml no longer has" in problems[0]
    assert "stage 'fit@2' of dvc.yaml has no entry" in problems[1]
