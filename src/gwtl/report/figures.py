"""Every figure of the project's reports, drawn from tables the caller made (plotting only).

Every ``*_figure`` function takes tables and returns a matplotlib
:class:`~matplotlib.figure.Figure` (made without pyplot, so nothing is shown or
kept open; :func:`as_image` shows one in a notebook, :func:`captioned` a
written one, :func:`styled` formats a table for display and :func:`strategy_view`
shows one split of the TL strategies table). Tables come from
:mod:`gwtl.report.summaries` (replication report), :mod:`gwtl.report.forecast_text` (forecast
report) and :mod:`gwtl.data.processed` (data report); this module computes none of
them, so the stages that draw figures do not depend on the report's tables.

Replication report (``notebooks/report.ipynb``), written to
``reports/figures/`` by :mod:`gwtl.report.replication_figures`: :func:`well_map_figure`,
:func:`nse_dot_figure`, :func:`nse_box_figure`, :func:`hydrograph_figure`,
:func:`scatter_figure`, :func:`gap_figure`, :func:`pretrain_figure` and the
cost figures. Cost is CPU seconds per well with pre-training amortised over
the wells: :func:`cost_figure` sets IT's against TL's; :func:`nse_vs_cost_figure`
sets each model's mean test NSE against it, IT at every measured trial budget
(the models ``it_<k>``) as one curve; :func:`it_budget_figure` shows IT's mean
validation and test NSE against its trial budget, with TL's level for
reference; :func:`library_figure` compares the TL-LSTM fine-tuned from a
library of pre-trained models (``tl_library``, :mod:`gwtl.transfer.model_library`) with the
TL-LSTM. :func:`strategies_figure` shows the TL strategies of
``reports/strategies.csv``.

Forecast report (``notebooks/forecast.ipynb``): :func:`forecast_map_figure`
(the TL forecast change of level per well, on the map of
:func:`well_map_figure`), :func:`fan_chart_figure` (a well's recent levels and
its outlook with intervals) and :func:`coverage_figure` (the tested coverage
of the intervals over wells).

Data report (``notebooks/prepare.ipynb``): :func:`station_map_figure`,
:func:`prepared_levels_figure`, :func:`forcings_figure` and
:func:`basin_correlation_figure` show the prepared data set.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gwtl.data.processed import listed_flags
from gwtl.report.model_names import LABELS, budget_of, label, models_in, month_name

COLORS = {
    "tl": "#1f77b4", "it": "#ff7f0e", "arx": "#2ca02c", "svr": "#9467bd", "rf": "#8c564b",
    "persistence": "#7f7f7f", "climatology": "#bcbd22", "pretrain": "#17becf", "tl_library": "#d62728",
    "tfn": "#e377c2", "damped_persistence": "#393b79",
}
MARKERS = {"tl": "o", "it": "s", "arx": "D", "svr": "v", "rf": "^", "persistence": "x", "climatology": "+",
           "tl_library": "P", "tfn": "*", "damped_persistence": "h"}
COST_MODELS = ("tl", "tl_library", "it", "arx", "tfn", "svr", "rf")  # the points of nse_vs_cost (and every it_<k>)
NSE_FLOOR = -1.0  # NSE axes are cut here; values below are drawn at the floor and counted


def _clip(values, floor: float = NSE_FLOOR):
    return np.maximum(np.asarray(values, dtype=float), floor)


def _well_map(wells: pd.DataFrame, values: pd.Series, *, cmap, vmin: float, vmax: float, label: str,
              title: str, shown: str, missing: str, annotate=()) -> Figure:
    """Listed wells on a lon/lat map coloured by ``values`` (by well), the rest in grey; a 5 km scale bar.

    The map keeps ground proportions (longitude stretched by the latitude);
    values outside ``vmin .. vmax`` are drawn at the limit and the colourbar
    extended. Listed wells without a value are hollow red circles
    (``missing``); the wells of ``annotate`` are labelled with their id.
    """
    wells = wells.assign(hzb=wells["hzb"].astype(str), listed=listed_flags(wells["listed"]))
    values = pd.Series(values).rename(index=str)
    lat = wells["lat"].mean()
    stretch = 1 / np.cos(np.deg2rad(lat))  # degrees of latitude per degree of longitude, on the ground
    dx = (wells["lon"].max() - wells["lon"].min()) or 0.05
    dy = (wells["lat"].max() - wells["lat"].min()) or 0.05
    height = 7.0
    width = float(np.clip(height * dx / (dy * stretch), 3.0, 10.0)) + 2.2  # map plus colourbar and labels
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    listed = wells[wells["listed"]].assign(value=lambda d: d["hzb"].map(values))
    other = wells[~wells["listed"]]
    if len(other):
        ax.scatter(other["lon"], other["lat"], s=14, marker="x", color="0.6",
                   label=f"not modelled ({len(other)})")
    scored = listed.dropna(subset=["value"])
    points = ax.scatter(scored["lon"], scored["lat"], c=scored["value"].clip(vmin, vmax), cmap=cmap,
                        vmin=vmin, vmax=vmax, s=55, edgecolor="k", linewidth=0.4,
                        label=f"{shown} ({len(scored)})")
    unscored = listed[listed["value"].isna()]
    if len(unscored):
        ax.scatter(unscored["lon"], unscored["lat"], s=40, facecolor="none", edgecolor="r",
                   label=f"{missing} ({len(unscored)})")
    for well, row in scored.set_index("hzb").reindex(list(annotate)).dropna(subset=["value"]).iterrows():
        ax.annotate(well, (row["lon"], row["lat"]), xytext=(5, 3), textcoords="offset points", fontsize=7)
    below, above = bool((scored["value"] < vmin).any()), bool((scored["value"] > vmax).any())
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}
    fig.colorbar(points, ax=ax, shrink=0.7, extend=extend[below, above], label=label)
    ax.set_aspect(stretch)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    km = 5 / (111.32 / stretch)  # 5 km in degrees of longitude
    x0, y0 = wells["lon"].min(), wells["lat"].min() - 0.06 * dy
    ax.plot([x0, x0 + km], [y0, y0], color="k", lw=2.5)
    ax.annotate("5 km", (x0 + km / 2, y0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncol=2)
    return fig


def well_map_figure(wells: pd.DataFrame, nse_tl: pd.Series, *, lead: int = 1, basin: str = "") -> Figure:
    """Wells on a lon/lat map coloured by TL test NSE; unlisted wells in grey; a 5 km scale bar."""
    listed = wells.loc[listed_flags(wells["listed"]), "hzb"].astype(str)
    nse = pd.Series(nse_tl, dtype=float).rename(index=str).reindex(listed).dropna()
    low = max(NSE_FLOOR, np.floor(nse.min() * 10) / 10) if len(nse) else 0.0
    high = min(1.0, np.ceil(nse.max() * 20) / 20) if len(nse) else 1.0
    if high <= low:
        low, high = low - 0.05, high + 0.05
    return _well_map(wells, nse_tl, cmap="viridis", vmin=low, vmax=high,
                     label=f"TL-LSTM NSE, test period, lead {lead} month",
                     title=f"TL-LSTM test NSE per well{f', {basin}' if basin else ''}",
                     shown="modelled", missing="no test score")


def nse_dot_figure(nse: pd.DataFrame, *, lead: int = 1, floor: float = NSE_FLOOR) -> Figure:
    """Per-well test NSE of every model but climatology, wells sorted by TL NSE (best at the top).

    The axis starts at the lowest value shown, rounded down to 0.1, but not
    below ``floor``; values under ``floor`` are drawn at it and counted.
    """
    order = nse.drop(columns=["climatology"], errors="ignore").sort_values("tl", ascending=True,
                                                                          na_position="first")
    values = order.to_numpy(dtype=float)
    low = max(floor, np.floor(np.nanmin(values) * 10) / 10) if np.isfinite(values).any() else floor
    fig = Figure(figsize=(7.5, 2.8 + 0.2 * len(order)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(order))
    for model in order.columns:
        score = order[model].to_numpy(dtype=float)
        below = int((score < low).sum())
        ax.scatter(_clip(score, low), y, s=22 if model in ("tl", "it") else 14,
                   marker=MARKERS.get(model, "o"), color=COLORS.get(model, "k"),
                   label=LABELS.get(model, model) + (f" ({below} below {low:g})" if below else ""),
                   zorder=3 if model in ("tl", "it") else 2)
    ax.set_yticks(y, order.index, fontsize=7 if len(order) > 30 else 9)
    ax.set_ylim(-0.7, len(order) - 0.3)
    if low < 0:
        ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlim(low - 0.02, 1.01)
    cut = f" (values below {low:g} drawn at {low:g})" if np.nanmin(values) < low else ""
    ax.set_xlabel(f"NSE, test period, lead {lead} month{cut}")
    ax.set_ylabel("well (HZB number)")
    ax.set_title("Test NSE per well and model, wells sorted by TL-LSTM NSE")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncol=3)
    return fig


def nse_box_figure(results: pd.DataFrame, *, split: str = "test", floor: float = NSE_FLOOR) -> Figure:
    """Box plots of NSE across wells per model, one panel per lead; y cut at ``floor``."""
    rows = results[(results["split"] == split) & (results["well"] != "basin")]
    leads = sorted(rows["lead"].unique())
    models = models_in(rows)
    fig = Figure(figsize=(3.2 + 2.4 * len(leads), 4.8), layout="constrained")
    axes = fig.subplots(1, len(leads), sharey=True, squeeze=False)[0]
    for ax, lead in zip(axes, leads):
        data = [rows.loc[(rows["lead"] == lead) & (rows["model"] == m), "nse"].dropna().to_numpy()
                for m in models]
        box = ax.boxplot([_clip(d, floor) for d in data], tick_labels=[LABELS.get(m, m) for m in models],
                         patch_artist=True, widths=0.6, showfliers=True,
                         flierprops={"markersize": 3}, medianprops={"color": "k"})
        for patch, model in zip(box["boxes"], models):
            patch.set_facecolor(COLORS.get(model, "0.8"))
            patch.set_alpha(0.7)
        for i, d in enumerate(data, start=1):
            below = int((d < floor).sum())
            if below:
                ax.annotate(f"{below}↓", (i, floor), xytext=(0, -11), textcoords="offset points",
                            ha="center", fontsize=7, color="r")
        ax.set_title(f"lead {lead} month{'s' if lead > 1 else ''}")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(floor - 0.12, 1.02)
    axes[0].set_ylabel(f"NSE over wells, {split} period")
    fig.suptitle(f"NSE across wells per model and lead (boxes: quartiles and median; whiskers 1.5 IQR)\n"
                 f"y-axis cut at {floor:g}: wells below are drawn at {floor:g} and counted in red (n↓)",
                 fontsize=10)
    return fig


def hydrograph_figure(predictions: pd.DataFrame, nse: pd.DataFrame, *, lead: int = 1,
                      ncols: int = 7) -> Figure:
    """Observed and TL/IT forecast levels over the test period, one small panel per well.

    The panels share one time axis, set on each rather than through ``sharex``:
    matplotlib updates every axis shared with the one it draws, which made the
    figure's cost grow faster than the wells (504 wells: 335 s of CPU against 55 s;
    ``benchmarks/bench_report_figures.py``).
    """
    pred = predictions[predictions["lead"] == lead]
    wells = list(nse.sort_values("tl", ascending=False).index) if len(nse) else []
    wells += [w for w in pred["well"].unique() if w not in wells]
    ncols = max(1, min(ncols, int(np.ceil(np.sqrt(1.5 * len(wells))))))
    nrows = int(np.ceil(len(wells) / ncols)) if wells else 1
    fig = Figure(figsize=(2.7 * ncols, 0.6 + 1.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(wells):]:
        ax.set_visible(False)
    by_well = dict(tuple(pred.groupby("well", sort=False)))
    first, last = pred["month"].min(), pred["month"].max()
    margin = (last - first) * 0.05 if len(pred) else None  # matplotlib's default margin
    for i, (ax, well) in enumerate(zip(axes.flat, wells)):
        rows = by_well.get(well, pred.iloc[:0])
        obs = rows.groupby("month")["observed"].first().sort_index()
        ax.plot(obs.index, obs.to_numpy(), color="k", lw=1.4, label="observed", zorder=3)
        for model, order in (("tl", 2), ("it", 1)):
            series = rows[rows["model"] == model].set_index("month")["forecast"].sort_index()
            ax.plot(series.index, series.to_numpy(), color=COLORS[model], lw=0.9, label=LABELS[model],
                    zorder=order)
        scores = " / ".join(f"{nse.at[well, m]:.2f}" if well in nse.index and m in nse and pd.notna(nse.at[well, m])
                            else "–" for m in ("tl", "it"))
        ax.set_title(f"{well}  NSE {scores}", fontsize=8)
        ax.tick_params(labelsize=7, labelbottom=i + ncols >= len(wells))  # years under each column's last panel
        ax.grid(alpha=0.3)
        if margin is not None:
            ax.set_xlim(first - margin, last + margin)
        ax.xaxis.set_major_locator(mdates.YearLocator(2))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", ncol=3, fontsize=9)
    fig.suptitle(f"Test period, lead {lead} month: groundwater level (m a.s.l.); "
                 "panel title: well, NSE TL / IT, sorted by TL NSE", fontsize=10, x=0.02, ha="left")
    return fig


def scatter_figure(anomalies: pd.DataFrame, nse: pd.DataFrame, *, lead: int = 1) -> Figure:
    """Observed against forecast level (departure from each well's training mean), TL and IT."""
    fig = Figure(figsize=(10, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    both = anomalies.dropna(subset=["observed"])
    values = both[["observed", "tl", "it"]].to_numpy(dtype=float)
    lo, hi = np.nanpercentile(values, [0.2, 99.8]) if np.isfinite(values).any() else (-1, 1)
    pad = 0.05 * (hi - lo)
    for ax, model in zip(axes, ("tl", "it")):
        ax.scatter(both["observed"], both[model], s=5, alpha=0.35, color=COLORS[model], linewidths=0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8, label="1:1")
        median = nse[model].median() if model in nse else np.nan
        ax.set_title(f"{LABELS[model]} — median NSE over wells {median:.2f}", fontsize=10)
        ax.set_xlabel("observed level minus training mean (m)")
        ax.grid(alpha=0.3)
        ax.set_aspect("equal")
    axes[0].set_ylabel("forecast level minus training mean (m)")
    axes[0].set_xlim(lo - pad, hi + pad)
    axes[0].set_ylim(lo - pad, hi + pad)
    axes[0].legend(loc="upper left")
    fig.suptitle(f"Observed vs forecast, test period, lead {lead} month, all wells "
                 f"({both['well'].nunique()} wells, {len(both)} well-months)", fontsize=10)
    return fig


def cost_figure(cost: pd.DataFrame, pretrain_s: float = np.nan) -> Figure:
    """CPU seconds per well, IT-LSTM against TL-LSTM (pre-training share included), log-log, with ratio lines.

    ``cost`` is :func:`gwtl.report.summaries.development_cost`; ``pretrain_s`` the CPU seconds of
    pre-training, named in the title.
    """
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    ax = fig.add_subplot()
    data = cost.dropna()
    ax.scatter(data["tl"], data["it"], s=25, color=COLORS["tl"], edgecolor="k", linewidth=0.3, zorder=3)
    lo = min(data["tl"].min(), data["it"].min()) / 2
    hi = max(data["tl"].max(), data["it"].max()) * 2
    line = np.array([lo, hi])
    for ratio, style in ((1, "-"), (10, "--"), (100, ":"), (1000, "-.")):
        ax.plot(line, line * ratio, color="0.4", lw=0.8, ls=style, label=f"IT = {ratio}× TL")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("TL-LSTM: fine-tuning + share of pre-training, CPU s per well")
    ax.set_ylabel("IT-LSTM: tuning + training, CPU s per well")
    ratio = (data["it"] / data["tl"]).median()
    pre = (f"\npre-training ({pretrain_s / 60:.1f} CPU min) shared by the {len(data)} wells"
           if np.isfinite(pretrain_s) else "")
    ax.set_title(f"Development cost per well ({len(data)} wells), median IT/TL = {ratio:.1f}×{pre}",
                 fontsize=10, wrap=True)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _cost_panels(fig: Figure, axes, leads, *, xlabel: str, ylabel: str, ncol: int) -> None:
    """Finish panels of accuracy against CPU per well: log x axis, a title per lead, one legend below."""
    for ax, lead in zip(axes, leads):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(f"lead {lead} month{'s' if lead > 1 else ''}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8)


def nse_vs_cost_figure(accuracy: Mapping[int, pd.DataFrame], *, trials: int | None = None,
                       split: str = "test") -> Figure:
    """Mean NSE over wells against CPU seconds per well (log), one point per model, one panel per lead.

    ``accuracy`` maps each lead shown to its :func:`gwtl.report.summaries.cost_accuracy`
    table. IT-LSTMs of every measured trial budget (``it_<k>``) and the full
    one (``it``, ``trials`` trials) are joined as IT's budget curve.
    """
    leads = list(accuracy)
    fig = Figure(figsize=(1.0 + 4.6 * len(leads), 4.8), layout="constrained")
    axes = fig.subplots(1, len(leads), squeeze=False)[0]
    for ax, lead in zip(axes, leads):
        table = accuracy[lead]
        table = table[table.index.isin(COST_MODELS) | table["trials"].notna()]
        nse = table[f"mean NSE {split}"]
        its = table[[m == "it" or budget_of(m) is not None for m in table.index]].sort_values("CPU s per well")
        if len(its) > 1:
            ax.plot(its["CPU s per well"], its[f"mean NSE {split}"], color=COLORS["it"], lw=1, zorder=2,
                    label="IT-LSTM by trial budget")
        for model, row in table.iterrows():
            base = "it" if budget_of(model) is not None else model
            k = budget_of(model) or (trials if model == "it" else None)
            ax.scatter(row["CPU s per well"], nse[model], s=45 if budget_of(model) is None else 25,
                       marker=MARKERS.get(base, "o"), color=COLORS.get(base, "k"), edgecolor="k", linewidth=0.4,
                       zorder=3, label=LABELS.get(model, model) if budget_of(model) is None else None)
            if k is not None:
                ax.annotate(f"{k} trials", (row["CPU s per well"], nse[model]), xytext=(5, -3),
                            textcoords="offset points", fontsize=7)
    _cost_panels(fig, axes, leads, xlabel="CPU seconds per well (pre-training amortised over the wells)",
                 ylabel=f"mean NSE over wells, {split} period", ncol=4)
    fig.suptitle("Accuracy against development cost: a cost ratio means something only at a stated accuracy",
                 fontsize=10)
    return fig


def strategies_figure(table: pd.DataFrame, *, split: str = "validation") -> Figure:
    """Mean NSE over wells against CPU seconds per well, one point per TL strategy and IT, one panel per lead.

    ``table`` is ``reports/strategies.csv`` (:func:`gwtl.transfer.strategies.strategy_table`);
    colour marks the pre-training source, the marker the fine-tuning strategy,
    a black ring the default.
    """
    leads = sorted(int(c.rsplit("lead", 1)[1]) for c in table.columns if c.startswith(f"nse_mean_{split}_lead"))
    fig = Figure(figsize=(1.0 + 4.0 * len(leads), 4.6), layout="constrained")
    axes = fig.subplots(1, len(leads), squeeze=False)[0]
    colours = {"basin": "tab:blue", "wells": "tab:green", "clusters": "tab:purple"}
    markers = {"head": "o", "all": "s", "gradual": "^"}
    for ax, lead in zip(axes, leads):
        for row in table.itertuples():
            y = getattr(row, f"nse_mean_{split}_lead{lead}")
            if row.strategy == "it":
                ax.axhline(y, color=COLORS["it"], lw=1, ls="--", label="IT-LSTM")
                ax.scatter(row.cpu_s_per_well, y, marker=MARKERS.get("it", "D"), color=COLORS["it"], s=45,
                           edgecolor="k", linewidth=0.4, zorder=3)
                continue
            ax.scatter(row.cpu_s_per_well, y, marker=markers.get(row.finetune, "o"),
                       color=colours.get(row.source, "grey"), s=90 if row.default else 45, zorder=3,
                       edgecolor="k", linewidth=1.6 if row.default else 0.4,
                       label=f"{row.strategy}{' (default)' if row.default else ''}")
    _cost_panels(fig, axes, leads, xlabel="CPU seconds per well (pre-training shared over the wells)",
                 ylabel=f"mean NSE over wells, {split} period", ncol=5)
    fig.suptitle(f"TL strategies: pre-training source x fine-tuning, {split} period", fontsize=10)
    return fig


def it_budget_figure(results: pd.DataFrame, trials: int, *, leads=None) -> Figure:
    """IT-LSTM's mean validation and test NSE over wells against its trial budget, TL's level for reference.

    Budgets are the ``k`` of the models ``it_<k>`` and ``trials`` for ``it``;
    one panel per lead (default: all leads of ``results``).
    """
    rows = results[results["well"] != "basin"]
    leads = leads or sorted(int(h) for h in rows["lead"].unique())
    budget = {m: budget_of(m) for m in rows["model"].unique() if budget_of(m) is not None} | {"it": trials}
    fig = Figure(figsize=(1.0 + 3.6 * len(leads), 4.2), layout="constrained")
    axes = fig.subplots(1, len(leads), sharey=True, squeeze=False)[0]
    for ax, lead in zip(axes, leads):
        means = rows[rows["lead"] == lead].pivot_table(index="model", columns="split", values="nse", aggfunc="mean")
        its = means.reindex(list(budget)).assign(trials=list(budget.values())).dropna(how="all").sort_values("trials")
        for split, style in (("validation", "--"), ("test", "-")):
            if split not in means.columns:
                continue
            ax.plot(its["trials"], its[split], ls=style, marker="s", color=COLORS["it"], label=f"IT-LSTM, {split}")
            if "tl" in means.index:
                ax.axhline(means.at["tl", split], ls=style, color=COLORS["tl"], lw=1, label=f"TL-LSTM, {split}")
        ax.set_xticks(its["trials"].to_numpy())
        ax.set_xlabel("IT-LSTM trials per well (Optuna)")
        ax.set_title(f"lead {lead} month{'s' if lead > 1 else ''}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean NSE over wells")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle("IT-LSTM accuracy against its tuning budget (the budget is chosen on validation; "
                 "test shown for the record)", fontsize=10)
    return fig


def gap_figure(nse: pd.DataFrame, wells: pd.DataFrame, stats: Mapping, *, lead: int = 1, label: int = 5) -> Figure:
    """TL-minus-IT test NSE per well against the well's correlation with the basin signal.

    ``stats`` is :func:`gwtl.report.summaries.gap_correlation` of ``nse`` and
    ``wells``, named in the title; the ``label`` wells of the largest TL
    deficit are labelled.
    """
    table = pd.DataFrame({"gap": nse["tl"] - nse["it"],
                          "corr": wells.set_index("hzb")["corr_basin"]}).dropna()
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(table["corr"], table["gap"], s=28, color=COLORS["tl"], edgecolor="k", linewidth=0.3)
    for well, row in table.nsmallest(label, "gap").iterrows():
        ax.annotate(well, (row["corr"], row["gap"]), xytext=(4, -2), textcoords="offset points", fontsize=7)
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xlabel("correlation of the well with the basin signal (training period)")
    ax.set_ylabel(f"NSE TL-LSTM minus IT-LSTM (test, lead {lead} month)")
    ax.set_title(f"Does TL lose to IT where a well departs from the basin signal?\n"
                 f"Pearson r = {stats['pearson']:.2f}, Spearman ρ = {stats['spearman']:.2f} (n = {stats['n']} wells; "
                 f"the {label} lowest labelled)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def library_figure(comparison: pd.DataFrame, *, lead: int = 1, floor: float = NSE_FLOOR) -> Figure:
    """Test NSE per well, TL-LSTM fine-tuned from its closest library member against plain TL-LSTM.

    ``comparison`` is :func:`gwtl.report.summaries.library_comparison`; its ``weak``
    wells (lowest TL NSE) are highlighted and labelled; values under ``floor``
    are drawn at it.
    """
    table = comparison.dropna(subset=["tl", "tl_library"])
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    ax = fig.add_subplot()
    x, y = _clip(table["tl"].to_numpy(dtype=float), floor), _clip(table["tl_library"].to_numpy(dtype=float), floor)
    weak = table["weak"].to_numpy()
    ax.scatter(x[~weak], y[~weak], s=22, color=COLORS["tl"], edgecolor="k", linewidth=0.3, label="other wells")
    ax.scatter(x[weak], y[weak], s=40, color=COLORS["tl_library"], edgecolor="k", linewidth=0.5,
               label=f"the {int(weak.sum())} weakest wells for TL", zorder=3)
    for well, xi, yi in zip(table.index[weak], x[weak], y[weak]):
        ax.annotate(well, (xi, yi), xytext=(4, -2), textcoords="offset points", fontsize=7)
    low = max(floor, np.floor(min(x.min(), y.min()) * 10) / 10) if len(table) else floor
    ax.plot([low, 1], [low, 1], color="0.4", lw=0.8, label="1:1")
    ax.set_xlim(low - 0.02, 1.01)
    ax.set_ylim(low - 0.02, 1.01)
    ax.set_xlabel(f"TL-LSTM (basin model) NSE, test, lead {lead} month")
    ax.set_ylabel("TL-LSTM from the closest library model NSE")
    gain = table["library_minus_tl"]
    ax.set_title(f"Library of pre-trained models: better on {int((gain > 0).sum())} of {len(table)} wells, "
                 f"median change {gain.median():+.3f}\n(weakest {int(weak.sum())}: median change "
                 f"{gain[weak].median():+.3f}; values below {floor:g} drawn at {floor:g})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pretrain_figure(history: pd.DataFrame, basin: pd.DataFrame, config: dict | None = None,
                    *, lead: int = 1) -> Figure:
    """Pre-training loss per epoch, and the pre-trained model's test forecast of the basin signal."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.4])
    left.plot(history["epoch"], history["train_loss"], label="training", color=COLORS["tl"])
    left.plot(history["epoch"], history["val_loss"], label="validation", color=COLORS["it"])
    best = history.loc[history["val_loss"].idxmin()]
    left.axvline(best["epoch"], color="0.4", ls="--", lw=0.8,
                 label=f"best validation (epoch {int(best['epoch'])})")
    left.set_xlabel("epoch")
    left.set_ylabel("loss (scaled units)")
    shown = ", ".join(f"{k} {v}" for k, v in (config or {}).items()
                      if k in ("window", "hidden", "layers", "dropout", "lr", "batch") and v is not None)
    left.set_title("Pre-training on the basin signal" + (f"\n{shown}" if shown else ""), fontsize=9)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    rows = basin[basin["lead"] == lead].sort_values("month")
    right.plot(rows["month"], rows["observed"], color="k", lw=1.4, label="basin signal")
    right.plot(rows["month"], rows["forecast"], color=COLORS["pretrain"], lw=1, label="pre-trained forecast")
    right.set_ylabel("mean standardized anomaly (–)")
    o, f = rows["observed"].to_numpy(dtype=float), rows["forecast"].to_numpy(dtype=float)
    ok = np.isfinite(o) & np.isfinite(f)
    score = 1 - np.sum((f[ok] - o[ok]) ** 2) / np.sum((o[ok] - o[ok].mean()) ** 2) if ok.sum() > 1 else np.nan
    right.set_title(f"Basin signal, test period, lead {lead} month: pre-trained model NSE {score:.2f}",
                    fontsize=9)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    return fig


def forecast_map_figure(wells: pd.DataFrame, change: pd.Series, *, lead: int = 1, basin: str = "",
                        issued: str = "", annotate: int = 5) -> Figure:
    """Listed wells on the lon/lat map coloured by the TL forecast change of level (m) at ``lead``.

    ``change`` is :func:`gwtl.report.forecast_text.forecast_change` (median minus level at issue, by
    well); the colours diverge from 0: falls red, rises blue, on a scale
    symmetric about 0. ``issued`` (``Dec 2021``) goes into the colourbar
    label; the ``annotate`` largest falls are labelled with their id.
    """
    change = pd.Series(change, dtype=float).rename(index=str)
    top = float(change.abs().max()) if change.notna().any() else 0.0
    top = max(np.ceil(round(top * 100, 6)) / 100, 0.01)  # whole cm up, never 0 (0.30000001 stays 0.30)
    when = f", issued {issued}" if issued else ""
    months = f"{lead} month{'s' if lead > 1 else ''}"
    return _well_map(wells, change, cmap="RdBu", vmin=-top, vmax=top,
                     label=f"TL-LSTM forecast change of level, m (lead {months}{when})",
                     title=f"{f'{basin}: ' if basin else ''}forecast change of level\n"
                           f"TL-LSTM median, lead {months}{when}",
                     shown="forecast", missing=f"no forecast issued {issued}" if issued else "no forecast",
                     annotate=change[change < 0].nsmallest(annotate).index)


def fan_chart_figure(observed: pd.Series, outlook: pd.DataFrame, *, well, months: int = 24, name: str = "",
                     model: str = "tl") -> Figure:
    """The last ``months`` observed levels of ``well`` and its outlook: ``model``'s median and intervals.

    ``observed`` is the well's monthly level (first-of-month index; months after
    the issue month are not drawn); ``outlook`` the typed outlook rows of
    :func:`gwtl.report.forecast_text.outlook_rows` (other wells' rows are ignored). The
    median of ``model`` starts at the last observed level, its intervals are
    shaded (the narrower darker); the medians of the other models are markers
    beside it.
    """
    rows = outlook[outlook["well"] == str(well)]
    main = rows[rows["model"] == model].sort_values("lead")
    if main.empty:
        raise ValueError(f"the outlook has no {model} forecast of well {well}")
    issue = main["issue"].iloc[0]
    start = float(main["level_at_issue"].iloc[0])
    obs = observed[(observed.index <= issue) & (observed.index > issue - pd.DateOffset(months=months))].dropna()
    levels = sorted((int(c.removeprefix("lower")) for c in main.columns
                     if c.startswith("lower") and c.removeprefix("lower").isdigit()), reverse=True)
    fig = Figure(figsize=(9, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(obs.index, obs.to_numpy(), color="k", lw=1.4, marker=".", ms=5, label="observed")
    x = [issue, *main["month"]]
    shades = np.linspace(0.18, 0.42, len(levels)) if len(levels) > 1 else [0.3]
    for level, alpha in zip(levels, shades):  # widest first, so the narrower band lies on top
        ax.fill_between(x, [start, *main[f"lower{level}"]], [start, *main[f"upper{level}"]], color=COLORS[model],
                        alpha=alpha, lw=0, label=f"{level} % interval")
    ax.plot(x, [start, *main["median"]], color=COLORS[model], lw=2, marker="o", ms=5,
            label=f"{LABELS[model]} median")
    others = [m for m in models_in(rows) if m != model]
    for i, other in enumerate(others):
        part = rows[rows["model"] == other].sort_values("lead")
        shift = pd.Timedelta(days=6 * (i // 2 + 1) * (-1) ** (i + 1))  # either side of the main median
        ax.scatter(part["month"] + shift, part["median"], marker=MARKERS.get(other, "o"), s=30,
                   color=COLORS.get(other, "k"), edgecolor="k", linewidth=0.4, zorder=3,
                   label=f"{label(other)} median")
    ax.axvline(issue, color="0.3", ls=":", lw=1.2)
    ax.annotate(f"issued {month_name(issue)}", (issue, 1), xycoords=("data", "axes fraction"), xytext=(-4, -4),
                textcoords="offset points", ha="right", va="top", fontsize=8, color="0.3")
    span = (main["month"].max() - (obs.index.min() if len(obs) else issue)).days / 30.4
    step = 3 if span <= 40 else 6
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=range(1, 13, step)))
    ax.xaxis.set_minor_locator(mdates.MonthLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.yaxis.get_major_formatter().set_useOffset(False)
    ax.set_xlim((obs.index.min() if len(obs) else issue) - pd.Timedelta(days=15),
                main["month"].max() + pd.Timedelta(days=20))
    ax.set_ylabel("groundwater level (m a.s.l.)")
    ax.grid(alpha=0.3)
    ax.set_title(f"Well {well}{f' ({name})' if name else ''}: outlook issued {month_name(issue)}, "
                 f"{LABELS[model]} with its intervals", fontsize=10)
    fig.legend(loc="outside lower center", ncol=3 + len(levels) + len(others) - 1, fontsize=8)
    return fig


def coverage_figure(scores: pd.DataFrame, levels=(80, 95)) -> Figure:
    """Test coverage of each interval over wells, per lead and model: boxes and one dot per well.

    ``scores`` is ``models/forecast/scores.csv`` (:func:`gwtl.forecast.intervals.score_table`);
    one row of panels per interval level, one column per lead, a dashed line
    at the nominal level.
    """
    leads = sorted(int(h) for h in scores["lead"].unique())
    models = models_in(scores)
    fig = Figure(figsize=(1.2 + 3.3 * len(leads), 0.8 + 3.0 * len(levels)), layout="constrained")
    axes = fig.subplots(len(levels), len(leads), sharey="row", squeeze=False)
    rng = np.random.default_rng(0)
    for row, level in zip(axes, levels):
        for ax, lead in zip(row, leads):
            data = [scores.loc[(scores["lead"] == lead) & (scores["model"] == m), f"coverage{level}"].dropna()
                    .to_numpy(dtype=float) for m in models]
            box = ax.boxplot(data, tick_labels=[label(m) for m in models], patch_artist=True, widths=0.55,
                             showfliers=False, medianprops={"color": "k"})
            for patch, model in zip(box["boxes"], models):
                patch.set_facecolor(COLORS.get(model, "0.8"))
                patch.set_alpha(0.45)
            for i, d in enumerate(data, start=1):
                ax.scatter(i + rng.uniform(-0.18, 0.18, len(d)), d, s=7, color="k", alpha=0.45, linewidths=0,
                           zorder=3, label="one well" if i == 1 else None)
            ax.axhline(level / 100, color="r", ls="--", lw=1, label="nominal level")
            ax.set_title(f"{level} % interval, lead {lead} month{'s' if lead > 1 else ''}", fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
            ax.grid(axis="y", alpha=0.3)
        row[0].set_ylabel("share of test months inside the interval")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=2, fontsize=8)
    fig.suptitle("Tested coverage of the intervals per well (test period; boxes: quartiles and median over wells)",
                 fontsize=10)
    return fig



# ---------------------------------------------------------------- the data report (gwtl.data.prepare)

SPLIT_COLOURS = {"train": "#ffffff", "validation": "#fff3d6", "test": "#e3eefa"}


def _shade_splits(ax, split: dict, names: bool = False) -> None:
    """Shade the validation and test periods; with ``names``, name all three inside the top edge."""
    for name, (lo, hi) in split.items():
        ax.axvspan(lo, hi, color=SPLIT_COLOURS[name], zorder=0)
        if names:
            ax.text(lo + (hi - lo) / 2, 0.97, name, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8, color="0.3")


def station_map_figure(wells: pd.DataFrame, rain: pd.DataFrame, gauges: pd.DataFrame, *, basin: str) -> Figure:
    """Wells of the area (filled: listed, open: left out), rain stations and gauges on a lon/lat map.

    ``rain`` and ``gauges`` are station tables (``hzb``, ``name``, ``lon``,
    ``lat``; gauges without coordinates left out), labelled with name and id.
    """
    fig = Figure(figsize=(7, 7))
    ax = fig.add_subplot()
    used, left = wells[wells["listed"]], wells[~wells["listed"]]
    ax.scatter(used["lon"], used["lat"], s=22, color="tab:green", label=f"well, listed ({len(used)})")
    ax.scatter(left["lon"], left["lat"], s=22, facecolors="none", edgecolors="tab:red",
               label=f"well, left out ({len(left)})")
    if len(rain):
        ax.scatter(rain["lon"], rain["lat"], marker="^", s=60, color="tab:blue", label="rain station")
    for _, s in rain.iterrows():
        ax.annotate(f"{s['name']} ({s['hzb']})", (s["lon"], s["lat"]), xytext=(4, 4),
                    textcoords="offset points", fontsize=7, color="tab:blue")
    if len(gauges):
        ax.scatter(gauges["lon"], gauges["lat"], marker="s", s=60, color="black", label="gauge")
        for _, s in gauges.iterrows():
            ax.annotate(f"{s['name']} ({s['hzb']})", (s["lon"], s["lat"]), xytext=(4, -10),
                        textcoords="offset points", fontsize=7)
    ax.set_aspect(1 / np.cos(np.deg2rad(wells["lat"].mean())))
    ax.set_xlabel("longitude (°E, WGS84)")
    ax.set_ylabel("latitude (°N, WGS84)")
    ax.set_title(f"{basin}: wells" + (", rain stations and gauges" if len(rain) + len(gauges) else ""))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def prepared_levels_figure(levels: pd.DataFrame, basin: pd.DataFrame, wells: pd.DataFrame, split: dict) -> Figure:
    """Top: every listed well's departure from its training mean. Bottom: the basin signal and its well count.

    ``levels``, ``basin`` and ``wells`` are those of :func:`gwtl.data.processed.load_processed`;
    ``split`` maps ``train``/``validation``/``test`` to (first, last) timestamps, shaded.
    """
    stats = wells.set_index("hzb").rename(index=str).loc[levels.columns]
    fig = Figure(figsize=(12, 7), layout="tight")
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    ax1.plot(levels.index, levels - stats["train_mean"], color="0.4", lw=0.5, alpha=0.6)
    ax1.set_ylim(top=(levels - stats["train_mean"]).max().max() * 1.12)
    ax1.set_ylabel("level − training mean (m)")
    ax1.set_title(f"{len(levels.columns)} listed wells")
    ax2.plot(basin.index, basin["basin"], color="tab:blue", lw=1.2)
    ax2.axhline(0, color="0.5", lw=0.6)
    ax2.set_ylabel("basin signal (std. anomaly)")
    twin = ax2.twinx()
    twin.plot(basin.index, basin["n_wells"], color="tab:orange", lw=0.8, drawstyle="steps-mid")
    twin.set_ylim(0, len(levels.columns) * 1.3)
    twin.set_ylabel("wells in the mean", color="tab:orange")
    for ax in (ax1, ax2):
        _shade_splits(ax, split, names=ax is ax1)
        ax.grid(alpha=0.3)
    ax2.set_xlim(levels.index[0], levels.index[-1])
    return fig


def forcings_figure(forcings: pd.DataFrame, descriptions: dict, sums, split: dict) -> Figure:
    """One panel per forcing: the columns of ``sums`` as bars (with their mean per year), the others as lines.

    ``descriptions`` maps a column to its description (the panel title);
    ``split`` is shaded as in :func:`prepared_levels_figure`.
    """
    fig = Figure(figsize=(12, 2.6 * forcings.shape[1]), layout="tight")
    axes = fig.subplots(forcings.shape[1], 1, sharex=True, squeeze=False)[:, 0]
    for ax, col in zip(axes, forcings.columns):
        title = f"{col}: {descriptions[col]}"
        if col in sums:
            ax.bar(forcings.index, forcings[col], width=25, color="tab:blue")
            ax.set_ylim(0, forcings[col].max() * 1.12)
            title += f"; {forcings[col].mean() * 12:.0f} per year on average"
        else:
            ax.plot(forcings.index, forcings[col], color="tab:purple", lw=0.9)
        ax.set_ylabel(col)
        ax.set_title(title)
    for ax in axes:
        _shade_splits(ax, split, names=ax is axes[0])
        ax.grid(alpha=0.3)
    axes[-1].set_xlim(forcings.index[0], forcings.index[-1])
    return fig


def basin_correlation_figure(wells: pd.DataFrame) -> Figure:
    """Each listed well's training-period correlation with the basin signal, lowest first, and the median."""
    corr = wells[wells["listed"]].sort_values("corr_basin")
    fig = Figure(figsize=(12, 3.5), layout="tight")
    ax = fig.add_subplot()
    ax.bar(corr["hzb"].astype(str), corr["corr_basin"], color="tab:green")
    ax.axhline(corr["corr_basin"].median(), color="0.3", lw=0.8, ls="--",
               label=f"median {corr['corr_basin'].median():.2f}")
    ax.set_ylabel("r with basin (training)")
    ax.set_ylim(min(0, corr["corr_basin"].min() - 0.05), 1)
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return fig


# ---------------------------------------------------------------- showing in a notebook


def strategy_view(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """One split of ``reports/strategies.csv`` (:func:`gwtl.transfer.strategies.strategy_table`) for reading.

    Rows by strategy, the default marked, wins as counts.
    """
    cols = [c for c in table.columns if f"_{split}_" in c]
    shown = table.set_index("strategy")[[*cols, "cpu_s_per_well", "it_over_tl"]].copy()
    for c in cols:
        if c.startswith("wins_"):
            shown[c] = shown[c].astype("Int64")
    shown.columns = [c.replace(f"_{split}", "").replace("nse_", "NSE ").replace("_lead", " lead ")
                     .replace("wins", "wins vs IT").replace("cpu_s_per_well", "CPU s per well")
                     .replace("it_over_tl", "IT CPU / this") for c in shown.columns]
    shown.insert(0, "default", np.where(table.set_index("strategy")["default"].astype(bool), "yes", ""))
    return shown


def styled(table: pd.DataFrame):
    """``table`` for display: scores to 3 decimals, counts as whole numbers, p-values to 2 significant digits."""
    counts = [c for c in table.columns if pd.api.types.is_integer_dtype(table[c])]
    pvalues = [c for c in table.columns if str(c).endswith(" p")]
    scores = [c for c in table.columns
              if pd.api.types.is_numeric_dtype(table[c]) and c not in counts and c not in pvalues]
    return (table.style.format("{:.3f}", subset=scores, na_rep="–").format("{:d}", subset=counts, na_rep="–")
            .format("{:.2g}", subset=pvalues, na_rep="–"))


def as_image(fig: Figure):
    """``fig`` as a PNG for a notebook cell (figures here are made without pyplot, so they do not show by themselves)."""
    from io import BytesIO

    from IPython.display import Image

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return Image(buffer.getvalue())


def captioned(path, caption: str) -> tuple:
    """A written figure (PNG file) and its caption in italics, for ``display(*captioned(...))`` in a notebook."""
    from IPython.display import Image, Markdown

    return Image(filename=str(path)), Markdown(f"*{caption}*")
