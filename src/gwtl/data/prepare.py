"""Prepare stage: raw files -> the monthly data set in ``data/processed/``.

With ``data.format: ehyd`` (the default) the input is a raw folder with the
layout of the eHYD mirror::

    gw/Grundwasserstand-Monatsmittel-<HZB>.csv   monthly mean groundwater level
    nlv/N-Tagessummen-<HZB>.csv                  daily precipitation sums
    owf/Q-Tagesmittel-<HZB>.csv                  daily mean discharge
    owf/W-Tagesmittel-<HZB>.csv                  optional: daily mean water level (stage), cm
    catalog/messstellen_owf.csv                  optional: gauge coordinates for the report

With ``data.format: csv`` the input is ``<raw>/csv/`` in the CSV layout of
:mod:`gwtl.sources.csv_source`: its wells, and the columns of its forcings file
instead of rain stations and gauges. A daily series (more than one value in
some month) becomes monthly with the missing-days rule below: levels as the
mean, forcings as the sum or the mean by column name
(:func:`gwtl.sources.csv_source.aggregation`); a monthly series is used as given.
Every forcing column is prepared; those named in ``forecast.forcings`` must
exist and pass the coverage check like rain stations and gauges.

Each source reads its files into the same :class:`gwtl.data.monthly.Inputs`
(:func:`gwtl.sources.ehyd.read_inputs`, :func:`gwtl.sources.csv_source.read_inputs`); this
module checks the number of wells, assembles the levels, the basin signal, the
wells table, the warnings and ``meta.json`` from them and writes the data set.
The rules for months, checks and levels (:mod:`gwtl.data.monthly`) and for the basin
signal and the correlation (:mod:`gwtl.data.basin_signal`) are the same functions for both
formats.

Output is described in :mod:`gwtl.data.processed`. The rules, in the order they apply:

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
Stage
    For each gauge whose water-level file ``owf/W-Tagesmittel-<HZB>.csv`` is
    there (it is optional): the daily stage (cm above the gauge datum) referred
    to the datum valid on its day, in m a.s.l. (:func:`gwtl.sources.ehyd.stage_above_sea`),
    and its monthly mean with the discharge's missing-days rule, in column
    ``stage_<HZB>``. No default input of the LSTMs reads it (they read
    ``forecast.forcings``); the pastas TFN does (:mod:`gwtl.models.tfn`). A gauge
    without the file is named in the warnings.

Everything is written into a temporary folder next to ``out`` that then
replaces ``out``; a failed run leaves ``out`` as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gwtl.pipeline.atomic import atomic_folder
from gwtl.sources import csv_source
from gwtl.sources import ehyd
from gwtl.data.monthly import (Inputs, PrepareError, Station, coverage_problem, interpolate_gaps, month_index, months_text,
                      split_segments)
from gwtl.data.basin_signal import anomalies, basin_signal, leave_one_out_correlation, training_stats


def check_min_wells(params: dict) -> None:
    """Fail when ``basin.wells`` lists fewer wells than ``prepare.min_wells``."""
    wells, least = params["basin"]["wells"], params["prepare"]["min_wells"]
    if len(wells) < least:
        raise PrepareError(
            f"basin.wells lists {len(wells)} wells, fewer than prepare.min_wells = "
            f"{least}; add wells to basin.wells or lower prepare.min_wells")


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


def wells_table(listed: list[Station], others: list[Station], stats: pd.DataFrame, corr: pd.Series,
                min_coverage: float) -> pd.DataFrame:
    """The rows of ``wells.csv``: listed wells, the other wells of the area and why they are left out.

    ``meta`` of every station needs ``hzb, name, area, lon, lat, elevation``.
    """
    rows = []
    for s in listed:
        rows.append({**_well_meta(s.meta), "coverage": s.coverage, "listed": True, "reason": "listed"})
    for s in others:
        cov, problem = s.coverage, coverage_problem(s.monthly, min_coverage)
        if problem == "empty":
            reason = "not listed: no value in the period"
        elif problem == "low":
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
        out.append(f"basin: no well has a value in {months_text(basin.index[basin['n_wells'] == 0])}")
    for kind in listed:
        if kind == "well":
            continue
        for s in listed[kind]:
            gone = s.monthly.index[s.monthly.isna()]
            if len(gone):
                out.append(f"{s.label}: {len(gone)} months missing (no data, or more than "
                           f"{prep['max_missing_days']} days missing): {months_text(gone, limit=12)}")
    return out


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
        From :func:`gwtl.data.monthly.month_index`.
    listed : dict
        ``"well"`` -> the listed wells, and any other kinds (rain stations,
        gauges, forcings) whose missing months are reported; all already
        checked with :func:`gwtl.data.monthly.check_listed`.
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
    prep = params["prepare"]
    months = month_index(prep["start"], prep["end"])
    check_min_wells(params)
    source = csv_source if params.get("data", {}).get("format", "ehyd") == "csv" else ehyd
    inputs = source.read_inputs(params, Path(raw), months)
    done = core(params, months, inputs.listed, inputs.others)
    meta = processed_meta(params, months, inputs, done)
    write_processed({"levels": done.levels, "basin": done.basin, "forcings": inputs.forcings}, done.wells, meta, out)
    return meta


def processed_meta(params: dict, months: pd.DatetimeIndex, inputs: Inputs, done: Core) -> dict:
    """The content of ``meta.json`` (see :mod:`gwtl.data.processed`): the shared keys and the source's own."""
    basin, prep = params["basin"], params["prepare"]
    return {
        "format": inputs.format,
        "basin": basin["name"],
        "area": basin["area"],
        "period": [prep["start"], prep["end"]],
        "split": {k: list(v) for k, v in params["split"].items()},
        "settings": dict(prep),
        "counts": {
            **done.counts(months, basin["area"]),
            "rain_stations": len(inputs.rain_stations),
            "gauges": len(inputs.gauges),
            "forcings": inputs.forcings.shape[1],
            **done.level_counts(),
            **inputs.counts,
        },
        "rain_stations": inputs.rain_stations,
        "gauges": inputs.gauges,
        "forcings": inputs.forcing_entries,
        **inputs.extra,
        "interpolated": done.filled,
        "warnings": done.warnings + inputs.warnings,
    }


