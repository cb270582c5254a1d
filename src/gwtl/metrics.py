"""Skill scores of a forecast against observations.

Every function takes ``obs`` and ``fc`` of equal length and ignores the pairs
where either is NaN. With fewer than two valid pairs, or when a score divides
by zero (a constant observed or forecast series), the score is NaN.

``nse``
    Nash-Sutcliffe efficiency, ``1 - SSE / sum((obs - mean(obs))**2)``.
``kge``
    Kling-Gupta efficiency in its 2009 form,
    ``1 - sqrt((r - 1)**2 + (alpha - 1)**2 + (beta - 1)**2)`` with ``r`` the
    Pearson correlation, ``alpha = std(fc) / std(obs)`` and
    ``beta = mean(fc - reference) / mean(obs - reference)``. It is computed on
    departures from a ``reference`` level that the caller passes: the well's
    training-period mean level. On absolute levels (about 274 m a.s.l.)
    ``beta - 1`` is the bias divided by 274 m (1e-4 for a 3 cm bias), so the
    bias term vanishes for any forecast; ``r`` and ``alpha`` do not depend on
    the reference.
    ``beta`` becomes unstable when the mean departure of the scored period,
    ``mean(obs - reference)``, is near 0 (a scored period whose mean level is
    close to the training mean), so read KGE next to ``bias`` there. The
    default ``reference=0`` keeps the absolute-level KGE for callers without a
    reference.
``rmse``, ``mae``
    Root mean squared and mean absolute error.
``r2``
    The squared Pearson correlation (not the NSE).
``bias``
    ``mean(fc) - mean(obs)``.
``persistence_index``
    ``1 - SSE / SSE_persistence``, where the persistence forecast is the last
    observed level at the issue month; pairs where it is NaN are ignored too.
"""

from __future__ import annotations

import numpy as np

NAMES = ("nse", "kge", "rmse", "mae", "r2", "bias", "pi")


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


def kge(obs, fc, reference: float = 0.0) -> float:
    """Kling-Gupta efficiency (Gupta et al. 2009) of the departures from ``reference``.

    Parameters
    ----------
    obs, fc : array-like
        Observed and forecast levels.
    reference : float
        Level subtracted from both before scoring, normally the well's
        training-period mean level; only ``beta`` depends on it.
    """
    o, f = _pairs(obs, fc)
    if len(o) < 2:
        return float("nan")
    o, f = o - reference, f - reference
    r = _pearson(o, f)
    alpha = _ratio(f.std(), o.std())
    beta = _ratio(f.mean(), o.mean())
    return 1.0 - float(np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))


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


def score(obs, fc, persistence, reference: float = 0.0) -> dict:
    """All scores of one forecast, plus ``n``, the number of valid pairs.

    ``reference`` (the well's training-period mean level) is passed to
    :func:`kge`; the other scores do not depend on it.
    """
    o, f = _pairs(obs, fc)
    return {
        "nse": nse(obs, fc),
        "kge": kge(obs, fc, reference),
        "rmse": rmse(obs, fc),
        "mae": mae(obs, fc),
        "r2": r2(obs, fc),
        "bias": bias(obs, fc),
        "pi": persistence_index(obs, fc, persistence),
        "n": int(len(o)),
    }
