"""The basin signal of gwtl.data.basin_signal: training statistics, anomalies, their mean, leave-one-out correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwtl.data.basin_signal import anomalies, basin_signal, leave_one_out_correlation, training_stats
from gwtl.data.monthly import month_index


def test_training_statistics_anomalies_and_basin_signal():
    months = month_index("2000-01", "2000-06")
    levels = pd.DataFrame({"a": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0], "b": [5.0, np.nan, 7.0, 0.0, 0.0, np.nan]},
                          index=months)
    stats = training_stats(levels, ["2000-01", "2000-03"])  # the later months do not count
    assert list(stats.columns) == ["train_mean", "train_std"]
    np.testing.assert_allclose(stats["train_mean"], [2.0, 6.0])
    np.testing.assert_allclose(stats["train_std"], [1.0, np.sqrt(2.0)])  # ddof=1
    z = anomalies(levels, stats)
    np.testing.assert_allclose(z["a"].iloc[:3], [-1.0, 0.0, 1.0])
    basin = basin_signal(z)
    assert list(basin["n_wells"]) == [2, 1, 2, 2, 2, 1]
    assert basin["basin"].iloc[1] == pytest.approx(0.0)  # the mean over the wells with a value
    assert basin["basin"].iloc[0] == pytest.approx((-1.0 + (5.0 - 6.0) / np.sqrt(2.0)) / 2)


def test_leave_one_out_correlation_leaves_the_well_out():
    months = month_index("2000-01", "2000-12")
    rng = np.random.default_rng(0)
    z = pd.DataFrame(rng.standard_normal((12, 3)), index=months, columns=["a", "b", "c"])
    z.iloc[3, 1] = np.nan
    corr = leave_one_out_correlation(z, ["2000-01", "2000-12"])
    others = z[["b", "c"]].mean(axis=1)
    assert corr["a"] == pytest.approx(z["a"].corr(others))
    assert corr["a"] != pytest.approx(z["a"].corr(z.mean(axis=1)))
