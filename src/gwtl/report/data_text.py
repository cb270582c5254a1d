"""The text and tables of the data report (``notebooks/prepare.ipynb``): what was prepared, left out and why.

Every function reads ``meta`` (``data/processed/meta.json``, returned by
:func:`gwtl.data.prepare.prepare`; format in :mod:`gwtl.data.processed`) and, where
named, the ``wells`` table of :func:`gwtl.data.processed.load_processed`. The
figures of the report are in :mod:`gwtl.report.figures`.
"""

from __future__ import annotations

import pandas as pd

from gwtl.sources.csv_source import aggregation

STATION_COLUMNS = ["hzb", "name", "lon", "lat", "elevation", "coverage", "months_missing"]


def split_periods(meta: dict) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """The split periods of ``meta`` as (first day, last day) of their months, by name."""
    return {name: (pd.Timestamp(lo), pd.Timestamp(hi) + pd.offsets.MonthEnd(0))
            for name, (lo, hi) in meta["split"].items()}


def stations(meta: dict, kind: str, located: bool = False) -> pd.DataFrame:
    """The ``kind`` stations of ``meta`` (``rain_stations`` or ``gauges``); with ``located``, only those with coordinates."""
    table = pd.DataFrame(meta[kind], columns=STATION_COLUMNS)
    return table.dropna(subset=["lon", "lat"]) if located else table


def forcing_descriptions(meta: dict) -> dict[str, str]:
    """Each forcing's description, by column name."""
    return {f["name"]: f["description"] for f in meta["forcings"]}


def summed_forcings(forcings: pd.DataFrame) -> list[str]:
    """The forcing columns that are monthly sums (precipitation; :func:`gwtl.sources.csv_source.aggregation`)."""
    return [col for col in forcings.columns if aggregation(col) == "sum"]


def summary_text(meta: dict) -> str:
    """The opening paragraph: the basin, its period and the counts of wells, stations, gaps and warnings."""
    counts = meta["counts"]
    return (
        f"**{meta['basin']}** ({'eHYD porous-aquifer area' if meta['format'] == 'ehyd' else 'CSV layout, area'} "
        f"{meta['area']}), months {meta['period'][0]} to "
        f"{meta['period'][1]} ({counts['months']} months). Wells of the area: {counts['wells_area']}, "
        f"listed and prepared: {counts['wells_listed']}, left out: {counts['wells_not_listed']}. "
        f"Rain stations: {counts['rain_stations']}, gauges: {counts['gauges']}, forcings: {counts['forcings']}. "
        f"Months filled by interpolation: {counts['months_interpolated']}; level months still missing: "
        f"{counts['months_missing_levels']}; fewest wells in a month of the basin signal: "
        f"{counts['min_wells_in_basin']}. Warnings: {len(meta['warnings'])}."
    )


def coverage_table(wells: pd.DataFrame):
    """Every well of the area, listed first and by coverage, with its training statistics (styled)."""
    columns = ["hzb", "name", "coverage", "listed", "reason", "train_mean", "train_std", "corr_basin"]
    return wells[columns].sort_values(["listed", "coverage"], ascending=[False, False]).style.format(
        {"coverage": "{:.3f}", "train_mean": "{:.2f}", "train_std": "{:.3f}", "corr_basin": "{:.2f}"},
        na_rep="").hide(axis="index")


def left_out_parts(meta: dict, wells: pd.DataFrame) -> list:
    """The section on what was left out: headings (Markdown) and tables (styled), in the order shown.

    The wells not listed, the rain stations and gauges (if any) and the
    forcings with their missing months, and the months filled by interpolation.
    """
    from IPython.display import Markdown

    left_out = wells[~wells["listed"]][["hzb", "name", "coverage", "reason"]].sort_values("coverage", ascending=False)
    parts = [Markdown(f"**{len(left_out)} wells** of area {meta['area']} are not in `basin.wells`:"),
             left_out.style.format({"coverage": "{:.3f}"}).hide(axis="index")]
    both = pd.concat([stations(meta, "rain_stations").assign(kind="rain station"),
                      stations(meta, "gauges").assign(kind="gauge")])
    if len(both):
        parts += [Markdown("**Rain stations and gauges** (months missing after the missing-days rule):"),
                  both[["kind", "hzb", "name", "elevation", "coverage", "months_missing"]].style.format(
                      {"coverage": "{:.3f}", "elevation": "{:.0f}"}, na_rep="").hide(axis="index")]
    parts += [Markdown("**Forcings** (months missing after the missing-days rule):"),
              pd.DataFrame(meta["forcings"]).style.format({"coverage": "{:.3f}"}).hide(axis="index")]
    filled = pd.DataFrame([(w, len(m), ", ".join(m)) for w, m in meta["interpolated"].items()],
                          columns=["hzb", "months filled", "which"])
    parts += [Markdown(f"**Interpolated months** (gaps of at most {meta['settings']['max_gap_months']} months):"),
              filled.style.hide(axis="index") if len(filled) else Markdown("none")]
    return parts


def warnings_text(meta: dict) -> str:
    """The warnings of ``meta`` as a Markdown list, or ``No warnings.``."""
    return "\n".join(f"* {w}" for w in meta["warnings"]) or "No warnings."
