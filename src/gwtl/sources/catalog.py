"""eHYD station catalogs (``messstellen_gw.csv``, ``messstellen_nlv.csv``, ``messstellen_owf.csv``).

A catalog lists every eHYD station of one kind in Austria: ``;``-separated,
decimal comma, ISO-8859-1. Its planar coordinates are MGI / Austria Lambert
(EPSG:31287, metres): converted to geographic Bessel degrees they match the
degrees-minutes-seconds in the stations' data-file headers to within the
headers' rounding to whole seconds (at most 0.55", i.e. 18 m, over the 216
wells and 23 rain stations of the offline mirror).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ENCODING = "iso-8859-1"
PLANAR_CRS = "EPSG:31287"  # MGI / Austria Lambert

# Raw column -> normalized column, per kind (see the mirror README).
COLUMNS = {
    "gw": {"hzbnr01": "hzb", "mstnam02": "name", "gwgeb03": "area", "code03": "area_name",
           "gokmua05": "elevation", "xrkko09": "x", "yhkko10": "y"},
    "nlv": {"hzbnr01": "hzb", "mstnam02": "name", "mpmua04": "elevation",
            "xrkko08": "x", "yhkko09": "y"},
    "owf": {"hzbnr01": "hzb", "mstnam02": "name", "gew03": "river", "mpua04": "elevation",
            "xrkko08": "x", "yhkko09": "y"},
}
KIND_NAMES = {"gw": "groundwater", "nlv": "precipitation", "owf": "surface-water"}


class CatalogError(ValueError):
    """A catalog file that cannot be read; the message names the file and the fix."""


@lru_cache(maxsize=1)
def _to_wgs84():
    from pyproj import Transformer

    return Transformer.from_crs(PLANAR_CRS, "EPSG:4326", always_xy=True)


def catalog_path(folder: str | Path, kind: str) -> Path:
    """Path of the catalog of ``kind`` inside an eHYD folder (mirror or data/raw)."""
    return Path(folder) / "catalog" / f"messstellen_{kind}.csv"


def _numbers(raw: pd.Series, path: Path, column: str, integer: bool = False) -> pd.Series:
    text = raw.str.strip().str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & (text != "")
    if integer:
        bad |= values.notna() & (values % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CatalogError(
            f"{path}: column {column!r}, data row {row + 1}: {raw.iloc[row]!r} is not a "
            f"{'whole ' if integer else ''}number; the catalog is corrupt: fetch it again."
        )
    return values


def read_catalog(path: str | Path, kind: str) -> pd.DataFrame:
    """Read one eHYD station catalog.

    Parameters
    ----------
    path : str or Path
        ``messstellen_{kind}.csv``.
    kind : {"gw", "nlv", "owf"}
        Groundwater, precipitation or surface-water catalog.

    Returns
    -------
    pandas.DataFrame
        One row per station, sorted by ``hzb``, with columns ``hzb`` (int),
        ``name``, then ``area`` (int) and ``area_name`` for ``gw`` or ``river``
        for ``owf``, then ``elevation`` (m a.s.l.), ``x``, ``y`` (EPSG:31287
        metres) and ``lon``, ``lat`` (WGS84 degrees).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CatalogError
        If the file is not an ISO-8859-1, ``;``-separated catalog of ``kind``
        with whole-number HZB numbers (each once) and numeric coordinates.
    """
    if kind not in COLUMNS:
        raise ValueError(f"unknown catalog kind {kind!r}; use one of {sorted(COLUMNS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {KIND_NAMES[kind]} catalog not found; run the fetch stage "
                                "(notebooks/fetch.ipynb) to obtain it.")
    raw = path.read_bytes()
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            pass  # ISO-8859-1 umlauts are never valid UTF-8: the expected case
        else:
            raise CatalogError(f"{path}: looks UTF-8 encoded, but eHYD catalogs are ISO-8859-1; "
                               "fetch the original file again (do not re-save it in an editor).")
    try:
        table = pd.read_csv(path, sep=";", encoding=ENCODING, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CatalogError(f"{path}: not a ';'-separated eHYD catalog ({err}); fetch it again.") from None
    wanted = COLUMNS[kind]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise CatalogError(f"{path}: columns {missing} missing (found {list(table.columns)[:6]}...); "
                           f"is this the eHYD {KIND_NAMES[kind]} catalog messstellen_{kind}.csv?")
    if table.empty:
        raise CatalogError(f"{path}: the catalog has no stations; fetch it again.")
    out = pd.DataFrame(index=table.index)
    for source, target in wanted.items():
        if target in ("hzb", "area"):
            out[target] = _numbers(table[source], path, source, integer=True)
            if out[target].isna().any():
                raise CatalogError(f"{path}: column {source!r} has an empty cell; fetch the catalog again.")
            out[target] = out[target].astype("int64")
        elif target in ("elevation", "x", "y"):
            out[target] = _numbers(table[source], path, source)
        else:
            out[target] = table[source].str.strip()
    repeated = out["hzb"][out["hzb"].duplicated()]
    if len(repeated):
        raise CatalogError(f"{path}: HZB number {int(repeated.iloc[0])} is listed twice; fetch the catalog again.")
    lon, lat = _to_wgs84().transform(out["x"].to_numpy(float), out["y"].to_numpy(float))
    out["lon"], out["lat"] = np.round(lon, 6), np.round(lat, 6)
    return out.sort_values("hzb", ignore_index=True)


def area_wells(catalog: pd.DataFrame, area: int) -> pd.DataFrame:
    """Wells of the groundwater catalog in porous-aquifer area ``area`` (may be empty)."""
    if "area" not in catalog.columns:
        raise ValueError("area_wells needs the groundwater catalog (kind 'gw'), which has an 'area' column")
    return catalog[catalog["area"] == int(area)].reset_index(drop=True)


def stations_near(catalog: pd.DataFrame, lon: float, lat: float, radius_km: float) -> pd.DataFrame:
    """Stations of ``catalog`` within ``radius_km`` of WGS84 ``lon``/``lat``.

    Returns the matching rows with a column ``distance_km`` (geodesic, WGS84
    ellipsoid), nearest first; stations without coordinates are left out.
    """
    from pyproj import Geod

    if radius_km < 0:
        raise ValueError(f"radius_km must be >= 0, got {radius_km}")
    found = catalog.dropna(subset=["lon", "lat"])
    n = len(found)
    _, _, metres = Geod(ellps="WGS84").inv(np.full(n, float(lon)), np.full(n, float(lat)),
                                           found["lon"].to_numpy(float), found["lat"].to_numpy(float))
    found = found.assign(distance_km=np.asarray(metres, dtype=float) / 1000.0)
    found = found[found["distance_km"] <= radius_km]
    return found.sort_values(["distance_km", "hzb"], ignore_index=True)
