"""Plausibility of source values: what no well, rain gauge or river can report.

A value that breaks one of these rules is never used: reading it (:mod:`gwtl.sources.fetch`
for eHYD files, :mod:`gwtl.sources.csv_source` for the CSV layout) fails with a message
that names the file, the dates and the values, and says what to do. The rules
are wide: on the 216 groundwater, 23 precipitation and 23 discharge files of the
eHYD mirror the largest values reach about a third of each limit.

Every value
    finite: a gap is written as a gap (eHYD ``Lücke``, an empty CSV cell), never
    as ``inf`` or ``nan``.
Precipitation
    not negative; at most :data:`MAX_RAIN_DAY` mm in a day (daily series) or
    :data:`MAX_RAIN_MONTH` mm in a month (monthly series). Austria's daily record
    is about 300 mm.
Discharge
    not negative; at most :data:`MAX_DISCHARGE_RATIO` times the series' median.
Groundwater level
    within :data:`MAX_LEVEL_SPREAD` times the series' interquartile range (at
    least :data:`MIN_IQR_M` m) of its median, which catches a sentinel such as
    -9999 or a value in the wrong unit; and no change of more than
    :data:`MAX_LEVEL_JUMP_M` m between values at most 62 days apart, a jump no
    aquifer makes in a month (the largest on the mirror is 2.4 m).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_RAIN_DAY = 500.0
MAX_RAIN_MONTH = 3000.0
MAX_DISCHARGE_RATIO = 1000.0
MAX_LEVEL_SPREAD = 20.0
MIN_IQR_M = 0.25
MAX_LEVEL_JUMP_M = 10.0
KINDS = ("level", "precipitation", "discharge", "other")
SHOWN = 5  # offending values named in a message


def _listing(values: pd.Series) -> str:
    shown = ", ".join(f"{pd.Timestamp(t):%Y-%m-%d}: {v:g}" for t, v in values.iloc[:SHOWN].items())
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def problems(values: pd.Series, kind: str, daily: bool = True) -> list[str]:
    """What breaks the rules of ``kind`` in ``values`` (indexed by date, NaN for gaps); empty when all is plausible.

    Parameters
    ----------
    values : Series
        Raw values of one station on a DatetimeIndex.
    kind : {"level", "precipitation", "discharge", "other"}
        ``other`` checks finiteness only.
    daily : bool
        Whether a precipitation series holds daily (True) or monthly sums.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of series {kind!r}; use one of {KINDS}")
    values = pd.Series(values, dtype=float)
    found = []
    infinite = values[np.isinf(values)]
    if len(infinite):
        found.append(f"values that are not finite ({_listing(infinite)})")
    values = values[np.isfinite(values)]
    if kind in ("precipitation", "discharge"):
        negative = values[values < 0]
        if len(negative):
            found.append(f"negative {kind} ({_listing(negative)})")
    if kind == "precipitation":
        limit, unit = (MAX_RAIN_DAY, "day") if daily else (MAX_RAIN_MONTH, "month")
        high = values[values > limit]
        if len(high):
            found.append(f"more than {limit:g} mm of precipitation in a {unit} ({_listing(high)})")
    if kind == "discharge" and len(values):
        median = float(values.median())
        high = values[values > MAX_DISCHARGE_RATIO * median] if median > 0 else values.iloc[:0]
        if len(high):
            found.append(f"discharge above {MAX_DISCHARGE_RATIO:g} times the series' median of {median:g} "
                         f"({_listing(high)})")
    if kind == "level" and len(values):
        median = float(values.median())
        iqr = max(float(values.quantile(0.75) - values.quantile(0.25)), MIN_IQR_M)
        far = values[(values - median).abs() > MAX_LEVEL_SPREAD * iqr]
        if len(far):
            found.append(f"levels more than {MAX_LEVEL_SPREAD:g} interquartile ranges ({iqr:.2f} m) from the "
                         f"series' median of {median:.2f} ({_listing(far)})")
        observed = values.sort_index()
        days = observed.index.to_series().diff().dt.days.to_numpy()
        step = observed.diff().abs().to_numpy()
        jumps = observed[(days <= 62) & (step > MAX_LEVEL_JUMP_M)]
        if len(jumps) and not len(far):  # a far value makes jumps of its own; name it once
            found.append(f"changes of level of more than {MAX_LEVEL_JUMP_M:g} m within two months, at "
                         f"({_listing(jumps)})")
    return found
