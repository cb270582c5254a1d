"""The basin signal: training statistics, anomalies, their mean over wells, leave-one-out correlation.

Each well is standardized with the mean and standard deviation (``ddof=1``) of
its levels in the training period only; the basin signal is the mean of these
anomalies over the wells with a value that month. Used by :mod:`gwtl.data.prepare`
for ``basin.csv`` and ``wells.csv`` and by :mod:`gwtl.transfer.model_library` for the
library's basins, so both build the signal the same way.
"""

from __future__ import annotations

import pandas as pd


def training_stats(levels: pd.DataFrame, train: list[str]) -> pd.DataFrame:
    """``train_mean`` and ``train_std`` (ddof=1) of every column over the training period."""
    window = levels.loc[pd.Timestamp(train[0]) : pd.Timestamp(train[1])]
    return pd.DataFrame({"train_mean": window.mean(), "train_std": window.std()})


def anomalies(levels: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Levels standardized with each well's training mean and standard deviation."""
    return (levels - stats["train_mean"]) / stats["train_std"]


def basin_signal(z: pd.DataFrame) -> pd.DataFrame:
    """``basin`` (mean anomaly over the wells with a value) and ``n_wells`` per month."""
    return pd.DataFrame({"basin": z.mean(axis=1), "n_wells": z.notna().sum(axis=1).astype(int)})


def leave_one_out_correlation(z: pd.DataFrame, train: list[str]) -> pd.Series:
    """Per well: Pearson correlation over ``train`` of its anomaly with the mean of the others."""
    z = z.loc[pd.Timestamp(train[0]) : pd.Timestamp(train[1])]
    total, count = z.sum(axis=1), z.notna().sum(axis=1)
    out = {}
    for well in z.columns:
        own = z[well]
        others = (total - own.fillna(0)) / (count - own.notna())
        out[well] = own.corr(others.where(count - own.notna() > 0))
    return pd.Series(out, name="corr_basin", dtype=float)
