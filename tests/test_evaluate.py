"""Evaluation on a tiny synthetic predictions set with hand-computed scores."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwtl.data.predictions import COLUMNS, write_predictions
from gwtl.evaluation import compare
from gwtl.evaluation import evaluate

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


def project(root: Path, wells=("1",), cost=True, base: float = 0.0, budgets=()) -> dict:
    """models/ and data/processed/wells.csv like the pipeline writes them.

    Well ``i`` has the levels ``OBS + base + 10 i`` and the training mean
    ``base + 10 i``. Each trial budget ``k`` of ``budgets`` adds a model
    ``it_<k>`` (forecasting like TL) to the IT files, costing ``2 k`` s CPU
    per well (``budgets`` entries of IT's cost.json hold ``trials, cpu_s``).
    """
    shifts = {w: base + 10.0 * i for i, w in enumerate(wells)}
    pd.DataFrame({"hzb": [int(w) for w in wells] + [999], "listed": [True] * len(wells) + [False],
                  "train_mean": [shifts[w] for w in wells] + [np.nan]}).to_csv(root / "wells.csv", index=False)
    for well, shift in shifts.items():
        obs = [o + shift for o in OBS]
        for model, folder in (("tl", "finetune"), ("it", "it")):
            fc = [f + shift for f in FORECASTS[model]]
            frames = [table(well, model, fc, obs)]
            if model == "it":
                frames += [table(well, f"it_{k}", [f + shift for f in FORECASTS["tl"]], obs) for k in budgets]
            write_predictions(pd.concat(frames), root / "models" / folder / well / "predictions.csv")
            if cost:
                spent = ({"wall_s": 10.0, "cpu_s": 12.0} if model == "tl" else
                         {"wall_s": 100.0, "cpu_s": 150.0,
                          "budgets": [{"trials": k, "cpu_s": 2.0 * k} for k in budgets]})
                (root / "models" / folder / well / "cost.json").write_text(json.dumps(spent))
    base_table = pd.concat([table(w, "arx", [f + s for f in FORECASTS["arx"]], [o + s for o in OBS])
                            for w, s in shifts.items()])
    write_predictions(base_table, root / "models" / "baselines" / "predictions.csv")
    pd.DataFrame({"well": list(wells), "model": "arx", "wall_s": 0.5, "cpu_s": 0.5, "trials": 7}).to_csv(
        root / "models" / "baselines" / "cost.csv", index=False)
    basin = table("basin", "pretrain", [o + 1.0 for o in OBS])
    write_predictions(basin, root / "models" / "pretrain" / "predictions.csv")
    (root / "models" / "pretrain" / "cost.json").write_text(json.dumps({"wall_s": 50.0, "cpu_s": 90.0}))
    return paths_under(root)


def paths_under(root: Path) -> dict:
    return {
        **evaluate.inputs_under(root / "models"),
        "wells_csv": root / "wells.csv",
        "out_metrics": root / "metrics.json",
        "out_results": root / "reports" / "results.csv",
        "out_cost": root / "reports" / "cost.csv",
        "out_comparison": root / "reports" / "comparison.csv",
    }


def add_library(root: Path, wells) -> dict:
    """A library of two cluster models (30 s and 50 s CPU), an external member and TL-library forecasts.

    TL-library forecasts like IT and costs 5 s CPU per well to fine-tune. The
    external member's cost (another project's) must not be counted.
    """
    lib = root / "models" / "library"
    for name, cpu in (("cluster_1", 30.0), ("cluster_2", 50.0), ("external_graz", 1e6)):
        (lib / name).mkdir(parents=True)
        (lib / name / "cost.json").write_text(json.dumps({"wall_s": cpu / 2, "cpu_s": cpu}))
    pd.DataFrame({"name": ["basin", "cluster_1", "cluster_2", "external_graz"],
                  "kind": ["basin", "cluster", "cluster", "external"]}).to_csv(lib / "members.csv", index=False)
    for i, well in enumerate(wells):
        obs = [o + 10.0 * i for o in OBS]
        out = root / "models" / "tl_library" / well
        write_predictions(table(well, "tl_library", [f + 10.0 * i for f in FORECASTS["it"]], obs),
                          out / "predictions.csv")
        (out / "cost.json").write_text(json.dumps({"wall_s": 4.0, "cpu_s": 5.0}))
    return paths_under(root)


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
    assert set(lead1) == {"nse_median", "nse_mean", "kge_median", "rmse_median", "n_wells", "nse_basin",
                          "tl_vs_it", "tl_vs_arx"}
    assert lead1["nse_median"]["tl"] == 0.9
    assert set(lead1["nse_median"]) == {"tl", "it", "arx"}
    assert lead1["n_wells"] == 1
    # basin signal: forecast = obs + 1 on obs [1, 2, 3, 4] -> 1 - 4 / 5
    assert lead1["nse_basin"] == {"pretrain": pytest.approx(0.2)}
    assert result.metrics == metrics


def test_cost_in_cpu_seconds_with_pretraining_amortised(tmp_path):
    paths = project(tmp_path, wells=("1", "2"), budgets=(2,))
    evaluate.run_evaluate(PARAMS, **paths)
    cost = json.loads(paths["out_metrics"].read_text())["cost"]
    # TL per well = fine-tuning 12 + pretrain 90 / 2 wells; basin = 2 x 12 + 90 once
    assert cost == {"pretrain_cpu_s": 90.0,
                    "cpu_s_per_well": {"tl": 57.0, "it": 150.0, "it_2": 4.0, "arx": 0.5},
                    "cpu_s_basin": {"tl": 114.0, "it": 300.0, "it_2": 8.0, "arx": 1.0},
                    "it_over_tl": round(300 / 114, 4)}
    table = pd.read_csv(paths["out_cost"], dtype={"well": str})
    assert list(table.columns) == ["well", "model", "wall_s", "cpu_s", "pretrain_cpu_s", "total_cpu_s"]
    tl = table[(table["well"] == "2") & (table["model"] == "tl")].iloc[0]
    assert (tl["wall_s"], tl["cpu_s"], tl["pretrain_cpu_s"], tl["total_cpu_s"]) == (10, 12, 45, 57)
    basin = table[table["well"] == "basin"].set_index("model")
    assert sorted(basin.index) == ["arx", "it", "it_2", "pretrain", "tl"]
    assert basin.loc["tl", ["cpu_s", "pretrain_cpu_s", "total_cpu_s"]].tolist() == [24, 90, 114]
    assert basin.loc["it_2", ["cpu_s", "pretrain_cpu_s", "total_cpu_s"]].tolist() == [8, 0, 8]
    assert np.isnan(basin.loc["it_2", "wall_s"])  # a smaller budget's wall time is not measured
    assert basin.loc["pretrain", ["wall_s", "cpu_s", "total_cpu_s"]].tolist() == [50, 90, 90]
    assert len(table[(table["well"] != "basin") & (table["model"] == "it")]) == 2
    # it_2 is scored like any model
    assert "it_2" in json.loads(paths["out_metrics"].read_text())["test"]["lead1"]["nse_mean"]


def test_library_cost_includes_cluster_pretraining_but_not_external(tmp_path):
    project(tmp_path, wells=("1", "2"))
    paths = add_library(tmp_path, ("1", "2"))
    result = evaluate.run_evaluate(PARAMS, **paths)
    cost = result.metrics["cost"]
    assert cost["library_pretrain_cpu_s"] == 80.0
    # per well: fine-tuning 5 + (basin 90 + clusters 30 + 50) / 2 wells
    assert cost["cpu_s_per_well"]["tl_library"] == 90.0
    assert cost["cpu_s_basin"]["tl_library"] == 2 * 5 + 170
    assert cost["cpu_s_per_well"]["tl"] == 57.0  # plain TL is not charged the library
    basin = result.cost[result.cost["well"] == "basin"].set_index("model")
    assert basin.loc["pretrain_library", "cpu_s"] == 80.0
    assert {"tl_library_vs_it", "tl_library_vs_tl"} <= set(result.metrics["test"]["lead1"])
    (tmp_path / "models" / "library" / "cluster_2" / "cost.json").unlink()
    with pytest.raises(FileNotFoundError, match="cluster_2/cost.json.*dvc repro library"):
        evaluate.run_evaluate(PARAMS, **paths)


def test_different_it_budgets_across_wells_fail(tmp_path):
    paths = project(tmp_path, wells=("1", "2"), budgets=(2,))
    path = tmp_path / "models" / "it" / "2" / "cost.json"
    path.write_text(json.dumps({"wall_s": 1.0, "cpu_s": 1.0, "budgets": []}))
    with pytest.raises(ValueError, match="different trial budgets.*it_lstm"):
        evaluate.run_evaluate(PARAMS, **paths)


def test_kge_is_kge_double_prime_on_levels(tmp_path):
    paths = project(tmp_path, base=300.0)
    # TL forecasts 1 m too high: test obs 301..304, forecasts 302..305
    obs = [o + 300.0 for o in OBS]
    write_predictions(table("1", "tl", [o + 1.0 for o in obs], obs),
                      tmp_path / "models" / "finetune" / "1" / "predictions.csv")
    result = evaluate.run_evaluate(PARAMS, **paths)
    res = result.results.set_index(["well", "model", "split"])
    # r = 1, alpha = 1, bias term 1 m / std(obs) = 1 / sqrt(1.25): KGE'' = 1 - 0.894 = 0.106
    expected = 1 - 1 / math.sqrt(1.25)
    assert res.loc[("1", "tl", "test"), "kge"] == pytest.approx(expected)
    # on absolute levels the 2009 form's beta would be 303.5 / 302.5 and KGE 0.997
    assert res.loc[("1", "tl", "test"), "nse"] == pytest.approx(1 - 4 / 5)
    # the basin signal (forecast obs + 1 on obs [1, 2, 3, 4]) scores the same: KGE'' ignores the level
    assert res.loc[("basin", "pretrain", "test"), "kge"] == pytest.approx(expected)


def test_comparison_on_the_scored_months(tmp_path):
    paths = project(tmp_path, wells=("1", "2", "3"))
    result = evaluate.run_evaluate(PARAMS, **paths)
    comparison = pd.read_csv(paths["out_comparison"])
    assert list(comparison.columns) == compare.COLUMNS
    assert comparison[["split", "lead", "a", "b"]].values.tolist() == [["test", 1, "tl", "it"],
                                                                         ["test", 1, "tl", "arx"]]
    res = result.results[(result.results["split"] == "test") & (result.results["well"] != "basin")]
    nse = res.pivot(index="well", columns="model", values="nse")
    row = comparison.iloc[0]
    # same rows and months as results.csv: the per-well NSE agree
    assert row["mean_diff"] == pytest.approx((nse["tl"] - nse["it"]).mean(), abs=1e-6)
    assert row["mean_a"] == pytest.approx(nse["tl"].mean(), abs=1e-6)
    assert row["wins"] == 0 and row["n"] == 3  # IT is exact on every test month
    assert row["years"] == 1  # 2016 only
    pair = result.metrics["test"]["lead1"]["tl_vs_it"]
    assert set(pair) == {"wins", "mean_diff", "wilcoxon_p", "boot_lo", "boot_hi", "eq_lo", "eq_hi"}
    assert pair["mean_diff"] == pytest.approx(-0.1, abs=1e-4)
    # one test year: every year draw is the test period itself
    assert pair["boot_lo"] == pair["boot_hi"] == pair["mean_diff"]
    assert "tl_vs_it" not in result.metrics["validation"]["lead1"]


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


def test_interval_scores_of_the_forecast_stage_join_metrics(tmp_path):
    paths = project(tmp_path)
    folder = tmp_path / "models" / "forecast"
    folder.mkdir(parents=True)
    scores = {"test": {"lead1": {"coverage80": {"tl": 0.81}, "width80": {"tl": 0.3}}}}
    (folder / "metrics.json").write_text(json.dumps(scores))
    paths = paths_under(tmp_path)  # the forecast folder now exists
    assert paths["intervals"] == str(folder / "metrics.json")
    metrics = evaluate.run_evaluate(PARAMS, **paths).metrics
    assert metrics["test"]["lead1"]["coverage80"] == {"tl": 0.81}
    assert "nse_median" in metrics["test"]["lead1"]  # the evaluate entries stay
    (folder / "metrics.json").write_text(json.dumps({"test": {"lead1": {"nse_median": {"tl": 1.0}}}}))
    with pytest.raises(ValueError, match="test.lead1.nse_median.tl comes from two sources"):
        evaluate.run_evaluate(PARAMS, **paths)
    (folder / "metrics.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON.*dvc repro forecast"):
        evaluate.run_evaluate(PARAMS, **paths)


def add_tfn(root: Path, wells, failed=()) -> dict:
    """TFN forecasts like TL at every well except those whose fit ``failed`` (they have none), 0.7 s CPU each."""
    out = root / "models" / "tfn"
    frames = [table(w, "tfn", [f + 10.0 * i for f in FORECASTS["tl"]], [o + 10.0 * i for o in OBS])
              for i, w in enumerate(wells) if w not in failed]
    write_predictions(pd.concat(frames), out / "predictions.csv")
    pd.DataFrame({"well": list(wells), "model": "tfn", "wall_s": 0.7, "cpu_s": 0.7, "trials": 1}).to_csv(
        out / "cost.csv", index=False)
    pd.DataFrame({"well": list(wells), "status": ["failed" if w in failed else "ok" for w in wells]}).to_csv(
        out / "diagnostics.csv", index=False)
    return paths_under(root)


def test_tfn_is_scored_and_costed_and_a_failed_fit_is_excused_and_counted(tmp_path):
    project(tmp_path, wells=("1", "2"))
    paths = add_tfn(tmp_path, ("1", "2"), failed=("2",))
    evaluate.run_evaluate(PARAMS, **paths)
    metrics = json.loads(paths["out_metrics"].read_text())
    assert metrics["fits_failed"] == {"tfn": 1}
    assert metrics["cost"]["cpu_s_per_well"]["tfn"] == 0.7
    results = pd.read_csv(paths["out_results"], dtype={"well": str})
    assert set(results.loc[results["model"] == "tfn", "well"]) == {"1"}
    tl = results[(results["model"] == "tl") & (results["split"] == "test")].set_index("well")["nse"]
    assert tl.loc["1"] == pytest.approx(0.9)  # the TFN rows do not change which months are scored


def test_a_tfn_well_missing_without_a_failed_fit_fails(tmp_path):
    project(tmp_path, wells=("1", "2"))
    paths = add_tfn(tmp_path, ("1", "2"), failed=("2",))
    pd.DataFrame({"well": ["1", "2"], "status": "ok"}).to_csv(tmp_path / "models" / "tfn" / "diagnostics.csv",
                                                              index=False)
    with pytest.raises(ValueError, match="model tfn has no forecasts for well.* 2.*dvc repro tfn"):
        evaluate.run_evaluate(PARAMS, **paths)
    pd.DataFrame({"well": ["1"], "status": "ok"}).to_csv(tmp_path / "models" / "tfn" / "diagnostics.csv", index=False)
    with pytest.raises(ValueError, match="diagnostics.csv has no row for well.* 2; rerun `dvc repro tfn`"):
        evaluate.run_evaluate(PARAMS, **paths)


def test_a_missing_diagnostics_table_or_no_listed_well_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matches .*tfn/diagnostics.csv; run `dvc repro tfn` first"):
        evaluate.failed_fits({"tfn": tmp_path / "tfn" / "diagnostics.csv"}, ["1"])
    (tmp_path / "wells.csv").write_text("hzb,listed\n1,False\n2,no\n")
    with pytest.raises(ValueError, match="wells.csv lists no well; list the wells in basin.wells.*dvc repro prepare"):
        evaluate.listed_wells(tmp_path / "wells.csv")


def test_skill_against_damped_persistence(tmp_path):
    """``skill_vs_damped_persistence``: per well 1 - MSE_model / MSE_damped on the scored months, mean over wells."""
    paths = project(tmp_path, wells=("1", "2"))
    baselines = pd.read_csv(tmp_path / "models" / "baselines" / "predictions.csv", dtype={"well": str},
                            parse_dates=["issue", "month"])
    # damped persistence misses every month by 1 m at well 1 (MSE 1) and by 0.5 m at well 2 (MSE 0.25)
    damped = [table(w, "damped_persistence", [o + s + miss for o in OBS], [o + s for o in OBS])
              for w, s, miss in (("1", 0.0, 1.0), ("2", 10.0, 0.5))]
    write_predictions(pd.concat([baselines, *damped]), tmp_path / "models" / "baselines" / "predictions.csv")
    result = evaluate.run_evaluate(PARAMS, **paths)
    lead1 = result.metrics["test"]["lead1"]
    assert lead1["nse_mean"]["damped_persistence"] == pytest.approx((1 - 4 / 5 + 1 - 1 / 5) / 2)  # SSE 4 and 1
    # test errors: tl [0.5, 0, -0.5, 0] -> MSE 0.125; it 0; arx [0, 0, 0, 1] -> MSE 0.25
    skill = lead1["skill_vs_damped_persistence"]
    assert skill["tl"] == pytest.approx(((1 - 0.125) + (1 - 0.125 / 0.25)) / 2, abs=1e-4)
    assert skill["it"] == pytest.approx(1.0)
    assert skill["arx"] == pytest.approx(((1 - 0.25) + (1 - 0.25 / 0.25)) / 2, abs=1e-4)
    assert "damped_persistence" not in skill
    per_well = evaluate.skill_against(result.results)
    assert set(per_well["model"]) == {"tl", "it", "arx"} and "basin" not in set(per_well["well"])
