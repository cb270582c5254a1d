"""Choose the wells, rain stations and river gauges of an eHYD porous-aquifer area for ``params.yaml``.

``gwtl basin AREA`` (see :mod:`gwtl.pipeline.cli`) runs :func:`choose_basin` and, unless
``--dry-run``, :func:`write_basin`. The rules:

Wells
    Every well of the groundwater catalog with ``gwgeb03 == AREA`` whose monthly
    file has a share of months with a value (coverage) over
    ``prepare.start..end`` of at least ``prepare.min_coverage`` and two distinct
    values in ``split.train``; these are the checks of the prepare stage, made
    with the same functions (:func:`gwtl.data.monthly.monthly_values`,
    :func:`gwtl.data.monthly.coverage_problem`), so the two never disagree.
Rain stations
    Precipitation stations of the catalog within ``radius_rain_km`` of a kept
    well whose daily file gives monthly sums with coverage >= ``prepare.min_coverage``
    under ``prepare.max_missing_days`` (:func:`gwtl.data.monthly.monthly_from_daily`).
Gauges
    Surface-water gauges within ``radius_gauge_km`` of a kept well with a
    ``Q-Tagesmittel`` file that passes the same rule. The one with the largest
    catchment (catalog column ``egarea05``) is the main gauge, the trunk river
    of the basin; ties go to the higher coverage, then the nearer gauge. The
    others are reported as candidates (``--gauge`` keeps a chosen set instead).

Files come from the source that ``data.source`` names, as in the fetch stage
(:func:`gwtl.sources.fetch.open_source`). With ``data.source: auto`` and a mirror that
holds no file of the area's wells, they are downloaded from eHYD instead.
Files are read from a temporary folder that is deleted afterwards.

:func:`write_basin` rewrites only the lines of the ``basin:`` section's keys and
of ``forecast.forcings`` in the text of ``params.yaml``; all other text and
every comment stays as it was (the inline comment of ``basin.gauges`` is
replaced by the rivers and names of the chosen gauges).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gwtl.pipeline.atomic import write_text
from gwtl.sources.catalog import ENCODING as CATALOG_ENCODING
from gwtl.sources.catalog import CatalogError, area_wells, catalog_path, read_catalog, stations_near
from gwtl.sources.ehyd import PRODUCTS, EhydFormatError, data_path, read_ehyd
from gwtl.sources.fetch import FetchError, Unavailable, Unusable, implausible, open_source
from gwtl.data.monthly import (PrepareError, coverage, coverage_problem, daily_values, month_index, monthly_from_daily,
                      monthly_values)
from gwtl.params import validate
from gwtl.pipeline.text_table import aligned

LIST_WIDTH = 10  # HZB numbers per line of a list in params.yaml
COMMENT_COLUMN = 27  # column of a new inline comment, as in params.yaml


class BasinError(ValueError):
    """An area whose basin cannot be chosen; the message says why and what to try."""


@dataclass
class BasinChoice:
    """What :func:`choose_basin` found for one area.

    Attributes
    ----------
    area, name : int, str
        Area number and name (catalog ``code03`` without its number).
    wells : DataFrame
        Every well of the area: ``hzb``, ``name``, ``coverage``, ``kept``, ``reason``.
    rain : DataFrame
        Precipitation stations within the radius: ``hzb``, ``name``,
        ``distance_km`` (to the nearest kept well), ``near_well``, ``coverage``,
        ``kept``, ``reason``.
    gauges : DataFrame
        Gauges within the radius: as ``rain`` plus ``river`` and ``catchment_km2``.
    source : str
        Where the files came from.
    settings : dict
        Period, coverage rule and radii used.
    notes : list of str
        Remarks for the user (e.g. a download instead of the mirror).
    data_source : str
        The ``data.source`` that reads the files the choice was made from wherever the
        pipeline runs: the absolute mirror folder, or ``"download"``.
    """

    area: int
    name: str
    wells: pd.DataFrame
    rain: pd.DataFrame
    gauges: pd.DataFrame
    source: str
    settings: dict
    notes: list[str] = field(default_factory=list)
    data_source: str = "download"

    @property
    def basin(self) -> dict:
        """The ``basin`` section of params.yaml for this choice."""
        return {"name": self.name, "area": self.area,
                "wells": _kept(self.wells), "rain_stations": _kept(self.rain), "gauges": _kept(self.gauges)}

    @property
    def forcings(self) -> list[str]:
        """``forecast.forcings``: precipitation and the discharge of every kept gauge."""
        return ["precipitation", *(f"discharge_{g}" for g in _kept(self.gauges))]

    @property
    def params_values(self) -> dict:
        """Every params.yaml value the choice sets, by dotted key (``basin.*`` and ``forecast.forcings``).

        :func:`basin_params_text` writes these lines; ``gwtl basin --queue`` passes them to
        ``dvc exp run`` as ``-S`` (:func:`gwtl.pipeline.area_experiments.queue_overrides`).
        """
        return {**{f"basin.{key}": value for key, value in self.basin.items()}, "forecast.forcings": self.forcings}


def _kept(table: pd.DataFrame) -> list[int]:
    return sorted(int(h) for h in table.loc[table["kept"], "hzb"])


# --------------------------------------------------------------------------- reading


class _Files:
    """Catalogs and data files of one source, copied or downloaded into a temporary folder."""

    def __init__(self, source, folder: Path):
        self.source = source
        self.folder = folder
        for kind in ("catalog", *PRODUCTS):
            (folder / kind).mkdir(exist_ok=True)

    def catalog(self, kind: str) -> pd.DataFrame:
        target = catalog_path(self.folder, kind)
        origin = self.source.catalog(kind, target)
        try:
            return read_catalog(target, kind)
        except CatalogError as err:
            raise BasinError(f"catalog {kind} from {origin}: {err}") from None

    def catchments(self) -> pd.Series:
        """Catchment area (km², catalog column ``egarea05``) of every gauge, by HZB number."""
        table = pd.read_csv(catalog_path(self.folder, "owf"), sep=";", encoding=CATALOG_ENCODING,
                            dtype=str, keep_default_na=False)
        if "egarea05" not in table.columns:
            return pd.Series(dtype=float)
        area = pd.to_numeric(table["egarea05"].str.strip().str.replace(",", ".", regex=False),
                             errors="coerce")
        return pd.Series(area.to_numpy(), index=table["hzbnr01"].astype("int64").to_numpy())

    def read(self, kind: str, hzb: int):
        """The station's series, or the reason (str) why there is none."""
        target = data_path(self.folder, kind, hzb)
        try:
            self.source.get(kind, hzb, target)
        except Unavailable as why:
            return f"no {PRODUCTS[kind]} file: {why}"
        except Unusable as why:
            return f"unusable file: {why}"
        try:
            series = read_ehyd(target)
        except EhydFormatError as err:
            return f"corrupt file: {err}"
        if series.meta["hzb"] != hzb:
            return f"the file holds station {series.meta['hzb']}, not {hzb}"
        if found := implausible(series, kind):
            return f"implausible values (rules of gwtl.sources.plausible): {'; and '.join(found)}"
        return series


def _well_status(files: _Files, hzb: int, params: dict, months: pd.DatetimeIndex) -> tuple[float, str]:
    series = files.read("gw", hzb)
    if isinstance(series, str):
        return np.nan, series
    try:
        monthly = monthly_values(series.values, months)
    except PrepareError as err:
        return np.nan, f"corrupt file: {err}"
    cov, rule = coverage(monthly), params["prepare"]["min_coverage"]
    train = params["split"]["train"]
    problem = coverage_problem(monthly, rule, train)
    if problem == "empty":
        return cov, f"no value in {months[0]:%Y-%m}..{months[-1]:%Y-%m}"
    if problem == "low":
        return cov, f"coverage {cov:.3f} < {rule}"
    if problem == "untrained":
        return cov, f"fewer than two distinct values in the training period {train[0]}..{train[1]}"
    return cov, "kept"


def _station_status(files: _Files, kind: str, hzb: int, params: dict,
                    months: pd.DatetimeIndex) -> tuple[float, str]:
    series = files.read(kind, hzb)
    if isinstance(series, str):
        return np.nan, series
    prep = params["prepare"]
    how = "sum" if kind == "nlv" else "mean"
    try:
        daily = daily_values(series.values, months)
    except PrepareError as err:
        return np.nan, f"corrupt file: {err}"
    monthly = monthly_from_daily(daily, how, prep["max_missing_days"])
    cov = coverage(monthly)
    if coverage_problem(monthly, prep["min_coverage"]) is not None:
        return cov, (f"coverage {cov:.3f} < {prep['min_coverage']} (months missing more than "
                     f"{prep['max_missing_days']} days count as missing)")
    return cov, "kept"


def _nearest(catalog: pd.DataFrame, wells: pd.DataFrame, radius_km: float) -> pd.DataFrame:
    """Stations of ``catalog`` within ``radius_km`` of any of ``wells``, with the nearest well."""
    found = [stations_near(catalog, lon, lat, radius_km).assign(near_well=int(hzb))
             for hzb, lon, lat in zip(wells["hzb"], wells["lon"], wells["lat"])
             if pd.notna(lon) and pd.notna(lat)]
    if not found:
        return catalog.iloc[:0].assign(distance_km=pd.Series(dtype=float), near_well=pd.Series(dtype="int64"))
    table = pd.concat(found, ignore_index=True).sort_values(["distance_km", "hzb"])
    return table.drop_duplicates("hzb").sort_values(["distance_km", "hzb"], ignore_index=True)


def _area_name(text: str) -> str:
    return re.sub(r"^\d+\s+", "", str(text)).strip() or str(text)


def _unknown_area(gw: pd.DataFrame, area: int) -> BasinError:
    areas = gw.groupby("area").agg(area_name=("area_name", "first"), wells=("hzb", "size")).reset_index()
    areas = areas.assign(gap=(areas["area"] - area).abs()).sort_values(["gap", "area"]).head(6)
    near = ", ".join(f"{a} {_area_name(n)} ({w} wells)"
                     for a, n, w in zip(areas["area"], areas["area_name"], areas["wells"]))
    return BasinError(f"area {area}: no well of the eHYD groundwater catalog lies in this porous-aquifer "
                      f"area (catalog column gwgeb03); areas with nearby numbers: {near}. "
                      "Check the number: the groundwater catalog (catalog/messstellen_gw.csv, columns "
                      "gwgeb03 and code03) lists every area.")


def _beyond(catalog: pd.DataFrame, wells: pd.DataFrame, radius_km: float, n: int = 4) -> str:
    """The ``n`` nearest stations beyond ``radius_km``, for an error message."""
    outside = _nearest(catalog, wells, float("inf"))
    outside = outside[outside["distance_km"] > radius_km].head(n)
    if outside.empty:
        return ""
    return "; the nearest stations beyond it: " + ", ".join(
        f"{h} {name} ({d:.1f} km)" for h, name, d in zip(outside["hzb"], outside["name"], outside["distance_km"]))


def _stations(files: _Files, kind: str, catalog: pd.DataFrame, kept: pd.DataFrame, radius_km: float,
              params: dict, months: pd.DatetimeIndex) -> pd.DataFrame:
    near = _nearest(catalog, kept, radius_km)
    status = [_station_status(files, kind, int(h), params, months) for h in near["hzb"]]
    return near.assign(coverage=[c for c, _ in status], reason=[r for _, r in status],
                       kept=[r == "kept" for _, r in status])


def _choose_gauges(gauges: pd.DataFrame, catchments: pd.Series, wanted: list[int] | None) -> pd.DataFrame:
    gauges = gauges.assign(catchment_km2=gauges["hzb"].map(catchments).astype(float))
    passing = gauges[gauges["kept"]].sort_values(["catchment_km2", "coverage", "distance_km", "hzb"],
                                                 ascending=[False, False, True, True], na_position="last")
    reason = gauges["reason"].copy()
    if wanted:
        wanted = [int(g) for g in wanted]
        unusable = [g for g in wanted if g not in set(passing["hzb"])]
        if unusable:
            raise BasinError(f"--gauge {', '.join(map(str, unusable))}: not among the gauges within the radius "
                             f"that pass the coverage rule ({', '.join(map(str, passing['hzb'])) or 'none'}); "
                             "see the gauge table (gwtl basin AREA --dry-run) or raise --radius-gauge.")
        keep = set(wanted)
        main = None
    else:
        main = int(passing["hzb"].iloc[0]) if len(passing) else None
        keep = {main} if main is not None else set()
    for i in passing.index:
        hzb = int(gauges.at[i, "hzb"])
        if hzb == main:
            reason[i] = f"kept: main gauge, largest catchment ({gauges.at[i, 'catchment_km2']:g} km²)"
        elif hzb in keep:
            reason[i] = "kept: --gauge"
        elif main is not None:
            reason[i] = f"candidate: passes, smaller catchment; keep it too with --gauge {main} --gauge {hzb}"
        else:
            reason[i] = "candidate: passes, not named by --gauge"
    return gauges.assign(kept=gauges["hzb"].isin(keep), reason=reason)


def choose_basin(params: dict, area: int, radius_rain_km: float = 10.0, radius_gauge_km: float = 8.0,
                 source: str | None = None, gauges: list[int] | None = None) -> BasinChoice:
    """Choose the wells, rain stations and gauges of porous-aquifer ``area`` (rules in the module docstring).

    Parameters
    ----------
    params : dict
        As from :func:`gwtl.params.load_params`; uses ``data``, ``prepare`` and ``split.train``.
    area : int
        eHYD porous-aquifer area number (groundwater catalog column ``gwgeb03``).
    radius_rain_km, radius_gauge_km : float
        Largest distance of a rain station / gauge from the nearest kept well.
    source : str, optional
        Overrides ``data.source``: ``"auto"``, ``"download"`` or a mirror folder.
    gauges : list of int, optional
        Keep these gauges (each must pass) instead of the one with the largest catchment.

    Raises
    ------
    BasinError
        ``data.format`` other than ehyd, unknown area, fewer than ``prepare.min_wells`` wells passing, fewer than
        ``prepare.min_rain_stations`` rain stations or no gauge in the radius.
    gwtl.sources.fetch.FetchError
        A source that cannot be reached or a mirror without catalogs.
    """
    _check_request(params, radius_rain_km, radius_gauge_km)
    area = int(area)
    prep = params["prepare"]
    months = month_index(prep["start"], prep["end"])
    setting = params["data"]["source"] if source is None else source
    settings = {"period": [prep["start"], prep["end"]], "min_coverage": prep["min_coverage"],
                "max_missing_days": prep["max_missing_days"], "radius_rain_km": radius_rain_km,
                "radius_gauge_km": radius_gauge_km}
    with tempfile.TemporaryDirectory(prefix="gwtl-basin-") as tmp:
        files = _Files(open_source(params, setting), Path(tmp))
        catalogs = {kind: files.catalog(kind) for kind in PRODUCTS}
        in_area = area_wells(catalogs["gw"], area)
        if in_area.empty:
            raise _unknown_area(catalogs["gw"], area)
        name = _area_name(in_area["area_name"].iloc[0])
        status, notes = _area_well_status(files, in_area, params, months, setting=setting, area=area, name=name)
        wells = pd.DataFrame({"hzb": in_area["hzb"].astype(int), "name": in_area["name"],
                              "coverage": [c for c, _ in status], "reason": [r for _, r in status]})
        wells["kept"] = wells["reason"] == "kept"
        kept = in_area[wells["kept"].to_numpy()]
        if len(kept) < prep["min_wells"]:
            raise _too_few_wells(area, name, wells, prep)
        rain = _stations(files, "nlv", catalogs["nlv"], kept, radius_rain_km, params, months)
        if rain["kept"].sum() < prep["min_rain_stations"]:
            raise _too_few_rain_stations(area, name, rain, catalogs["nlv"], kept, radius_rain_km, prep)
        gauge_table = _stations(files, "owf", catalogs["owf"], kept, radius_gauge_km, params, months)
        if not gauge_table["kept"].any():
            raise _no_gauge(area, name, gauge_table, catalogs["owf"], kept, radius_gauge_km, prep)
        gauge_table = _choose_gauges(gauge_table, files.catchments(), gauges)
        location = f"{files.source.mode} {files.source.location}"
        data_source = str(Path(files.source.location).resolve()) if files.source.mode == "mirror" else "download"
    columns = ["hzb", "name", "distance_km", "near_well", "coverage", "kept", "reason"]
    return BasinChoice(
        area=area, name=name, wells=wells[["hzb", "name", "coverage", "kept", "reason"]],
        rain=rain[columns],
        gauges=gauge_table[columns[:2] + ["river", "catchment_km2"] + columns[2:]],
        source=location, settings=settings, notes=notes, data_source=data_source)


def _check_request(params: dict, radius_rain_km: float, radius_gauge_km: float) -> None:
    """Refuse, before reading anything, a ``data.format`` other than ehyd and radii that are not positive."""
    if params["data"]["format"] != "ehyd":
        raise BasinError(f"data.format is {params['data']['format']!r}: `gwtl basin` chooses stations from the eHYD "
                         "catalogs; with your own CSV files list the wells, rain stations and gauges in the basin "
                         "section of params.yaml yourself (README: your own basin), or set data.format: ehyd")
    if radius_rain_km <= 0 or radius_gauge_km <= 0:
        raise BasinError(f"radii must be positive, got --radius-rain {radius_rain_km} "
                         f"--radius-gauge {radius_gauge_km}")


def _area_well_status(files: _Files, in_area: pd.DataFrame, params: dict, months: pd.DatetimeIndex, *,
                      setting: str, area: int, name: str) -> tuple[list[tuple[float, str]], list[str]]:
    """Coverage and reason of every well of ``in_area``, read from ``files`` (the mirror-then-download fallback).

    When ``setting`` (the ``data.source`` in use) is ``"auto"`` and it found a
    mirror that holds no well file of the area, the mirror is given up for
    eHYD: ``files`` switches to the download source and the wells are read again.

    Returns
    -------
    status : list of (float, str)
        :func:`_well_status` of each well, in the order of ``in_area``.
    notes : list of str
        The note that the files were downloaded instead of read from the
        mirror, or none.

    Raises
    ------
    gwtl.sources.fetch.FetchError
        When that download fails; the message names the mirror that lacked the files.
    """
    status = [_well_status(files, int(h), params, months) for h in in_area["hzb"]]
    if not (files.source.mode == "mirror" and setting == "auto"
            and all(r.startswith(f"no {PRODUCTS['gw']} file") for _, r in status)):
        return status, []
    mirror = files.source.location
    files.source = open_source(params, "download")
    try:
        status = [_well_status(files, int(h), params, months) for h in in_area["hzb"]]
    except FetchError as err:
        raise FetchError(f"the mirror {mirror} holds no well file of area {area} {name}, so gwtl "
                         f"tried to download them from eHYD: {err}") from None
    return status, [f"the mirror {mirror} holds no well file of area {area}, so the files "
                    "were downloaded from eHYD; before `dvc repro`, set data.source: download in "
                    "params.yaml (with data.source: auto the fetch stage would use the mirror)."]


def _too_few_wells(area: int, name: str, wells: pd.DataFrame, prep: dict) -> BasinError:
    """The error of an area with fewer than ``prepare.min_wells`` passing ``wells``; it lists the 8 best."""
    best = wells.sort_values("coverage", ascending=False).head(8)
    return BasinError(
        f"area {area} {name}: {int(wells['kept'].sum())} of {len(wells)} wells pass (coverage >= "
        f"{prep['min_coverage']} over {prep['start']}..{prep['end']}), fewer than prepare.min_wells = "
        f"{prep['min_wells']}. Best wells: "
        + ", ".join(f"{h} ({r if r != 'kept' else f'coverage {c:.3f}'})"
                    for h, c, r in zip(best["hzb"], best["coverage"], best["reason"]))
        + ". Lower prepare.min_coverage, move prepare.start/end, or choose another area.")


def _candidates(stations: pd.DataFrame, catalog: pd.DataFrame, kept: pd.DataFrame, radius_km: float) -> str:
    """Every candidate station with its reason (or "none"), then the nearest beyond the radius (:func:`_beyond`)."""
    listed = ", ".join(f"{h} ({r})" for h, r in zip(stations["hzb"], stations["reason"]))
    return (listed or "none") + _beyond(catalog, kept, radius_km)


def _too_few_rain_stations(area: int, name: str, rain: pd.DataFrame, catalog: pd.DataFrame, kept: pd.DataFrame,
                           radius_km: float, prep: dict) -> BasinError:
    """The error of fewer than ``prepare.min_rain_stations`` passing stations within ``radius_km`` of a kept well.

    It lists every candidate with its reason and the nearest stations beyond the radius (:func:`_beyond`).
    """
    return BasinError(
        f"area {area} {name}: {int(rain['kept'].sum())} precipitation station(s) within "
        f"{radius_km:g} km of a kept well have daily sums with coverage >= {prep['min_coverage']} "
        f"(prepare.min_rain_stations = {prep['min_rain_stations']}); candidates: "
        + _candidates(rain, catalog, kept, radius_km)
        + ". Try a larger --radius-rain.")


def _no_gauge(area: int, name: str, gauges: pd.DataFrame, catalog: pd.DataFrame, kept: pd.DataFrame,
              radius_km: float, prep: dict) -> BasinError:
    """The error of no passing discharge gauge within ``radius_km`` of a kept well.

    It lists every candidate with its reason and the nearest gauges beyond the radius (:func:`_beyond`).
    """
    return BasinError(
        f"area {area} {name}: no discharge gauge within {radius_km:g} km of a kept well has "
        f"a Q-Tagesmittel file with coverage >= {prep['min_coverage']}; candidates: "
        + _candidates(gauges, catalog, kept, radius_km)
        + ". Try a larger --radius-gauge.")


# --------------------------------------------------------------------------- report


def _table(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    shown["name"] = shown["name"].str.slice(0, 28)
    shown["kept"] = shown["kept"].map({True: "yes", False: "no"})
    shown["coverage"] = shown["coverage"].map(lambda c: "-" if pd.isna(c) else f"{c:.3f}")
    if "distance_km" in shown:
        shown["distance_km"] = shown["distance_km"].map(lambda d: f"{d:.2f}")
    if "catchment_km2" in shown:
        shown["catchment_km2"] = shown["catchment_km2"].map(lambda a: "-" if pd.isna(a) else f"{a:g}")
    if shown.empty:
        return "  (none)"
    columns = list(shown.columns)
    right = {"hzb", "near_well", "distance_km", "coverage", "catchment_km2"}
    lines = aligned([str(c) for c in columns], [[str(v) for v in row] for row in shown.itertuples(index=False)],
                    right=lambda i: columns[i] in right)
    return "\n".join("  " + line for line in lines)


def report(choice: BasinChoice) -> str:
    """A plain-text account of the choice: every area well, candidate station and gauge, kept or why not."""
    s = choice.settings
    basin = choice.basin
    lines = [
        f"Area {choice.area} {choice.name} (files: {choice.source})",
        f"Rule: coverage >= {s['min_coverage']} over {s['period'][0]}..{s['period'][1]}; a station-month "
        f"missing more than {s['max_missing_days']} days is missing.",
        "",
        f"Wells of area {choice.area}: {len(basin['wells'])} of {len(choice.wells)} kept",
        _table(choice.wells),
        "",
        f"Precipitation stations within {s['radius_rain_km']:g} km of a kept well: "
        f"{len(basin['rain_stations'])} of {len(choice.rain)} kept",
        _table(choice.rain),
        "",
        f"Discharge gauges within {s['radius_gauge_km']:g} km of a kept well: "
        f"{len(basin['gauges'])} of {len(choice.gauges)} kept",
        _table(choice.gauges),
        "",
        f"basin: name {basin['name']!r}, area {basin['area']}, {len(basin['wells'])} wells, "
        f"rain_stations {basin['rain_stations']}, gauges {basin['gauges']}",
        f"forecast.forcings: {choice.forcings}",
    ]
    lines += [f"Note: {n}" for n in choice.notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------- params.yaml text


def _comment_at(line: str) -> int | None:
    """Index of the ``#`` that starts the comment of a YAML line, outside quotes; None without one."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _section(lines: list[str], name: str) -> tuple[int, int]:
    """Lines ``[start, end)`` of the top-level section ``name:`` up to the next top-level line."""
    start = next((i for i, line in enumerate(lines) if re.match(rf"{name}:\s*(#.*)?$", line)), None)
    if start is None:
        if any(line.startswith(f"{name}:") for line in lines):
            raise BasinError(f"params.yaml: the section {name}: is written on one line; write it as "
                             f"'{name}:' followed by one indented line per key, as in the project's params.yaml.")
        raise BasinError(f"params.yaml has no line '{name}:' starting a section; restore the section.")
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "\t")), len(lines))
    return start, end


def _key_lines(lines: list[str], section: str, key: str) -> tuple[int, int]:
    """Lines ``[first, end)`` holding ``section.key`` and its value (continuation lines included)."""
    start, stop = _section(lines, section)
    first = next((i for i in range(start + 1, stop) if re.match(rf"\s+{key}:(\s|$)", lines[i])), None)
    if first is None:
        raise BasinError(f"params.yaml: no line '  {key}: ...' in the section {section}:; "
                         f"add {section}.{key} as a line of its own.")
    indent, end = _indent(lines[first]), first + 1
    while end < stop:
        line = lines[end]
        body = line.strip()
        if body and (_indent(line) > indent or (_indent(line) == indent and body.startswith("- "))):
            end += 1
        else:
            break
    return first, end


def _scalar(value) -> str:
    if isinstance(value, str):
        plain = value and not re.search(r"[:#\[\]{},&*!|>'\"%@`]", value) and value == value.strip()
        if plain and yaml.safe_load(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flow_list(items: list, prefix: str) -> list[str]:
    """``prefix[a, b, ...]`` wrapped after every LIST_WIDTH items, aligned under the first item."""
    texts = [_scalar(v) for v in items]
    rows = [texts[i : i + LIST_WIDTH] for i in range(0, len(texts), LIST_WIDTH)] or [[]]
    pad = " " * (len(prefix) + 1)
    out = [(prefix + "[" if i == 0 else pad) + ", ".join(row) + ("]" if i == len(rows) - 1 else ",")
           for i, row in enumerate(rows)]
    return out


def _set_key(lines: list[str], section: str, key: str, value, comment: str | None = None) -> list[str]:
    """Replace the value of ``section.key``; keep its inline comment (or put ``comment`` there)."""
    first, end = _key_lines(lines, section, key)
    old_comment, column = None, COMMENT_COLUMN
    for line in (lines[first], lines[end - 1]):  # the key line, else the value's last line
        at = _comment_at(line)
        if at is not None:
            old_comment, column = line[at:].rstrip(), at
            break
    prefix = " " * _indent(lines[first]) + f"{key}: "
    new = _flow_list(value, prefix) if isinstance(value, list) else [prefix + _scalar(value)]
    text = f"# {comment}" if comment is not None else old_comment
    if text:
        new[0] = new[0].ljust(column) + text if len(new[0]) < column else new[0] + "  " + text
    return lines[:first] + new + lines[end:]


def _gauge_comment(choice: BasinChoice) -> str:
    table = choice.gauges.set_index("hzb")
    return "; ".join(f"{table.at[g, 'river']} at {table.at[g, 'name']}" for g in choice.basin["gauges"])


def basin_params_text(text: str, choice: BasinChoice) -> str:
    """``text`` of params.yaml with the basin section and ``forecast.forcings`` of ``choice``.

    Only the lines of ``basin.name/area/wells/rain_stations/gauges`` and
    ``forecast.forcings`` change. The result is checked: it must load, pass
    :func:`gwtl.params.validate`, hold exactly the chosen values and leave every
    other setting as it was.

    Raises
    ------
    BasinError
        If a key is not a line of its own in its section, or the result would not hold the choice.
    """
    before = yaml.safe_load(text)
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    expected = {**before}
    for dotted, value in choice.params_values.items():
        section, key = dotted.split(".")
        comment = _gauge_comment(choice) if dotted == "basin.gauges" else None
        lines = _set_key(lines, section, key, value, comment=comment)
        expected[section] = {**expected[section], key: value}
    new = newline.join(lines) + (newline if text.endswith(("\n", "\r")) else "")
    after = yaml.safe_load(new)
    if after != expected:
        raise BasinError("params.yaml: editing the basin section as text did not give the chosen values; "
                         "is basin: written in flow style? Write each basin key on a line of its own.")
    validate(after)
    return new


def write_basin(path: str | Path, choice: BasinChoice) -> str:
    """Write the choice into the params.yaml at ``path`` (atomically) and return the new text."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = basin_params_text(text, choice)
    write_text(path, new)
    return new


def basin_block(text: str) -> str:
    """The ``basin:`` section of a params.yaml text (for printing)."""
    lines = text.splitlines()
    start, end = _section(lines, "basin")
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])
