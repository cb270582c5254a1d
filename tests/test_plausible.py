"""The plausibility rules of source values: each rule catches its case and passes real-like series."""

import numpy as np
import pandas as pd
import pytest

from gwtl.sources.plausible import problems

MONTHS = pd.date_range("1990-01-01", "2021-12-01", freq="MS")
DAYS = pd.date_range("2000-01-01", "2003-12-31", freq="D")


def level(seed: int = 0) -> pd.Series:
    """A monthly level that swings by about 2 m, like the wells of the Leibnitzer Feld."""
    rng = np.random.default_rng(seed)
    return pd.Series(280 + np.sin(np.arange(len(MONTHS)) / 6) + rng.normal(0, 0.1, len(MONTHS)), index=MONTHS)


def rain() -> pd.Series:
    rng = np.random.default_rng(1)
    return pd.Series(np.round(rng.gamma(0.6, 8.0, len(DAYS)), 1), index=DAYS)


def test_plausible_series_pass():
    assert problems(level(), "level", daily=False) == []
    assert problems(rain(), "precipitation") == []
    assert problems(120 * np.exp(rain() / 50), "discharge") == []
    with_gaps = level().copy()
    with_gaps.iloc[5:9] = np.nan  # gaps are gaps, not problems
    assert problems(with_gaps, "level", daily=False) == []


@pytest.mark.parametrize("value, words", [(1e9, "more than 20 interquartile ranges"), (-9999.0, "-9999"),
                                          (np.inf, "not finite")])
def test_a_level_no_well_has_is_named_with_its_date(value, words):
    series = level()
    series.iloc[100] = value
    (found,) = problems(series, "level", daily=False)
    assert words in found and MONTHS[100].strftime("%Y-%m-%d") in found


def test_a_jump_no_aquifer_makes_in_a_month():
    series = level()
    series.iloc[200:] += 15.0  # a datum change of 15 m: within the spread of the series, but a jump
    found = problems(series, "level", daily=False)
    assert any("changes of level of more than 10 m within two months" in f and "2006-09-01" in f for f in found)


def test_rain_and_discharge_rules():
    series = rain()
    series.iloc[3] = -500.0
    series.iloc[7] = 600.0
    found = " | ".join(problems(series, "precipitation"))
    assert "negative precipitation (2000-01-04: -500)" in found
    assert "more than 500 mm of precipitation in a day (2000-01-08: 600)" in found
    monthly = series.resample("MS").sum().clip(lower=0)
    assert problems(monthly, "precipitation", daily=False) == []  # 600 mm is a possible month
    flow = 120 * np.exp(rain() / 50)
    flow.iloc[10] = 1e9
    assert "discharge above 1000 times" in problems(flow, "discharge")[0]
    flow.iloc[10] = -1.0
    assert "negative discharge" in problems(flow, "discharge")[0]


def test_many_offending_values_are_counted_not_all_listed():
    series = rain()
    series.iloc[:12] = -1.0
    (found,) = problems(series, "precipitation")
    assert "and 7 more" in found


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind"):
        problems(rain(), "temperature")
