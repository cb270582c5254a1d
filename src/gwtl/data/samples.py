"""Forecast samples: windows of past months and the levels to forecast.

One sample is issued at month ``t`` (the last month whose level is known). Its
input is a sequence over months ``t-W+1 .. t+H`` (``W`` the window, ``H`` the
largest lead) with one row of features per month:

``level``
    the series standardized with its training mean and standard deviation,
    0 where it is not observed (missing, or after ``t``);
``observed``
    1 where ``level`` holds an observation, else 0;
forcings (e.g. ``precipitation``, ``discharge_211466``)
    standardized with training statistics. In ``observed-forcing`` mode they are
    known up to the target month; in ``operational`` mode they are 0 after ``t``;
``month_sin``, ``month_cos``
    the month of year.

The target for lead ``h`` is the level at ``t+h``: as the change from the level
at ``t`` (``target="change"``) or as the level itself (``target="level"``), both
in units of the training standard deviation.

Which samples exist
    A sample is issued at every month ``t`` whose level is *observed* (not a
    month that ``prepare`` filled by interpolation: such a level was made from
    the next observation, which may lie after ``t``) and whose inputs up to
    ``t+h`` are complete for at least the shortest lead ``h``. Lead ``h`` of a
    sample is *valid* (:attr:`Samples.valid`) when the inputs up to ``t+h``
    are complete; the LSTM reads lead ``h`` at ``t+h`` and the baselines read
    nothing after ``t+h``, so inputs after ``t+h`` (missing forcings, months
    after the end of the data) cannot change it and enter as 0. So every month
    with an observation is a target at every lead whose inputs exist, up to
    the last month of the data, in both forecast modes.
Targets
    NaN where the level is missing, where ``prepare`` filled it (interpolated
    months are never training targets nor scored), and where the lead is not
    valid; NaN targets are masked out of losses and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gwtl.data.processed import Processed

MODES = ("observed-forcing", "operational")
TARGETS = ("change", "level")


def period(bounds: list[str] | tuple[str, str]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``["1990-01", "2010-12"]`` as first-of-month timestamps, both inclusive."""
    return pd.Timestamp(bounds[0]), pd.Timestamp(bounds[1])


@dataclass(frozen=True)
class Scaler:
    """Mean and standard deviation of a series over the training period."""

    mean: float
    std: float

    @classmethod
    def fit(cls, series: pd.Series, train: tuple[pd.Timestamp, pd.Timestamp]) -> "Scaler":
        values = series.loc[train[0] : train[1]].dropna()
        if len(values) < 2:
            raise ValueError(f"series {series.name!r} has fewer than 2 values in the training period")
        std = float(values.std())
        return cls(float(values.mean()), std if std > 0 else 1.0)

    def transform(self, values):
        return (values - self.mean) / self.std


@dataclass
class Samples:
    """Forecast samples of one series (a well or the basin signal).

    Attributes
    ----------
    x : ndarray, shape (n, window + max(leads), n_features), float32
    y : ndarray, shape (n, n_leads), float32
        Scaled targets, NaN where the level is missing.
    issue : DatetimeIndex, length n
        The issue month ``t`` of each sample.
    base : ndarray, shape (n,)
        Level at ``t`` in original units (the persistence forecast).
    valid : ndarray, shape (n, n_leads), bool
        Lead ``h`` has complete inputs up to its target month ``t+h``; a
        forecast exists only where this holds.
    leads, features, window, target, scaler
        How the samples were made; a pool of several series
        (:func:`pool_samples`) has no scaler.
    """

    x: np.ndarray
    y: np.ndarray
    issue: pd.DatetimeIndex
    base: np.ndarray
    valid: np.ndarray
    leads: list[int]
    features: list[str]
    window: int
    target: str
    scaler: Scaler | None

    def __len__(self) -> int:
        return len(self.issue)

    def target_months(self) -> np.ndarray:
        """Target month of every sample and lead, shape (n, n_leads), datetime64."""
        return np.stack([(self.issue + pd.DateOffset(months=h)).values for h in self.leads], axis=1)

    def in_period(self, bounds) -> np.ndarray:
        """Mask (n, n_leads): the target month lies in ``bounds`` (inclusive)."""
        lo, hi = period(bounds)
        months = self.target_months()
        return (months >= lo.to_datetime64()) & (months <= hi.to_datetime64())

    def within(self, bounds) -> np.ndarray:
        """Rows (n,) whose whole sequence and all targets lie in ``bounds``.

        Used for training rows, so that no input or target from a later period
        reaches training.
        """
        lo, hi = period(bounds)
        first = self.issue - pd.DateOffset(months=self.window - 1)
        last = self.issue + pd.DateOffset(months=max(self.leads))
        return np.asarray((first >= lo) & (last <= hi))

    def to_level(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled forecasts (n, n_leads) back to levels in original units."""
        scaled = np.asarray(scaled, dtype=float)
        if self.target == "change":
            return self.base[:, None] + scaled * self.scaler.std
        return self.scaler.mean + scaled * self.scaler.std

    def observed_level(self) -> np.ndarray:
        """Observed levels at the target months (n, n_leads), NaN where missing."""
        return self.to_level(self.y)


def make_samples(
    level: pd.Series,
    forcings: pd.DataFrame,
    *,
    window: int,
    leads: list[int],
    mode: str,
    target: str,
    train: list[str] | tuple[str, str],
    filled: pd.Series | np.ndarray | None = None,
) -> Samples:
    """Build all forecast samples of one monthly series.

    Parameters
    ----------
    level : Series
        Monthly levels on a first-of-month index (NaN where missing).
    forcings : DataFrame
        Monthly forcings on the same index, one column per forcing.
    window : int
        Months of past inputs, including the issue month.
    leads : list of int
        Lead times in months (each >= 1).
    mode : {"observed-forcing", "operational"}
    target : {"change", "level"}
    train : pair of "YYYY-MM"
        Training period; scalers are fit on it only.
    filled : bool Series or array, optional
        True at months whose level ``prepare`` filled by interpolation
        (:meth:`gwtl.data.processed.Processed.filled`): no sample is issued from
        them and they are never targets. They stay in the input windows, where
        they lie before the issue month and were interpolated from levels up
        to it.
    """
    if mode not in MODES:
        raise ValueError(f"forecast mode {mode!r} is unknown; use one of {MODES}")
    if target not in TARGETS:
        raise ValueError(f"forecast target {target!r} is unknown; use one of {TARGETS}")
    if window < 1 or not leads or min(leads) < 1:
        raise ValueError(f"window ({window}) and every lead ({leads}) must be at least 1")
    if not level.index.equals(forcings.index):
        raise ValueError("level and forcings must share one monthly index")
    filled = np.zeros(len(level), dtype=bool) if filled is None else np.asarray(filled, dtype=bool)
    if filled.shape != (len(level),):
        raise ValueError(f"filled has shape {filled.shape}, the level series {len(level)} months")
    train_bounds = period(train)
    horizon = max(leads)
    scaler = Scaler.fit(level, train_bounds)
    # Rows after the last month: unknown levels and forcings, known season; they
    # let the last months of the data be targets of every lead whose inputs exist.
    months = pd.date_range(level.index[0], periods=len(level) + horizon, freq="MS")
    pad = np.full(horizon, np.nan)
    lev = np.r_[scaler.transform(level.to_numpy(dtype=float)), pad]
    obs = ~np.isnan(lev)
    forcing_cols = []
    for name in forcings.columns:
        f = Scaler.fit(forcings[name], train_bounds).transform(forcings[name].to_numpy(dtype=float))
        forcing_cols.append(np.r_[f, pad])
    month = months.month.to_numpy()
    season = [np.sin(2 * np.pi * month / 12), np.cos(2 * np.pi * month / 12)]
    features = ["level", "observed", *forcings.columns, "month_sin", "month_cos"]
    table = np.column_stack([np.where(obs, lev, 0.0), obs, *forcing_cols, *season])

    n_months, seq = len(level), window + horizon
    issues = np.arange(window - 1, n_months - min(leads))
    if len(issues) == 0:
        raise ValueError(f"the series is shorter than window + lead ({window + min(leads)} months)")
    rows = issues[:, None] + np.arange(-window + 1, horizon + 1)[None, :]  # (n, seq)
    x = table[rows].copy()
    future = np.arange(seq) >= window
    x[:, future, 0] = 0.0  # levels after the issue month are unknown
    x[:, future, 1] = 0.0
    if mode == "operational":
        x[:, future, 2 : 2 + len(forcing_cols)] = 0.0
    complete = ~np.isnan(x).any(axis=2).cumsum(axis=1).astype(bool)  # (n, seq): inputs complete up to step
    valid = complete[:, [window - 1 + h for h in leads]]
    keep = obs[issues] & ~filled[issues] & valid[:, 0]
    issues, x, valid = issues[keep], np.nan_to_num(x[keep]), valid[keep]
    target_rows = issues[:, None] + np.asarray(leads)[None, :]
    target_filled = np.r_[filled, np.zeros(horizon, dtype=bool)][target_rows]
    targets = np.where(target_filled | ~valid, np.nan, lev[target_rows])
    base_scaled = lev[issues]
    y = targets - base_scaled[:, None] if target == "change" else targets
    base = level.to_numpy(dtype=float)[issues]
    return Samples(
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        issue=level.index[issues],
        base=base,
        valid=valid,
        leads=list(leads),
        features=features,
        window=window,
        target=target,
        scaler=scaler,
    )


def well_samples(params: dict, data: Processed, well: str, window: int) -> Samples:
    """:func:`make_samples` of ``well`` (or ``"basin"``) of the prepared ``data``, forecast settings of ``params``.

    The samples every model of a well learns from (LSTMs and baselines):
    ``forecast.forcings`` (a ValueError when the data lack one), leads, mode
    and target, scalers of ``split.train``, and the months ``prepare`` filled
    (:meth:`gwtl.data.processed.Processed.filled`) never issue months nor targets.
    """
    fc = params["forecast"]
    return make_samples(data.series(well), data.require_forcings(fc["forcings"]), window=window, leads=fc["leads"],
                        mode=fc["mode"], target=fc["target"], train=params["split"]["train"],
                        filled=data.filled(well))


def pool_samples(parts: list[Samples]) -> Samples:
    """The samples of several series as one set, rows in the order given (joint pre-training).

    Every part keeps the scaling of its own series (training mean and
    standard deviation of that well), so the pool has no single scaler
    (``scaler`` is None) and is for training: :func:`gwtl.models.train.split_rows`
    takes each part's training and validation rows exactly as it would from
    the part alone.

    Raises
    ------
    ValueError
        When there is no part, or the parts differ in window, leads, features
        or target.
    """
    if not parts:
        raise ValueError("no series to pool")
    first = parts[0]
    for part in parts[1:]:
        if (part.window, part.leads, part.features, part.target) != (first.window, first.leads, first.features,
                                                                      first.target):
            raise ValueError("cannot pool samples made with different windows, leads, features or targets")
    return Samples(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        issue=pd.DatetimeIndex(np.concatenate([p.issue.values for p in parts])),
        base=np.concatenate([p.base for p in parts]),
        valid=np.concatenate([p.valid for p in parts]),
        leads=list(first.leads),
        features=list(first.features),
        window=first.window,
        target=first.target,
        scaler=None,
    )
