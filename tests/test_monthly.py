"""The monthly rules of gwtl.data.monthly: months, daily to monthly, coverage, gap filling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ehyd_files import write_rain

from gwtl.sources.ehyd import read_ehyd
from gwtl.data.monthly import (
    PrepareError,
    Station,
    check_listed,
    coverage,
    coverage_problem,
    daily_values,
    interpolate_gaps,
    is_daily,
    month_index,
    monthly_from_daily,
    monthly_values,
    months_text,
    split_segments,
    values_span,
)

SPLIT = {"train": ["2000-01", "2003-12"], "validation": ["2004-01", "2004-12"], "test": ["2005-01", "2005-12"]}


def test_month_index_and_monthly_values():
    months = month_index("2000-01", "2000-04")
    assert list(months.strftime("%Y-%m")) == ["2000-01", "2000-02", "2000-03", "2000-04"] and months.name == "month"
    values = pd.Series([1.0, np.nan, 3.0], index=pd.to_datetime(["2000-01-01", "2000-02-01", "2000-04-01"]), name=7)
    monthly = monthly_values(values, months)
    assert monthly.name == 7 and np.isnan(monthly.iloc[1]) and np.isnan(monthly.iloc[2])  # a gap is not carried on
    assert coverage(monthly) == 0.5 and coverage(monthly.iloc[:0]) == 0.0
    twice = pd.Series([1.0, 2.0], index=pd.to_datetime(["2000-01-01", "2000-01-15"]), name=7)
    with pytest.raises(PrepareError, match="series 7: two values in one month"):
        monthly_values(twice, months)


def test_months_text_and_values_span_for_messages():
    months = month_index("2000-01", "2001-02")
    assert months_text(months[:2]) == "2000-01, 2000-02"
    assert months_text(months, limit=12) == ", ".join(months[:12].strftime("%Y-%m")) + " ..."
    assert months_text(months[:12], limit=12) == ", ".join(months[:12].strftime("%Y-%m"))
    values = pd.Series([np.nan, 1.0, 2.0, np.nan], index=months[:4])
    assert values_span(values, "none") == "its values cover 2000-02..2000-03"
    assert values_span(values.iloc[[0, 3]], "none") == "none"


def test_is_daily():
    assert not is_daily(pd.to_datetime(["2000-01-15", "2000-02-03", "2000-04-30"]))  # one value a month
    assert is_daily(pd.to_datetime(["2000-01-01", "2000-01-02"]))
    # One stray row does not make a monthly series daily (it is named as an error instead).
    assert not is_daily(pd.to_datetime(["2000-01-01", "2000-02-01", "2000-02-15", "2000-03-01"]))


def test_coverage_problem():
    months = month_index("2000-01", "2000-12")
    level = pd.Series(np.arange(12.0), index=months)
    assert coverage_problem(level, 0.9, ["2000-01", "2000-06"]) is None
    assert coverage_problem(level * np.nan, 0.9) == "empty"
    assert coverage_problem(level.where(level > 2), 0.9) == "low"  # 9/12
    flat = level.where(level < 6, 1.0).where(level > 0, 1.0)  # one distinct value from 2000-07 on
    assert coverage_problem(flat, 0.9, ["2000-07", "2000-12"]) == "untrained"
    assert coverage_problem(flat, 0.9) is None  # without a training period the rule is coverage only


def test_check_listed_names_every_problem():
    months = month_index("2000-01", "2000-12")
    params = {"prepare": {"start": "2000-01", "end": "2000-12", "min_coverage": 0.9},
              "split": {"train": ["2000-01", "2000-12"]}}
    level = pd.Series(np.arange(12.0), index=months)

    def station(kind, hzb, monthly):
        return Station(kind, hzb, {"name": "x"}, monthly, coverage(monthly))

    listed = {"well": [station("well", 1, level), station("well", 2, level * np.nan),
                       station("well", 3, level * 0)],
              "gauge": [station("gauge", 4, level.where(level > 2))]}
    with pytest.raises(PrepareError) as err:
        check_listed(params, listed, lambda s: "SPAN")
    text = str(err.value)
    assert "basin.wells: well 2 (x): no value in 2000-01..2000-12; SPAN" in text
    assert "basin.gauges: gauge 4 (x): coverage 0.750 < 0.9" in text
    assert "basin.wells: well 3 (x): fewer than two distinct values in the training period" in text
    assert "well 1 " not in text
    check_listed(params, {"well": [listed["well"][0]]}, lambda s: "SPAN")


def test_short_gaps_are_interpolated_and_long_ones_left_empty():
    months = pd.date_range("2000-01-01", periods=14, freq="MS")
    v = np.arange(14, dtype=float)
    v[[0, 2, 4, 5, 8, 9, 10]] = np.nan  # edge, 1-month, 2-month, 3-month gaps
    filled, done = interpolate_gaps(pd.Series(v, index=months), 2, np.zeros(14, int))
    assert np.isnan(filled.iloc[0])  # a gap at the start is not interior
    np.testing.assert_allclose(filled.iloc[[2, 4, 5]], [2.0, 4.0, 5.0])
    assert filled.iloc[8:11].isna().all()
    assert [m.month for m in done] == [3, 5, 6]
    segments = np.r_[np.zeros(3, int), np.ones(11, int)]  # a split boundary after month 3
    filled, _ = interpolate_gaps(pd.Series(v, index=months), 2, segments)
    assert np.isnan(filled.iloc[2])  # its neighbours lie in different split periods


def test_split_segments_separate_periods():
    months = month_index("2000-01", "2005-12")
    seg = split_segments(months, SPLIT)
    assert len(set(seg[:48])) == 1 and len(set(seg[48:60])) == 1 and len(set(seg[60:])) == 1
    assert seg[47] != seg[48] != seg[60]


def test_rain_stamped_0700_belongs_to_the_day_of_its_stamp(tmp_path):
    days = pd.date_range("2000-01-01", "2000-03-31", freq="D")
    rain = pd.Series(0.0, index=days)
    rain["2000-01-31"] = 10.0  # written as 31.01.2000 07:00
    rain["2000-02-01"] = 20.0  # written as 01.02.2000 07:00
    path = write_rain(tmp_path, 100001, rain)
    assert "01.02.2000 07:00:00   ;   20,0" in path.read_text(encoding="iso-8859-1")
    monthly = monthly_from_daily(daily_values(read_ehyd(path).values, month_index("2000-01", "2000-03")), "sum", 5)
    assert monthly.tolist() == [10.0, 20.0, 0.0]


def test_missing_day_rule(tmp_path):
    days = pd.date_range("2000-01-01", "2000-04-30", freq="D")
    rain = pd.Series(2.0, index=days)
    rain["2000-01-10":"2000-01-14"] = np.nan  # 5 missing days: kept, scaled to 31 days
    rain["2000-02-03":"2000-02-08"] = np.nan  # 6 missing days: month missing
    rain["2000-03-31"] = 8.0
    rain["2000-04-30"] = np.nan  # the last day; then the file ends
    path = write_rain(tmp_path, 100001, rain.iloc[:-1], end_gap=pd.Timestamp("2000-04-30 07:00"))
    text = path.read_text(encoding="iso-8859-1")
    assert text.count("Lücke") == 3  # one line per gap, holding until the next timestamp
    values = daily_values(read_ehyd(path).values, month_index("2000-01", "2000-04"))
    sums = monthly_from_daily(values, "sum", 5)
    np.testing.assert_allclose(sums.iloc[0], 2.0 * 31)
    assert np.isnan(sums.iloc[1])
    np.testing.assert_allclose(sums.iloc[2], 2.0 * 30 + 8.0)
    np.testing.assert_allclose(sums.iloc[3], 2.0 * 30)
    means = monthly_from_daily(values, "mean", 5)
    np.testing.assert_allclose(means.iloc[[0, 2, 3]], [2.0, 68 / 31, 2.0])
    assert np.isnan(monthly_from_daily(values, "sum", 4).iloc[0])
