"""A tiny synthetic prepared data set and params for fast tests of the LSTM stages.

Three wells share one basin-wide signal driven by a synthetic monthly rain
series (1990-2021): recharge is rain minus a seasonal loss, the shared signal a
leaky sum of recharge, and each well sees it with its own gain, lag and noise.
A few levels are missing. The basin signal is built like prepare does it: the
mean of the wells' anomalies standardized with training-period statistics.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.processed import Processed
from gwtl.params import load_params

ROOT = Path(__file__).resolve().parents[1]
WELLS = [900001, 900002, 900003]
GAUGE = 211466


def synthetic_processed(seed: int = 0, wells: list[int] = WELLS) -> Processed:
    """A :class:`Processed` with monthly data 1990-2021 for ``wells``."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("1990-01-01", "2021-12-01", freq="MS", name="month")
    season = np.sin(2 * np.pi * (months.month.to_numpy() - 4) / 12)
    rain = rng.gamma(2.0, 40.0, len(months)) * (1 + 0.4 * season)
    discharge = 100 + 0.5 * pd.Series(rain).rolling(2, min_periods=1).mean().to_numpy() + rng.normal(0, 5, len(months))
    recharge = rain - 80 - 30 * season
    signal = np.zeros(len(months))
    for i in range(1, len(months)):
        signal[i] = 0.85 * signal[i - 1] + 0.01 * recharge[i]
    levels = {}
    for k, well in enumerate(wells):
        lag = k % 3
        shifted = np.r_[np.full(lag, signal[0]), signal[: len(signal) - lag]]
        level = 300 + 10 * k + (0.5 + 0.2 * k) * shifted + rng.normal(0, 0.03, len(months))
        level[rng.choice(len(months), 6, replace=False)] = np.nan
        levels[str(well)] = level
    levels = pd.DataFrame(levels, index=months)
    train = levels.loc["1990-01-01":"2010-12-01"]
    anomalies = (levels - train.mean()) / train.std()
    basin = pd.DataFrame({"basin": anomalies.mean(axis=1), "n_wells": anomalies.notna().sum(axis=1)}, index=months)
    forcings = pd.DataFrame({"precipitation": rain, f"discharge_{GAUGE}": discharge}, index=months)
    table = pd.DataFrame({"hzb": wells, "listed": True, "train_mean": train.mean().to_numpy(),
                          "train_std": train.std().to_numpy()})
    return Processed(levels=levels, basin=basin, forcings=forcings, wells=table, meta={"basin": "synthetic"})


def tiny_params(wells: list[int] = WELLS) -> dict:
    """params.yaml with the synthetic wells and a tiny, fast search."""
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["basin"]["wells"] = list(wells)
    params["basin"]["gauges"] = [GAUGE]
    params["forecast"]["forcings"] = ["precipitation", f"discharge_{GAUGE}"]
    params["train"].update(max_epochs=12, patience=4, threads=1)
    params["pretrain"].update(trials=2)
    params["seed"] = 0
    params["pretrain"]["search"] = {"window": [6], "hidden": [8], "layers": [1, 2], "dropout": [0.0, 0.3],
                                    "lr": [0.005, 0.02], "batch": [64]}
    params["finetune"].update(trainable=["head"], lr=0.02, gradual=False)
    params["ensemble"]["members"] = 2
    params["it_lstm"].update(trials=3, budgets=[2])
    return params


def write_folder(data: Processed, folder: Path) -> Path:
    """``data`` as a prepared-data folder (the files of :mod:`gwtl.data.processed`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("levels", "basin", "forcings"):
        getattr(data, name).to_csv(folder / f"{name}.csv", date_format="%Y-%m-%d")
    data.wells.to_csv(folder / "wells.csv", index=False)
    (folder / "meta.json").write_text(json.dumps(data.meta))
    return folder
