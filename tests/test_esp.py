"""ESP assembly: forecasts issued up to the last month, no forcing after the issue month, one year per member."""

import numpy as np
import pandas as pd
import pytest

from gwtl.data.samples import make_samples
from gwtl.forecast.esp import anomalies, anomaly_persistence, esp_inputs, forecast_samples, scaled_forcings, trace_years

TRAIN = ["1990-01", "2000-12"]
MONTHS = pd.date_range("1990-01-01", "2005-12-01", freq="MS")
LEADS = [1, 2, 3]


def series(seed: int = 0):
    rng = np.random.default_rng(seed)
    level = pd.Series(300 + np.cumsum(rng.normal(0, 0.1, len(MONTHS))), index=MONTHS, name="w")
    # Every month's forcing is unique: 100 * year + month, so a value names its month.
    stamp = (MONTHS.year * 100 + MONTHS.month).to_numpy(dtype=float)
    forcings = pd.DataFrame({"precipitation": stamp, "discharge_1": -stamp}, index=MONTHS)
    return level, forcings


def samples(level, forcings, window=4):
    return forecast_samples(level, forcings, window=window, leads=LEADS, target="change", train=TRAIN)


def unscale(values: np.ndarray, forcings: pd.DataFrame, name: str) -> np.ndarray:
    train = forcings[name].loc["1990-01-01":"2000-12-01"]
    return values * train.std() + train.mean()


def test_the_last_month_of_the_data_is_an_issue_month_with_unknown_targets():
    s = samples(*series())
    assert s.issue[-1] == MONTHS[-1]
    assert np.isnan(s.y[-1]).all()
    assert s.valid[-1].all()  # nothing after the issue month is read, so every lead can be issued


def test_an_operational_forecast_reads_nothing_after_its_issue_month():
    level, forcings = series()
    base = samples(level, forcings)
    cut = pd.Timestamp("2003-06-01")
    level2, forcings2 = level.copy(), forcings.copy()
    level2[level2.index > cut] += 50.0
    forcings2[forcings2.index > cut] *= -7.0
    changed = samples(level2, forcings2)
    upto = np.flatnonzero(base.issue <= cut)
    np.testing.assert_array_equal(base.x[upto], changed.x[upto])
    ens = esp_inputs(base, forcings, TRAIN, "operational")
    np.testing.assert_array_equal(ens.x, base.x)
    assert (ens.year == -1).all() and (ens.sample == np.arange(len(base))).all()
    later = np.flatnonzero(base.issue > cut)
    assert not np.array_equal(base.x[later], changed.x[later])  # the check can see a change


def test_each_esp_member_uses_exactly_one_training_year():
    level, forcings = series()
    s = samples(level, forcings)
    ens = esp_inputs(s, forcings, TRAIN, "observed-forcing")
    w = s.window
    col = s.features.index("precipitation")
    for row in range(0, len(ens.x), 37):
        i, year = ens.sample[row], ens.year[row]
        stamps = np.rint(unscale(ens.x[row, w:, col], forcings, "precipitation")).astype(int)
        first = s.issue[i] + pd.DateOffset(months=1)
        trace = pd.date_range(pd.Timestamp(year=year, month=first.month, day=1), periods=3, freq="MS")
        assert list(stamps) == list(trace.year * 100 + trace.month)
        assert trace[0] >= pd.Timestamp(TRAIN[0]) and trace[-1] <= pd.Timestamp(TRAIN[1])
        np.testing.assert_array_equal(ens.x[row, :w], s.x[i, :w])  # the known past is the sample's own
        others = [c for c in range(s.x.shape[2]) if s.features[c] not in forcings.columns]
        np.testing.assert_array_equal(ens.x[row, w:, others], s.x[i, w:, others])
    # Every sample gets every year whose trace fits in the training period.
    december = np.flatnonzero(s.issue.month == 12)[0]
    assert sorted(ens.year[ens.sample == december]) == list(range(1990, 2001))  # trace Jan-Mar
    october = np.flatnonzero(s.issue.month == 10)[0]  # trace Nov-Jan: 2000 would reach 2001
    assert sorted(ens.year[ens.sample == october]) == list(range(1990, 2000))


def test_esp_with_the_year_that_came_reproduces_the_observed_forcing_input():
    level, forcings = series()
    s = samples(level, forcings)
    observed = make_samples(level, forcings, window=4, leads=LEADS, mode="observed-forcing", target="change",
                            train=TRAIN)
    ens = esp_inputs(s, forcings, TRAIN, "observed-forcing")
    issue = pd.Timestamp("1995-05-01")
    i = s.issue.get_loc(issue)
    row = np.flatnonzero((ens.sample == i) & (ens.year == 1995))[0]
    np.testing.assert_allclose(ens.x[row], observed.x[observed.issue.get_loc(issue)], rtol=0, atol=1e-6)


def test_trace_years_skip_a_year_with_a_missing_forcing():
    _, forcings = series()
    forcings.loc["1996-02-01", "discharge_1"] = np.nan
    assert 1996 not in trace_years(forcings, 1, 3, TRAIN)
    assert 1996 in trace_years(forcings, 3, 3, TRAIN)
    assert trace_years(forcings, 1, 3, TRAIN) == [y for y in range(1990, 2001) if y != 1996]


def test_esp_names_the_missing_years_when_none_fits():
    level, forcings = series()
    forcings.loc[forcings.index.month == 2, "precipitation"] = np.nan
    with pytest.raises(ValueError, match="no year of the training period"):
        esp_inputs(samples(level, forcings), forcings, TRAIN, "observed-forcing")


def test_scaled_forcings_use_training_statistics_only():
    _, forcings = series()
    scaled = scaled_forcings(forcings, TRAIN)
    train = scaled.loc["1990-01-01":"2000-12-01"]
    np.testing.assert_allclose(train.mean(), 0, atol=1e-9)
    np.testing.assert_allclose(train.std(), 1, atol=1e-9)
    assert scaled.loc["2005-12-01"].abs().min() > 1  # later months are not re-centred


def ar1_forcings(phi_discharge: float = 0.8, seed: int = 0) -> pd.DataFrame:
    """Seasonal rain without memory and a discharge whose anomaly is an AR(1) with ``phi_discharge``."""
    rng = np.random.default_rng(seed)
    season = 10 * np.sin(2 * np.pi * MONTHS.month.to_numpy() / 12)
    anomaly = np.zeros(len(MONTHS))
    for t in range(1, len(MONTHS)):
        anomaly[t] = phi_discharge * anomaly[t - 1] + rng.normal()
    return pd.DataFrame({"precipitation": 70 + season + rng.normal(0, 5, len(MONTHS)),
                         "discharge_1": 150 + season + 10 * anomaly}, index=MONTHS)


def test_anomaly_persistence_is_the_lag1_coefficient_of_training_anomalies():
    forcings = ar1_forcings()
    phi = anomaly_persistence(forcings, TRAIN)
    assert 0.65 < phi["discharge_1"] < 0.95 and abs(phi["precipitation"]) < 0.2  # 132 training months
    changed = forcings.copy()
    changed.loc["2001-01-01":] *= 5.0  # after the training period: no change
    pd.testing.assert_series_equal(phi, anomaly_persistence(changed, TRAIN))


def test_conditioned_traces_start_from_the_issue_months_anomaly_and_read_nothing_later():
    level, _ = series()
    forcings = ar1_forcings()
    s = samples(level, forcings)
    plain = esp_inputs(s, forcings, TRAIN, "observed-forcing")
    cond = esp_inputs(s, forcings, TRAIN, "observed-forcing", conditioning="anomaly", min_autocorrelation=0.3)
    w, q, p = s.window, s.features.index("discharge_1"), s.features.index("precipitation")
    np.testing.assert_array_equal(cond.x[:, :, p], plain.x[:, :, p])  # rain (phi ~ 0) keeps its random years
    np.testing.assert_array_equal(cond.x[:, :w], plain.x[:, :w])  # the known past is untouched
    scaled = anomalies(scaled_forcings(forcings, TRAIN), TRAIN)["discharge_1"]
    now = scaled.reindex(s.issue).to_numpy()[cond.sample]
    # the members' mean anomaly of the first month ahead follows the issue month's anomaly (phi ~ 0.8) ...
    first_month = s.issue[cond.sample] + pd.DateOffset(months=1)
    means = scaled_forcings(forcings, TRAIN)["discharge_1"]
    clim = means.loc["1990":"2000"].groupby(means.loc["1990":"2000"].index.month).mean()
    ahead = {name: ens.x[:, w, q] - clim.reindex(first_month.month).to_numpy() for name, ens in
             (("plain", plain), ("cond", cond))}
    mean = {k: pd.Series(v).groupby(cond.sample).mean().to_numpy() for k, v in ahead.items()}
    now = pd.Series(now).groupby(cond.sample).first().to_numpy()
    assert np.corrcoef(now, mean["cond"])[0, 1] > 0.9 and abs(np.corrcoef(now, mean["plain"])[0, 1]) < 0.2
    # ... and no forcing after the issue month reaches a member
    cut = pd.Timestamp("2003-06-01")
    later = forcings.copy()
    later[later.index > cut] *= -7.0
    again = esp_inputs(samples(level, later), later, TRAIN, "observed-forcing", conditioning="anomaly")
    upto = np.isin(cond.sample, np.flatnonzero(s.issue <= cut))
    np.testing.assert_array_equal(cond.x[upto], again.x[upto])
    with pytest.raises(ValueError, match="conditioning"):
        esp_inputs(s, forcings, TRAIN, "observed-forcing", conditioning="analog")
