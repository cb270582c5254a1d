"""End to end: `dvc repro` of a reduced configuration in a temporary copy of the project.

Three wells, tiny trial budgets and seed ensembles: every stage runs its notebook,
metrics come out with the documented keys, and a second `dvc repro` does nothing.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GWTL_EHYD_MIRROR", ROOT.parent / "shared" / "data" / "ehyd"))
WELLS = [310854, 311001, 329144]


def reduced_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["basin"]["wells"] = WELLS
    params["pretrain"]["trials"] = 2
    params["pretrain"]["search"]["window"] = [6, 12]
    params["pretrain"]["search"]["hidden"] = [8]
    params["it_lstm"]["trials"] = 2
    params["finetune"]["seeds"] = 2
    params["it_lstm"]["seeds"] = 2
    params["baselines"]["trials"] = 2
    params["train"]["max_epochs"] = 20
    params["train"]["patience"] = 5
    return params


def project_copy(dest: Path) -> Path:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


@pytest.mark.skipif(
    not MIRROR.exists() and os.environ.get("CI") != "true",
    reason=f"no eHYD mirror at {MIRROR}; set GWTL_EHYD_MIRROR",
)
def test_reduced_pipeline_end_to_end(tmp_path):
    project = project_copy(tmp_path / "project")
    (project / "params.yaml").write_text(yaml.safe_dump(reduced_params(), sort_keys=False))
    env = dict(os.environ, GWTL_EHYD_MIRROR=str(MIRROR))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    run(["git", "init", "-q"], project, env)
    try:
        out = run(["dvc", "repro"], project, env)
        again = run(["dvc", "repro"], project, env)
    finally:  # the warm kernel pool of this copy would otherwise idle for two minutes
        subprocess.run([sys.executable, "-m", "gwtl.kernel_pool", "stop"], cwd=project, env=env)
    assert "Running stage 'finetune@311001'" in out

    metrics = json.loads((project / "metrics.json").read_text())
    for model in ("tl", "it", "arx", "svr", "rf", "persistence"):
        assert -10 < metrics["test"]["lead1"]["nse_median"][model] <= 1
    for name in ("data", "pretrain", "evaluate", "report"):
        assert (project / "reports" / f"{name}.html").stat().st_size > 10_000
    assert (project / "reports" / "finetune" / "329144.html").exists()
    assert (project / "reports" / "it_lstm" / "329144.html").exists()
    assert "Running stage" not in again
