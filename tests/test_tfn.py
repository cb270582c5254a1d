"""Tests of the pastas TFN baseline (gwtl.models.tfn) on synthetic wells with a known response."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from gwtl.data.predictions import prediction_table
from gwtl.data.processed import Processed
from gwtl.data.samples import make_samples, well_samples
from gwtl.models import tfn
from gwtl.params import ParamsError

ROOT = Path(__file__).resolve().parents[1]
WELLS = ["900001", "900002"]
GAIN, SHAPE, SCALE = 0.8, 2.0, 40.0  # gamma response of the synthetic wells (m per mm/d, -, days)
EVAP_FACTOR = -0.6  # the synthetic recharge: precipitation + EVAP_FACTOR * evaporation (pastas' Linear model)
ISSUE = pd.Timestamp("2008-06-01")  # an issue month in the validation period


def _params() -> dict:
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["basin"]["wells"] = [int(w) for w in WELLS]
    p["forecast"]["forcings"] = ["precipitation", "discharge_211466"]
    p["split"] = {"train": ["2000-01", "2007-12"], "validation": ["2008-01", "2009-12"],
                  "test": ["2010-01", "2011-12"]}
    return p


@pytest.fixture
def params() -> dict:
    return _params()


def synthetic(seed: int = 0) -> Processed:
    """Levels = 300 + monthly recharge convolved with a gamma response of gain GAIN + AR(1) noise.

    The recharge is the monthly rain rate (mm/d) plus EVAP_FACTOR times the
    evaporation climatology of params.yaml (mm/d), minus its mean. The river
    has no effect. The response is the gamma step response sampled at month
    ends.
    """
    months = pd.date_range("2000-01-01", "2011-12-01", freq="MS", name="month")
    rng = np.random.default_rng(seed)
    rain = rng.gamma(2.0, 40.0, len(months))
    rate = rain / months.days_in_month.to_numpy()
    evaporation = np.asarray(_params()["tfn"]["evaporation"])[months.month - 1]
    recharge = rate + EVAP_FACTOR * evaporation
    edges = np.arange(61) * 30.44
    kernel = GAIN * np.diff(stats.gamma.cdf(edges, SHAPE, scale=SCALE))
    signal = np.convolve(recharge - recharge.mean(), kernel)[: len(months)]
    levels = {}
    for k, well in enumerate(WELLS):
        noise = np.zeros(len(months))
        for t in range(1, len(months)):
            noise[t] = 0.5 * noise[t - 1] + rng.normal(0, 0.01)
        levels[well] = 300 + 5 * k + signal + noise
    levels = pd.DataFrame(levels, index=months)
    forcings = pd.DataFrame({"precipitation": rain, "discharge_211466": rng.normal(150, 40, len(months))},
                            index=months)
    basin = pd.DataFrame({"basin": 0.0, "n_wells": len(WELLS)}, index=months)
    wells = pd.DataFrame({"hzb": [int(w) for w in WELLS], "listed": True})
    return Processed(levels=levels, basin=basin, forcings=forcings, wells=wells, meta={})


@pytest.fixture(scope="module")
def fitted() -> tfn.Fitted:
    """The pastas model of the first synthetic well, fitted once for the tests that only read it."""
    data = synthetic()
    return tfn.fit_well(data.series(WELLS[0]), data.forcings, _params())


def _mode(params: dict, mode: str) -> dict:
    p = copy.deepcopy(params)
    p["forecast"]["mode"] = mode
    return p


def _at_issue(table: pd.DataFrame, issue: pd.Timestamp = ISSUE) -> np.ndarray:
    return table.loc[table["issue"] == issue].sort_values("lead")["forecast"].to_numpy()


@pytest.mark.slow
def test_fit_recovers_the_gain_and_beats_persistence(params, fitted):
    data = synthetic()
    gain, f = fitted.ml.get_parameters("recharge")[[0, -1]]
    assert 0.6 * GAIN < gain < 1.4 * GAIN
    assert EVAP_FACTOR - 0.2 < f < EVAP_FACTOR + 0.2
    table, row, cost = tfn.run_well(WELLS[0], data, params)
    assert row["status"] == "ok" and row["evp"] > 80 and cost["cpu_s"] > 0
    val = table[table["split"] == "validation"]
    persistence = data.series(WELLS[0]).reindex(val["issue"]).to_numpy()
    for lead in params["forecast"]["leads"]:
        at = (val["lead"] == lead).to_numpy()
        err = np.mean((val["forecast"] - val["observed"]).to_numpy()[at] ** 2)
        err_persistence = np.mean((persistence - val["observed"].to_numpy())[at] ** 2)
        assert err < 0.5 * err_persistence


def test_simulation_equals_pastas(fitted):
    ml = fitted.ml
    days = fitted.stresses["precipitation"].index
    mine = ml.get_parameters("constant")[0] + sum(c for c, _ in tfn.contributions(fitted).values())
    pastas_sim = ml.simulate()
    assert np.allclose(pd.Series(mine, index=days).reindex(pastas_sim.index), pastas_sim, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["observed-forcing", "operational"])
def test_no_level_after_the_issue_month_is_used(params, mode):
    params = _mode(params, mode)
    data = synthetic()
    changed = copy.deepcopy(data)
    changed.levels.loc[changed.levels.index > ISSUE] += 1.0
    before = _at_issue(tfn.run_well(WELLS[0], data, params)[0])
    after = _at_issue(tfn.run_well(WELLS[0], changed, params)[0])
    assert len(before) == len(params["forecast"]["leads"])
    np.testing.assert_array_equal(before, after)


@pytest.mark.slow
def test_operational_mode_uses_no_forcing_after_the_issue_month(params):
    data = synthetic()
    changed = copy.deepcopy(data)
    changed.forcings.loc[changed.forcings.index > ISSUE] *= 3.0
    op = _mode(params, "operational")
    np.testing.assert_allclose(_at_issue(tfn.run_well(WELLS[0], data, op)[0]),
                               _at_issue(tfn.run_well(WELLS[0], changed, op)[0]), rtol=0, atol=1e-9)
    obs = _mode(params, "observed-forcing")
    assert not np.allclose(_at_issue(tfn.run_well(WELLS[0], data, obs)[0]),
                           _at_issue(tfn.run_well(WELLS[0], changed, obs)[0]))


def test_operational_forecast_equals_a_simulation_with_mean_stresses_after_the_issue_month(params, fitted):
    from scipy.signal import fftconvolve

    data = synthetic()
    samples = well_samples(_mode(params, "operational"), data, WELLS[0], 1)
    forecast = tfn.forecast_levels(fitted, samples, "operational")
    i = int(np.flatnonzero(samples.issue == ISSUE)[0])
    days = fitted.stresses["precipitation"].index
    last = ISSUE + pd.offsets.MonthBegin(1)
    sim = fitted.ml.get_parameters("constant")[0]
    for name, (_, block) in tfn.contributions(fitted).items():
        known = name == "evaporation"  # a climatology: known after the issue month too
        x = fitted.stresses[name].where(known | (days <= last), 0.0).to_numpy()
        sim = sim + fftconvolve(x, block, "full")[: len(x)]
    full = fitted.ml.get_parameters("constant")[0] + sum(c for c, _ in tfn.contributions(fitted).values())
    mid = tfn.middle_day(pd.DatetimeIndex([ISSUE]))[0]
    residual = samples.base[i] - full[days.get_loc(mid)]
    alpha = fitted.ml.get_parameters("noise")[0]
    for j, h in enumerate(samples.leads):
        target = tfn.middle_day(pd.DatetimeIndex([ISSUE + pd.DateOffset(months=h)]))[0]
        expected = sim[days.get_loc(target)] + residual * np.exp(-(target - mid).days / alpha)
        assert forecast[i, j] == pytest.approx(expected, abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["observed-forcing", "operational"])
def test_rows_are_those_of_make_samples(params, mode):
    params = _mode(params, mode)
    data = synthetic()
    data.levels.iloc[[30, 90, 120], 0] = np.nan
    filled = pd.Series(False, index=data.levels.index)
    filled.iloc[60] = True
    data.meta = {"interpolated": {WELLS[0]: [data.levels.index[60].strftime("%Y-%m")]}}
    table = tfn.run_well(WELLS[0], data, params)[0]
    fc = params["forecast"]
    samples = make_samples(data.series(WELLS[0]), data.forcings[fc["forcings"]], window=1, leads=fc["leads"],
                           mode=mode, target=fc["target"], train=params["split"]["train"], filled=filled)
    expected = prediction_table(samples, np.zeros(samples.y.shape), model="tfn", well=WELLS[0],
                                split=params["split"])
    keys = ["well", "model", "lead", "issue", "month", "split"]
    pd.testing.assert_frame_equal(table[keys].reset_index(drop=True), expected[keys].reset_index(drop=True))
    assert data.levels.index[60] not in set(table["issue"]) | set(table.dropna(subset=["observed"])["month"])


def test_a_failing_fit_is_reported_not_dropped(params, tmp_path):
    from synthetic import write_folder

    data = synthetic()
    bad = data.levels[WELLS[1]].copy()
    bad.loc["2000-06-01":"2007-12-01"] = np.nan  # 5 training months: too few to calibrate
    data.levels[WELLS[1]] = bad
    result = tfn.run_tfn(params, write_folder(data, tmp_path / "processed"), tmp_path / "tfn", n_jobs=1)
    diag = pd.read_csv(tmp_path / "tfn" / "diagnostics.csv", dtype={"well": str}).set_index("well")
    assert list(diag.index) == WELLS
    assert diag.at[WELLS[1], "status"] == "failed" and "training months" in diag.at[WELLS[1], "error"]
    assert diag.at[WELLS[0], "status"] == "ok"
    assert set(result.predictions["well"]) == {WELLS[0]}
    config = json.loads((tmp_path / "tfn" / "config.json").read_text())
    assert config["failed"] == [WELLS[1]]
    # no stage in these forcings (as in the CSV layout): the river is the discharge, and config.json says so
    assert config["stresses"] == {"precipitation": "recharge", "discharge_211466": "river"}
    assert config["notes"] and "uses its discharge discharge_211466 instead" in config["notes"][0]
    accepted = json.loads((tmp_path / "tfn" / "acceptance.json").read_text())
    assert accepted["misses"][-1]["well"] == WELLS[1] and accepted["misses"][-1]["reason"].startswith("fit failed")
    cost = pd.read_csv(tmp_path / "tfn" / "cost.csv", dtype={"well": str})
    assert list(cost.columns) == ["well", "model", "wall_s", "cpu_s", "trials"] and list(cost["well"]) == WELLS


def test_unconverged_fit_is_flagged():
    class Result:
        success, message, nfev = False, "max_nfev reached", 10

    class Stats:
        evp = rsq = staticmethod(lambda: 50.0)

    class Model:
        parameters = pd.DataFrame({"optimal": [1.0, 20.0], "pmin": [1.0, 0.0], "pmax": [2.0, 100.0],
                                   "vary": [True, True]}, index=["precipitation_A", "noise_alpha"])
        solver = type("Solver", (), {"result": Result})
        stats = Stats

        @staticmethod
        def get_parameters(name):
            return np.array([20.0])

        @staticmethod
        def observations():
            return pd.Series([1.0, 2.0])

    row = tfn.diagnostics_row("1", tfn.Fitted(Model, {}, 0.0), "", ["a warning"])
    assert row["status"] == "not_converged" and row["message"] == "max_nfev reached"
    assert row["at_bounds"] == "precipitation_A=pmin" and row["warnings"] == "a warning"


def test_unknown_response_is_refused_before_any_fit(params, tmp_path):
    from synthetic import write_folder

    folder = write_folder(synthetic(), tmp_path / "processed")
    with pytest.raises(ParamsError, match="tfn.river"):
        tfn.run_tfn({**params, "tfn": {"recharge": "gamma", "river": "polder"}}, folder, tmp_path / "tfn")
    assert not (tmp_path / "tfn").exists()


@pytest.mark.slow
def test_same_files_with_one_or_two_processes(params, tmp_path):
    from synthetic import write_folder

    folder = write_folder(synthetic(), tmp_path / "processed")
    tfn.run_tfn(params, folder, tmp_path / "one", n_jobs=1)
    tfn.run_tfn(params, folder, tmp_path / "two", n_jobs=2)
    for name in ("predictions.csv", "diagnostics.csv", "config.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_fit_summary_counts_statuses_and_parameters_at_a_bound():
    diagnostics = pd.DataFrame({"status": ["ok", "ok", "not_converged", "failed"],
                                "at_bounds": ["discharge_A=pmin", "", "discharge_A=pmin rain_a=pmax", None]})
    text = tfn.fit_summary(diagnostics)
    assert text.startswith("4 wells: 2 fits converged, 1 did not (they forecast and are flagged), 1 failed")
    assert "`discharge_A=pmin` in 2 wells, `rain_a=pmax` in 1 wells" in text


# --------------------------------------------------------------------------- recharge, river, acceptance

GRAZ_NORMALS = {  # ZAMG 1971-2000, Graz-Universität: mean daily max., min. and mean temperature (°C) per month
    "tmax": [2.8, 5.8, 10.7, 15.3, 20.5, 23.4, 25.3, 24.7, 20.4, 14.6, 7.7, 3.6],
    "tmin": [-3.7, -2.4, 1.0, 4.9, 9.5, 12.7, 14.4, 14.3, 10.6, 5.9, 0.9, -2.3],
    "tmean": [-1.0, 1.0, 5.1, 9.6, 14.6, 17.7, 19.5, 18.9, 14.7, 9.4, 3.7, 0.1],
}


def test_the_evaporation_climatology_is_fao56_hargreaves_on_the_graz_normals():
    """params.yaml's tfn.evaporation is what its comment says: FAO-56 eq. 52 on the normals, at 46.8° N."""
    days = pd.date_range("2001-01-01", "2001-12-31", freq="D")
    j, lat = days.day_of_year.to_numpy(), np.radians(46.8)
    dr = 1 + 0.033 * np.cos(2 * np.pi * j / 365)  # FAO-56 eq. 23-25, 21: extraterrestrial radiation
    decl = 0.409 * np.sin(2 * np.pi * j / 365 - 1.39)
    ws = np.arccos(-np.tan(lat) * np.tan(decl))
    ra = 24 * 60 / np.pi * 0.0820 * dr * (ws * np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.sin(ws))
    m = days.month.to_numpy() - 1
    t = {k: np.asarray(v)[m] for k, v in GRAZ_NORMALS.items()}
    et0 = 0.0023 * (t["tmean"] + 17.8) * np.sqrt(t["tmax"] - t["tmin"]) * 0.408 * ra  # eq. 52, mm/d
    monthly = pd.Series(et0, index=days).groupby(days.month).mean().to_numpy()
    np.testing.assert_allclose(_params()["tfn"]["evaporation"], monthly, atol=0.005)
    per_year = float((monthly * pd.date_range("2001-01", periods=12, freq="MS").days_in_month.to_numpy()).sum())
    assert round(per_year) == 842


def test_the_river_is_its_stage_when_prepared_else_its_discharge_with_a_note(params):
    columns = ["precipitation", "discharge_211466", "stage_211466"]
    assert tfn.stress_plan(params, columns) == ({"precipitation": "recharge", "stage_211466": "river"}, [])
    plan, notes = tfn.stress_plan(params, columns[:2])  # no stage: a gauge without a W file, or the CSV layout
    assert plan == {"precipitation": "recharge", "discharge_211466": "river"}
    assert notes == ["gauge 211466: the prepared forcings have no stage_211466 (no water-level file, or the CSV "
                     "layout), so the TFN uses its discharge discharge_211466 instead"]
    params["tfn"]["river_input"] = "discharge"
    assert tfn.stress_plan(params, columns) == ({"precipitation": "recharge", "discharge_211466": "river"}, [])
    params["tfn"]["evaporation"] = []  # the earlier model: precipitation alone
    assert tfn.stress_plan(params, columns)[0] == {"precipitation": "precipitation", "discharge_211466": "river"}


def test_a_stage_drives_the_river_and_the_fit_reports_delays(params):
    data = synthetic()
    rng = np.random.default_rng(5)
    stage = pd.Series(245 + rng.normal(0, 0.5, len(data.levels)), index=data.levels.index)
    data.forcings["stage_211466"] = stage
    data.levels[WELLS[0]] += 0.4 * (stage - stage.mean())  # the river acts at once (within the month)
    fitted = tfn.fit_well(data.series(WELLS[0]), data.forcings, params)
    assert set(fitted.ml.stressmodels) == {"recharge", "stage_211466"}
    row = tfn.diagnostics_row(WELLS[0], fitted, "", [])
    assert 0.3 < row["gain_river"] < 0.5 and row["delay_river"] < 15
    _, n, a, _ = fitted.ml.get_parameters("recharge")
    assert row["delay_recharge"] == pytest.approx(n * a, abs=0.01)  # the gamma's mean, n a
    assert row["n_parameters"] == 8 and row["evap_factor"] < 0  # A n a f, A a, d, alpha


def test_precipitation_alone_when_evaporation_is_empty(params):
    params["tfn"]["evaporation"] = []
    data = synthetic()
    fitted = tfn.fit_well(data.series(WELLS[0]), data.forcings, params)
    assert set(fitted.ml.stressmodels) == {"precipitation", "discharge_211466"} and "evaporation" not in fitted.stresses


def test_the_acceptance_rule_and_the_wells_that_miss_it(params):
    diagnostics = pd.DataFrame({
        "well": ["1", "2", "3", "4"], "status": ["ok", "ok", "ok", "failed"], "evp": [80.0, 75.0, 50.0, ""],
        "n_parameters": [8, 8, 8, ""], "at_bounds": ["", "stage_211466_A=pmin", "", ""],
        "delay_recharge": [100.0, 120.0, 90.0, ""], "delay_river": [10.0, 3000.0, 20.0, ""],
        "gain_river": [0.3, 1e-5, 0.2, ""], "resid_trend": [0.0, 0.1, -0.3, ""], "noise_alpha": [30, 40, 90, ""],
        "error": ["", "", "", "ValueError: only 5 observed training months"]})
    wells = pd.DataFrame({"hzb": [1, 2, 3, 4], "corr_basin": [0.9, 0.8, 0.5, 0.7]})
    result = tfn.acceptance(diagnostics, params, wells)
    assert result.median_evp == 62.5  # a failed fit counts as 0
    assert (result.n_parameters, result.n_at_bounds) == (24, 1)
    assert not result.accepted and "**not accepted**" in result.text()
    misses = result.misses.set_index("well")
    assert list(misses.index) == ["2", "3", "4"]
    assert misses.at["2", "reason"] == "no stage_211466 response (gain stage_211466_A at its lower bound)"
    assert misses.at["3", "reason"] == "EVP 50 % < 70 %" and misses.at["3", "corr_basin"] == 0.5
    assert misses.at["4", "reason"].startswith("fit failed: ValueError")
    params["tfn"]["accept_evp"] = 60
    assert tfn.acceptance(diagnostics, params).accepted
    params["tfn"]["accept_bounds"] = 1 / 24
    assert not tfn.acceptance(diagnostics, params).accepted  # 1 of 24 is not fewer than 1/24
    assert json.loads(json.dumps(result.summary()))["misses"][0]["well"] == "2"
