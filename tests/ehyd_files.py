"""Write synthetic eHYD export files for tests, in the layout of the eHYD mirror.

The files look like real exports: ISO-8859-1, a ``key: ;value`` header ending
with ``Werte:``, then ``DD.MM.YYYY HH:MM:SS ; value ;`` rows with a decimal
comma. A run of missing values (NaN) is written as ONE ``Lücke`` line at its
first timestamp, which holds until the next timestamp, as eHYD does.

Usage::

    from ehyd_files import write_well, write_rain, write_gauge
    write_well(raw, 300001, monthly_series, area=390)
    write_rain(raw, 100001, daily_series)    # value of day D stamped D 07:00
    write_gauge(raw, 200001, daily_series)   # value of day D stamped D 00:00
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ENCODING = "iso-8859-1"
PATHS = {
    "gw": "gw/Grundwasserstand-Monatsmittel-{}.csv",
    "nlv": "nlv/N-Tagessummen-{}.csv",
    "owf": "owf/Q-Tagesmittel-{}.csv",
}


def _dms(degrees: float) -> str:
    d = int(degrees)
    m = int((degrees - d) * 60)
    s = round((degrees - d - m / 60) * 3600)
    return f"{d} {m} {s}"


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def write_ehyd(
    path: str | Path,
    values: pd.Series,
    *,
    hzb: int,
    kind: str,
    name: str = "Synthetisch",
    area: int | None = None,
    lon: float | None = 15.5,
    lat: float | None = 46.8,
    elevation: float | None = 300.0,
    decimals: int = 2,
    end_gap: pd.Timestamp | None = None,
) -> Path:
    """Write ``values`` (indexed by timestamp, NaN = gap) as an eHYD file of ``kind``.

    ``kind`` is ``"gw"``, ``"nlv"`` or ``"owf"`` and decides the header style
    (groundwater area and ground elevation, precipitation station elevation
    table, or a gauge header without coordinates). ``end_gap`` adds a final
    ``Lücke`` line at that timestamp, like the ``01.01.2022`` line of real exports.
    """
    unit = {"gw": "m ü.A.", "nlv": "mm", "owf": "m³/s"}[kind]
    header = [f"Messstelle:                ;{name}", f"HZB-Nummer:                ;{hzb}"]
    if kind == "gw" and area is not None:
        header.append(f"PorenGW-Gebiet:            ;{area} Synthetisches Feld")
    if kind == "gw" and elevation is not None:
        header += ["Höhenangaben [m ü.A.]:     ;gültig seit: ;01.01.1963",
                   f" Geländehöhe:              ;{_number(elevation, 2)}"]
    if kind == "nlv" and elevation is not None:
        header += ["Höhe:", " gültig seit:              ;Höhe [m ü.A.]:",
                   f"  01.01.1901               ;{elevation:g}"]
    if kind != "owf" and lon is not None and lat is not None:
        header += ["Geographische Koordinaten (Referenzellipsoid: Bessel 1841):",
                   " gültig seit:              ;Länge (Grad,Min,Sek):    ;Breite  (Grad,Min,Sek):",
                   f"  01.01.1963               ;{_dms(lon)}                 ;{_dms(lat)}"]
    header += [f"Einheit:                   ;{unit}", "Werte:"]
    rows = []
    previous_gap = False
    for stamp, value in values.items():
        gap = bool(np.isnan(value))
        if gap and previous_gap:
            continue  # a Lücke holds until the next timestamp
        cell = "Lücke" if gap else _number(float(value), decimals)
        rows.append(f"{stamp:%d.%m.%Y %H:%M:%S}   ;   {cell} ;")
        previous_gap = gap
    if end_gap is not None:
        rows.append(f"{pd.Timestamp(end_gap):%d.%m.%Y %H:%M:%S}   ;   Lücke ;")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(header + rows) + "\n").encode(ENCODING))
    return path


def write_well(raw: str | Path, hzb: int, monthly: pd.Series, area: int = 390, **kw) -> Path:
    """Monthly levels (index: any date in the month) as ``gw/Grundwasserstand-Monatsmittel-<hzb>.csv``."""
    stamps = pd.DatetimeIndex(monthly.index).to_period("M").to_timestamp()
    series = pd.Series(monthly.to_numpy(dtype=float), index=stamps)
    return write_ehyd(Path(raw) / PATHS["gw"].format(hzb), series, hzb=hzb, kind="gw", area=area, **kw)


def write_rain(raw: str | Path, hzb: int, daily: pd.Series, **kw) -> Path:
    """Daily rain of day D (07:00 D to 07:00 D+1), stamped ``D 07:00`` as eHYD does."""
    stamps = pd.DatetimeIndex(daily.index).normalize() + pd.Timedelta(hours=7)
    series = pd.Series(daily.to_numpy(dtype=float), index=stamps)
    kw.setdefault("decimals", 1)
    return write_ehyd(Path(raw) / PATHS["nlv"].format(hzb), series, hzb=hzb, kind="nlv", **kw)


def write_gauge(raw: str | Path, hzb: int, daily: pd.Series, **kw) -> Path:
    """Daily mean discharge of day D, stamped ``D 00:00``."""
    stamps = pd.DatetimeIndex(daily.index).normalize()
    series = pd.Series(daily.to_numpy(dtype=float), index=stamps)
    kw.setdefault("decimals", 3)
    return write_ehyd(Path(raw) / PATHS["owf"].format(hzb), series, hzb=hzb, kind="owf", **kw)
