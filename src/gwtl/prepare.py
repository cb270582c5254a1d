"""Prepare stage: raw files -> the monthly data set in ``data/processed/``.

With ``data.format: ehyd`` (the default) the input is a raw folder with the
layout of the eHYD mirror::

    gw/Grundwasserstand-Monatsmittel-<HZB>.csv   monthly mean groundwater level
    nlv/N-Tagessummen-<HZB>.csv                  daily precipitation sums
    owf/Q-Tagesmittel-<HZB>.csv                  daily mean discharge
    catalog/messstellen_owf.csv                  optional: gauge coordinates for the report

With ``data.format: csv`` the input is ``<raw>/csv/`` in the CSV layout of
:mod:`gwtl.csv_source`: its wells, and the columns of its forcings file
instead of rain stations and gauges. A daily series (more than one value in
some month) becomes monthly with the missing-days rule below: levels as the
mean, forcings as the sum or the mean by column name
(:func:`gwtl.csv_source.aggregation`); a monthly series is used as given.
Every forcing column is prepared; those named in ``forecast.forcings`` must
exist and pass the coverage check like rain stations and gauges. The rules for
months, checks, levels, the basin signal and the correlation are the same
functions for both formats.

Output is described in :mod:`gwtl.processed`. The rules, in the order they apply:

Months
    Everything lives on first-of-month dates from ``prepare.start`` to
    ``prepare.end``. A month (or day) without its own value in a file is
    missing: a ``Lücke`` holds until the next timestamp, and a value is never
    carried into a later month or day.
Checks before any heavy work
    Every id in ``basin.wells``, ``basin.rain_stations`` and ``basin.gauges``
    needs its file; every listed series needs values in the period, and a share
    of months with a value (its *coverage*) of at least ``prepare.min_coverage``;
    each listed well needs two distinct values in the training period. All
    problems are collected into one :class:`PrepareError` that says what to do.
Levels
    Interior gaps of at most ``prepare.max_gap_months`` consecutive months are
    filled by linear interpolation between the neighbouring months. Gaps are
    filled within one split period (train, validation, test) at a time: a gap
    that touches a split boundary, or the start or end of the data, stays
    empty, so that no value of a later period reaches an earlier one. Longer
    gaps stay empty.
Basin signal
    Each listed well is standardized with the mean and standard deviation
    (``ddof=1``) of its levels in the training period (``split.train``) only;
    ``basin`` is the mean of these anomalies over the wells with a value that
    month, and ``n_wells`` counts them.
Correlation with the basin
    ``corr_basin`` is the Pearson correlation, over the training period, of a
    well's anomaly with the mean anomaly of the *other* listed wells
    (leave-one-out), so that a well is not correlated with itself.
Precipitation
    eHYD stamps a daily sum ``D 07:00``; the value is the rain from 07:00 on
    day D to 07:00 on day D+1 and is assigned to day D. Evidence: eHYD files
    state "Der Intervallwert gilt bis zum nächsten Zeitpunkt" (a value holds
    from its stamp on), and over 1995-2020 the daily rain of the default
    stations correlates with the day-to-day rise of the Laßnitz and Sulm
    discharge (daily means stamped 00:00 of their own day) at r = 0.19 on the
    stamp day, 0.49 on the day after and 0.00 on the day before; rain that fell
    on the day before its stamp would show the reverse. A station-month missing
    more than ``prepare.max_missing_days`` days is missing; otherwise its sum
    is the mean of its valid days times the days of the month. The areal
    precipitation is the mean over the stations with a value that month, and
    missing when fewer than ``prepare.min_rain_stations`` have one.
Discharge
    Monthly mean of the daily means of each gauge, with the same missing-days
    rule, in column ``discharge_<HZB>``.

Everything is written into a temporary folder next to ``out`` that then
replaces ``out``; a failed run leaves ``out`` as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_folder
from .catalog import catalog_path, read_catalog
from .csv_source import FOLDER as CSV_FOLDER
from .csv_source import CsvBasin, CsvLayoutError, aggregation, is_daily, listed_problems, read_csv_basin
from .ehyd import ENCODING, read_ehyd

FILES = {
    "well": "gw/Grundwasserstand-Monatsmittel-{}.csv",
    "rain station": "nlv/N-Tagessummen-{}.csv",
    "gauge": "owf/Q-Tagesmittel-{}.csv",
}
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


# --------------------------------------------------------------------------- months


def month_index(start: str, end: str) -> pd.DatetimeIndex:
    """First-of-month dates from ``start`` to ``end`` (``"1990-01"``), both inclusive."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS", name="month")


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
    is the rain from 07:00 on D to 07:00 on D+1 (see the module docstring).
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


def coverage(monthly: pd.Series) -> float:
    """Share of months with a value."""
    return float(monthly.notna().mean()) if len(monthly) else 0.0


# --------------------------------------------------------------------------- levels


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


def training_stats(levels: pd.DataFrame, train: list[str]) -> pd.DataFrame:
    """``train_mean`` and ``train_std`` (ddof=1) of every column over the training period."""
    window = levels.loc[pd.Timestamp(train[0]) : pd.Timestamp(train[1])]
    return pd.DataFrame({"train_mean": window.mean(), "train_std": window.std()})


def anomalies(levels: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Levels standardized with each well's training mean and standard deviation."""
    return (levels - stats["train_mean"]) / stats["train_std"]


def basin_signal(z: pd.DataFrame) -> pd.DataFrame:
    """``basin`` (mean anomaly over the wells with a value) and ``n_wells`` per month."""
    return pd.DataFrame({"basin": z.mean(axis=1), "n_wells": z.notna().sum(axis=1).astype(int)})


def leave_one_out_correlation(z: pd.DataFrame, train: list[str]) -> pd.Series:
    """Per well: Pearson correlation over ``train`` of its anomaly with the mean of the others."""
    z = z.loc[pd.Timestamp(train[0]) : pd.Timestamp(train[1])]
    total, count = z.sum(axis=1), z.notna().sum(axis=1)
    out = {}
    for well in z.columns:
        own = z[well]
        others = (total - own.fillna(0)) / (count - own.notna())
        out[well] = own.corr(others.where(count - own.notna() > 0))
    return pd.Series(out, name="corr_basin", dtype=float)


# --------------------------------------------------------------------------- inputs


def _path(raw: Path, kind: str, hzb: int) -> Path:
    return raw / FILES[kind].format(hzb)


def _file_area(path: Path) -> int | None:
    """Porous-aquifer area number from a well file's header, without reading its values."""
    with open(path, encoding=ENCODING) as fh:
        for line in fh:
            if line.strip() == "Werte:":
                break
            if line.startswith("PorenGW-Gebiet"):
                text = line.partition(";")[2].split()
                return int(text[0]) if text and text[0].isdigit() else None
    return None


def area_wells(raw: str | Path, area: int) -> list[int]:
    """HZB numbers of all well files in ``raw/gw`` whose header names porous-aquifer ``area``."""
    found = []
    for path in sorted((Path(raw) / "gw").glob("Grundwasserstand-Monatsmittel-*.csv")):
        if _file_area(path) == area:
            found.append(int(path.stem.rsplit("-", 1)[1]))
    return found


def _gauge_coordinates(raw: Path, gauges: list[int]) -> dict[int, tuple[float, float]]:
    """WGS84 lon/lat of gauges from the surface-water catalog, if the raw folder has it."""
    path = catalog_path(raw, "owf")
    if not path.exists():
        return {}
    table = read_catalog(path, "owf")
    table = table[table["hzb"].isin(gauges)].dropna(subset=["lon", "lat"])
    return {int(h): (float(x), float(y)) for h, x, y in zip(table["hzb"], table["lon"], table["lat"])}


def _months_text(months) -> str:
    return ", ".join(pd.Timestamp(m).strftime("%Y-%m") for m in months)


def check_min_wells(params: dict) -> None:
    """Fail when ``basin.wells`` lists fewer wells than ``prepare.min_wells``."""
    wells, least = params["basin"]["wells"], params["prepare"]["min_wells"]
    if len(wells) < least:
        raise PrepareError(
            f"basin.wells lists {len(wells)} wells, fewer than prepare.min_wells = "
            f"{least}; add wells to basin.wells or lower prepare.min_wells")


def _check_ids(params: dict, raw: Path) -> None:
    """Fail on settings that cannot work and on missing files, before reading any values."""
    basin, prep = params["basin"], params["prepare"]
    check_min_wells(params)
    if len(basin["rain_stations"]) < prep["min_rain_stations"]:
        raise PrepareError(
            f"basin.rain_stations lists {len(basin['rain_stations'])} stations, fewer than "
            f"prepare.min_rain_stations = {prep['min_rain_stations']}; add stations or lower it")
    if not raw.is_dir():
        raise PrepareError(f"raw folder {raw} not found; run the fetch stage first (dvc repro fetch)")
    missing = []
    for kind in FILES:
        key = PARAM_KEY[kind]
        ids = [h for h in basin[key.split(".")[1]] if not _path(raw, kind, h).exists()]
        if ids:
            missing.append(f"  {key}: no file for {', '.join(map(str, ids))} "
                           f"(expected {raw / FILES[kind].format('<id>')})")
    if missing:
        raise PrepareError(
            "prepare: input files are missing:\n" + "\n".join(missing)
            + "\nRun the fetch stage (dvc repro fetch), or remove these ids from params.yaml.")


def _read_listed(params: dict, raw: Path, months: pd.DatetimeIndex) -> dict[str, list[Station]]:
    """Read every listed series and bring it to the monthly index."""
    max_missing = params["prepare"]["max_missing_days"]
    out: dict[str, list[Station]] = {}
    for kind in FILES:
        key = PARAM_KEY[kind]
        out[kind] = []
        for hzb in params["basin"][key.split(".")[1]]:
            series = read_ehyd(_path(raw, kind, hzb))
            if kind == "well":
                monthly = monthly_values(series.values, months)
            else:
                how = "sum" if kind == "rain station" else "mean"
                monthly = monthly_from_daily(daily_values(series.values, months), how, max_missing)
            out[kind].append(Station(kind, hzb, series.meta, monthly.rename(str(hzb)), coverage(monthly)))
    return out


def _data_span(station: Station, raw: Path) -> str:
    values = read_ehyd(_path(raw, station.kind, station.hzb)).values.dropna()
    if values.empty:
        return "the file holds no values at all"
    return f"its values cover {values.index[0]:%Y-%m}..{values.index[-1]:%Y-%m}"


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
            if s.coverage == 0:
                empty.append(f"  {PARAM_KEY[kind]}: {s.label}: no value in {period}; {span(s)}")
            elif s.coverage < prep["min_coverage"]:
                low.append(f"  {PARAM_KEY[kind]}: {s.label}: coverage {s.coverage:.3f} < {prep['min_coverage']}")
            elif kind == "well":
                in_train = s.monthly.loc[pd.Timestamp(train[0]) : pd.Timestamp(train[1])].dropna()
                if in_train.nunique() < 2:
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


# --------------------------------------------------------------------------- tables


def _levels(wells: list[Station], params: dict, months: pd.DatetimeIndex) -> tuple[pd.DataFrame, dict]:
    segments = split_segments(months, params["split"])
    columns, filled = {}, {}
    for s in wells:
        columns[str(s.hzb)], done = interpolate_gaps(s.monthly, params["prepare"]["max_gap_months"], segments)
        if done:
            filled[str(s.hzb)] = [m.strftime("%Y-%m") for m in done]
    levels = pd.DataFrame(columns, index=months)
    levels.index.name = "month"
    return levels, filled


def _forcings(listed: dict[str, list[Station]], params: dict, months: pd.DatetimeIndex) -> pd.DataFrame:
    rain = pd.concat([s.monthly for s in listed["rain station"]], axis=1)
    enough = rain.notna().sum(axis=1) >= params["prepare"]["min_rain_stations"]
    forcings = pd.DataFrame({"precipitation": rain.mean(axis=1).where(enough)}, index=months)
    for s in listed["gauge"]:
        forcings[f"discharge_{s.hzb}"] = s.monthly
    forcings.index.name = "month"
    return forcings


def _unlisted_area_wells(params: dict, raw: Path, months: pd.DatetimeIndex) -> list[Station]:
    """The wells of ``basin.area`` in ``raw/gw`` that ``basin.wells`` does not list."""
    listed = set(params["basin"]["wells"])
    out = []
    for hzb in area_wells(raw, params["basin"]["area"]):
        if hzb in listed:
            continue
        series = read_ehyd(_path(raw, "well", hzb))
        monthly = monthly_values(series.values, months)
        out.append(Station("well", hzb, series.meta, monthly.rename(str(hzb)), coverage(monthly)))
    return out


def wells_table(listed: list[Station], others: list[Station], stats: pd.DataFrame, corr: pd.Series,
                min_coverage: float) -> pd.DataFrame:
    """The rows of ``wells.csv``: listed wells, the other wells of the area and why they are left out.

    ``meta`` of every station needs ``hzb, name, area, lon, lat, elevation``.
    """
    rows = []
    for s in listed:
        rows.append({**_well_meta(s.meta), "coverage": s.coverage, "listed": True, "reason": "listed"})
    for s in others:
        cov = s.coverage
        if cov == 0:
            reason = "not listed: no value in the period"
        elif cov < min_coverage:
            reason = f"not listed: coverage {cov:.3f} < {min_coverage}"
        else:
            reason = f"not listed: coverage {cov:.3f} >= {min_coverage}, but not in basin.wells"
        rows.append({**_well_meta(s.meta), "coverage": cov, "listed": False, "reason": reason})
    table = pd.DataFrame(rows)
    table["coverage"] = table["coverage"].round(4)
    extra = stats.join(corr).rename(index=int)
    table = table.join(extra, on="hzb")
    return table.sort_values("hzb").reset_index(drop=True)


def _well_meta(meta: dict) -> dict:
    return {"hzb": meta["hzb"], "name": meta["name"], "area": meta["area"], "lon": meta["lon"],
            "lat": meta["lat"], "elevation": meta["elevation"]}


def _station_meta(s: Station, gauge_xy: dict) -> dict:
    lon, lat = s.meta["lon"], s.meta["lat"]
    if lon is None and s.hzb in gauge_xy:
        lon, lat = gauge_xy[s.hzb]
    return {"hzb": s.hzb, "name": s.meta["name"], "lon": lon, "lat": lat,
            "elevation": s.meta["elevation"], "coverage": round(s.coverage, 4),
            "months_missing": int(s.monthly.isna().sum())}


def warnings_for(params: dict, listed: dict[str, list[Station]], levels: pd.DataFrame, filled: dict,
                 basin: pd.DataFrame, wells: pd.DataFrame) -> list[str]:
    """Warnings on levels, wells, the basin signal and months missing in every non-well series."""
    prep, area = params["prepare"], params["basin"]["area"]
    out = []
    if filled:
        n = sum(len(v) for v in filled.values())
        out.append(f"levels: {n} months in {len(filled)} wells filled by linear interpolation "
                   f"(gaps of at most {prep['max_gap_months']} months): "
                   + ", ".join(f"{w} ({len(v)})" for w, v in filled.items()))
    left = levels.isna().sum()
    left = left[left > 0]
    if len(left):
        out.append(f"levels: {int(left.sum())} months in {len(left)} wells left empty (gaps longer than "
                   f"{prep['max_gap_months']} months or at the edge of a split period): "
                   + ", ".join(f"{w} ({n})" for w, n in left.items()))
    outside = [s.hzb for s in listed["well"] if s.meta["area"] != area]
    if outside:
        out.append(f"wells: listed wells outside area {area}: {', '.join(map(str, outside))}")
    unlisted = wells[~wells["listed"]]
    if len(unlisted):
        good = unlisted[unlisted["coverage"] >= prep["min_coverage"]]
        text = f"wells: {len(unlisted)} wells of area {area} are not in basin.wells (reasons in wells.csv)"
        if len(good):
            text += (f"; {len(good)} of them meet prepare.min_coverage: "
                     + ", ".join(f"{h} ({c:.3f})" for h, c in zip(good["hzb"], good["coverage"])))
        out.append(text)
    if (basin["n_wells"] == 0).any():
        out.append(f"basin: no well has a value in {_months_text(basin.index[basin['n_wells'] == 0])}")
    for kind in listed:
        if kind == "well":
            continue
        for s in listed[kind]:
            gone = s.monthly.index[s.monthly.isna()]
            if len(gone):
                out.append(f"{s.label}: {len(gone)} months missing (no data, or more than "
                           f"{prep['max_missing_days']} days missing): {_months_text(gone[:12])}"
                           + (" ..." if len(gone) > 12 else ""))
    return out


def _rain_warnings(params: dict, forcings: pd.DataFrame) -> list[str]:
    gone = forcings.index[forcings["precipitation"].isna()]
    if not len(gone):
        return []
    return [f"precipitation: {len(gone)} months without areal precipitation (fewer than "
            f"{params['prepare']['min_rain_stations']} stations with a value): {_months_text(gone[:12])}"
            + (" ..." if len(gone) > 12 else "")]


def write_processed(tables: dict[str, pd.DataFrame], wells: pd.DataFrame, meta: dict,
                    out: str | Path) -> None:
    """Write the tables, ``wells.csv`` and ``meta.json`` into a temporary folder, then replace ``out``."""
    with atomic_folder(out) as tmp:
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index_label="month", date_format="%Y-%m-%d")
        wells.to_csv(tmp / "wells.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class Core:
    """The source-independent part of the processed data set (see :func:`core`)."""

    levels: pd.DataFrame
    filled: dict
    basin: pd.DataFrame
    wells: pd.DataFrame
    warnings: list[str]

    def counts(self, months: pd.DatetimeIndex, area) -> dict:
        """The counts of ``meta.json`` that every source shares."""
        return {
            "months": len(months),
            "wells_area": int((self.wells["area"] == area).sum()),
            "wells_listed": int(self.wells["listed"].sum()),
            "wells_not_listed": int((~self.wells["listed"]).sum()),
        }

    def level_counts(self) -> dict:
        return {
            "months_interpolated": sum(len(v) for v in self.filled.values()),
            "months_missing_levels": int(self.levels.isna().sum().sum()),
            "min_wells_in_basin": int(self.basin["n_wells"].min()),
        }


def core(params: dict, months: pd.DatetimeIndex, listed: dict[str, list[Station]],
         others: list[Station]) -> Core:
    """Levels with short gaps filled, the basin signal, the wells table and the warnings.

    Parameters
    ----------
    params : dict
        Uses ``basin``, ``prepare`` and ``split``.
    months : DatetimeIndex
        From :func:`month_index`.
    listed : dict
        ``"well"`` -> the listed wells, and any other kinds (rain stations,
        gauges, forcings) whose missing months are reported; all already
        checked with :func:`check_listed`.
    others : list of Station
        The wells of the area that ``basin.wells`` does not list (for ``wells.csv``).
    """
    split = params["split"]
    levels, filled = _levels(listed["well"], params, months)
    stats = training_stats(levels, split["train"])
    z = anomalies(levels, stats)
    basin_table = basin_signal(z)
    corr = leave_one_out_correlation(z, split["train"])
    wells = wells_table(listed["well"], others, stats, corr, params["prepare"]["min_coverage"])
    warnings = warnings_for(params, listed, levels, filled, basin_table, wells)
    return Core(levels, filled, basin_table, wells, warnings)


def prepare(params: dict, raw: str | Path = "data/raw", out: str | Path = "data/processed") -> dict:
    """Build ``data/processed/`` from the raw files (rules in the module docstring).

    Parameters
    ----------
    params : dict
        Settings as returned by :func:`gwtl.params.load_params`; reads ``basin``,
        ``prepare`` and ``split``, and ``data.format`` (``"ehyd"`` when absent).
        With ``data.format: csv`` also ``forecast.forcings``: the columns of
        ``forcings.csv`` that must exist and meet ``prepare.min_coverage``.
    raw : str or Path
        Folder with the eHYD mirror layout (or, for csv, holding ``csv/``).
    out : str or Path
        Folder to (re)write.

    Returns
    -------
    dict
        The content of ``meta.json``: basin, period, split, counts, the listed
        rain stations and gauges, the forcings, the interpolated months and the warnings.

    Raises
    ------
    PrepareError
        Missing files, listed series without data or with too little coverage,
        too few wells or stations; raised before any output is written.
    """
    if params.get("data", {}).get("format", "ehyd") == "csv":
        return _prepare_csv(params, Path(raw), out)
    return _prepare_ehyd(params, Path(raw), out)


def _prepare_ehyd(params: dict, raw: Path, out: str | Path) -> dict:
    basin, prep, split = params["basin"], params["prepare"], params["split"]
    months = month_index(prep["start"], prep["end"])
    _check_ids(params, raw)
    listed = _read_listed(params, raw, months)
    check_listed(params, listed, lambda s: _data_span(s, raw))

    done = core(params, months, listed, _unlisted_area_wells(params, raw, months))
    forcings = _forcings(listed, params, months)
    warnings = done.warnings + _rain_warnings(params, forcings)
    gauge_xy = _gauge_coordinates(raw, basin["gauges"])
    n_rain = len(listed["rain station"])
    meta = {
        "format": "ehyd",
        "basin": basin["name"],
        "area": basin["area"],
        "period": [prep["start"], prep["end"]],
        "split": {k: list(v) for k, v in split.items()},
        "settings": dict(prep),
        "counts": {
            **done.counts(months, basin["area"]),
            "rain_stations": n_rain,
            "gauges": len(listed["gauge"]),
            "forcings": forcings.shape[1],
            **done.level_counts(),
            "months_without_precipitation": int(forcings["precipitation"].isna().sum()),
        },
        "rain_stations": [_station_meta(s, gauge_xy) for s in listed["rain station"]],
        "gauges": [_station_meta(s, gauge_xy) for s in listed["gauge"]],
        "forcings": [
            forcing_meta("precipitation", forcings["precipitation"], "sum", "daily",
                         f"areal precipitation (mm/month), mean of {n_rain} rain stations"),
            *(forcing_meta(f"discharge_{s.hzb}", s.monthly, "mean", "daily",
                           f"discharge (m³/s) at gauge {s.hzb} {s.meta['name']}") for s in listed["gauge"]),
        ],
        "interpolated": done.filled,
        "warnings": warnings,
    }
    write_processed({"levels": done.levels, "basin": done.basin, "forcings": forcings}, done.wells, meta, out)
    return meta


def forcing_meta(name: str, monthly: pd.Series, how: str, resolution: str, description: str) -> dict:
    """The entry of one column of ``forcings.csv`` in ``meta.json["forcings"]``."""
    return {"name": name, "description": description, "how": how, "resolution": resolution,
            "coverage": round(coverage(monthly), 4), "months_missing": int(monthly.isna().sum())}


# --------------------------------------------------------------------------- CSV layout


def to_months(values: pd.Series, months: pd.DatetimeIndex, how: str, max_missing_days: int) -> tuple[pd.Series, str]:
    """Monthly values of one dated series of the CSV layout and its resolution (``"daily"`` or ``"monthly"``).

    Daily series (:func:`gwtl.csv_source.is_daily`) go through :func:`daily_values`
    and :func:`monthly_from_daily` (``how`` and the missing-days rule); monthly
    series through :func:`monthly_values` (each value is its month's).
    """
    if is_daily(values.index):
        return monthly_from_daily(daily_values(values, months), how, max_missing_days), "daily"
    return monthly_values(values, months), "monthly"


def _csv_well(data: CsvBasin, well: int, months: pd.DatetimeIndex, params: dict) -> tuple[Station, str]:
    row = data.wells.loc[well]
    values = data.well_values(well)
    monthly, resolution = to_months(values, months, "mean", params["prepare"]["max_missing_days"])
    meta = {"hzb": int(well), "name": row["name"], "area": data.area_of(well, params["basin"]["area"]),
            "lon": float(row["lon"]), "lat": float(row["lat"]),
            "elevation": None if pd.isna(row["elevation"]) else float(row["elevation"]),
            "values": values}
    return Station("well", int(well), meta, monthly.rename(str(well)), coverage(monthly)), resolution


def _csv_span(station: Station) -> str:
    values = station.meta["values"].dropna()
    if values.empty:
        return "the CSV files hold no value for it"
    return f"its values cover {values.index[0]:%Y-%m}..{values.index[-1]:%Y-%m}"


def _prepare_csv(params: dict, raw: Path, out: str | Path) -> dict:
    """``data/processed/`` from ``raw/csv`` (the CSV layout of :mod:`gwtl.csv_source`).

    Also reads ``forecast.forcings``: columns of ``forcings.csv`` that must exist
    and pass the coverage check (every column is prepared). ``meta.json`` gets
    ``format: csv``, empty ``rain_stations`` and ``gauges``, ``forcings`` (one
    entry per column, with ``named``) and ``daily_levels`` (ids of wells given
    as daily levels).
    """
    basin, prep, split = params["basin"], params["prepare"], params["split"]
    named = list(params["forecast"]["forcings"])
    months = month_index(prep["start"], prep["end"])
    check_min_wells(params)
    folder = raw / CSV_FOLDER
    if not folder.is_dir():
        raise PrepareError(f"raw folder {folder} not found; run the fetch stage first (dvc repro fetch) "
                           "with data.format: csv")
    try:
        data = read_csv_basin(folder)
    except CsvLayoutError as err:
        raise PrepareError(f"prepare: {err}\nFix the files in data.source and run the fetch stage again.") from None
    problems = listed_problems(data, basin["wells"])
    absent = [n for n in named if n not in data.forcings.columns]
    if absent:
        problems.append(f"forecast.forcings: {', '.join(absent)} not a column of forcings.csv (its columns: "
                        f"{', '.join(data.forcings.columns)}); fix forecast.forcings in params.yaml or the file")
    if problems:
        raise PrepareError("prepare: " + "\n".join(problems))

    wells, daily = [], []
    for well in basin["wells"]:
        station, resolution = _csv_well(data, well, months, params)
        wells.append(station)
        if resolution == "daily":
            daily.append(well)
    listed_set = set(basin["wells"])
    others = [_csv_well(data, int(w), months, params)[0] for w in data.wells.index
              if w not in listed_set and (not data.has_area or data.area_of(w, None) == basin["area"])]

    forcings, columns = pd.DataFrame(index=months), []
    for name in data.forcings.columns:
        how = aggregation(name)
        monthly, resolution = to_months(data.forcings[name].rename(name), months, how, prep["max_missing_days"])
        how = how if resolution == "daily" else "as given"
        text = f"{resolution} values, monthly {how}" if resolution == "daily" else "monthly values as given"
        meta = {"name": text, "how": how, "resolution": resolution, "values": data.forcings[name]}
        columns.append(Station("forcing", name, meta, monthly, coverage(monthly)))
        forcings[name] = monthly
    forcings.index.name = "month"
    check_listed(params, {"well": wells, "forcing": [s for s in columns if s.hzb in named]}, _csv_span)

    done = core(params, months, {"well": wells, "forcing": columns}, others)
    meta = {
        "format": "csv",
        "basin": basin["name"],
        "area": basin["area"],
        "period": [prep["start"], prep["end"]],
        "split": {k: list(v) for k, v in split.items()},
        "settings": dict(prep),
        "counts": {**done.counts(months, basin["area"]), "rain_stations": 0, "gauges": 0,
                   "forcings": forcings.shape[1], **done.level_counts()},
        "rain_stations": [],
        "gauges": [],
        "forcings": [{**forcing_meta(s.hzb, s.monthly, s.meta["how"], s.meta["resolution"], s.meta["name"]),
                      "named": s.hzb in named} for s in columns],
        "daily_levels": daily,
        "interpolated": done.filled,
        "warnings": done.warnings,
    }
    write_processed({"levels": done.levels, "basin": done.basin, "forcings": forcings}, done.wells, meta, out)
    return meta
