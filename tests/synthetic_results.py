"""A small synthetic project tree in the formats the figures stage reads.

:func:`write_synthetic` writes, under ``root``, the same files the pipeline
writes: ``params.yaml``, ``data/processed/wells.csv``, per-well and baseline
predictions tables, the pretrain history and config, ``reports/results.csv``,
``reports/comparison.csv``, ``reports/cost.csv`` and ``metrics.json`` (the
last four made by :mod:`gwtl.evaluation.evaluate` from the synthetic forecasts and
costs). Levels are seasonal plus a shared basin signal plus a well's own
noise; forecasts are the observations plus noise whose size depends on model,
lead and (for TL) the well's correlation with the basin signal, so that the
figures have something to show. The IT files also hold the models ``it_<k>``
for the trial ``budgets`` (default 5 and 10 of ``it_lstm.trials`` = 20),
with more noise the smaller ``k``.

Run as a script to make a set for rendering the report by hand::

    .venv/bin/python tests/synthetic_results.py /tmp/synth --wells 8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gwtl.data.predictions import COLUMNS, write_predictions
from gwtl.evaluation import evaluate
from gwtl.evaluation.compare import comparison_table

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("arx", "svr", "rf", "persistence", "climatology")
# Forecast noise (m) at lead 1; grows with the lead.
NOISE = {"tl": 0.08, "it": 0.07, "arx": 0.09, "svr": 0.14, "rf": 0.15, "persistence": 0.2,
         "climatology": 0.45, "pretrain": 0.2}


def _split_of(months: pd.DatetimeIndex, split: dict) -> np.ndarray:
    label = np.full(len(months), "none", dtype=object)
    for name, (lo, hi) in split.items():
        label[(months >= pd.Timestamp(lo)) & (months <= pd.Timestamp(hi))] = name
    return label


def _predictions(series: pd.Series, model: str, well: str, leads: list[int], split: dict,
                 noise: float, rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for lead in leads:
        months = series.index[lead:]
        issue = series.index[:-lead]
        observed = series.to_numpy()[lead:]
        forecast = observed + rng.normal(0, noise * np.sqrt(lead), len(observed))
        frames.append(pd.DataFrame({
            "well": well, "model": model, "lead": lead, "issue": issue, "month": months,
            "split": _split_of(months, split), "observed": observed, "forecast": forecast,
        }))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _own_cost(wells: list[str], baselines, budgets, trials: int, library: bool,
              rng: np.random.Generator) -> pd.DataFrame:
    """Own cost rows as :func:`gwtl.evaluation.evaluate.load_costs` returns them (CPU about 1.8 x wall)."""
    rows = [{"well": "basin", "model": "pretrain", "wall_s": 1500.0, "cpu_s": 2700.0}]
    if library:
        rows.append({"well": "basin", "model": "pretrain_library", "wall_s": 1000.0, "cpu_s": 1800.0})
    for well in wells:
        it_s = rng.uniform(900, 3000)
        spent = {"tl": rng.uniform(20, 60), "it": it_s, **{f"it_{k}": it_s * k / trials for k in budgets},
                 **({"tl_library": rng.uniform(20, 60)} if library else {}),
                 **{m: rng.uniform(0.1, 5) for m in baselines}}
        rows += [{"well": well, "model": m, "wall_s": t, "cpu_s": 1.8 * t} for m, t in spent.items()]
    return pd.DataFrame(rows)


def write_synthetic(root: str | Path, n_wells: int = 3, baselines: tuple[str, ...] = ("arx",),
                    seed: int = 0, budgets: tuple[int, ...] = (5, 10), library: bool = False) -> dict[str, Path]:
    """Write a synthetic project tree under ``root``; return the paths by name.

    ``library`` adds the TL-LSTM fine-tuned from a library (``models/tl_library``,
    less noise than TL on the wells that follow the basin least).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    wells = [900001 + i for i in range(n_wells)]
    params["basin"]["wells"] = wells
    params["it_lstm"]["trials"] = trials = 20
    leads, split = params["forecast"]["leads"], params["split"]
    (root / "data" / "processed").mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    months = pd.date_range(params["prepare"]["start"], params["prepare"]["end"], freq="MS")
    season = np.sin(2 * np.pi * (months.month.to_numpy() - 4) / 12)
    basin = np.cumsum(rng.normal(0, 0.25, len(months)))
    basin = (basin - basin.mean()) / basin.std()
    corr = np.linspace(0.95, 0.3, n_wells)  # the last wells follow the basin least
    levels, records = {}, []
    for i, (hzb, c) in enumerate(zip(wells, corr)):
        own = np.cumsum(rng.normal(0, 0.25, len(months)))
        own = (own - own.mean()) / own.std()
        anomaly = c * basin + np.sqrt(1 - c**2) * own
        level = 280 + 10 * i + 0.8 * anomaly + 0.3 * season
        level[rng.choice(len(months), 6, replace=False)] = np.nan
        levels[str(hzb)] = pd.Series(level, index=months)
        train = levels[str(hzb)].loc[split["train"][0]:split["train"][1]]
        records.append({"hzb": hzb, "name": f"Sonde {i + 1}", "lon": 15.5 + 0.04 * i, "lat": 46.75 + 0.03 * i,
                     "elevation": 270 + 10 * i, "coverage": 0.99, "listed": True, "reason": "",
                     "train_mean": train.mean(), "train_std": train.std(),
                     "corr_basin": np.corrcoef(anomaly, basin)[0, 1]})
    records.append({"hzb": 999999, "name": "Sonde kurz", "lon": 15.55, "lat": 46.8, "elevation": 300,
                 "coverage": 0.6, "listed": False, "reason": "coverage 60% < 95%",
                 "train_mean": np.nan, "train_std": np.nan, "corr_basin": np.nan})
    pd.DataFrame(records).to_csv(root / "data" / "processed" / "wells.csv", index=False)

    tables = []
    for hzb, c in zip(wells, corr):
        well = str(hzb)
        tl = _predictions(levels[well], "tl", well, leads, split, NOISE["tl"] * (1 + 2 * (1 - c)), rng)
        write_predictions(tl, root / "models" / "finetune" / well / "predictions.csv")
        it = pd.concat([_predictions(levels[well], m, well, leads, split, NOISE["it"] * (1 + 3 / k), rng)
                        for m, k in [*((f"it_{k}", k) for k in budgets), ("it", trials)]], ignore_index=True)
        write_predictions(it, root / "models" / "it" / well / "predictions.csv")
        tables += [tl, it]
        if library:
            lib = _predictions(levels[well], "tl_library", well, leads, split, NOISE["tl"] * (1 + (1 - c)), rng)
            write_predictions(lib, root / "models" / "tl_library" / well / "predictions.csv")
            tables.append(lib)
    base = pd.concat([_predictions(levels[str(h)], m, str(h), leads, split, NOISE[m], rng)
                      for m in baselines for h in wells], ignore_index=True)
    write_predictions(base, root / "models" / "baselines" / "predictions.csv")
    tables.append(base)
    levels["basin"] = pd.Series(basin, index=months)
    pre = _predictions(levels["basin"], "pretrain", "basin", leads, split, NOISE["pretrain"], rng)
    write_predictions(pre, root / "models" / "pretrain" / "predictions.csv")
    tables.append(pre)

    epochs = np.arange(1, 61)
    pd.DataFrame({"epoch": epochs, "train_loss": 0.2 + np.exp(-epochs / 10),
                  "val_loss": 0.3 + np.exp(-epochs / 12) + 0.002 * epochs}).to_csv(
        root / "models" / "pretrain" / "history.csv", index=False)
    (root / "models" / "pretrain" / "config.json").write_text(json.dumps(
        {"window": 12, "hidden": 32, "layers": 1, "dropout": 0.1, "lr": 0.005, "batch": 32}))

    (root / "reports").mkdir(exist_ok=True)
    splits = params["evaluate"]["splits"]
    rows = evaluate.scored_rows(pd.concat(tables, ignore_index=True), split, splits)
    results = evaluate.score_rows(rows)
    results.to_csv(root / "reports" / "results.csv", index=False)
    comparison = comparison_table(rows[rows["well"] != "basin"], draws=200)
    comparison.to_csv(root / "reports" / "comparison.csv", index=False)
    cost, cost_metrics = evaluate.cost_table(_own_cost([str(h) for h in wells], baselines, budgets, trials, library, rng),
                                             n_wells)
    cost.to_csv(root / "reports" / "cost.csv", index=False)
    metrics = {**evaluate.summarize(results, splits, comparison), "cost": cost_metrics}
    (root / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return {
        "params": root / "params.yaml", "processed": root / "data" / "processed", "models": root / "models",
        "results": root / "reports" / "results.csv", "cost": root / "reports" / "cost.csv",
        "metrics": root / "metrics.json", "comparison": root / "reports" / "comparison.csv",
    }


# ---------------------------------------------------------------- small tables for unit tests

# reports/cost.csv of wells 1 and 2 and the basin totals (TL with its pre-training share; IT at 5 trials and in full).
COST = pd.DataFrame({
    "well": ["1", "1", "1", "1", "2", "2", "2", "2", "basin", "basin", "basin", "basin", "basin"],
    "model": ["tl", "it", "it_5", "arx", "tl", "it", "it_5", "arx", "pretrain", "tl", "it", "it_5", "arx"],
    "wall_s": [5.0, 50, 12, 1, 4, 40, 10, 1, 300, 9, 90, 22, 2],
    "cpu_s": [9.0, 90, 20, 2, 8, 80, 18, 2, 500, 17, 170, 38, 4],
    "pretrain_cpu_s": [250.0, 0, 0, 0, 250, 0, 0, 0, 0, 500, 0, 0, 0],
    "total_cpu_s": [259.0, 90, 20, 2, 258, 80, 18, 2, 500, 517, 170, 38, 4],
})

# The outlook (reports/forecast.csv) of synthetic_outlook: each well's level at issue and change per lead.
LEVEL = {"1": 285.3, "2": 200.0, "3": 300.0, "4": 400.0}
CHANGE = {"1": [-0.30, -0.40, -0.50], "2": [0.10, 0.20, 0.10], "3": [-0.05, 0.10, 0.20], "4": [-0.50, -0.60, -0.70]}


def synthetic_outlook() -> pd.DataFrame:
    """reports/forecast.csv of 4 wells as read from CSV; well 4's data end a year early (issued Dec 2020)."""
    rows = []
    for well, changes in CHANGE.items():
        issue = pd.Timestamp("2020-12-01" if well == "4" else "2021-12-01")
        for model, bias in (("tl", 0.0), ("it", 0.01), ("arx", -0.01)):
            for lead, change in enumerate(changes, start=1):
                median = LEVEL[well] + change + bias
                rows.append({"well": int(well), "model": model, "mode": "esp", "issue": issue.strftime("%Y-%m-%d"),
                             "month": (issue + pd.DateOffset(months=lead)).strftime("%Y-%m-%d"), "lead": lead,
                             "level_at_issue": LEVEL[well], "median": median,
                             "lower80": median - 0.1 * lead, "upper80": median + 0.1 * lead,
                             "lower95": median - 0.2 * lead, "upper95": median + 0.2 * lead, "members": 21})
    return pd.DataFrame(rows)


# wells.csv of the outlook's wells (well 5 not listed).
WELLS = pd.DataFrame({"hzb": [1, 2, 3, 4, 5], "name": ["A", "B", "C", "D", "E"],
                      "lon": [15.50, 15.55, 15.60, 15.52, 15.58], "lat": [46.80, 46.85, 46.75, 46.78, 46.82],
                      "listed": [True, True, True, True, False]})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="write a synthetic figures-stage input tree")
    parser.add_argument("root", type=Path)
    parser.add_argument("--wells", type=int, default=8)
    args = parser.parse_args()
    for name, path in write_synthetic(args.root, args.wells, BASELINES, library=True).items():
        print(f"{name}: {path}")
