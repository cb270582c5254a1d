"""Figures of the training stages' own reports (pretrain, finetune, it_lstm, library, tfn).

A well's forecasts against the observed level (validation period only: the
test period is the evaluate stage's), the training curves of a
model's members, the wells of a library coloured by cluster, the library
members' pre-training signals, and the TFN models' fit (pastas). The replication report's figures are in
:mod:`gwtl.report.figures`; these are kept apart so that a change to the report's
figures does not make DVC retrain the models (every module a stage's notebook
imports is a dependency of that stage).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gwtl.data.samples import period


def forecast_figure(table: pd.DataFrame, title: str):
    """Observed level and forecasts at the first and the largest lead over the validation period.

    The test period is not drawn: a training stage's report shows nothing of
    it (the evaluate stage and the replication report do).
    """
    shown = table[table["split"] == "validation"]
    leads = sorted(shown["lead"].unique())
    fig, ax = plt.subplots(figsize=(10, 3.5))
    first = shown[shown["lead"] == leads[0]].sort_values("month")
    ax.plot(first["month"], first["observed"], color="black", lw=1.5, label="observed")
    for lead, colour in zip(dict.fromkeys((leads[0], leads[-1])), ("tab:blue", "tab:orange")):
        part = shown[shown["lead"] == lead].sort_values("month")
        ax.plot(part["month"], part["forecast"], color=colour, lw=1, label=f"forecast, lead {lead} month(s)")
    ax.set_ylabel("basin signal (standardized)" if table["well"].iloc[0] == "basin" else "level (m a.s.l.)")
    ax.set_title(f"{title} (validation period)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def history_figure(history: pd.DataFrame, title: str):
    """Training and validation loss per epoch (one line per member when there are members)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    groups = history.groupby("member") if "member" in history else [(None, history)]
    for member, part in groups:
        ax.plot(part["epoch"], part["train_loss"], color="tab:blue", lw=0.8, label="train" if not member else None)
        ax.plot(part["epoch"], part["val_loss"], color="tab:orange", lw=0.8,
                label="validation" if not member else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked MSE (scaled units)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cluster_map_figure(wells: pd.DataFrame, clusters: pd.Series, title: str = ""):
    """Listed wells at their ``lon``/``lat`` (``wells.csv``), coloured by cluster."""
    table = wells.assign(well=wells["hzb"].astype(str)).set_index("well").join(clusters.rename("cluster"), how="inner")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for n, part in table.groupby("cluster"):
        ax.scatter(part["lon"], part["lat"], s=40, color=plt.cm.tab10(int(n) % 10), edgecolor="k", linewidth=0.4,
                   label=f"cluster_{n} ({len(part)} wells)")
    ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_aspect(1 / np.cos(np.deg2rad(table["lat"].mean())) if len(table) else "auto")
    ax.set_title(title or "Wells by cluster (training-period correlation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def signals_figure(signals: pd.DataFrame, split: dict):
    """Pre-training signals of the library members, with the split periods marked."""
    fig, ax = plt.subplots(figsize=(11, 4))
    for i, name in enumerate(signals.columns):
        ax.plot(signals.index, signals[name], lw=1.6 if name == "basin" else 0.9,
                color="k" if name == "basin" else plt.cm.tab10(i % 10), label=name)
    for name in ("validation", "test"):
        ax.axvline(period(split[name])[0], color="grey", ls="--", lw=0.8)
        ax.text(period(split[name])[0], ax.get_ylim()[1], f" {name}", va="top", color="grey", fontsize=8)
    ax.set_ylabel("mean standardized anomaly (–)")
    ax.set_title("Pre-training signal of every library member")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    return fig


def tfn_evp_figure(diagnostics: pd.DataFrame):
    """Training-period EVP (%) of each well's TFN model, sorted, coloured by fit status."""
    shown = diagnostics.sort_values("evp")
    colours = shown["status"].map({"ok": "tab:blue", "not_converged": "tab:orange", "failed": "tab:red"})
    fig, ax = plt.subplots(figsize=(11, 3.2))
    ax.bar(shown["well"].astype(str), shown["evp"].fillna(0), color=colours)
    ax.set_ylabel("EVP, training period (%)")
    ax.set_xlabel("well (blue: converged, orange: not converged, red: failed)")
    ax.set_ylim(0, 100)
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def tfn_figure(ml):
    """pastas' own results figure of a calibrated model: fit, residuals, noise and each stress's response."""
    axes = ml.plots.results()
    return np.ravel(axes)[0].figure
