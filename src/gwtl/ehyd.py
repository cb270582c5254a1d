"""Reader for eHYD export files (groundwater, precipitation, discharge).

An eHYD file is ISO-8859-1 text: a header of ``key: ;value`` lines that ends
with a line ``Werte:``, then one value per line, ``DD.MM.YYYY HH:MM:SS ; value``,
with a decimal comma. A gap is written ``Lücke`` and holds until the next
timestamp. Monthly values are stamped on the first of the month; daily
precipitation sums are stamped 07:00 of the day *after* the rain fell.

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

ENCODING = "iso-8859-1"
GAP = "Lücke"


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
        ``elevation`` (m a.s.l., or ``None``) and ``header`` (all raw key/values).
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


def _newest_row(lines: list[str], i: int) -> list[str] | None:
    """The newest dated row of the small ``gültig seit`` table after line ``i``."""
    rows = []
    for row in lines[i + 1 : i + 12]:
        cells = [c.strip() for c in row.split(";")]
        if re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", cells[0]) and len(cells) >= 2:
            rows.append(cells)
        elif rows:
            break
    if not rows:
        return None
    return max(rows, key=lambda c: pd.Timestamp(c[0][6:] + c[0][3:5] + c[0][:2]))


def _parse_header(lines: list[str], path: Path) -> dict:
    header: dict[str, str] = {}
    coords: tuple[float, float] | None = None
    elevation = None
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
