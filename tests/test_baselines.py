"""Baselines on small synthetic series: exact reference forecasts, a linear process
the ARX model must recover, no use of test-period data, and the stage's files."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gwtl import baselines
from gwtl.metrics import nse
from gwtl.predictions import COLUMNS, read_predictions
from gwtl.processed import Processed

ROOT = Path(__file__).resolve().parents[1]
WELLS = ["900001", "900002"]


@pytest.fixture
def params() -> dict:
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["basin"]["wells"] = [int(w) for w in WELLS]
    p["pretrain"]["search"]["window"] = [6, 12]
    p["baselines"]["trials"] = 2
    return p


def synthetic(seed: int = 0, noise: float = 0.0) -> Processed:
    """Levels following L[t] = 0.7 L[t-1] + 0.5 P[t] (+ noise) for two wells."""
    months = pd.date_range("1990-01-01", "2021-12-01", freq="MS", name="month")
    rng = np.random.default_rng(seed)
    forcings = pd.DataFrame({"precipitation": rng.normal(70, 30, len(months)),
                             "discharge_211466": rng.normal(150, 50, len(months))}, index=months)
    p = (forcings["precipitation"].to_numpy() - 70) / 30
    levels = {}
    for k, well in enumerate(WELLS):
        level = np.zeros(len(months))
        for t in range(1, len(months)):
            level[t] = 0.7 * level[t - 1] + 0.5 * p[t] + noise * rng.normal()
        levels[well] = 300 + 10 * k + level
    levels = pd.DataFrame(levels, index=months)
    basin = pd.DataFrame({"basin": levels.mean(axis=1), "n_wells": 2}, index=months)
    wells = pd.DataFrame({"hzb": [int(w) for w in WELLS], "listed": True})
    return Processed(levels=levels, basin=basin, forcings=forcings, wells=wells, meta={})


def write_folder(data: Processed, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("levels", "basin", "forcings"):
        getattr(data, name).to_csv(folder / f"{name}.csv", date_format="%Y-%m-%d")
    data.wells.to_csv(folder / "wells.csv", index=False)
    (folder / "meta.json").write_text(json.dumps(data.meta))
    return folder


def rows(table: pd.DataFrame, model: str, split: str | None = None) -> pd.DataFrame:
    part = table[table["model"] == model]
    return part if split is None else part[part["split"] == split]


def test_persistence_and_climatology_are_exact(params):
    data = synthetic(noise=0.3)
    table, config, cost = baselines.run_well(WELLS[0], data, params, models=("persistence", "climatology"))
    level = data.levels[WELLS[0]]
    pers = rows(table, "persistence")
    assert np.allclose(pers["forecast"], level.reindex(pers["issue"]).to_numpy())
    assert sorted(pers["lead"].unique()) == [1, 2, 3]
    clim = rows(table, "climatology")
    train = level.loc["1990-01":"2010-12"]
    january = train[train.index.month == 1].mean()
    jan_rows = clim[clim["month"].dt.month == 1]
    assert len(jan_rows) > 0 and np.allclose(jan_rows["forecast"], january)
    assert np.allclose(clim["observed"], level.reindex(clim["month"]).to_numpy())
    assert [c["model"] for c in cost] == ["persistence", "climatology"]


def test_arx_recovers_a_linear_process(params):
    table, config, _ = baselines.run_well(WELLS[0], synthetic(), params, models=("arx",))
    for lead in (1, 2, 3):
        part = rows(table, "arx", "test")
        part = part[part["lead"] == lead]
        assert nse(part["observed"], part["forecast"]) > 0.999
    assert [c["leads"] for c in config["arx"]] == [[1], [2], [3]]
    assert all(c["alpha"] in baselines.ARX_ALPHAS for c in config["arx"])


def test_arx_in_operational_mode_is_worse_without_future_forcing(params):
    params["forecast"]["mode"] = "operational"
    table, _, _ = baselines.run_well(WELLS[0], synthetic(), params, models=("arx",))
    part = rows(table, "arx", "test")
    assert nse(part["observed"], part["forecast"]) < 0.99


def _with_changed_test_period(data: Processed, forcings_too: bool) -> Processed:
    changed = copy.deepcopy(data)
    test = changed.levels.index >= "2016-01-01"
    changed.levels.loc[test] = changed.levels.loc[test] + 5.0
    if forcings_too:
        changed.forcings.loc[test] = changed.forcings.loc[test] * 3.0
    return changed


@pytest.mark.parametrize("models, forcings_too", [(("arx", "svr"), True), (("rf",), False)])
def test_no_test_period_data_is_used(params, models, forcings_too):
    """Changing test-period values leaves validation forecasts and choices unchanged.

    The multi-output RF reads the forcings up to the largest lead (like the LSTM),
    so only its level-independence of the test period is checked.
    """
    data = synthetic(noise=0.3)
    before, config_before, _ = baselines.run_well(WELLS[0], data, params, models=models)
    after, config_after, _ = baselines.run_well(WELLS[0], _with_changed_test_period(data, forcings_too),
                                                params, models=models)
    assert config_before == config_after
    for model in models:
        a, b = rows(before, model, "validation"), rows(after, model, "validation")
        assert len(a) > 100
        assert np.allclose(a["forecast"].to_numpy(), b["forecast"].to_numpy())
        # ... while the test period does change, so the check can fail.
        assert not np.allclose(rows(before, model, "test")["forecast"].to_numpy(),
                               rows(after, model, "test")["forecast"].to_numpy())


def test_svr_and_rf_run_with_two_trials(params):
    table, config, cost = baselines.run_well(WELLS[0], synthetic(noise=0.1), params, models=("svr", "rf"))
    assert [c["leads"] for c in config["svr"]] == [[1], [2], [3]]
    assert [c["leads"] for c in config["rf"]] == [[1, 2, 3]]
    for fitted in config["svr"] + config["rf"]:
        assert fitted["window"] in (6, 12)
    assert {"C", "epsilon", "gamma"} <= set(config["svr"][0])
    assert {"n_estimators", "max_depth", "min_samples_leaf", "max_features"} <= set(config["rf"][0])
    for model in ("svr", "rf"):
        part = rows(table, model, "test")
        assert sorted(part["lead"].unique()) == [1, 2, 3]
        assert part["forecast"].notna().all()
        assert nse(part["observed"], part["forecast"]) > 0.3
    assert [c["trials"] for c in cost] == [6, 2]


def test_run_baselines_writes_the_stage_files(params, tmp_path):
    folder = write_folder(synthetic(noise=0.2), tmp_path / "processed")
    out = tmp_path / "models" / "baselines"
    result = baselines.run_baselines(params, folder, out, models=("persistence", "arx"), n_jobs=1)
    table = read_predictions(out / "predictions.csv")
    assert list(table.columns) == COLUMNS
    assert set(table["well"]) == set(WELLS) and set(table["model"]) == {"persistence", "arx"}
    config = json.loads((out / "config.json").read_text())
    assert set(config) == set(WELLS) and config[WELLS[0]]["arx"][0]["leads"] == [1]
    cost = pd.read_csv(out / "cost.csv")
    assert list(cost.columns) == ["well", "model", "wall_s", "cpu_s", "trials"]
    assert len(cost) == 4 and (cost["wall_s"] >= 0).all()
    assert not list(out.glob("*.tmp"))
    summary = baselines.config_summary(result.config)
    assert set(summary["parameter"]) == {"alpha", "validation_mse"}

    parallel = baselines.run_baselines(params, folder, tmp_path / "parallel", models=("arx",), n_jobs=2)
    serial = result.predictions[result.predictions["model"] == "arx"].reset_index(drop=True)
    pd.testing.assert_frame_equal(parallel.predictions, serial)


def test_bad_inputs_fail_before_fitting(params, tmp_path):
    folder = write_folder(synthetic(), tmp_path / "processed")
    with pytest.raises(ValueError, match="123456"):
        baselines.run_baselines(params, folder, tmp_path / "out", wells=[123456])
    with pytest.raises(FileNotFoundError, match="prepare"):
        baselines.run_baselines(params, tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.run_baselines(params, folder, tmp_path / "out", models=("lstm",))
    assert not (tmp_path / "out").exists()
