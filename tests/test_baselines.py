"""Baselines on small synthetic series: exact reference forecasts, a linear process
the ARX model must recover, no use of test-period data nor of forcings after a
lead's target month, and the stage's files."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gwtl.data.predictions import COLUMNS, read_predictions
from gwtl.data.processed import Processed
from gwtl.data.samples import Samples
from gwtl.evaluation.metrics import nse
from gwtl.models import baselines

from synthetic import write_folder

ROOT = Path(__file__).resolve().parents[1]
WELLS = ["900001", "900002"]
FORCINGS = ["precipitation", "discharge_211466"]
FITTED = ("arx", "svr", "rf")


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


def _with_changed_test_period(data: Processed) -> Processed:
    changed = copy.deepcopy(data)
    test = changed.levels.index >= "2016-01-01"
    changed.levels.loc[test] = changed.levels.loc[test] + 5.0
    changed.forcings.loc[test] = changed.forcings.loc[test] * 3.0
    return changed


def test_no_test_period_data_is_used(params):
    """Changing test-period levels and forcings leaves validation forecasts and choices unchanged."""
    data = synthetic(noise=0.3)
    before, config_before, _ = baselines.run_well(WELLS[0], data, params, models=FITTED)
    after, config_after, _ = baselines.run_well(WELLS[0], _with_changed_test_period(data), params, models=FITTED)
    assert config_before == config_after
    for model in FITTED:
        a, b = rows(before, model, "validation"), rows(after, model, "validation")
        assert len(a) > 100
        assert np.allclose(a["forecast"].to_numpy(), b["forecast"].to_numpy())
        # ... while the test period does change, so the check can fail.
        assert not np.allclose(rows(before, model, "test")["forecast"].to_numpy(),
                               rows(after, model, "test")["forecast"].to_numpy())


def _noise_after(samples: Samples, months: int, rng: np.random.Generator) -> Samples:
    """A copy of ``samples`` with large random forcings in the months after ``t + months``."""
    changed = copy.deepcopy(samples)
    first = samples.window + months
    for name in FORCINGS:
        i = samples.features.index(name)
        changed.x[:, first:, i] = rng.normal(0.0, 50.0, changed.x[:, first:, i].shape)
    return changed


def _lead(table: pd.DataFrame, model: str, h: int) -> np.ndarray:
    part = rows(table, model)
    return part[part["lead"] == h]["forecast"].to_numpy()


@pytest.mark.parametrize("mode", ["observed-forcing", "operational"])
def test_lead_inputs_end_at_the_target_month(params, mode):
    """The ARX and SVR/RF inputs of lead h hold no forcing after t+h (after t when operational)."""
    params["forecast"]["mode"] = mode
    data = synthetic()
    s = baselines.well_samples(params, data, WELLS[0], 6)
    rng = np.random.default_rng(1)
    for j, h in enumerate(s.leads):
        known = h if mode == "observed-forcing" else 0
        later = _noise_after(s, known, rng)
        for inputs in (baselines.arx_inputs, baselines.ml_inputs):
            np.testing.assert_array_equal(inputs(s, j, params), inputs(later, j, params))
            # ... while the forcing of the target month itself is read in observed-forcing mode.
            changed = not np.array_equal(inputs(s, j, params), inputs(_noise_after(s, h - 1, rng), j, params))
            assert changed == (mode == "observed-forcing")


@pytest.mark.slow
def test_each_lead_ignores_forcings_after_its_target_month(params, monkeypatch):
    """Every baseline's lead-h forecasts and choices are unchanged when the forcings
    of the months after t+h in each sample are replaced by large random values."""
    data = synthetic(noise=0.3)
    before, config_before, _ = baselines.run_well(WELLS[0], data, params)
    well_samples, rng = baselines.well_samples, np.random.default_rng(2)
    for j, h in enumerate(params["forecast"]["leads"][:-1]):
        monkeypatch.setattr(baselines, "well_samples",
                            lambda *args, h=h: _noise_after(well_samples(*args), h, rng))
        after, config_after, _ = baselines.run_well(WELLS[0], data, params)
        for model in baselines.MODELS:
            np.testing.assert_array_equal(_lead(before, model, h), _lead(after, model, h), err_msg=f"{model} lead {h}")
        for model in FITTED:
            assert config_before[model][j] == config_after[model][j]
            # ... while the last lead reads them, so the check can fail.
            a, b = _lead(before, model, 3), _lead(after, model, 3)
            assert a.shape != b.shape or not np.allclose(a, b), f"{model} lead 3"


def test_a_forcing_reaches_a_lead_h_forecast_only_from_h_months_before(params):
    """Changing the forcings of one test-period month m changes no lead-h forecast issued before m - h."""
    data = synthetic(noise=0.3)
    month = pd.Timestamp("2019-06-01")
    changed = copy.deepcopy(data)
    changed.forcings.loc[month] = changed.forcings.loc[month] * 10.0
    before, _, _ = baselines.run_well(WELLS[0], data, params, models=FITTED)
    after, _, _ = baselines.run_well(WELLS[0], changed, params, models=FITTED)
    for model in FITTED:
        for h in (1, 2, 3):
            a, b = (part[(part["model"] == model) & (part["lead"] == h)].set_index("issue")["forecast"]
                    for part in (before, after))
            earlier = a.index < month - pd.DateOffset(months=h)
            np.testing.assert_array_equal(a[earlier], b[earlier], err_msg=f"{model} lead {h}")
            # ... while the forecast whose target month is m reads it, so the check can fail.
            first = month - pd.DateOffset(months=h)
            assert a[first] != b[first], f"{model} lead {h}"


def test_svr_and_rf_run_with_two_trials(params):
    table, config, cost = baselines.run_well(WELLS[0], synthetic(noise=0.1), params, models=("svr", "rf"))
    assert [c["leads"] for c in config["svr"]] == [[1], [2], [3]]
    assert [c["leads"] for c in config["rf"]] == [[1], [2], [3]]
    for fitted in config["svr"] + config["rf"]:
        assert fitted["window"] in (6, 12)
    assert {"C", "epsilon", "gamma"} <= set(config["svr"][0])
    assert {"n_estimators", "max_depth", "min_samples_leaf", "max_features"} <= set(config["rf"][0])
    for model in ("svr", "rf"):
        part = rows(table, model, "test")
        assert sorted(part["lead"].unique()) == [1, 2, 3]
        assert part["forecast"].notna().all()
        assert nse(part["observed"], part["forecast"]) > 0.3
    assert [c["trials"] for c in cost] == [6, 6]  # baselines.trials per lead


@pytest.mark.slow
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


def test_filled_months_are_never_issued_from_nor_scored(params):
    """A month prepare interpolated is no issue month and no target of any baseline, as for the LSTMs."""
    data = synthetic(noise=0.1)
    data.meta["interpolated"] = {WELLS[0]: ["2017-03"]}
    month = pd.Timestamp("2017-03-01")
    table, _, _ = baselines.run_well(WELLS[0], data, params)
    assert month not in set(table["issue"])
    assert table.loc[table["month"] == month, "observed"].isna().all()
    plain, _, _ = baselines.run_well(WELLS[0], synthetic(noise=0.1), params)
    assert month in set(plain["issue"]) and plain.loc[plain["month"] == month, "observed"].notna().all()


def test_damped_persistence_recovers_phi_from_training_only(params):
    """Anomalies of an AR(1) with phi 0.8 around a seasonal cycle: phi_h ~ 0.8^h, fitted on training months only,
    and the forecast is the target month's training mean plus phi_h times the issue month's anomaly."""
    data = synthetic()
    months = data.levels.index
    rng = np.random.default_rng(3)
    anomaly = np.zeros(len(months))
    for t in range(1, len(months)):
        anomaly[t] = 0.8 * anomaly[t - 1] + rng.normal()
    season = 2.0 * np.sin(2 * np.pi * months.month.to_numpy() / 12)
    data.levels[WELLS[0]] = 300 + season + anomaly
    table, config, _ = baselines.run_well(WELLS[0], data, params, models=("damped_persistence",))
    phi = {c["leads"][0]: c["phi"] for c in config["damped_persistence"]}
    for h in (1, 2, 3):
        assert phi[h] == pytest.approx(0.8 ** h, abs=0.08)
    level = data.levels[WELLS[0]]
    means = level.loc["1990-01":"2010-12"].groupby(level.loc["1990-01":"2010-12"].index.month).mean()
    part = rows(table, "damped_persistence", "test")
    part = part[part["lead"] == 2]
    expected = (means.reindex(part["month"].dt.month).to_numpy()
                + phi[2] * (level.reindex(part["issue"]).to_numpy() - means.reindex(part["issue"].dt.month).to_numpy()))
    assert np.allclose(part["forecast"], expected, atol=1e-5)
    # the same in operational mode (it reads no forcing), and nothing of the test period enters
    params["forecast"]["mode"] = "operational"
    _, config_op, _ = baselines.run_well(WELLS[0], _with_changed_test_period(data), params,
                                         models=("damped_persistence",))
    assert config_op == config
