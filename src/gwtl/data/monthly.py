"""The monthly rules of the prepare stage: months, daily to monthly, coverage, gap filling.

Every input series of :mod:`gwtl.data.prepare`, from any source, becomes a
:class:`Station` on first-of-month dates (:func:`month_index`). A month (or
day) without its own value is missing: a value is never carried into a later
month or day. The rules are described in :mod:`gwtl.data.prepare`; ``gwtl basin``
(:mod:`gwtl.sources.station_choice`) applies the same functions, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PARAM_KEY = {"well": "basin.wells", "rain station": "basin.rain_stations", "gauge": "basin.gauges",
             "forcing": "forecast.forcings"}


class PrepareError(ValueError):
    """Input that cannot be prepared; the message names the ids and what to do."""


@dataclass
class Station:
    """One listed input series on the monthly index, with its file header."""

    kind: str
    hzb: int | str  # HZB number or well id; the column name for a forcing of the CSV layout
    meta: dict
    monthly: pd.Series
    coverage: float

    @property
    def label(self) -> str:
        return f"{self.kind} {self.hzb} ({self.meta.get('name', '')})"


@dataclass
class Inputs:
    """What a source (:func:`gwtl.sources.ehyd.read_inputs`, :func:`gwtl.sources.csv_source.read_inputs`) yields to prepare.

    Attributes
    ----------
    format : str
        ``data.format`` of the source (``meta.json["format"]``).
    listed : dict
        ``"well"`` -> the listed wells, and any other kinds (rain stations,
        gauges, forcings) whose missing months are reported; all checked with
        :func:`check_listed`.
    others : list of Station
        The wells of the area that ``basin.wells`` does not list (for ``wells.csv``).
    forcings : DataFrame
        The table ``forcings.csv``.
    rain_stations, gauges, forcing_entries : list of dict
        ``meta.json["rain_stations"]``, ``["gauges"]`` and ``["forcings"]``.
    counts : dict
        The source's own counts, after the shared ones in ``meta.json["counts"]``.
    extra : dict
        The source's own keys of ``meta.json``, after ``forcings``.
    warnings : list of str
        The source's own warnings, after the shared ones.
    """

    format: str
    listed: dict[str, list[Station]]
    others: list[Station]
    forcings: pd.DataFrame
    rain_stations: list[dict]
    gauges: list[dict]
    forcing_entries: list[dict]
    counts: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- months


def month_index(start: str, end: str) -> pd.DatetimeIndex:
    """First-of-month dates from ``start`` to ``end`` (``"1990-01"``), both inclusive."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS", name="month")


def months_text(months, limit: int | None = None) -> str:
    """``"2001-01, 2001-02"``: months for a message; beyond the first ``limit`` months only ``" ..."``."""
    text = ", ".join(pd.Timestamp(m).strftime("%Y-%m") for m in (months if limit is None else months[:limit]))
    return text + (" ..." if limit is not None and len(months) > limit else "")


def values_span(values: pd.Series, empty: str) -> str:
    """Where the dated ``values`` of a series lie (``"its values cover 1990-01..2020-12"``), or ``empty``.

    For the message of a listed series without any value in the period (:func:`check_listed`).
    """
    values = values.dropna()
    if values.empty:
        return empty
    return f"its values cover {values.index[0]:%Y-%m}..{values.index[-1]:%Y-%m}"


def is_daily(dates: pd.DatetimeIndex | pd.Series) -> bool:
    """Daily when most months with a date hold more than one; otherwise each date stands for its month.

    A majority rule, so that one stray row in a monthly series does not make
    the whole series daily (:func:`gwtl.sources.csv_source.monthly_problems` names such a row).
    """
    per_month = pd.DatetimeIndex(dates).dropna().to_period("M").value_counts()
    return bool((per_month > 1).mean() > 0.5) if len(per_month) else False


def monthly_values(values: pd.Series, months: pd.DatetimeIndex) -> pd.Series:
    """Monthly values of an eHYD monthly file on ``months``; months without a value are NaN.

    Each value is stamped on the first of its month. A ``Lücke`` (NaN) holds
    until the next timestamp, so a month without a stamp of its own is missing.
    """
    stamps = values.index.to_period("M").to_timestamp()
    if stamps.has_duplicates:
        raise PrepareError(f"series {values.name}: two values in one month; the monthly file is corrupt")
    return pd.Series(values.to_numpy(dtype=float), index=stamps).reindex(months).rename(values.name)


def daily_values(values: pd.Series, months: pd.DatetimeIndex) -> pd.Series:
    """Daily values of an eHYD daily file on every calendar day of ``months``.

    A value belongs to the calendar day of its stamp: a daily mean stamped
    ``D 00:00`` is the mean of day D, and a precipitation sum stamped ``D 07:00``
    is the rain from 07:00 on D to 07:00 on D+1 (see :mod:`gwtl.data.prepare`).
    Days without a value of their own are NaN.
    """
    days = values.index.normalize()
    if days.has_duplicates:
        raise PrepareError(f"series {values.name}: two values on one day; the daily file is corrupt")
    every_day = pd.date_range(months[0], months[-1] + pd.offsets.MonthEnd(0), freq="D")
    return pd.Series(values.to_numpy(dtype=float), index=days).reindex(every_day).rename(values.name)


def monthly_from_daily(daily: pd.Series, how: str, max_missing_days: int) -> pd.Series:
    """Monthly sums or means of a daily series, missing when too many days are missing.

    Parameters
    ----------
    daily : Series
        One value per calendar day (NaN where missing), whole months only.
    how : {"sum", "mean"}
        ``"sum"`` (precipitation): the mean of the valid days times the days
        of the month; ``"mean"`` (discharge): the mean of the valid days.
    max_missing_days : int
        A month missing more days than this is NaN.
    """
    if how not in ("sum", "mean"):
        raise ValueError(f"how={how!r}: use 'sum' or 'mean'")
    groups = daily.groupby(daily.index.to_period("M"))
    mean, valid, days = groups.mean(), groups.count(), groups.size()
    value = mean * days if how == "sum" else mean
    value[days - valid > max_missing_days] = np.nan
    value.index = value.index.to_timestamp()
    value.index.name = "month"
    return value.rename(daily.name)


def to_months(values: pd.Series, months: pd.DatetimeIndex, how: str, max_missing_days: int) -> tuple[pd.Series, str]:
    """Monthly values of one dated series of the CSV layout and its resolution (``"daily"`` or ``"monthly"``).

    Daily series (:func:`is_daily`) go through :func:`daily_values`
    and :func:`monthly_from_daily` (``how`` and the missing-days rule); monthly
    series through :func:`monthly_values` (each value is its month's).
    """
    if is_daily(values.index):
        return monthly_from_daily(daily_values(values, months), how, max_missing_days), "daily"
    return monthly_values(values, months), "monthly"


# --------------------------------------------------------------------------- coverage


def coverage(monthly: pd.Series) -> float:
    """Share of months with a value."""
    return float(monthly.notna().mean()) if len(monthly) else 0.0


def coverage_problem(monthly: pd.Series, min_coverage: float, train: list[str] | None = None) -> str | None:
    """Why a monthly series cannot be used, by the coverage rule; ``None`` when it can.

    Returns ``"empty"`` (no value in the period), ``"low"`` (coverage below
    ``min_coverage``) or, for a well (``train`` given), ``"untrained"`` (fewer
    than two distinct values in the training period ``train``).
    """
    cov = coverage(monthly)
    if cov == 0:
        return "empty"
    if cov < min_coverage:
        return "low"
    if train is not None and monthly.loc[pd.Timestamp(train[0]) : pd.Timestamp(train[1])].dropna().nunique() < 2:
        return "untrained"
    return None


def check_listed(params: dict, listed: dict[str, list[Station]], span: Callable[[Station], str]) -> None:
    """One error listing every listed series without data, with low coverage or no training data.

    Parameters
    ----------
    params : dict
        Uses ``prepare`` and ``split.train``.
    listed : dict
        Kind (a key of :data:`PARAM_KEY`) -> the listed series on the monthly index.
    span : callable
        Describes where the values of a series without any value in the period lie.
    """
    prep, period = params["prepare"], f"{params['prepare']['start']}..{params['prepare']['end']}"
    train = params["split"]["train"]
    empty, low, untrained = [], [], []
    for kind, stations in listed.items():
        for s in stations:
            problem = coverage_problem(s.monthly, prep["min_coverage"], train if kind == "well" else None)
            if problem == "empty":
                empty.append(f"  {PARAM_KEY[kind]}: {s.label}: no value in {period}; {span(s)}")
            elif problem == "low":
                low.append(f"  {PARAM_KEY[kind]}: {s.label}: coverage {s.coverage:.3f} < {prep['min_coverage']}")
            elif problem == "untrained":
                untrained.append(f"  basin.wells: {s.label}: fewer than two distinct values in "
                                 f"the training period {train[0]}..{train[1]}")
    problems = []
    if empty:
        problems.append(f"Listed series without any value in {period} (remove them from params.yaml, "
                        "or move prepare.start/end):\n" + "\n".join(empty))
    if low:
        problems.append(
            f"Listed series with a share of months with a value (coverage) over {period} below "
            f"prepare.min_coverage = {prep['min_coverage']} (remove each from its list in "
            "params.yaml, or lower prepare.min_coverage):\n" + "\n".join(low))
    if untrained:
        problems.append("Listed wells that cannot be standardized on the training period "
                        "(remove them from basin.wells):\n" + "\n".join(untrained))
    if problems:
        raise PrepareError("prepare: cannot use the listed inputs.\n" + "\n".join(problems))


def forcing_meta(name: str, monthly: pd.Series, how: str, resolution: str, description: str) -> dict:
    """The entry of one column of ``forcings.csv`` in ``meta.json["forcings"]``."""
    return {"name": name, "description": description, "how": how, "resolution": resolution,
            "coverage": round(coverage(monthly), 4), "months_missing": int(monthly.isna().sum())}


# --------------------------------------------------------------------------- gaps


def split_segments(months: pd.DatetimeIndex, split: dict) -> np.ndarray:
    """Label every month with the number of its run of months between split boundaries.

    Months of one split period share a label; months outside all split periods
    form runs of their own.
    """
    cuts = set()
    for lo, hi in split.values():
        cuts.add(pd.Timestamp(lo))
        cuts.add(pd.Timestamp(hi) + pd.offsets.MonthBegin(1))
    return np.searchsorted(np.array(sorted(cuts), dtype="datetime64[ns]"), months.values, side="right")


def interpolate_gaps(levels: pd.Series, max_gap: int, segments: np.ndarray) -> tuple[pd.Series, list]:
    """Fill interior gaps of at most ``max_gap`` months linearly, within one segment.

    Returns
    -------
    filled : Series
    months : list of Timestamp
        The months that were filled.
    """
    values = levels.to_numpy(dtype=float)
    filled = values.copy()
    edges = np.flatnonzero(np.diff(np.r_[0, np.isnan(values).astype(int), 0]))
    done = []
    for a, b in zip(edges[::2], edges[1::2]):  # a gap covers positions a .. b-1
        if b - a > max_gap or a == 0 or b == len(values) or segments[a - 1] != segments[b]:
            continue
        filled[a:b] = np.interp(np.arange(a, b), [a - 1, b], [values[a - 1], values[b]])
        done.extend(levels.index[a:b])
    return pd.Series(filled, index=levels.index, name=levels.name), done
