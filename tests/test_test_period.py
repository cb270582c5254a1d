"""The test period is scored by evaluate, the report and the forecast stage alone.

Training-stage reports (their notebooks and the gwtl functions those call)
show validation scores only: a default set by hand after reading such a report
must not have seen the test period. The TL strategies' test scores come from
the evaluate stage, scored apart from the other models so that they change
none of their months.
"""

import io
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from gwtl.data.predictions import COLUMNS, write_predictions
from gwtl.evaluation import evaluate
from gwtl.report.replication_text import strategies_text
from gwtl.report.training_figures import forecast_figure
from gwtl.transfer import ensemble, it_lstm
from gwtl.transfer.strategies import strategy_table

from synthetic import synthetic_processed, tiny_params
from test_evaluate import PARAMS, paths_under, project

ROOT = Path(__file__).resolve().parents[1]
TRAINING_NOTEBOOKS = ["pretrain", "finetune", "it_lstm", "library", "finetune_library", "strategies", "baselines",
                      "tfn"]
TEST_START = pd.Timestamp("2016-01-01")


def code_of(name: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("name", TRAINING_NOTEBOOKS)
def test_training_notebooks_never_name_the_test_split(name):
    code = code_of(name)
    assert "params" in code  # the notebook is there and has code
    assert re.findall(r"(?<![A-Za-z])test\w*", code, flags=re.IGNORECASE) == []


def synthetic_predictions(well: str = "1", model: str = "it", leads=(1, 2)) -> pd.DataFrame:
    """Forecasts of every month 2005-2021 with a small error, labelled train, validation and test."""
    months = pd.date_range("2005-01-01", "2021-12-01", freq="MS")
    rng = np.random.default_rng(0)
    observed = np.sin(np.arange(len(months)) / 5.0)
    frames = [pd.DataFrame({"well": well, "model": model, "lead": lead, "issue": months - pd.DateOffset(months=lead),
                            "month": months, "split": evaluate.label_splits(pd.Series(months), PARAMS["split"]),
                            "observed": observed, "forecast": observed + rng.normal(0, 0.2 * lead, len(months))})
              for lead in leads]
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def test_notebook_views_score_no_test_period():
    table = synthetic_predictions()
    assert set(table["split"]) == {"train", "validation", "test"}
    by_split = ensemble.nse_by_split(table)
    assert list(by_split.index) == ["train", "validation"] and list(by_split.columns) == [1, 2]
    by_well = ensemble.nse_by_well(pd.concat([table, synthetic_predictions("2")]))
    assert list(by_well.columns) == ["nse_validation_lead1", "nse_validation_lead2"]
    assert list(by_well.index) == ["1", "2"]
    with pytest.raises(ValueError, match="evaluate"):
        ensemble.nse_by_well(table, splits=("validation", "test"))


def test_forecast_figure_stops_before_the_test_period():
    fig = forecast_figure(synthetic_predictions(), "well 1")
    lines = [line for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert len(lines) == 3  # observed and two leads
    for line in lines:
        assert pd.to_datetime(pd.Series(line.get_xdata())).max() < TEST_START
    assert all("test" not in t.get_text() for ax in fig.axes for t in ax.texts)


def fake_run_it(params, well, data, out=None, log=None):
    """What :func:`gwtl.transfer.it_lstm.run_it` returns, without training (its forecasts cover every split)."""
    hyper = {"window": 6, "hidden": 8, "layers": 1, "dropout": 0.0, "lr": 0.01, "batch": 64, "val_loss": 0.1}
    return ensemble.StageResult(Path(out), synthetic_predictions(well), pd.DataFrame(),
                                {"epochs": [3, 4], "wall_s": 1.0, "cpu_s": 2.0}, {"hyperparameters": hyper})


def test_it_lstm_rows_and_log_hold_no_test_score(tmp_path, monkeypatch):
    monkeypatch.setattr(it_lstm, "run_it", fake_run_it)
    params, data = tiny_params(), synthetic_processed()
    lines = []
    result = it_lstm.run_it_all(params, data, tmp_path / "it", n_jobs=1, log=lines.append)
    assert len(result.wells) == len(params["basin"]["wells"]) and len(lines) == len(result.wells)
    scores = [c for c in result.wells.columns if c.startswith("nse_")]
    assert "nse_validation_lead1" in scores
    assert [c for c in result.wells.columns if "test" in c] == []
    assert all("validation" in line and "test" not in line for line in lines)


# ----------------------------------------------------------------------------- strategies


def strategy_project(root: Path) -> tuple[dict, dict]:
    """The evaluate test project plus the strategies stage's folder: ``basin/head`` and ``wells/head``.

    ``wells/head`` has no forecast for 2016-02, so the strategies' common
    months differ from the other models'.
    """
    project(root, wells=("1", "2"))
    tables = []
    for model, shift in (("basin/head", 0.3), ("wells/head", -0.2)):
        for well in ("1", "2"):
            own = pd.read_csv(root / "models" / "it" / well / "predictions.csv", dtype={"well": str},
                              parse_dates=["issue", "month"])
            own = own.assign(model=model, forecast=own["forecast"] + shift * (own["observed"] - own["observed"].mean()))
            if model == "wells/head":
                own.loc[own["month"] == pd.Timestamp("2016-02-01"), "forecast"] = np.nan
            tables.append(own)
    folder = root / "models" / "strategies"
    write_predictions(pd.concat(tables), folder / "predictions.csv")
    pd.DataFrame({"strategy": ["basin/head", "wells/head"], "source": ["basin", "wells"], "finetune": ["head", "head"],
                  "cpu_s_finetune": [1.0, 1.5], "cpu_s_pretrain": [10.0, 40.0]}).to_csv(folder / "strategies.csv",
                                                                                         index=False)
    params = tiny_params([1, 2])  # split as PARAMS; the default strategy is basin/head
    assert params["split"] == PARAMS["split"]
    return params, paths_under(root)


def test_strategies_table_has_no_test_column(tmp_path):
    params, _ = strategy_project(tmp_path)
    table = strategy_table(params, tmp_path / "models" / "strategies", tmp_path / "models" / "it")
    assert list(table["strategy"]) == ["basin/head", "wells/head", "it"]
    assert [c for c in table.columns if "test" in c] == []
    assert {"nse_mean_validation_lead1", "nse_median_validation_lead1", "wins_validation_lead1",
            "cpu_s_per_well", "it_over_tl"} <= set(table.columns)


@pytest.mark.slow
def test_evaluate_scores_the_strategies_apart_and_the_report_reads_their_test_scores(tmp_path):
    params, paths = strategy_project(tmp_path)
    without = {k: v for k, v in paths.items() if k != "strategies"}
    evaluate.run_evaluate(PARAMS, **without)
    before = {k: paths[k].read_text() for k in ("out_results", "out_metrics", "out_comparison", "out_cost")}
    out = tmp_path / "reports" / "strategy_results.csv"
    result = evaluate.run_evaluate(PARAMS, **paths, out_strategies=out)
    # the other models' scores and cost are exactly those of a run without the strategies; the comparisons
    # gain the claims of the paper's TL (basin/head) against IT, and nothing else changes
    assert {k: paths[k].read_text() for k in ("out_results", "out_cost")} == {k: before[k] for k in ("out_results",
                                                                                                   "out_cost")}
    comparison = pd.read_csv(paths["out_comparison"])
    old = pd.read_csv(io.StringIO(before["out_comparison"]))
    pd.testing.assert_frame_equal(comparison.iloc[:len(old)], old)
    assert comparison.iloc[len(old):][["a", "b"]].drop_duplicates().values.tolist() == [["basin/head", "it"]]
    metrics = json.loads(paths["out_metrics"].read_text())
    assert metrics["test"]["lead1"].pop("basin/head_vs_it")["wins"] >= 0
    assert metrics == json.loads(before["out_metrics"])
    scored = pd.read_csv(out, dtype={"well": str})
    assert len(scored) == len(result.strategies) > 0
    assert set(scored["model"]) == {"basin/head", "wells/head", "it"}
    assert set(scored["split"]) == {"validation", "test"}
    # scored on their own common months: 2016-02 is left out for all of them, not for the other models
    assert (scored.loc[scored["split"] == "test", "n"] == 3).all()
    results = pd.read_csv(paths["out_results"], dtype={"well": str})
    assert (results.loc[(results["split"] == "test") & (results["well"] != "basin"), "n"] == 4).all()

    from gwtl.report.inputs import load_strategies  # here, so that the tests above run on code without it

    # the strategies stage's validation columns are evaluate's validation scores of the same models
    table = strategy_table(params, tmp_path / "models" / "strategies", tmp_path / "models" / "it")
    table.to_csv(tmp_path / "reports" / "strategies.csv", index=False, float_format="%.6g")
    merged = load_strategies(tmp_path / "reports" / "strategies.csv", out)
    for stat in ("mean", "median"):
        np.testing.assert_allclose(merged[f"nse_{stat}_validation_lead1"],
                                   scored[scored["split"] == "validation"].groupby("model")["nse"].agg(stat)
                                   .reindex(merged["strategy"]), rtol=1e-5)
        np.testing.assert_allclose(merged[f"nse_{stat}_test_lead1"],
                                   scored[scored["split"] == "test"].groupby("model")["nse"].agg(stat)
                                   .reindex(merged["strategy"]), rtol=1e-5)
    assert merged["wins_test_lead1"].iloc[:2].notna().all() and pd.isna(merged["wins_test_lead1"].iloc[2])
    assert "minus IT's: lead 1" in strategies_text(merged, [1])
