"""A small synthetic project tree in the formats the figures stage reads.

:func:`write_synthetic` writes, under ``root``, the same files the pipeline
writes: ``params.yaml``, ``data/processed/wells.csv``, per-well and baseline
predictions tables, the pretrain history and config, ``reports/results.csv``,
``reports/cost.csv`` and ``metrics.json``. Levels are seasonal plus a shared
basin signal plus a well's own noise; forecasts are the observations plus
noise whose size depends on model, lead and (for TL) the well's correlation
with the basin signal, so that the figures have something to show.

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

from gwtl.predictions import COLUMNS, write_predictions

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


def _scores(table: pd.DataFrame, series: pd.Series) -> pd.DataFrame:
    """Metrics per well, model, lead and split (the columns of reports/results.csv)."""
    rows = []
    for (well, model, lead, split), g in table.groupby(["well", "model", "lead", "split"]):
        if split == "none":
            continue
        g = g.dropna(subset=["observed"])
        o, f = g["observed"].to_numpy(), g["forecast"].to_numpy()
        last = series[well].reindex(pd.DatetimeIndex(g["issue"])).to_numpy()
        sse = np.sum((f - o) ** 2)
        r = np.corrcoef(o, f)[0, 1]
        kge = 1 - np.sqrt((r - 1) ** 2 + (f.std() / o.std() - 1) ** 2 + (f.mean() / o.mean() - 1) ** 2)
        rows.append({
            "well": well, "model": model, "lead": lead, "split": split,
            "nse": 1 - sse / np.sum((o - o.mean()) ** 2), "kge": kge,
            "rmse": np.sqrt(sse / len(o)), "mae": np.mean(np.abs(f - o)), "r2": r ** 2,
            "bias": np.mean(f - o), "pi": 1 - sse / np.sum((o - last) ** 2), "n": len(o),
        })
    return pd.DataFrame(rows)


def write_synthetic(root: str | Path, n_wells: int = 3, baselines: tuple[str, ...] = ("arx",),
                    seed: int = 0) -> dict[str, Path]:
    """Write a synthetic project tree under ``root``; return the paths by name."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    wells = [900001 + i for i in range(n_wells)]
    params["basin"]["wells"] = wells
    leads, split = params["forecast"]["leads"], params["split"]
    (root / "data" / "processed").mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    months = pd.date_range(params["prepare"]["start"], params["prepare"]["end"], freq="MS")
    season = np.sin(2 * np.pi * (months.month.to_numpy() - 4) / 12)
    basin = np.cumsum(rng.normal(0, 0.25, len(months)))
    basin = (basin - basin.mean()) / basin.std()
    corr = np.linspace(0.95, 0.3, n_wells)  # the last wells follow the basin least
    levels, rows = {}, []
    for i, (hzb, c) in enumerate(zip(wells, corr)):
        own = np.cumsum(rng.normal(0, 0.25, len(months)))
        own = (own - own.mean()) / own.std()
        anomaly = c * basin + np.sqrt(1 - c**2) * own
        level = 280 + 10 * i + 0.8 * anomaly + 0.3 * season
        level[rng.choice(len(months), 6, replace=False)] = np.nan
        levels[str(hzb)] = pd.Series(level, index=months)
        train = levels[str(hzb)].loc[split["train"][0]:split["train"][1]]
        rows.append({"hzb": hzb, "name": f"Sonde {i + 1}", "lon": 15.5 + 0.04 * i, "lat": 46.75 + 0.03 * i,
                     "elevation": 270 + 10 * i, "coverage": 0.99, "listed": True, "reason": "",
                     "train_mean": train.mean(), "train_std": train.std(),
                     "corr_basin": np.corrcoef(anomaly, basin)[0, 1]})
    rows.append({"hzb": 999999, "name": "Sonde kurz", "lon": 15.55, "lat": 46.8, "elevation": 300,
                 "coverage": 0.6, "listed": False, "reason": "coverage 60% < 95%",
                 "train_mean": np.nan, "train_std": np.nan, "corr_basin": np.nan})
    pd.DataFrame(rows).to_csv(root / "data" / "processed" / "wells.csv", index=False)

    tables = []
    for hzb, c in zip(wells, corr):
        well = str(hzb)
        for model, folder in (("tl", "finetune"), ("it", "it")):
            noise = NOISE[model] * (1 + 2 * (1 - c) if model == "tl" else 1)
            table = _predictions(levels[well], model, well, leads, split, noise, rng)
            write_predictions(table, root / "models" / folder / well / "predictions.csv")
            tables.append(table)
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
    results = _scores(pd.concat(tables, ignore_index=True), levels)
    results.to_csv(root / "reports" / "results.csv", index=False)
    cost = pd.DataFrame([{"well": str(h), "model": m, "wall_s": t, "cpu_s": 1.8 * t}
                         for h in wells for m, t in (("tl", rng.uniform(20, 60)), ("it", rng.uniform(900, 3000)))])
    tl_s, it_s = cost.groupby("model")["wall_s"].mean()[["tl", "it"]]
    pretrain_s = 1500.0
    # basin totals as gwtl.evaluate writes them (well = basin)
    tl_basin, it_basin = pretrain_s + tl_s * n_wells, it_s * n_wells
    totals = pd.DataFrame({"well": "basin", "model": ["pretrain", "tl", "it", "it_over_tl"],
                           "wall_s": [pretrain_s, tl_basin, it_basin, it_basin / tl_basin],
                           "cpu_s": [2 * pretrain_s, 2 * tl_basin, 2 * it_basin, it_basin / tl_basin]})
    pd.concat([cost, totals]).to_csv(root / "reports" / "cost.csv", index=False)
    test1 = results[(results["split"] == "test") & (results["lead"] == 1)].groupby("model")["nse"].median()
    metrics = {"test": {"lead1": {"nse_median": test1.round(4).to_dict()}},
               "cost": {"tl_s_per_well": tl_s, "it_s_per_well": it_s, "it_over_tl": it_basin / tl_basin,
                        "pretrain_s": pretrain_s}}
    (root / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return {
        "params": root / "params.yaml", "processed": root / "data" / "processed", "models": root / "models",
        "results": root / "reports" / "results.csv", "cost": root / "reports" / "cost.csv",
        "metrics": root / "metrics.json",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="write a synthetic figures-stage input tree")
    parser.add_argument("root", type=Path)
    parser.add_argument("--wells", type=int, default=8)
    args = parser.parse_args()
    for name, path in write_synthetic(args.root, args.wells, BASELINES).items():
        print(f"{name}: {path}")
