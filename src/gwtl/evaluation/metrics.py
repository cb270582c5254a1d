"""Skill scores of a forecast against observations.

Every function takes ``obs`` and ``fc`` of equal length and ignores the pairs
where either is NaN. With fewer than two valid pairs, or when a score divides
by zero (a constant observed or forecast series), the score is NaN.

``nse``
    Nash-Sutcliffe efficiency, ``1 - SSE / sum((obs - mean(obs))**2)``.
``kge``
    Kling-Gupta efficiency in the KGE'' form of Tang et al. (2021, J.
    Climate 34, 6177-6195),
    ``1 - sqrt((r - 1)**2 + (alpha - 1)**2 + beta**2)`` with ``r`` the
    Pearson correlation, ``alpha = std(fc) / std(obs)`` and the bias term
    ``beta = (mean(fc) - mean(obs)) / std(obs)``. The bias is measured in
    units of the observed variability, so the score neither vanishes on
    absolute levels (the 2009 form's ``mean(fc) / mean(obs)`` is about 1 for
    any forecast of a level of 274 m a.s.l.) nor explodes when the scored
    period's mean is near a reference level (the 2009 form on departures from
    the training mean gave wells with a 1.6 cm bias a KGE of -7.5).
``rmse``, ``mae``
    Root mean squared and mean absolute error.
``r2``
    The squared Pearson correlation (not the NSE).
``bias``
    ``mean(fc) - mean(obs)``.
``skill``
    ``1 - MSE / MSE_reference`` against a reference forecast, by default
    :data:`SKILL_REFERENCE` (the damped-anomaly persistence).
``persistence_index``
    ``1 - SSE / SSE_persistence``, where the persistence forecast is the last
    observed level at the issue month; pairs where it is NaN are ignored too.
"""

from __future__ import annotations

import numpy as np

NAMES = ("nse", "kge", "rmse", "mae", "r2", "bias", "pi")
# The reference of the skill scores: the damped-anomaly persistence of gwtl.models.baselines, a forecast that reads no forcing.
SKILL_REFERENCE = "damped_persistence"


def _pairs(*arrays) -> tuple[np.ndarray, ...]:
    """The arrays as floats, restricted to positions where none is NaN."""
    arrays = [np.asarray(a, dtype=float).ravel() for a in arrays]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"arrays differ in length: {[len(a) for a in arrays]}")
    keep = np.all([~np.isnan(a) for a in arrays], axis=0)
    return tuple(a[keep] for a in arrays)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else float("nan")


def nse(obs, fc) -> float:
    """Nash-Sutcliffe efficiency."""
    o, f = _pairs(obs, fc)
    if len(o) < 2:
        return float("nan")
    return 1.0 - _ratio(np.sum((o - f) ** 2), np.sum((o - o.mean()) ** 2))


def _pearson(o: np.ndarray, f: np.ndarray) -> float:
    do, df = o - o.mean(), f - f.mean()
    return _ratio(np.sum(do * df), np.sqrt(np.sum(do**2) * np.sum(df**2)))


def kge(obs, fc) -> float:
    """Kling-Gupta efficiency KGE'' (Tang et al. 2021): bias in units of the observed standard deviation."""
    o, f = _pairs(obs, fc)
    if len(o) < 2:
        return float("nan")
    r = _pearson(o, f)
    alpha = _ratio(f.std(), o.std())
    beta = _ratio(f.mean() - o.mean(), o.std())
    return 1.0 - float(np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + beta**2))


def rmse(obs, fc) -> float:
    """Root mean squared error."""
    o, f = _pairs(obs, fc)
    return float(np.sqrt(np.mean((o - f) ** 2))) if len(o) else float("nan")


def mae(obs, fc) -> float:
    """Mean absolute error."""
    o, f = _pairs(obs, fc)
    return float(np.mean(np.abs(o - f))) if len(o) else float("nan")


def r2(obs, fc) -> float:
    """Squared Pearson correlation."""
    o, f = _pairs(obs, fc)
    return _pearson(o, f) ** 2 if len(o) >= 2 else float("nan")


def bias(obs, fc) -> float:
    """Mean forecast minus mean observation."""
    o, f = _pairs(obs, fc)
    return float(f.mean() - o.mean()) if len(o) else float("nan")


def persistence_index(obs, fc, persistence) -> float:
    """``1 - SSE(fc) / SSE(persistence)`` over triples without NaN."""
    o, f, p = _pairs(obs, fc, persistence)
    if len(o) < 1:
        return float("nan")
    return 1.0 - _ratio(np.sum((o - f) ** 2), np.sum((o - p) ** 2))


def skill(mse, mse_reference):
    """Skill against a reference forecast, ``1 - MSE / MSE_reference``; NaN where the reference's MSE is 0 or NaN.

    Works on numbers and arrays alike (the callers pass per-well MSEs).
    """
    mse, mse_reference = np.asarray(mse, dtype=float), np.asarray(mse_reference, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - mse / np.where(mse_reference > 0, mse_reference, np.nan)


def score(obs, fc, persistence) -> dict:
    """All scores of one forecast, plus ``n``, the number of valid pairs."""
    o, f = _pairs(obs, fc)
    return {
        "nse": nse(obs, fc),
        "kge": kge(obs, fc),
        "rmse": rmse(obs, fc),
        "mae": mae(obs, fc),
        "r2": r2(obs, fc),
        "bias": bias(obs, fc),
        "pi": persistence_index(obs, fc, persistence),
        "n": int(len(o)),
    }
