"""Inputs for forecasts beyond what is known: issue months to the end of the data, and ESP traces.

A forecast issued at month ``t`` knows the levels and forcings up to ``t``.
The models of the ``observed-forcing`` mode also read the forcings of the
months ``t+1 .. t+H``, which are not known at issue time. Ensemble streamflow
prediction (ESP), the hydrologists' standard, fills them with the weather of
past years: member ``y`` takes the forcings of the ``H`` months that start in
the calendar month of ``t+1`` in year ``y`` (a *trace*, e.g. January to March
of 1997 for a forecast issued in December 2021). The years are those of the
training period whose whole trace lies in it with every forcing observed, so
no forcing of the validation or test period reaches a forecast, and the scalers
stay those of the training period. In ``operational`` mode nothing after ``t``
is read and a forecast has one member.

Conditioned traces (``outlook.esp_conditioning: anomaly``). A random past
year ignores what is known at the issue month: a wet month on the Mur is
likely followed by another. Each forcing's *anomaly* is its standardized value
minus the training mean of its calendar month, and ``phi`` the least-squares
lag-1 coefficient of the anomaly on the month before over the training period
(:func:`anomaly_persistence`; on the Leibnitzer Feld about 0.52 for the Mur
discharge and 0.10 for rain). A forcing whose ``phi`` is at least
``outlook.esp_min_autocorrelation`` is conditioned: the trace of year ``y``
at ``k`` months after the issue month ``t`` becomes

    trace_y(k) + phi ** k * (a(t) - a_y(t))

with ``a(t)`` the anomaly observed at the issue month and ``a_y(t)`` the
trace year's anomaly at the same calendar month (the month before its trace;
0 when that month lies before the training period or is missing, as is
``a(t)`` when the issue month's forcing is missing). So every member starts
from today's anomaly and decays to its own year's weather as the anomaly
persists on average. Only the issue month and training months are read; the
other forcings keep their random-year traces.

:func:`forecast_samples` issues samples from every observed month, the last
month of the data included (:func:`gwtl.data.samples.make_samples` stops one lead
before the end); :func:`esp_inputs` repeats each sample once per trace year
with that year's forcings after the issue month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gwtl.data.samples import Samples, Scaler, make_samples, period


def forecast_samples(level: pd.Series, forcings: pd.DataFrame, *, window: int, leads: list[int], target: str,
                     train, filled: pd.Series | np.ndarray | None = None) -> Samples:
    """Samples issued at every observed month up to the last month of ``level``, no input after the issue month.

    The samples are those of :func:`gwtl.data.samples.make_samples` in
    ``operational`` mode (the forcings after the issue month are 0) on the
    series extended by ``max(leads)`` unknown months, so that the last months
    of the data are issue months too; their targets after the data are NaN.
    ``observed-forcing`` models read them through :func:`esp_inputs`.
    """
    horizon = max(leads)
    months = pd.date_range(level.index[0], periods=len(level) + horizon, freq="MS")
    filled = (np.zeros(len(level), dtype=bool) if filled is None else np.asarray(filled, dtype=bool))
    return make_samples(level.reindex(months), forcings.reindex(months), window=window, leads=leads,
                        mode="operational", target=target, train=train, filled=np.r_[filled, np.zeros(horizon, bool)])


def scaled_forcings(forcings: pd.DataFrame, train) -> pd.DataFrame:
    """Every forcing standardized with its training-period mean and SD, as the model inputs are."""
    bounds = period(train)
    return pd.DataFrame({name: Scaler.fit(forcings[name], bounds).transform(forcings[name].astype(float))
                         for name in forcings.columns}, index=forcings.index)


CONDITIONING = ("none", "anomaly")  # outlook.esp_conditioning


def anomalies(scaled: pd.DataFrame, train) -> pd.DataFrame:
    """Each column minus its training-period mean of the same calendar month (NaN stays NaN)."""
    lo, hi = period(train)
    part = scaled.loc[lo:hi]
    means = part.groupby(part.index.month).mean()
    return scaled - means.reindex(scaled.index.month).set_axis(scaled.index)


def anomaly_persistence(forcings: pd.DataFrame, train) -> pd.Series:
    """Per forcing, ``phi``: least squares (no intercept) of the anomaly on the anomaly a month before, training only."""
    lo, hi = period(train)
    a = anomalies(scaled_forcings(forcings, train), train).loc[lo:hi]
    now, before = a.iloc[1:].to_numpy(), a.shift(1).iloc[1:].to_numpy()
    both = ~np.isnan(now) & ~np.isnan(before)
    num = np.where(both, now * before, 0).sum(axis=0)
    den = np.where(both, before ** 2, 0).sum(axis=0)
    return pd.Series(np.where(den > 0, num / np.where(den > 0, den, 1), 0.0), index=forcings.columns, name="phi")


def trace_years(forcings: pd.DataFrame, first_month: int, horizon: int, train) -> list[int]:
    """Years whose trace (``horizon`` months from calendar month ``first_month``) lies in ``train``, fully observed."""
    lo, hi = period(train)
    years = []
    for year in range(lo.year, hi.year + 1):
        start = pd.Timestamp(year=year, month=first_month, day=1)
        months = pd.date_range(start, periods=horizon, freq="MS")
        if months[0] >= lo and months[-1] <= hi and not forcings.reindex(months).isna().any(axis=None):
            years.append(year)
    return years


@dataclass
class Ensemble:
    """The ESP inputs of a set of samples: one row per sample and trace year.

    Attributes
    ----------
    x : ndarray (m, seq, n_features), float32
    sample : ndarray (m,)
        Row of the sample each member belongs to.
    year : ndarray (m,)
        The member's trace year (-1 in operational mode: the sample itself).
    """

    x: np.ndarray
    sample: np.ndarray
    year: np.ndarray


def esp_inputs(samples: Samples, forcings: pd.DataFrame, train, mode: str, conditioning: str = "none",
               min_autocorrelation: float = 0.3) -> Ensemble:
    """Each sample once per trace year, with that year's forcings in the months after its issue month.

    ``forcings`` are the raw monthly forcings (all columns the samples read);
    they are standardized with training statistics (:func:`scaled_forcings`).
    ``samples`` come from :func:`forecast_samples` (no forcing after the issue
    month). In ``operational`` mode each sample is its own only member. With
    ``conditioning="anomaly"`` the forcings whose training anomaly has a lag-1
    coefficient of at least ``min_autocorrelation`` start from the issue
    month's anomaly (module docstring).
    """
    if conditioning not in CONDITIONING:
        raise ValueError(f"ESP conditioning {conditioning!r} is unknown; use one of {CONDITIONING}")
    if mode == "operational":
        n = len(samples)
        return Ensemble(samples.x, np.arange(n), np.full(n, -1))
    if mode != "observed-forcing":
        raise ValueError(f"forecast mode {mode!r} is unknown; use observed-forcing or operational")
    names = [f for f in samples.features if f in forcings.columns]
    columns = [samples.features.index(f) for f in names]
    scaled = scaled_forcings(forcings[names], train)
    w, horizon = samples.window, max(samples.leads)
    first = (samples.issue + pd.DateOffset(months=1)).month.to_numpy()
    phi = anomaly_persistence(forcings[names], train).to_numpy()
    phi = np.where((conditioning == "anomaly") & (phi >= min_autocorrelation), phi, 0.0)
    decay = phi[None, :] ** np.arange(1, horizon + 1)[:, None]  # (horizon, n_forcings); 0 where unconditioned
    lo, _ = period(train)
    anomaly = anomalies(scaled, train)
    now = np.nan_to_num(anomaly.reindex(samples.issue).to_numpy())  # (n, n_forcings): known at issue
    xs, rows, years = [], [], []
    for month in np.unique(first):
        chosen = np.flatnonzero(first == month)
        ys = trace_years(forcings[names], int(month), horizon, train)
        if not ys:
            raise ValueError(f"no year of the training period {train} has all forcings {names} observed over "
                             f"{horizon} months from calendar month {month}; ESP needs at least one such year")
        traces = np.stack([scaled.loc[pd.Timestamp(year=y, month=int(month), day=1):].iloc[:horizon].to_numpy()
                           for y in ys])  # (n_years, horizon, n_forcings)
        x = np.repeat(samples.x[chosen][:, None], len(ys), axis=1)  # (n, n_years, seq, features)
        before = [pd.Timestamp(year=y, month=int(month), day=1) - pd.DateOffset(months=1) for y in ys]
        then = np.nan_to_num(anomaly.reindex(before).to_numpy()) * (np.array(before) >= lo)[:, None]  # (n_years, F)
        shift = (now[chosen][:, None, None, :] - then[None, :, None, :]) * decay[None, None]  # (n, n_years, H, F)
        x[:, :, w:, columns] = (traces[None] + shift).astype(np.float32)
        xs.append(x.reshape(-1, *samples.x.shape[1:]))
        rows.append(np.repeat(chosen, len(ys)))
        years.append(np.tile(ys, len(chosen)))
    order = np.argsort(np.concatenate(rows), kind="stable")
    return Ensemble(np.concatenate(xs)[order], np.concatenate(rows)[order], np.concatenate(years)[order])
