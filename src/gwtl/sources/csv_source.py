"""Your own basin: the CSV layout, read by ``fetch`` and ``prepare`` with ``data.format: csv``.

``data.source`` names a folder (absolute, or relative to the project root) with
three UTF-8 CSV files, comma-separated, one header line:

``wells.csv``
    One row per well: ``id`` (a whole number; the id used in ``basin.wells``,
    in column names and in model folders), ``name``, ``lon`` and ``lat``
    (WGS84 decimal degrees), ``elevation`` (m above sea level, may be empty);
    optional ``area`` (a whole number: the wells with ``area == basin.area``
    form the basin's area; without the column every well does). Wells not in
    ``basin.wells`` are reported in ``data/processed/wells.csv`` with their
    coverage, as for eHYD. Other columns are ignored.
``levels.csv``
    Long format, one row per well and date: ``id``, ``date``, ``level``
    (groundwater level, e.g. m a.s.l.). Each well is either *monthly* (at most
    one row in every month: the value is that month's level, whatever its
    day; the first of the month is customary) or *daily* (more than one row
    in most months: one row per calendar day, and the month's level is the
    mean of its days, missing when more than ``prepare.max_missing_days`` days
    are missing, as for eHYD discharge).
``forcings.csv``
    ``date`` plus one column per forcing, named as you like (e.g.
    ``precipitation``, ``temperature``); ``forecast.forcings`` names the
    columns the models use. Daily (more than one row in most months: one row
    per calendar day) or monthly (one row per month; a month with several rows
    in a monthly file is an error that names them). Daily columns are
    brought to months with the missing-days rule of ``prepare``: a column
    named ``precipitation``, ``rain`` or ``rainfall`` (any case), or ending in
    ``_sum``, is **summed** (mean of the valid days times the days of the
    month), every other column is **averaged**. Output columns keep the names
    of this file.

Every ``date`` is ``YYYY-MM-DD``. A missing value is an empty cell (or ``NA``);
a day or month without a row is missing too. Values are numbers with a decimal
point. Days or months are never filled here: ``prepare`` applies its gap rules
(short-gap interpolation of levels within split periods) as for eHYD.

``fetch`` checks the three files (columns, dates, numbers, well ids, the ids of
``basin.wells``, the plausibility of every value by the rules of
:mod:`gwtl.sources.plausible`, with ``precipitation``-like columns as precipitation and
``discharge*`` columns as discharge) and copies them unchanged into ``data/raw/csv/``
(:func:`fetch_into`); ``prepare`` reads them from there with
:func:`read_inputs` (:func:`read_csv_basin`, then the monthly rules of
:mod:`gwtl.data.monthly`) and writes the same ``data/processed/`` as for eHYD
(:func:`gwtl.data.prepare.prepare`).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.sources import plausible
from gwtl.data.monthly import (Inputs, PrepareError, Station, check_listed, coverage, forcing_meta, is_daily, to_months,
                      values_span)

FOLDER = "csv"  # inside data/raw
FILES = ("wells.csv", "levels.csv", "forcings.csv")
REQUIRED = {
    "wells.csv": ["id", "name", "lon", "lat", "elevation"],
    "levels.csv": ["id", "date", "level"],
    "forcings.csv": ["date"],
}
SUMMED = ("precipitation", "rain", "rainfall")
MISSING = ("", "NA", "NaN", "nan")
ENCODING = "utf-8-sig"  # UTF-8, with or without the byte-order mark that spreadsheets write


class CsvLayoutError(ValueError):
    """Files that do not follow the CSV layout; the message names file, column and lines."""


@dataclass
class CsvBasin:
    """The three files of the CSV layout, checked and parsed.

    Attributes
    ----------
    wells : DataFrame
        Index ``id`` (int); ``name``, ``lon``, ``lat``, ``elevation`` and
        ``area`` (nullable int; ``<NA>`` everywhere without an ``area`` column).
    levels : DataFrame
        Columns ``id`` (int), ``date``, ``level`` (float, NaN where missing),
        sorted by id and date.
    forcings : DataFrame
        Index ``date`` (sorted), one float column per forcing.
    has_area : bool
        Whether ``wells.csv`` has an ``area`` column.
    """

    wells: pd.DataFrame
    levels: pd.DataFrame
    forcings: pd.DataFrame
    has_area: bool

    def well_values(self, well: int) -> pd.Series:
        """Dated levels of one well (NaN where missing), named by its id."""
        rows = self.levels[self.levels["id"] == well]
        return pd.Series(rows["level"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["date"]),
                         name=str(well))

    def area_of(self, well: int, basin_area):
        """The well's ``area``, or ``basin_area`` when ``wells.csv`` has no area column."""
        if not self.has_area:
            return basin_area
        value = self.wells.at[well, "area"]
        return None if pd.isna(value) else int(value)


# --------------------------------------------------------------------------- rules


def aggregation(name: str) -> str:
    """``"sum"`` for a forcing column named precipitation/rain/rainfall or ending in ``_sum``, else ``"mean"``."""
    low = name.lower()
    return "sum" if low in SUMMED or low.endswith("_sum") else "mean"


def monthly_problems(dates: pd.Series, what: str) -> list[str]:
    """For a monthly series (:func:`gwtl.data.monthly.is_daily` False): the months holding more than one row, with dates."""
    dates = pd.Series(pd.DatetimeIndex(dates)).dropna()
    months = dates.dt.to_period("M")
    twice = months[months.duplicated(keep=False)]
    if twice.empty:
        return []
    shown = "; ".join(f"{month}: {', '.join(dates[months == month].dt.strftime('%Y-%m-%d'))}"
                      for month in twice.unique()[:5])
    return [f"{what}: most months hold one row, so the series is read as monthly, but "
            f"{twice.nunique()} month(s) hold several ({shown}); keep one row per month, or give a value "
            "for every day to make the series daily"]


def plausibility_problems(values: pd.Series, dates, kind: str, what: str, daily: bool) -> list[str]:
    """:func:`gwtl.sources.plausible.problems` of one series as messages that say what to do.

    ``daily`` is :func:`gwtl.data.monthly.is_daily` of ``dates``, which the caller has already decided.
    """
    series = pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(dates))
    return [f"{what}: {found}; correct or delete these values (leave a cell empty where the value is missing)"
            for found in plausible.problems(series, kind, daily=daily)]


def forcing_kind(name: str) -> str:
    """The plausibility rules of a forcing column: precipitation (summed columns), discharge, or other."""
    if aggregation(name) == "sum":
        return "precipitation"
    return "discharge" if name.lower().startswith("discharge") else "other"


# --------------------------------------------------------------------------- reading


def _table(path: Path, required: list[str]) -> pd.DataFrame:
    """All cells of a CSV file as stripped text; refuse a missing file, bad encoding or missing columns."""
    if not path.is_file():
        raise CsvLayoutError(f"{path}: not found; the CSV layout needs {', '.join(FILES)} in one folder")
    try:
        with open(path, encoding=ENCODING, newline="") as fh:
            header = next(csv.reader(fh), None)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=ENCODING)
    except UnicodeDecodeError:
        raise CsvLayoutError(f"{path}: not UTF-8 text; save it as UTF-8 (e.g. files in Shift_JIS or "
                             "Latin-1 must be converted)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CsvLayoutError(f"{path}: not a comma-separated table ({str(err).strip()})") from None
    names = [h.strip() for h in header or []]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CsvLayoutError(f"{path}: column(s) {twice} appear twice in the header; rename them")
    lacking = [c for c in required if c not in names]
    if lacking:
        raise CsvLayoutError(f"{path}: no column {', '.join(lacking)}; the header is {names}, and the file "
                             f"needs the columns {', '.join(required)} (see the README, 'the CSV layout')")
    frame.columns = names
    return frame.fillna("").apply(lambda column: column.str.strip())  # a short row: its last cells are empty


def _lines(text: pd.Series, mask) -> str:
    rows = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(f"line {r + 2}: {text.iat[r]!r}" for r in rows[:5])
    return f"{len(rows)} row(s) ({shown}{', ...' if len(rows) > 5 else ''})"


def _numbers(frame: pd.DataFrame, column: str, path: Path, problems: list[str],
             required: bool = False) -> pd.Series:
    """Column as floats (NaN where missing); non-numbers, and gaps in a required column, are problems."""
    text = frame[column]
    missing = text.isin(MISSING)
    values = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
    bad = ~missing & ~np.isfinite(values)
    if bad.any():
        problems.append(f"{path.name}: column {column}: {_lines(text, bad)} hold no number; write numbers "
                        "with a decimal point, and leave a cell empty where the value is missing")
    if required and missing.any():
        problems.append(f"{path.name}: column {column}: {_lines(text, missing)} are empty; every row needs a value")
    return values.where(~bad)


def _dates(frame: pd.DataFrame, path: Path, problems: list[str]) -> pd.Series:
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        problems.append(f"{path.name}: column date: {_lines(frame['date'], dates.isna())} are not dates "
                        "YYYY-MM-DD; write every date like 1990-01-31")
    return dates


def _ids(frame: pd.DataFrame, path: Path, problems: list[str]) -> pd.Series:
    good = frame["id"].str.fullmatch(r"\d+")
    if not good.all():
        problems.append(f"{path.name}: column id: {_lines(frame['id'], ~good)} are not whole numbers; "
                        "number the wells (e.g. 1, 2, ...) and use these numbers in basin.wells")
    return pd.to_numeric(frame["id"].where(good), errors="coerce").astype("Int64")


def read_wells(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """Read ``wells.csv``; returns the table (index ``id``) and whether it has an ``area`` column.

    Raises
    ------
    CsvLayoutError
        Naming every problem: missing columns, ids that are not whole numbers
        or repeated, coordinates that are not numbers in range, bad elevations or areas.
    """
    path = Path(path)
    frame = _table(path, REQUIRED["wells.csv"])
    problems: list[str] = []
    ids = _ids(frame, path, problems)
    repeated = ids.dropna()[ids.dropna().duplicated()]
    if len(repeated):
        problems.append(f"{path.name}: well id(s) {sorted(set(map(int, repeated)))} appear in more than one row")
    lon = _numbers(frame, "lon", path, problems, required=True)
    lat = _numbers(frame, "lat", path, problems, required=True)
    for name, values, limit in (("lon", lon, 180), ("lat", lat, 90)):
        outside = values.abs() > limit
        if outside.any():
            problems.append(f"{path.name}: column {name}: {_lines(frame[name], outside)} lie outside "
                            f"±{limit}; give WGS84 decimal degrees")
    elevation = _numbers(frame, "elevation", path, problems)
    has_area = "area" in frame.columns
    if has_area:
        whole = frame["area"].str.fullmatch(r"\d+") | frame["area"].isin(MISSING)
        if not whole.all():
            problems.append(f"{path.name}: column area: {_lines(frame['area'], ~whole)} are not whole numbers")
        area = pd.to_numeric(frame["area"].where(whole & ~frame["area"].isin(MISSING)), errors="coerce")
    else:
        area = pd.Series(np.nan, index=frame.index)
    if problems:
        raise CsvLayoutError("\n".join(problems))
    table = pd.DataFrame({"id": ids.astype(int), "name": frame["name"].astype(str), "lon": lon, "lat": lat,
                          "elevation": elevation, "area": area.astype("Int64")})
    return table.set_index("id"), has_area


def read_levels(path: str | Path, wells: pd.Index) -> pd.DataFrame:
    """Read ``levels.csv`` (long: id, date, level); every id must be a well of ``wells``.

    Raises
    ------
    CsvLayoutError
        Naming every problem: missing columns, bad ids, dates or numbers, ids
        not in ``wells.csv``, a well with two rows on one date.
    """
    path = Path(path)
    frame = _table(path, REQUIRED["levels.csv"])
    problems: list[str] = []
    ids = _ids(frame, path, problems)
    dates = _dates(frame, path, problems)
    level = _numbers(frame, "level", path, problems)
    unknown = sorted(set(map(int, ids.dropna())) - set(wells))
    if unknown:
        shown = ", ".join(map(str, unknown[:10])) + (", ..." if len(unknown) > 10 else "")
        problems.append(f"{path.name}: well id(s) {shown} are not in wells.csv; add them to wells.csv "
                        "or remove their rows")
    if problems:
        raise CsvLayoutError("\n".join(problems))
    table = pd.DataFrame({"id": ids.astype(int), "date": dates, "level": level})
    twice = table.duplicated(["id", "date"], keep=False)
    if twice.any():
        raise CsvLayoutError(f"{path.name}: {_lines(frame['id'] + ' ' + frame['date'], twice)} repeat a "
                             "well and date; keep one row per well and date")
    for well, rows in table.groupby("id", sort=True):
        what = f"{path.name}: well {well}"
        daily = is_daily(rows["date"])
        if not daily:
            problems.extend(monthly_problems(rows["date"], what))
        problems.extend(plausibility_problems(rows["level"], rows["date"], "level", what, daily))
    if problems:
        raise CsvLayoutError("\n".join(problems))
    return table.sort_values(["id", "date"], kind="stable").reset_index(drop=True)


def read_forcings(path: str | Path) -> pd.DataFrame:
    """Read ``forcings.csv`` (date + one column per forcing) into a table indexed by date.

    Raises
    ------
    CsvLayoutError
        Naming every problem: no date column or no forcing column, bad dates
        or numbers, a date in two rows.
    """
    path = Path(path)
    frame = _table(path, REQUIRED["forcings.csv"])
    names = [c for c in frame.columns if c != "date"]
    if not names or any(not n for n in names):
        raise CsvLayoutError(f"{path}: needs a date column and one named column per forcing; "
                             f"the header is {list(frame.columns)}")
    problems: list[str] = []
    dates = _dates(frame, path, problems)
    table = pd.DataFrame({n: _numbers(frame, n, path, problems) for n in names})
    twice = dates.duplicated(keep=False) & dates.notna()
    if twice.any():
        problems.append(f"{path.name}: column date: {_lines(frame['date'], twice)} repeat a date; "
                        "keep one row per date")
    daily = is_daily(dates)
    if not problems and not daily:
        problems.extend(monthly_problems(dates, path.name))
    if not problems:
        for name in names:
            problems.extend(plausibility_problems(table[name], dates, forcing_kind(name),
                                                  f"{path.name}: column {name}", daily))
    if problems:
        raise CsvLayoutError("\n".join(problems))
    table.index = pd.DatetimeIndex(dates, name="date")
    return table.sort_index()


def read_csv_basin(folder: str | Path) -> CsvBasin:
    """Read and check the three files of the CSV layout in ``folder``.

    Raises
    ------
    CsvLayoutError
        One message with the problems of every file.
    """
    folder = Path(folder)
    problems, wells, has_area, levels, forcings = [], None, False, None, None
    try:
        wells, has_area = read_wells(folder / "wells.csv")
    except CsvLayoutError as err:
        problems.append(str(err))
    if wells is not None:
        try:
            levels = read_levels(folder / "levels.csv", wells.index)
        except CsvLayoutError as err:
            problems.append(str(err))
    try:
        forcings = read_forcings(folder / "forcings.csv")
    except CsvLayoutError as err:
        problems.append(str(err))
    if problems:
        raise CsvLayoutError(f"{folder}: the files do not follow the CSV layout:\n" + "\n".join(problems))
    return CsvBasin(wells, levels, forcings, has_area)


def listed_problems(data: CsvBasin, wells: list[int]) -> list[str]:
    """What is wrong with ``basin.wells`` for these files: ids not in wells.csv, wells without any level."""
    unknown = [w for w in wells if w not in data.wells.index]
    with_values = set(data.levels.loc[data.levels["level"].notna(), "id"])
    empty = [w for w in wells if w in data.wells.index and w not in with_values]
    out = []
    if unknown:
        out.append(f"basin.wells: well id(s) {', '.join(map(str, unknown))} are not in wells.csv; "
                   "remove them from basin.wells in params.yaml or add them to wells.csv and levels.csv")
    if empty:
        out.append(f"basin.wells: well id(s) {', '.join(map(str, empty))} have no value in levels.csv; "
                   "remove them from basin.wells in params.yaml or add their levels")
    return out


# --------------------------------------------------------------------------- fetch


def source_folder(setting) -> Path:
    """The folder of CSV files named by ``data.source`` (relative paths: from the current directory).

    Raises :class:`CsvLayoutError` when ``setting`` names no folder.
    """
    if not isinstance(setting, str) or setting in ("", "auto", "download"):
        raise CsvLayoutError(f"params.yaml: data.source: {setting!r}; with data.format: csv it names the folder "
                         "holding wells.csv, levels.csv and forcings.csv")
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise CsvLayoutError(f"params.yaml: data.source: CSV folder {setting!r} not found (from {Path.cwd()}); "
                         "give the folder holding wells.csv, levels.csv and forcings.csv, absolute or "
                         "relative to the project root")
    return folder


def _span(dates: pd.Series, values: pd.Series) -> dict:
    have = dates[np.asarray(values.notna())]
    return {"values": int(values.notna().sum()),
            "first": have.min().strftime("%Y-%m-%d") if len(have) else None,
            "last": have.max().strftime("%Y-%m-%d") if len(have) else None}


def fetch_into(build: Path, folder: Path, basin: dict) -> dict:
    """Check the CSV files of ``folder`` and copy them into ``build/csv``; return the fetch summary.

    Called by :func:`gwtl.sources.fetch.fetch`, which builds in a temporary folder and
    swaps it in, so a failed fetch leaves ``data/raw`` as it was.

    Returns
    -------
    dict
        Like the eHYD summary: ``source`` ("csv"), ``location``, ``area``,
        ``area_name`` (``basin.name``), ``catalogs`` (empty), ``counts``,
        ``files`` (per well: kind "well", hzb, name, listed, file, origin,
        values, first, last, resolution; per forcing column: kind "forcing",
        hzb None, name, listed None, ..., how) and ``missing`` (wells of
        ``wells.csv`` without any level).

    Raises
    ------
    CsvLayoutError
        Files that do not follow the layout, listed wells missing from them
        (:func:`gwtl.sources.fetch.fetch` turns it into a ``FetchError``).
    """
    data = read_csv_basin(folder)
    problems = listed_problems(data, basin["wells"])
    if problems:
        raise CsvLayoutError(f"data.source {folder}:\n" + "\n".join(problems))
    (build / FOLDER).mkdir()
    for name in FILES:
        shutil.copyfile(folder / name, build / FOLDER / name)

    listed, files, missing = set(basin["wells"]), [], []
    origin = {name: str(folder / name) for name in FILES}
    groups = dict(tuple(data.levels.groupby("id")))
    for well, row in data.wells.iterrows():
        entry = {"kind": "well", "hzb": int(well), "name": row["name"], "listed": well in listed}
        rows = groups.get(well)
        if rows is None or rows["level"].notna().sum() == 0:
            missing.append({**entry, "reason": "no value in levels.csv"})
            continue
        files.append({**entry, "file": f"{FOLDER}/levels.csv", "origin": origin["levels.csv"],
                      **_span(rows["date"], rows["level"]),
                      "resolution": "daily" if is_daily(rows["date"]) else "monthly"})
    resolution = "daily" if is_daily(data.forcings.index) else "monthly"
    dates = data.forcings.index.to_series()
    for name in data.forcings.columns:
        files.append({"kind": "forcing", "hzb": None, "name": name, "listed": None,
                      "file": f"{FOLDER}/forcings.csv", "origin": origin["forcings.csv"],
                      **_span(dates, data.forcings[name]), "resolution": resolution,
                      "how": aggregation(name) if resolution == "daily" else "as given"})
    return {
        "source": "csv",
        "location": str(folder),
        "area": basin["area"],
        "area_name": basin["name"],
        "catalogs": {},
        "counts": {"wells": sum(f["kind"] == "well" for f in files), "listed": len(listed),
                   "forcings": data.forcings.shape[1], "missing": len(missing)},
        "files": files,
        "missing": missing,
    }


def summary_table(summary: dict) -> pd.DataFrame:
    """Counts of what a CSV fetch copied: one row for wells, one for forcing columns.

    Columns as :func:`gwtl.sources.fetch.summary_table`: ``kind``, ``product`` (the
    file), ``source``, ``listed``, ``unlisted``, ``missing``, ``location``.
    """
    files = pd.DataFrame(summary["files"], columns=["kind", "listed"])
    wells = files[files["kind"] == "well"]["listed"].astype(bool)
    return pd.DataFrame([
        {"kind": "well", "product": "levels.csv", "source": "csv", "listed": int(wells.sum()),
         "unlisted": int((~wells).sum()), "missing": len(summary["missing"]), "location": summary["location"]},
        {"kind": "forcing", "product": "forcings.csv", "source": "csv",
         "listed": int((files["kind"] == "forcing").sum()), "unlisted": 0, "missing": 0,
         "location": summary["location"]},
    ])


# --------------------------------------------------------------------------- prepare


def _station(data: CsvBasin, well: int, months: pd.DatetimeIndex, params: dict) -> tuple[Station, str]:
    """One well on the monthly index, and its resolution (``"daily"`` or ``"monthly"``)."""
    row = data.wells.loc[well]
    values = data.well_values(well)
    monthly, resolution = to_months(values, months, "mean", params["prepare"]["max_missing_days"])
    meta = {"hzb": int(well), "name": row["name"], "area": data.area_of(well, params["basin"]["area"]),
            "lon": float(row["lon"]), "lat": float(row["lat"]),
            "elevation": None if pd.isna(row["elevation"]) else float(row["elevation"]),
            "values": values}
    return Station("well", int(well), meta, monthly.rename(str(well)), coverage(monthly)), resolution


def read_inputs(params: dict, raw: Path, months: pd.DatetimeIndex) -> Inputs:
    """The inputs of :func:`gwtl.data.prepare.prepare` from ``raw/csv`` (the CSV layout).

    Also reads ``forecast.forcings``: columns of ``forcings.csv`` that must exist
    and pass the coverage check (:func:`gwtl.data.monthly.check_listed`; every column
    is prepared). ``meta.json`` gets empty ``rain_stations`` and ``gauges``,
    ``forcings`` (one entry per column, with ``named``) and ``daily_levels``
    (ids of wells given as daily levels).

    Raises
    ------
    PrepareError
        No ``raw/csv``, files that do not follow the layout, listed wells or
        named forcings missing from them, listed series without data or with
        too little coverage.
    """
    basin, prep = params["basin"], params["prepare"]
    named = list(params["forecast"]["forcings"])
    folder = raw / FOLDER
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
        station, resolution = _station(data, well, months, params)
        wells.append(station)
        if resolution == "daily":
            daily.append(well)
    listed_set = set(basin["wells"])
    others = [_station(data, int(w), months, params)[0] for w in data.wells.index
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
    check_listed(params, {"well": wells, "forcing": [s for s in columns if s.hzb in named]},
                 lambda s: values_span(s.meta["values"], "the CSV files hold no value for it"))
    return Inputs(
        format="csv",
        listed={"well": wells, "forcing": columns},
        others=others,
        forcings=forcings,
        rain_stations=[],
        gauges=[],
        forcing_entries=[{**forcing_meta(s.hzb, s.monthly, s.meta["how"], s.meta["resolution"], s.meta["name"]),
                          "named": s.hzb in named} for s in columns],
        extra={"daily_levels": daily},
    )
