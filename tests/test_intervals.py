"""Conformal intervals: finite-sample rank, coverage on series with a known noise level, scores."""

import math

import numpy as np
import pandas as pd
import pytest

from gwtl.forecast.intervals import (adaptive, apply, band_quantiles, calibrate, conformal_quantile, coverage_by, error_by_split,
                            expected_coverage,
                            interval_score, score_table, summary, weighted_interval_score)

LEVELS = [80, 95]


def hindcasts(n_val: int, n_test: int, sigma: float, band: float, seed: int = 0, well: str = "1") -> pd.DataFrame:
    """A model whose median is the truth and whose observations carry N(0, sigma) noise.

    The ESP band is ``median ± band`` for every level (0: no ESP spread, as in operational mode).
    """
    rng = np.random.default_rng(seed)
    n = n_val + n_test
    truth = 300 + np.sin(np.arange(n) / 5)
    table = pd.DataFrame({"well": well, "model": "tl", "lead": 1, "split": ["validation"] * n_val + ["test"] * n_test,
                          "observed": truth + rng.normal(0, sigma, n), "median": truth})
    for level in LEVELS:
        table[f"esp_lo{level}"] = truth - band
        table[f"esp_hi{level}"] = truth + band
    return table


@pytest.mark.parametrize("band", [0.0, 0.05, 0.4])  # no spread, too narrow, too wide for sigma 0.1
def test_intervals_cover_as_nominal_on_a_series_with_known_noise(band):
    sigma = 0.1
    table = hindcasts(2000, 40000, sigma, band)
    calibrated = apply(table, calibrate(table, LEVELS), LEVELS)
    scores = score_table(calibrated, LEVELS).iloc[0]
    for level in LEVELS:
        z = {80: 1.2816, 95: 1.9600}[level]
        assert abs(scores[f"coverage{level}"] - level / 100) < 0.015
        assert scores[f"width{level}"] == pytest.approx(2 * z * sigma, rel=0.06)


def test_the_band_without_calibration_would_not_cover():
    """The same check fails on the raw, too narrow ESP band: the test can see miscalibration."""
    table = hindcasts(200, 4000, 0.1, 0.05)
    raw = table.assign(**{f"lower{lv}": table[f"esp_lo{lv}"] for lv in LEVELS},
                       **{f"upper{lv}": table[f"esp_hi{lv}"] for lv in LEVELS})
    assert score_table(raw, LEVELS).iloc[0]["coverage80"] < 0.5


def test_calibration_reads_only_the_validation_months():
    table = hindcasts(300, 300, 0.1, 0.0)
    changed = table.copy()
    changed.loc[changed["split"] == "test", "observed"] += 10.0
    pd.testing.assert_frame_equal(calibrate(table, LEVELS), calibrate(changed, LEVELS))


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 10.0)  # 9 scores
    assert conformal_quantile(scores[::-1], 80) == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(scores, 95) == 9.0  # ceil(10 * 0.95) = 10 > 9: the largest
    with pytest.raises(ValueError, match="no validation score"):
        conformal_quantile([], 80)


def test_calibrate_records_when_too_few_months_void_the_guarantee():
    table = hindcasts(10, 5, 0.1, 0.0)
    cal = calibrate(table, LEVELS).set_index("level")
    assert cal.loc[80, "n"] == 10 and cal.loc[80, "guaranteed"]
    assert not cal.loc[95, "guaranteed"]  # 10 < 95 / 5


def test_calibrate_names_a_well_without_validation_months():
    table = pd.concat([hindcasts(20, 5, 0.1, 0.0), hindcasts(20, 5, 0.1, 0.0, well="777")])
    table.loc[(table["well"] == "777") & (table["split"] == "validation"), "observed"] = np.nan
    with pytest.raises(ValueError, match="well 777, model tl, lead 1"):
        calibrate(table, LEVELS)


def test_intervals_hold_the_median_and_nest():
    table = hindcasts(200, 50, 0.1, 0.3)  # a band far too wide: q is negative
    out = apply(table, calibrate(table, LEVELS), LEVELS)
    assert (out["lower95"] <= out["lower80"]).all() and (out["lower80"] <= out["median"]).all()
    assert (out["median"] <= out["upper80"]).all() and (out["upper80"] <= out["upper95"]).all()


def test_interval_and_weighted_interval_scores_by_hand():
    assert band_quantiles(80) == pytest.approx((0.1, 0.9))
    # Inside: the width. Below by 0.5 with alpha 0.2: width + 2 / 0.2 * 0.5.
    assert interval_score([1.0, 0.0], [0.5, 0.5], [2.0, 2.0], 80) == pytest.approx([1.5, 1.5 + 5.0])
    row = pd.DataFrame({"observed": [0.0], "median": [1.0], "lower80": [0.5], "upper80": [2.0],
                        "lower95": [-1.0], "upper95": [3.0]})
    expected = (0.5 * 1.0 + 0.1 * (1.5 + 10 * 0.5) + 0.025 * 4.0) / 2.5
    assert weighted_interval_score(row, LEVELS)[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="between 0 and 100"):
        band_quantiles(100)


def test_summary_gives_short_metric_keys():
    table = pd.concat([hindcasts(100, 100, 0.1, 0.0, well=w, seed=int(w)) for w in ("1", "2")])
    out = apply(table, calibrate(table, LEVELS), LEVELS)
    metrics = summary(out, LEVELS)
    entry = metrics["test"]["lead1"]
    assert set(entry) == {"coverage80", "width80", "coverage95", "width95", "wis", "nse_esp"}
    rows = out[out["split"] == "test"]
    covered = ((rows["lower80"] <= rows["observed"]) & (rows["observed"] <= rows["upper80"])).mean()
    assert entry["coverage80"]["tl"] == pytest.approx(covered, abs=1e-4)
    assert not math.isnan(entry["nse_esp"]["tl"])


def test_expected_coverage_is_the_rank_over_n_plus_one():
    assert expected_coverage(60, 80) == pytest.approx(49 / 61)
    assert expected_coverage(9, 95) == pytest.approx(9 / 10)  # too few months: the largest score


def test_error_by_split_compares_validation_and_test_errors():
    table = hindcasts(100, 100, 0.1, 0.0)
    table.loc[table["split"] == "test", "observed"] = table["median"] + 0.05
    errors = error_by_split(table, "tl")
    assert list(errors.columns) == ["validation", "test"] and list(errors.index) == [1]
    assert errors.loc[1, "test"] == pytest.approx(0.05)
    assert errors.loc[1, "validation"] == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.2)


def test_skill_of_the_issued_medians_against_damped_persistence():
    """``skill_esp_vs_damped_persistence``: per well 1 - MSE_model / MSE_damped on the months both forecast."""
    tables = []
    for well, miss in (("1", 0.2), ("2", 0.4)):
        table = hindcasts(50, 50, 0.0, 0.0, well=well).assign(month=pd.date_range("2011-01", periods=100, freq="MS"))
        table["median"] = table["observed"] + 0.1  # the model misses by 0.1 m
        damped = table.assign(model="damped_persistence", median=table["observed"] - miss)
        tables += [table, damped.iloc[:-5]]  # damped persistence lacks the last 5 months: they do not count
    out = pd.concat(tables, ignore_index=True)
    out = apply(out, calibrate(out, LEVELS), LEVELS)
    entry = summary(out, LEVELS)["test"]["lead1"]
    assert entry["skill_esp_vs_damped_persistence"]["tl"] == pytest.approx(((1 - 0.01 / 0.04) + (1 - 0.01 / 0.16)) / 2, abs=1e-4)
    assert "damped_persistence" not in entry["skill_esp_vs_damped_persistence"]
    assert entry["nse_esp"]["damped_persistence"] < entry["nse_esp"]["tl"]


def shifted(n_wells: int = 20, seed: int = 0) -> pd.DataFrame:
    """Lead-1 hindcasts of ``n_wells`` wells, 2011-2021: errors N(0, 0.1), but N(0, 0.16) in 2018-2019 at every well."""
    rng = np.random.default_rng(seed)
    month = pd.date_range("2011-01-01", "2021-12-01", freq="MS")
    sd = np.where((month.year >= 2018) & (month.year <= 2019), 0.16, 0.1)
    frames = []
    for w in range(n_wells):
        frame = pd.DataFrame({"well": str(w), "model": "tl", "lead": 1, "issue": month - pd.DateOffset(months=1),
                              "month": month, "split": np.where(month.year <= 2015, "validation", "test"),
                              "median": 300.0})
        frame["observed"] = 300.0 + rng.normal(0, sd)
        for level in LEVELS:
            frame[f"esp_lo{level}"] = frame[f"esp_hi{level}"] = 300.0
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_adaptive_intervals_recover_coverage_in_a_year_of_larger_errors():
    table = shifted()
    static = apply(table, calibrate(table, LEVELS), LEVELS)
    online = adaptive(static, LEVELS, 0.2, "2016-01")
    pd.testing.assert_frame_equal(online[online["split"] == "validation"], static[static["split"] == "validation"])
    before, after = (coverage_by(t, LEVELS).set_index("year")["coverage80"] for t in (static, online))
    assert before.min() < 0.6  # the split-conformal interval fails the years of larger errors ...
    assert after.between(0.72, 0.88).all()  # ... the adaptive one holds 80 % within 0.72-0.88 in every year
    seasons = coverage_by(online, LEVELS, by="season")
    assert list(seasons["season"]) == ["DJF", "JJA", "MAM", "SON"] and seasons["n"].sum() == 20 * 72


def test_adaptive_intervals_read_no_outcome_after_their_issue_month():
    table = shifted()
    static = apply(table, calibrate(table, LEVELS), LEVELS)
    changed = static.copy()
    later = changed["month"] > "2018-06-01"
    changed.loc[later, "observed"] += np.random.default_rng(1).normal(0, 1.0, later.sum())
    a, b = adaptive(static, LEVELS, 0.05, "2016-01"), adaptive(changed, LEVELS, 0.05, "2016-01")
    known = a["issue"] <= "2018-06-01"
    pd.testing.assert_frame_equal(a.loc[known, ["lower80", "upper80", "lower95", "upper95"]],
                                  b.loc[known, ["lower80", "upper80", "lower95", "upper95"]])
    issued_later = ~known & (a["month"] > "2018-08-01")
    assert not np.allclose(a.loc[issued_later, "lower80"], b.loc[issued_later, "lower80"])  # the check can see it
