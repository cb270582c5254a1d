"""Evaluation on a tiny synthetic predictions set with hand-computed scores."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwtl import evaluate
from gwtl.predictions import COLUMNS, write_predictions

PARAMS = {
    "split": {"train": ["1990-01", "2010-12"], "validation": ["2011-01", "2015-12"], "test": ["2016-01", "2021-12"]},
    "evaluate": {"splits": ["validation", "test"]},
}
MONTHS = pd.date_range("2015-10-01", "2016-05-01", freq="MS")
NAN = np.nan
# Observed levels of well 1 over MONTHS (2016-05 is missing).
OBS = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, NAN]
# tl: the test months 2016-01..04 give obs [1, 2, 3, 4], fc [1.5, 2, 2.5, 4] -> NSE = 1 - 0.5 / 5 = 0.9
FORECASTS = {
    "tl": [-2.0, -1.0, 0.0, 1.5, 2.0, 2.5, 4.0, 5.0],
    # arx has no forecast for 2015-11: that month drops out for every model of the well.
    "arx": [-2.5, NAN, 0.5, 1.0, 2.0, 3.0, 5.0, 5.0],
    "it": [-2.0, -1.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
}


def table(well: str, model: str, forecast, observed=OBS, lead: int = 1) -> pd.DataFrame:
    return pd.DataFrame({
        "well": well, "model": model, "lead": lead, "issue": MONTHS - pd.DateOffset(months=lead),
        "month": MONTHS, "split": "none", "observed": observed, "forecast": forecast,
    })[COLUMNS]


def project(root: Path, wells=("1",), cost=True) -> dict:
    """models/ and data/processed/wells.csv like the pipeline writes them."""
    pd.DataFrame({"hzb": [int(w) for w in wells] + [999], "listed": [True] * len(wells) + [False]}).to_csv(
        root / "wells.csv", index=False)
    for i, well in enumerate(wells):
        shift = 10.0 * i
        obs = [o + shift for o in OBS]
        for model, folder in (("tl", "finetune"), ("it", "it")):
            fc = [f + shift for f in FORECASTS[model]]
            write_predictions(table(well, model, fc, obs), root / "models" / folder / well / "predictions.csv")
            if cost:
                (root / "models" / folder / well / "cost.json").write_text(
                    json.dumps({"wall_s": 10.0 if model == "tl" else 100.0, "cpu_s": 20.0}))
    base = pd.concat([table(w, "arx", [f + 10.0 * i for f in FORECASTS["arx"]], [o + 10.0 * i for o in OBS])
                      for i, w in enumerate(wells)])
    write_predictions(base, root / "models" / "baselines" / "predictions.csv")
    pd.DataFrame({"well": list(wells), "model": "arx", "wall_s": 0.5, "cpu_s": 0.5, "trials": 7}).to_csv(
        root / "models" / "baselines" / "cost.csv", index=False)
    basin = table("basin", "pretrain", [o + 1.0 for o in OBS])
    write_predictions(basin, root / "models" / "pretrain" / "predictions.csv")
    (root / "models" / "pretrain" / "cost.json").write_text(json.dumps({"wall_s": 50.0, "cpu_s": 90.0}))
    return {
        **evaluate.inputs_under(root / "models"),
        "wells_csv": root / "wells.csv",
        "out_metrics": root / "metrics.json",
        "out_results": root / "reports" / "results.csv",
        "out_cost": root / "reports" / "cost.csv",
    }


def test_scores_by_hand_and_metrics_keys(tmp_path):
    paths = project(tmp_path)
    result = evaluate.run_evaluate(PARAMS, **paths)
    res = pd.read_csv(paths["out_results"], dtype={"well": str})
    assert list(res.columns) == ["well", "model", "lead", "split", "nse", "kge", "rmse", "mae", "r2", "bias", "pi", "n"]
    tl = res[(res["well"] == "1") & (res["model"] == "tl") & (res["split"] == "test")].iloc[0]
    assert tl["nse"] == pytest.approx(0.9)
    assert tl["n"] == 4  # 2016-05 has no observed level
    # persistence reference = observed at the issue month: [0, 1, 2, 3] -> every error 1, SSE 4
    assert tl["pi"] == pytest.approx(1 - 0.5 / 4)
    assert tl["rmse"] == pytest.approx(np.sqrt(0.5 / 4), rel=1e-5)  # CSV keeps 6 digits
    # validation keeps 2015-10 and 2015-12 only (arx skipped 2015-11): arx errors -0.5, +0.5 on obs [-2, 0]
    arx = res[(res["well"] == "1") & (res["model"] == "arx") & (res["split"] == "validation")].iloc[0]
    assert arx["n"] == 2
    assert arx["nse"] == pytest.approx(1 - 0.5 / 2)
    it = res[(res["well"] == "1") & (res["model"] == "it") & (res["split"] == "validation")].iloc[0]
    assert it["nse"] == pytest.approx(1.0)  # its only error is in the dropped month

    metrics = json.loads(paths["out_metrics"].read_text())
    assert set(metrics) == {"validation", "test", "cost"}
    lead1 = metrics["test"]["lead1"]
    assert {"nse_median", "nse_mean", "kge_median", "rmse_median", "n_wells"} <= set(lead1)
    assert lead1["nse_median"]["tl"] == 0.9
    assert set(lead1["nse_median"]) == {"tl", "it", "arx"}
    assert lead1["n_wells"] == 1
    # basin signal: forecast = obs + 1 on obs [1, 2, 3, 4] -> 1 - 4 / 5
    assert lead1["nse_basin"] == {"pretrain": pytest.approx(0.2)}
    assert result.metrics == metrics


def test_cost_totals_and_ratio(tmp_path):
    paths = project(tmp_path, wells=("1", "2"))
    evaluate.run_evaluate(PARAMS, **paths)
    cost = json.loads(paths["out_metrics"].read_text())["cost"]
    # TL basin = pretrain 50 + 2 wells x 10; IT basin = 2 x 100
    assert cost == {"pretrain_s": 50.0, "tl_s_per_well": 10.0, "it_s_per_well": 100.0,
                    "tl_basin_s": 70.0, "it_basin_s": 200.0, "it_over_tl": round(200 / 70, 4)}
    table = pd.read_csv(paths["out_cost"], dtype={"well": str})
    assert list(table.columns) == ["well", "model", "wall_s", "cpu_s"]
    basin = table[table["well"] == "basin"].set_index("model")
    assert basin.loc["tl", "cpu_s"] == pytest.approx(90 + 2 * 20)
    assert basin.loc["arx", "wall_s"] == pytest.approx(1.0)
    assert len(table[(table["well"] != "basin") & (table["model"] == "it")]) == 2


def test_common_months_intersection():
    rows = pd.concat([table("1", m, f) for m, f in FORECASTS.items()], ignore_index=True)
    common = evaluate.common_months(rows)
    kept = sorted(common["month"].unique())
    expected = [m for m, o, a in zip(MONTHS, OBS, FORECASTS["arx"]) if not np.isnan(o) and not np.isnan(a)]
    assert kept == expected
    assert common.groupby("model").size().to_dict() == {m: len(expected) for m in FORECASTS}


def test_models_disagreeing_on_observations_fail():
    other = [o + 1 for o in OBS]
    rows = pd.concat([table("1", "tl", FORECASTS["tl"]), table("1", "it", FORECASTS["it"], other)])
    with pytest.raises(ValueError, match="different prepared data"):
        evaluate.common_months(rows)


def test_missing_files_name_the_stage(tmp_path):
    paths = project(tmp_path)
    for path in (tmp_path / "models" / "it").glob("*/predictions.csv"):
        path.unlink()
    with pytest.raises(FileNotFoundError, match="it_lstm"):
        evaluate.run_evaluate(PARAMS, **paths)
    (tmp_path / "b").mkdir()
    paths = project(tmp_path / "b", cost=False)
    with pytest.raises(FileNotFoundError, match="finetune"):
        evaluate.run_evaluate(PARAMS, **paths)
    assert not paths["out_metrics"].exists()


def test_a_well_without_forecasts_fails(tmp_path):
    paths = project(tmp_path, wells=("1", "2"))
    (tmp_path / "models" / "finetune" / "2" / "predictions.csv").unlink()
    with pytest.raises(ValueError, match="model tl has no forecasts for well.* 2.*finetune"):
        evaluate.run_evaluate(PARAMS, **paths)


def test_repeated_forecasts_fail(tmp_path):
    paths = project(tmp_path)
    paths["predictions"].append(paths["predictions"][-1])
    with pytest.raises(ValueError, match="repeated"):
        evaluate.run_evaluate(PARAMS, **paths)


def test_median_table(tmp_path):
    paths = project(tmp_path, wells=("1", "2"))
    result = evaluate.run_evaluate(PARAMS, **paths)
    medians = evaluate.median_table(result.results)
    assert medians.loc[("test", "tl"), "lead 1"] == pytest.approx(0.9)
    assert "basin" not in result.results.loc[result.results["model"] == "tl", "well"].tolist()
