"""The eHYD source: export files (groundwater, precipitation, discharge) and the prepare stage's inputs from them.

An eHYD file is ISO-8859-1 text: a header of ``key: ;value`` lines that ends
with a line ``Werte:``, then one value per line, ``DD.MM.YYYY HH:MM:SS ; value``,
with a decimal comma. A gap is written ``Lücke`` and holds until the next
timestamp. Monthly values are stamped on the first of the month; daily
precipitation sums are stamped 07:00 of the day *after* the rain fell.

A folder of eHYD files (the offline mirror, ``data/raw``) holds one file per
station and product, ``<kind>/<product>-<HZB>.csv`` (:data:`PRODUCTS`,
:func:`data_path`), and the station catalogs (:mod:`gwtl.sources.catalog`).
:func:`read_inputs` reads the listed stations of such a folder onto the
monthly index for :func:`gwtl.data.prepare.prepare` (``data.format: ehyd``).

We keep a small reader of our own instead of the PyPI package ``ehyd-tools``:
that package reads monthly files but fails on daily files under pandas 3, and
the format is simple enough to read and test in about a hundred lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.sources.catalog import catalog_path, read_catalog
from gwtl.data.monthly import (PARAM_KEY, Inputs, PrepareError, Station, check_listed, coverage, daily_values, forcing_meta,
                      monthly_from_daily, monthly_values, months_text, values_span)

ENCODING = "iso-8859-1"
GAP = "Lücke"
PRODUCTS = {"gw": "Grundwasserstand-Monatsmittel", "nlv": "N-Tagessummen", "owf": "Q-Tagesmittel"}
# A gauge's second product: its daily mean water level (stage), cm above the gauge datum ("Pegelnullpunkt").
# Optional: fetched and prepared when eHYD has it (column ``stage_<HZB>``, m a.s.l.); no model but the TFN reads it.
STAGE = "W-Tagesmittel"
KINDS = {"well": "gw", "rain station": "nlv", "gauge": "owf"}  # kind of a listed series -> eHYD kind


class EhydFormatError(ValueError):
    """An eHYD file that cannot be read; the message names the file and the fix."""


@dataclass
class EhydSeries:
    """One eHYD file: header metadata and its values.

    Attributes
    ----------
    meta : dict
        ``name``, ``hzb`` (int), ``area`` (porous-aquifer area, or ``None``),
        ``unit``, ``lon``/``lat`` (WGS84 decimal degrees, or ``None``),
        ``elevation`` (m a.s.l., or ``None``), ``datum`` (a gauge's datum,
        "Pegelnullpunkt": ``(YYYY-MM-DD, m a.s.l.)`` from each date on, oldest
        first; empty for other stations) and ``header`` (all raw key/values).
    values : pandas.Series
        Float values indexed by timestamp; gaps are NaN.
    """

    meta: dict
    values: pd.Series = field(repr=False)


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def _dms(text: str) -> float:
    d, m, s = (float(p) for p in text.split())
    return d + m / 60 + s / 3600


@lru_cache(maxsize=1)
def _bessel_transformer():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4312", "EPSG:4326", always_xy=True)


def bessel_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert MGI (Bessel 1841) geographic degrees to WGS84 degrees."""
    x, y = _bessel_transformer().transform(lon, lat)
    return round(float(x), 6), round(float(y), 6)


def _dated_rows(lines: list[str], i: int) -> list[list[str]]:
    """The dated rows (``DD.MM.YYYY ; value ...``) of the small ``gültig seit`` table after line ``i``."""
    rows = []
    for row in lines[i + 1 : i + 12]:
        cells = [c.strip() for c in row.split(";")]
        if re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", cells[0]) and len(cells) >= 2:
            rows.append(cells)
        elif rows:
            break
    return rows


def _day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text[6:] + text[3:5] + text[:2])


def _newest_row(lines: list[str], i: int) -> list[str] | None:
    """The newest dated row of the small ``gültig seit`` table after line ``i``."""
    rows = _dated_rows(lines, i)
    if not rows:
        return None
    return max(rows, key=lambda c: _day(c[0]))


def _parse_header(lines: list[str], path: Path) -> dict:
    header: dict[str, str] = {}
    coords: tuple[float, float] | None = None
    elevation = None
    datum: list[tuple[str, float]] = []
    for i, line in enumerate(lines):
        key, _, rest = line.partition(":")
        key = key.strip()
        if key and rest and key not in header:
            header[key] = rest.lstrip(" ;").split(";")[0].strip()
        if line.startswith("Geographische Koordinaten") and coords is None:
            row = _newest_row(lines, i)
            if row is not None and len(row) >= 3:
                coords = (_dms(row[1]), _dms(row[2]))
        elif key == "Geländehöhe" and elevation is None:
            elevation = _number(header[key])
        elif key == "Höhe" and elevation is None:  # precipitation: a dated table
            row = _newest_row(lines, i)
            elevation = _number(row[1]) if row else None
        elif key == "Pegelnullpunkt" and not datum:  # a gauge: its datum (m a.s.l.) since each date
            datum = sorted((_day(c[0]).strftime("%Y-%m-%d"), _number(c[1])) for c in _dated_rows(lines, i))
    if "HZB-Nummer" not in header:
        raise EhydFormatError(f"{path}: no 'HZB-Nummer' in the header; is this an eHYD export file?")
    lon, lat = bessel_to_wgs84(*coords) if coords else (None, None)
    unit = header.get("Einheit", "").strip("[] ")
    area = header.get("PorenGW-Gebiet")
    return {
        "name": header.get("Messstelle", ""),
        "hzb": int(header["HZB-Nummer"]),
        "area": int(area.split()[0]) if area else None,
        "unit": unit,
        "lon": lon,
        "lat": lat,
        "elevation": elevation,
        "datum": datum,
        "header": header,
    }


def read_ehyd(path: str | Path) -> EhydSeries:
    """Read one eHYD data file.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` export of eHYD (any product: monthly levels, daily sums, ...).

    Returns
    -------
    EhydSeries

    Raises
    ------
    EhydFormatError
        If the file is not ISO-8859-1 eHYD text, has no ``Werte:`` line, or holds
        a value that is neither a number nor ``Lücke``.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode(ENCODING)
    except UnicodeDecodeError as err:  # pragma: no cover - latin-1 decodes any byte
        raise EhydFormatError(f"{path}: not ISO-8859-1 text ({err})") from err
    if "Ã" in text and "Lücke".encode("utf-8").decode(ENCODING) in text:
        raise EhydFormatError(
            f"{path}: looks UTF-8 encoded, but eHYD files are ISO-8859-1; "
            "fetch the original file again (do not re-save it in an editor)."
        )
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Werte:")
    except StopIteration:
        raise EhydFormatError(
            f"{path}: no 'Werte:' line, so the file is truncated or not an eHYD export; "
            "delete it and fetch it again."
        ) from None
    meta = _parse_header(lines[:start], path)
    stamps: list[str] = []
    values: list[float] = []
    for n, line in enumerate(lines[start + 1 :], start=start + 2):
        if not line.strip():
            continue
        cells = line.split(";")
        if len(cells) < 2:
            raise EhydFormatError(f"{path}, line {n}: expected 'timestamp ; value', got {line!r}")
        cell = cells[1].strip()
        if cell == GAP:
            value = np.nan
        else:
            try:
                value = _number(cell)
                if not np.isfinite(value):
                    raise ValueError(cell)
            except ValueError:
                raise EhydFormatError(
                    f"{path}, line {n}: value {cell!r} is neither a finite number nor '{GAP}'; "
                    "the file is corrupt: delete it and fetch it again."
                ) from None
        stamps.append(cells[0].strip())
        values.append(value)
    try:
        index = pd.to_datetime(stamps, format="%d.%m.%Y %H:%M:%S")
    except ValueError as err:
        raise EhydFormatError(f"{path}: a timestamp is not 'DD.MM.YYYY HH:MM:SS' ({err})") from None
    series = pd.Series(values, index=index, name=meta["hzb"], dtype=float)
    if series.index.has_duplicates:
        raise EhydFormatError(f"{path}: repeated timestamps; the file is corrupt, fetch it again.")
    return EhydSeries(meta=meta, values=series)


# --------------------------------------------------------------------------- folders of eHYD files


def data_filename(kind: str, hzb: int | str) -> str:
    """File name of the product of ``kind`` used by gwtl, e.g. ``N-Tagessummen-112300.csv``."""
    return f"{PRODUCTS[kind]}-{hzb}.csv"


def data_path(folder: str | Path, kind: str, hzb: int | str) -> Path:
    """Path of a station's file of ``kind`` (``gw``, ``nlv``, ``owf``) inside an eHYD folder."""
    return Path(folder) / kind / data_filename(kind, hzb)


def stage_path(folder: str | Path, hzb: int | str) -> Path:
    """Path of a gauge's daily water-level file (:data:`STAGE`) inside an eHYD folder."""
    return Path(folder) / "owf" / f"{STAGE}-{hzb}.csv"


def stage_above_sea(series: EhydSeries) -> pd.Series:
    """A gauge's daily stage (cm above its datum) as a water level in m a.s.l.

    Each value is referred to the datum ("Pegelnullpunkt") valid on its day,
    so a change of the datum does not show as a jump of the river.

    Raises
    ------
    EhydFormatError
        When the file states no datum, or a value lies before its first date.
    """
    datum = series.meta.get("datum") or []
    where = f"gauge {series.meta['hzb']} ({STAGE})"
    if not datum:
        raise EhydFormatError(f"{where}: the header states no 'Pegelnullpunkt' (gauge datum), so the stage cannot "
                              "be referred to sea level; fetch the original eHYD file again")
    since = pd.DatetimeIndex([pd.Timestamp(d) for d, _ in datum])
    heights = np.array([h for _, h in datum], dtype=float)
    values = series.values
    at = since.searchsorted(values.index.normalize(), side="right") - 1
    if (at[values.notna().to_numpy()] < 0).any():
        raise EhydFormatError(f"{where}: values before the first gauge datum ({since[0]:%Y-%m-%d}); "
                              "fetch the original eHYD file again")
    level = heights[np.clip(at, 0, None)] + values.to_numpy(dtype=float) / 100.0
    return pd.Series(level, index=values.index, name=values.name)


def file_area(path: str | Path) -> int | None:
    """Porous-aquifer area number from a well file's header, without reading its values."""
    with open(path, encoding=ENCODING) as fh:
        for line in fh:
            if line.strip() == "Werte:":
                break
            if line.startswith("PorenGW-Gebiet"):
                text = line.partition(";")[2].split()
                return int(text[0]) if text and text[0].isdigit() else None
    return None


def area_well_files(folder: str | Path, area: int) -> list[int]:
    """HZB numbers of the well files in ``folder/gw`` whose header names porous-aquifer ``area``.

    The files' own word; :func:`gwtl.sources.catalog.area_wells` gives the catalog's.
    """
    found = []
    for path in sorted((Path(folder) / "gw").glob(data_filename("gw", "*"))):
        if file_area(path) == area:
            found.append(int(path.stem.rsplit("-", 1)[1]))
    return found


def gauge_coordinates(folder: str | Path, gauges: list[int]) -> dict[int, tuple[float, float]]:
    """WGS84 lon/lat of gauges from the surface-water catalog, if the folder has it."""
    path = catalog_path(folder, "owf")
    if not path.exists():
        return {}
    table = read_catalog(path, "owf")
    table = table[table["hzb"].isin(gauges)].dropna(subset=["lon", "lat"])
    return {int(h): (float(x), float(y)) for h, x, y in zip(table["hzb"], table["lon"], table["lat"])}


# --------------------------------------------------------------------------- inputs of the prepare stage


def _check_files(params: dict, raw: Path) -> None:
    """Fail on too few rain stations and on missing files, before reading any values."""
    basin, prep = params["basin"], params["prepare"]
    if len(basin["rain_stations"]) < prep["min_rain_stations"]:
        raise PrepareError(
            f"basin.rain_stations lists {len(basin['rain_stations'])} stations, fewer than "
            f"prepare.min_rain_stations = {prep['min_rain_stations']}; add stations or lower it")
    if not raw.is_dir():
        raise PrepareError(f"raw folder {raw} not found; run the fetch stage first (dvc repro fetch)")
    missing = []
    for kind, ehyd_kind in KINDS.items():
        key = PARAM_KEY[kind]
        ids = [h for h in basin[key.split(".")[1]] if not data_path(raw, ehyd_kind, h).exists()]
        if ids:
            missing.append(f"  {key}: no file for {', '.join(map(str, ids))} "
                           f"(expected {data_path(raw, ehyd_kind, '<id>')})")
    if missing:
        raise PrepareError(
            "prepare: input files are missing:\n" + "\n".join(missing)
            + "\nRun the fetch stage (dvc repro fetch), or remove these ids from params.yaml.")


def _read_listed(params: dict, raw: Path, months: pd.DatetimeIndex) -> dict[str, list[Station]]:
    """Read every listed series and bring it to the monthly index."""
    max_missing = params["prepare"]["max_missing_days"]
    out: dict[str, list[Station]] = {}
    for kind, ehyd_kind in KINDS.items():
        key = PARAM_KEY[kind]
        out[kind] = []
        for hzb in params["basin"][key.split(".")[1]]:
            series = read_ehyd(data_path(raw, ehyd_kind, hzb))
            if kind == "well":
                monthly = monthly_values(series.values, months)
            else:
                how = "sum" if kind == "rain station" else "mean"
                monthly = monthly_from_daily(daily_values(series.values, months), how, max_missing)
            out[kind].append(Station(kind, hzb, series.meta, monthly.rename(str(hzb)), coverage(monthly)))
    return out


def _data_span(station: Station, raw: Path) -> str:
    return values_span(read_ehyd(data_path(raw, KINDS[station.kind], station.hzb)).values,
                       "the file holds no values at all")


def _unlisted_area_wells(params: dict, raw: Path, months: pd.DatetimeIndex) -> list[Station]:
    """The wells of ``basin.area`` in ``raw/gw`` that ``basin.wells`` does not list."""
    listed = set(params["basin"]["wells"])
    out = []
    for hzb in area_well_files(raw, params["basin"]["area"]):
        if hzb in listed:
            continue
        series = read_ehyd(data_path(raw, "gw", hzb))
        monthly = monthly_values(series.values, months)
        out.append(Station("well", hzb, series.meta, monthly.rename(str(hzb)), coverage(monthly)))
    return out


def _stages(params: dict, raw: Path, months: pd.DatetimeIndex) -> list[Station]:
    """The monthly stage (m a.s.l.) of each listed gauge whose water-level file ``raw`` holds.

    Same missing-days rule as discharge. A gauge without the file has no stage
    (eHYD does not publish one for every gauge); its discharge remains.
    """
    out = []
    for hzb in params["basin"]["gauges"]:
        path = stage_path(raw, hzb)
        if not path.exists():
            continue
        series = read_ehyd(path)
        daily = stage_above_sea(series)
        monthly = monthly_from_daily(daily_values(daily, months), "mean", params["prepare"]["max_missing_days"])
        out.append(Station("gauge", hzb, series.meta, monthly.rename(str(hzb)), coverage(monthly)))
    return out


def _forcings(listed: dict[str, list[Station]], stages: list[Station], params: dict,
              months: pd.DatetimeIndex) -> pd.DataFrame:
    rain = pd.concat([s.monthly for s in listed["rain station"]], axis=1)
    enough = rain.notna().sum(axis=1) >= params["prepare"]["min_rain_stations"]
    forcings = pd.DataFrame({"precipitation": rain.mean(axis=1).where(enough)}, index=months)
    for s in listed["gauge"]:
        forcings[f"discharge_{s.hzb}"] = s.monthly
    for s in stages:
        forcings[f"stage_{s.hzb}"] = s.monthly
    forcings.index.name = "month"
    return forcings


def _stage_warnings(params: dict, stages: list[Station]) -> list[str]:
    """Missing months of each stage (as for a gauge's discharge), and the gauges without a stage file."""
    out, prep = [], params["prepare"]
    for s in stages:
        gone = s.monthly.index[s.monthly.isna()]
        if len(gone):
            out.append(f"stage_{s.hzb}: {len(gone)} months missing (no data, or more than "
                       f"{prep['max_missing_days']} days missing): {months_text(gone, limit=12)}")
    have = {s.hzb for s in stages}
    lacking = [h for h in params["basin"]["gauges"] if h not in have]
    if lacking:
        out.append(f"stage: no {STAGE} file for gauge(s) {', '.join(map(str, lacking))}: no river stage "
                   "(the TFN uses their discharge instead)")
    return out


def _rain_warnings(params: dict, forcings: pd.DataFrame) -> list[str]:
    gone = forcings.index[forcings["precipitation"].isna()]
    if not len(gone):
        return []
    return [f"precipitation: {len(gone)} months without areal precipitation (fewer than "
            f"{params['prepare']['min_rain_stations']} stations with a value): {months_text(gone, limit=12)}"]


def _station_meta(s: Station, gauge_xy: dict) -> dict:
    lon, lat = s.meta["lon"], s.meta["lat"]
    if lon is None and s.hzb in gauge_xy:
        lon, lat = gauge_xy[s.hzb]
    return {"hzb": s.hzb, "name": s.meta["name"], "lon": lon, "lat": lat,
            "elevation": s.meta["elevation"], "coverage": round(s.coverage, 4),
            "months_missing": int(s.monthly.isna().sum())}


def read_inputs(params: dict, raw: Path, months: pd.DatetimeIndex) -> Inputs:
    """The inputs of :func:`gwtl.data.prepare.prepare` from a folder of eHYD files (rules in :mod:`gwtl.data.prepare`).

    Checks the files and the coverage of every listed series first
    (:func:`gwtl.data.monthly.check_listed`). ``forcings.csv`` gets the areal
    precipitation, the discharge of every gauge and, for every gauge whose
    water-level file is there, its stage ``stage_<HZB>`` (m a.s.l.,
    :func:`stage_above_sea`, monthly mean with the discharge's missing-days
    rule; not coverage-checked: no default input reads it); ``meta.json`` the listed
    rain stations and gauges (a gauge without coordinates in its file takes
    those of the catalog) and ``months_without_precipitation``.

    Raises
    ------
    PrepareError
        Too few rain stations, missing files, listed series without data or
        with too little coverage.
    """
    _check_files(params, raw)
    listed = _read_listed(params, raw, months)
    check_listed(params, listed, lambda s: _data_span(s, raw))
    others = _unlisted_area_wells(params, raw, months)
    stages = _stages(params, raw, months)
    forcings = _forcings(listed, stages, params, months)
    gauge_xy = gauge_coordinates(raw, params["basin"]["gauges"])
    n_rain = len(listed["rain station"])
    return Inputs(
        format="ehyd",
        listed=listed,
        others=others,
        forcings=forcings,
        rain_stations=[_station_meta(s, gauge_xy) for s in listed["rain station"]],
        gauges=[_station_meta(s, gauge_xy) for s in listed["gauge"]],
        forcing_entries=[
            forcing_meta("precipitation", forcings["precipitation"], "sum", "daily",
                         f"areal precipitation (mm/month), mean of {n_rain} rain stations"),
            *(forcing_meta(f"discharge_{s.hzb}", s.monthly, "mean", "daily",
                           f"discharge (m³/s) at gauge {s.hzb} {s.meta['name']}") for s in listed["gauge"]),
            *(forcing_meta(f"stage_{s.hzb}", s.monthly, "mean", "daily",
                           f"river stage (m a.s.l.) at gauge {s.hzb} {s.meta['name']}") for s in stages),
        ],
        counts={"months_without_precipitation": int(forcings["precipitation"].isna().sum()),
                "stages": len(stages)},
        warnings=_rain_warnings(params, forcings) + _stage_warnings(params, stages),
    )
