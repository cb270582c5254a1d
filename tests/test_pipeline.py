"""End to end: `dvc repro` of a reduced configuration in a temporary copy of the project.

Three wells, tiny trial budgets and seed ensembles: every stage runs its notebook,
metrics come out with the documented keys, and a second `dvc repro` does nothing.
"""

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pipeline_copy import MIRROR, copy_project, did_work, pipeline_env, reduced_params
from report_check import CHROMIUM, report_problems

WELLS = [310854, 311001, 329144]


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


@pytest.mark.skipif(
    not MIRROR.exists() and os.environ.get("CI") != "true",
    reason=f"no eHYD mirror at {MIRROR}; set GWTL_EHYD_MIRROR",
)
@pytest.mark.browser
@pytest.mark.e2e
def test_reduced_pipeline_end_to_end(tmp_path):
    project = copy_project(tmp_path / "project", reduced_params(WELLS))
    env = pipeline_env()
    out = run(["dvc", "repro"], project, env)
    again = run(["dvc", "repro"], project, env)
    assert "Running stage 'finetune'" in out

    metrics = json.loads((project / "metrics.json").read_text())
    for model in ("tl", "tl_library", "it", "arx", "tfn", "svr", "rf", "persistence"):
        assert -10 < metrics["test"]["lead1"]["nse_median"][model] <= 1
    assert metrics["fits_failed"] == {"tfn": 0}
    for name in ("data", "pretrain", "finetune", "library", "finetune_library", "strategies", "forecast", "evaluate",
                 "tfn", "report"):
        assert (project / "reports" / f"{name}.html").stat().st_size > 10_000
    assert all((project / "models" / "finetune" / str(w) / "model.pt").exists() for w in WELLS)
    assert (project / "reports" / "it_lstm.html").exists()
    assert not did_work(again), again  # only the check of the data source runs again
    if CHROMIUM is not None:  # every report as a reader's browser shows it (tests/test_reports.py without Chromium)
        figures = {"report": 5, "forecast": 5, "finetune": 2, "strategies": 1, "tfn": 2}  # at least
        broken = [p for html in sorted((project / "reports").glob("*.html"))
                  for p in report_problems(html, figures.get(html.stem, 0))]
        assert broken == []
    outlook = pd.read_csv(project / "reports" / "forecast.csv", dtype={"well": str})
    models = {"tl", "it", "arx", "damped_persistence"}  # outlook.models of params.yaml
    assert set(outlook["well"]) == set(map(str, WELLS)) and set(outlook["model"]) == models
    for model in sorted(models):
        assert 0 < metrics["test"]["lead1"]["coverage80"][model] <= 1
        assert metrics["test"]["lead3"]["width95"][model] > metrics["test"]["lead3"]["width80"][model] > 0
    strategies = pd.read_csv(project / "reports" / "strategies.csv")
    params = reduced_params(WELLS)
    expected = [f"{s}/{f}" for s in params["strategies"]["sources"] for f in params["strategies"]["finetune"]]
    expected += ["it_fixed"] if params["strategies"]["it_fixed"] else []
    assert list(strategies["strategy"]) == [*expected, "it"]
    assert strategies["default"].sum() == 1 and strategies["nse_mean_validation_lead1"].notna().all()
    assert [c for c in strategies.columns if "test" in c] == []  # scored by evaluate: reports/strategy_results.csv
    scored = pd.read_csv(project / "reports" / "strategy_results.csv")
    assert set(scored["model"]) == {*expected, "it"} and {"validation", "test"} <= set(scored["split"])
