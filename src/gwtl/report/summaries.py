"""The tables and statistics of the replication report, from the pipeline's outputs.

Scores per well (:func:`metric_by_well`), their summary over wells
(:func:`summary_table`, :func:`nse_table`), the development cost in CPU
seconds with pre-training amortised over the wells (:func:`development_cost`,
:func:`cost_summary`, :func:`cost_accuracy`; ``total_cpu_s`` of
``reports/cost.csv``, see :mod:`gwtl.evaluation.evaluate`), the weakest wells for TL and
the link of TL's deficit to a well's correlation with the basin signal
(:func:`weakest_wells`, :func:`gap_correlation`), the library of pre-trained
models against the single basin model (:func:`library_comparison`) and the
test-period forecasts as departures from each well's training mean
(:func:`forecast_anomalies`, :func:`basin_hydrograph`). The paired statistics
of two models come from ``reports/comparison.csv`` (:mod:`gwtl.evaluation.compare`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwtl.report.inputs import Inputs, require_columns
from gwtl.report.model_names import budget_of, label, models_in


def metric_by_well(results: pd.DataFrame, *, split: str = "test", lead: int = 1,
                   metric: str = "nse") -> pd.DataFrame:
    """One row per well, one column per model: ``metric`` at ``split`` and ``lead`` (IT budgets ``it_<k>`` left out)."""
    rows = results[(results["split"] == split) & (results["lead"] == lead) & (results["well"] != "basin")]
    wide = rows.pivot_table(index="well", columns="model", values=metric, aggfunc="first")
    wide = wide[[m for m in models_in(results) if m in wide.columns]]
    wide.columns.name = None
    return wide


def summary_table(results: pd.DataFrame, metrics=("nse", "kge", "rmse", "mae")) -> pd.DataFrame:
    """Median and mean over wells of each metric per model, lead and split (wells only)."""
    rows = results[results["well"] != "basin"]
    metrics = [m for m in metrics if m in rows.columns]
    table = rows.groupby(["split", "lead", "model"])[metrics].agg(["median", "mean"])
    table[("wells", "")] = rows.groupby(["split", "lead", "model"])["well"].nunique()
    order = {m: i for i, m in enumerate(models_in(results, budgets=True))}
    return table.sort_index(key=lambda idx: idx.map(order) if idx.name == "model" else idx)


def _cost_rows(cost: pd.DataFrame) -> pd.DataFrame:
    require_columns(cost, ["well", "model", "cpu_s", "pretrain_cpu_s", "total_cpu_s"], "cost table")
    return cost.assign(model=cost["model"].astype(str), well=cost["well"].astype(str))


def development_cost(cost: pd.DataFrame, models=("tl", "it")) -> pd.DataFrame:
    """CPU seconds to develop each well's model, pre-training share included: index ``well``, one column per model.

    Reads ``reports/cost.csv`` (``total_cpu_s`` of the per-well rows); models
    without rows are left out.
    """
    rows = _cost_rows(cost)
    rows = rows[(rows["well"] != "basin") & rows["model"].isin(list(models))]
    wide = rows.pivot_table(index="well", columns="model", values="total_cpu_s", aggfunc="sum")
    wide = wide[[m for m in models if m in wide.columns]]
    wide.columns.name = None
    return wide


def pretrain_seconds(cost: pd.DataFrame, metrics: dict) -> float:
    """CPU seconds of pre-training the basin model: the ``pretrain`` row of cost.csv, else metrics.json."""
    rows = _cost_rows(cost)
    rows = rows[(rows["well"] == "basin") & (rows["model"] == "pretrain")]
    if len(rows):
        return float(rows["cpu_s"].sum())
    return float(metrics.get("cost.pretrain_cpu_s", np.nan))


def cost_summary(cost: pd.DataFrame) -> pd.DataFrame:
    """Per model: median and mean CPU seconds per well (pre-training share included), the share, the basin total.

    Rows in report order (IT budgets after ``it``); the basin total includes
    the pre-training once.
    """
    rows = _cost_rows(cost)
    wells = rows[rows["well"] != "basin"].groupby("model")
    basin = rows[rows["well"] == "basin"].set_index("model")["total_cpu_s"]
    table = pd.DataFrame({
        "median per well (CPU s)": wells["total_cpu_s"].median(),
        "mean per well (CPU s)": wells["total_cpu_s"].mean(),
        "pre-training share per well (CPU s)": wells["pretrain_cpu_s"].mean(),
        "whole basin (CPU s)": basin,
    }).dropna(subset=["mean per well (CPU s)"])
    return table.reindex(models_in(table.index, budgets=True))


def cost_accuracy(results: pd.DataFrame, cost: pd.DataFrame, *, lead: int = 1) -> pd.DataFrame:
    """Per model with a cost: mean validation and test NSE over wells at ``lead`` and mean CPU seconds per well.

    ``x TL`` is the CPU per well relative to TL's; ``trials`` the IT-LSTM's
    trial budget (``it_<k>``; NaN for the full budget and other models).
    Rows in report order; the basin signal is left out.
    """
    rows = results[(results["well"] != "basin") & (results["lead"] == lead)]
    nse = rows.pivot_table(index="model", columns="split", values="nse", aggfunc="mean")
    per_well = _cost_rows(cost).query("well != 'basin'").groupby("model")["total_cpu_s"].mean()
    table = pd.DataFrame({
        "mean NSE validation": nse.get("validation"), "mean NSE test": nse.get("test"),
        "CPU s per well": per_well,
    }).dropna(subset=["CPU s per well", "mean NSE test"])
    table["x TL"] = table["CPU s per well"] / per_well.get("tl", np.nan)
    table["trials"] = [budget_of(m) for m in table.index]
    return table.reindex(models_in(table.index, budgets=True))


def smallest_budget_reaching(table: pd.DataFrame, reference: str = "tl") -> str | None:
    """The cheapest IT-LSTM (``it_<k>`` or ``it``) whose mean *validation* NSE reaches ``reference``'s.

    ``table`` is :func:`cost_accuracy`. Validation, not test: which budget
    suffices is a choice, and the test period decides none. None if no IT
    budget reaches it (or there is no reference).
    """
    if reference not in table.index or "it" not in table.index:
        return None
    its = table[[m == "it" or budget_of(m) is not None for m in table.index]].sort_values("CPU s per well")
    reached = its[its["mean NSE validation"] >= table.at[reference, "mean NSE validation"]]
    return reached.index[0] if len(reached) else None


def weakest_wells(nse: pd.DataFrame, wells: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` wells with the largest IT-minus-TL NSE gap, with their properties."""
    table = nse[["tl", "it"]].assign(gap=nse["it"] - nse["tl"])
    props = wells.set_index("hzb")[[c for c in ("name", "corr_basin", "elevation", "coverage")
                                    if c in wells.columns]]
    table = table.join(props).sort_values("gap", ascending=False)
    return table.head(n).rename(columns={"gap": "it_minus_tl"})


def library_comparison(nse: pd.DataFrame, n: int = 10, choices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per well: TL, TL-library (and IT) NSE, the gain of the library and whether TL is among its ``n`` weakest.

    ``weak`` marks the ``n`` wells with the lowest TL NSE. ``choices`` (the
    ``choices.csv`` of :func:`gwtl.transfer.model_library.run_finetune_library`) adds the
    member each well was fine-tuned from and its correlation. Sorted by TL NSE,
    weakest first.
    """
    table = nse[[m for m in ("tl", "tl_library", "it") if m in nse.columns]].copy()
    table["library_minus_tl"] = table["tl_library"] - table["tl"]
    table["weak"] = table.index.isin(table["tl"].nsmallest(n).index)
    if choices is not None:
        table = table.join(choices.astype({"well": str}).set_index("well")[["member", "correlation"]])
    return table.sort_values("tl")


def gap_correlation(nse: pd.DataFrame, wells: pd.DataFrame, *, n_perm: int = 5000, seed: int = 0) -> dict:
    """Correlation over wells of TL-minus-IT NSE with ``corr_basin``.

    Returns ``n`` (wells), ``pearson``, ``spearman`` and ``p_spearman``, the
    two-sided permutation p-value of the Spearman coefficient. A positive
    coefficient means: the less a well follows the basin signal, the more TL
    loses against IT.
    """
    both = pd.DataFrame({"gap": nse["tl"] - nse["it"],
                         "corr": wells.set_index("hzb")["corr_basin"]}).dropna()
    if len(both) < 3:
        return {"n": len(both), "pearson": np.nan, "spearman": np.nan, "p_spearman": np.nan}
    gap, corr = both["gap"].rank().to_numpy(), both["corr"].rank().to_numpy()
    rho = np.corrcoef(gap, corr)[0, 1]
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.tile(corr, (n_perm, 1)), axis=1)
    gap_c = gap - gap.mean()
    null = (shuffled - shuffled.mean(axis=1, keepdims=True)) @ gap_c / (
        np.linalg.norm(gap_c) * np.linalg.norm(corr - corr.mean()))
    return {"n": len(both), "pearson": both["gap"].corr(both["corr"]), "spearman": rho,
            "p_spearman": (1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (n_perm + 1)}


def forecast_anomalies(inputs: Inputs, lead: int | None = None) -> pd.DataFrame:
    """Test-period TL and IT forecasts at ``lead`` as departures from each well's training mean (m).

    Columns ``well``, ``month``, ``observed``, ``tl``, ``it``; one row per well
    and month.
    """
    lead = inputs.lead if lead is None else lead
    pred = inputs.predictions[inputs.predictions["lead"] == lead]
    wide = pred.pivot_table(index=["well", "month"], columns="model", values="forecast", aggfunc="first")
    observed = pred.groupby(["well", "month"])["observed"].first()
    table = wide.reindex(columns=["tl", "it"]).assign(observed=observed).reset_index()
    mean = inputs.wells.set_index("hzb")["train_mean"]
    for col in ("observed", "tl", "it"):
        table[col] = table[col] - table["well"].map(mean)
    return table[["well", "month", "observed", "tl", "it"]]


def basin_hydrograph(anomalies: pd.DataFrame) -> pd.DataFrame:
    """Basin mean of :func:`forecast_anomalies` per month over wells with all three values."""
    full = anomalies.dropna(subset=["observed", "tl", "it"])
    mean = full.groupby("month")[["observed", "tl", "it"]].mean()
    months = pd.DatetimeIndex(mean.index)
    return pd.DataFrame({
        "month": months.strftime("%Y-%m"),
        "year": np.round(months.year + (months.month - 1) / 12, 4),
        "observed": mean["observed"].to_numpy(), "tl": mean["tl"].to_numpy(), "it": mean["it"].to_numpy(),
        "wells": full.groupby("month")["well"].nunique().to_numpy(),
    })


def nse_table(results: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Median and mean NSE over wells per model (display names, report order) and lead."""
    table = (results.query("split == @split and well != 'basin'")
             .pivot_table(index="model", columns="lead", values="nse", aggfunc=["median", "mean"])
             .reindex(models_in(results)))
    table.index = [label(m) for m in table.index]
    table.columns = [f"{stat} NSE, lead {h}" for stat, h in table.columns]
    return table


def weakest_wells_ranked(nse: pd.DataFrame, wells: pd.DataFrame, listed: list[str], n: int = 5) -> pd.DataFrame:
    """:func:`weakest_wells` with each well's rank of ``corr_basin`` among the ``listed`` wells (1 = lowest)."""
    weak = weakest_wells(nse, wells, n=n)
    corr = wells.set_index("hzb")["corr_basin"].reindex(listed)
    weak["corr rank (1 = lowest)"] = corr.rank().reindex(weak.index).astype("Int64")
    return weak


def tfn_wins(nse: pd.DataFrame, diagnostics: pd.DataFrame, wells: pd.DataFrame) -> pd.DataFrame:
    """The wells where the pastas TFN model has a higher NSE than both LSTMs, best margin first.

    ``nse`` is :func:`metric_by_well` of one lead; ``diagnostics`` the TFN
    fits' table (``models/tfn/diagnostics.csv``); ``wells`` is ``wells.csv``.
    Columns: the three NSE values, the margin over the better LSTM, the TFN
    fit's training EVP (%) and the well's ``corr_basin``.
    """
    both = nse[["tfn", "tl", "it"]].dropna()
    table = both[both["tfn"] > both[["tl", "it"]].max(axis=1)].copy()
    table["margin"] = table["tfn"] - table[["tl", "it"]].max(axis=1)
    table["TFN EVP (%)"] = diagnostics.set_index("well")["evp"].reindex(table.index)
    table["corr_basin"] = wells.set_index(wells["hzb"].astype(str))["corr_basin"].reindex(table.index)
    return table.sort_values("margin", ascending=False)


def per_well_table(nse: pd.DataFrame, wells: pd.DataFrame) -> pd.DataFrame:
    """Every model's NSE per well with the well's name, ``corr_basin``, elevation and coverage, best TL first."""
    table = nse.join(wells.set_index("hzb")[["name", "corr_basin", "elevation", "coverage"]])
    return table.sort_values("tl", ascending=False)


def metrics_agreement(summary: pd.DataFrame, metrics: dict) -> list[float]:
    """Absolute differences between the median NSE values of ``metrics.json`` and :func:`summary_table`.

    ``metrics`` is flattened (keys like ``test.lead1.nse_median.tl``); one
    difference per key that the summary also holds.
    """
    checks = []
    for key, value in metrics.items():
        parts = key.split(".")
        if len(parts) == 4 and parts[1].startswith("lead") and parts[2] == "nse_median":
            split, h, model = parts[0], int(parts[1][4:]), parts[3]
            if (split, h, model) in summary.index:
                checks.append(abs(summary.loc[(split, h, model), ("nse", "median")] - value))
    return checks
