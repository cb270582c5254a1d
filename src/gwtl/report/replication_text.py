"""The text of the replication report (``notebooks/report.ipynb``): what this run measured, beside each claim.

Every function returns Markdown built from the pipeline's outputs
(:class:`gwtl.report.inputs.Inputs`, the tables of :mod:`gwtl.report.summaries`, the
paired comparisons of :mod:`gwtl.evaluation.compare`) and ``params``; the verdicts come
from :func:`gwtl.evaluation.compare.verdict` and :func:`gwtl.evaluation.compare.link_verdict`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from gwtl.evaluation import compare
from gwtl.report.inputs import Inputs, flatten
from gwtl.report.model_names import label
from gwtl.report.summaries import smallest_budget_reaching


def format_duration(seconds: float) -> str:
    """Seconds as a short human duration (``42 s``, ``3.5 min``, ``2.1 h``, ``1.5 days``)."""
    if not np.isfinite(seconds):
        return "n/a"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size if unit == "days" else seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def pair_rows(comparison: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """The rows of ``reports/comparison.csv`` comparing ``a`` with ``b``, indexed by lead."""
    return comparison.query("a == @a and b == @b").set_index("lead")


def basin_text(params: dict, inputs: Inputs, present: list[str]) -> str:
    """The opening paragraph: basin, wells modelled and left out, periods, leads, forecast mode and models."""
    leads, test = params["forecast"]["leads"], params["split"]["test"]
    unused = inputs.wells[~inputs.wells["listed"]]
    return (
        f"**Basin:** {params['basin']['name']} (eHYD porous-aquifer area {params['basin']['area']}), "
        f"{len(inputs.listed)} wells modelled; {len(unused)} more well(s) of the area not modelled, "
        f"{int(unused['reason'].astype(str).str.contains('coverage').sum())} of them for too few months with "
        f"data (below {params['prepare']['min_coverage']:.0%}). **Periods:** training {'–'.join(params['split']['train'])}, validation "
        f"{'–'.join(params['split']['validation'])}, test {'–'.join(test)}. **Leads:** {', '.join(map(str, leads))} "
        f"months. **Forecast mode:** {params['forecast']['mode']}, target: {params['forecast']['target']}, "
        f"inputs: {', '.join(params['forecast']['forcings'])}. **Models scored:** "
        f"{', '.join(label(m) for m in present)}. All scores below are on the test period unless stated."
    )


def finetune_text(params: dict) -> str:
    """The pre-training source and how each well fine-tunes (which parts, at which learning rates)."""
    ft = params["finetune"]
    how = ("the head first, then the LSTM and the head (gradual unfreezing)" if ft["gradual"]
           else " and ".join(f"the {p}" for p in ft["trainable"]) + " together" if len(ft["trainable"]) > 1
           else "the head only (the paper)")
    lrs = f"head learning rate {ft['lr']}" + (f", LSTM learning rate {ft['lstm_lr']}" if "lstm" in ft["trainable"] else "")
    return f"**This run:** pre-training source `{params['pretrain']['source']}`; each well fine-tunes {how} ({lrs})."


def pretrain_text(history: pd.DataFrame) -> str:
    """How long pre-training ran and where its best validation loss came."""
    best = history.loc[history["val_loss"].idxmin()]
    return (f"Pre-training ran {len(history)} epochs; the best validation loss "
            f"{best['val_loss']:.4f} came at epoch {int(best['epoch'])}. Configuration:")


def config_table(config: Mapping) -> pd.DataFrame:
    """A configuration as a table: one row per setting (nested ones as ``group.setting``), its value as text.

    Written for a reader: decimals to 3 significant digits, lists as comma-separated
    items. A setting that repeats an earlier one (same last name, same value, as
    ``hyperparameters.hidden`` repeats ``config.hidden``) and an empty list (the
    pooled wells of a basin-signal model) are left out.
    """
    rows, seen = {}, set()
    for key, value in flatten(dict(config)).items():
        setting = (key.rsplit(".", 1)[-1], _as_text(value))
        if setting in seen or (isinstance(value, (list, tuple)) and not value):
            continue
        seen.add(setting)
        rows[key] = setting[1]
    return pd.DataFrame({"setting": list(rows), "value": list(rows.values())}).set_index("setting")


def _as_text(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_text(v) for v in value)
    return str(value)


def tl_it_text(comparison: pd.DataFrame, lead: int) -> str:
    """Claim (a): TL against IT at the first lead (mean, median, wins, verdict), then the longer leads."""
    tl_it = pair_rows(comparison, "tl", "it")
    first = tl_it.loc[lead]
    longer = "; ".join(f"lead {h}: mean {r['mean_a']:.2f} vs {r['mean_b']:.2f}, " + compare.verdict(r)
                       for h, r in tl_it.drop(index=lead).iterrows())
    return (
        f"**This run, lead {lead} month:** mean NSE {first['mean_a']:.2f} (TL) vs {first['mean_b']:.2f} (IT), "
        f"a difference of {first['mean_diff']:+.3f} (paper: 0.91 − 0.92 = −0.01); median "
        f"{first['median_a']:.2f} vs {first['median_b']:.2f}. TL scores higher on {int(first['wins'])} of "
        f"{int(first['n'])} wells. Verdict: {compare.verdict(first)}." + (f" Longer leads — {longer}." if longer else "")
    )


CLAIMS = ("tl", "basin/head", "scratch/gradual", "it_fixed")  # compared with IT in the claims table
DEFAULT_NAME = "TL (default: pre-trained initialisation, then every weight fine-tuned)"


def claims_overview(comparison: pd.DataFrame, strat: pd.DataFrame | None) -> pd.DataFrame:
    """One row per candidate of :data:`CLAIMS` and lead: mean test NSE against IT's, the equivalence test, the cost.

    ``comparison`` is ``reports/comparison.csv`` (TL from the common months
    of every model, the others from the strategies' months,
    :func:`gwtl.evaluation.evaluate.strategy_rows`); ``strat`` the strategies table
    (``cpu_s_per_well`` of each strategy, pre-training shared; the default's
    row is TL's) or None. The default TL fine-tunes every weight after the
    head (gradual unfreezing); the paper's TL fine-tunes the head only.
    """
    cost = {}
    if strat is not None:
        rows = strat.set_index("strategy")
        cost = rows["cpu_s_per_well"].to_dict()
        default = rows.index[rows["default"].astype(bool)]
        if len(default):
            cost["tl"] = cost[default[0]]
    records = []
    for model in CLAIMS:
        pair = comparison[(comparison["a"] == model) & (comparison["b"] == "it")].sort_values("lead")
        for r in pair.itertuples():
            records.append({
                "model": DEFAULT_NAME if model == "tl" else label(model), "lead": r.lead,
                "mean NSE": r.mean_a, "mean IT": r.mean_b, "difference": r.mean_diff,
                f"{1 - 2 * compare.ALPHA / compare.TESTS:.1%} interval": f"{r.eq_lo:+.3f} to {r.eq_hi:+.3f}",
                "verdict (±0.02)": r.equivalence, "CPU s per well": cost.get(model, float("nan")),
                "IT / model CPU": cost.get("it", float("nan")) / cost.get(model, float("nan")),
            })
    return pd.DataFrame(records).set_index(["model", "lead"]) if records else pd.DataFrame()


def claims_text(strat: pd.DataFrame | None, wells: int) -> str:
    """What the controls are for, and the strategy search that no TL row is charged."""
    search = ""
    if strat is not None:
        rows = strat[strat["strategy"] != "it"]
        per_well = float(rows["cpu_s_finetune"].sum() + rows["cpu_s_pretrain"].drop_duplicates().sum() / wells)
        search = (f" The search over strategies that chose the default (the `strategies` stage: every row of its "
                  f"table on every well) cost {per_well:.1f} s of CPU per well; it is **not charged** to the default "
                  "above, as the pre-training search is charged to TL but the choice of `finetune.*` is not.")
    return (
        "**What the rows mean.** The default TL-LSTM is a pre-trained *initialisation* followed by fine-tuning of "
        "every weight (gradual unfreezing: the head first, then the LSTM too); the paper's transfer freezes the "
        "pre-trained LSTM and fine-tunes the head only. Two controls tell what TL's cost ratio against IT means: "
        "*IT with the pre-trained configuration and no search* separates the cost of IT's per-well search from "
        "the cost of training, and *a random initialisation trained with the gradual schedule* shows what the "
        "pre-trained weights add to the default's schedule. Neither control is charged the pre-training search "
        "whose configuration it borrows." + search
    )


def shared_years_text(comparison: pd.DataFrame, lead: int) -> str:
    """Why the wells are not independent trials, and what the Wilcoxon test and the year bootstrap each say."""
    first = pair_rows(comparison, "tl", "it").loc[lead]
    return (
        f"**What these numbers mean.** The {int(first['n'])} wells share one test period of {int(first['years'])} "
        "calendar years, so they are not independent trials: weather that one model handles badly hits every well "
        "in the same months. The Wilcoxon test treats the wells as independent; it says whether one model scores "
        f"higher on most wells *in these {int(first['years'])} years*, and its p-value is too small when the "
        "difference comes from a few shared years. The bootstrap over test years draws the years again (with "
        "replacement, the same years for every well), recomputes every well's NSE from the drawn years' monthly "
        "forecasts and gives the 95% range of the mean difference: when it contains 0, the sign of the difference "
        "depends on which years happened to be tested, and another test period could reverse it. With only "
        f"{int(first['years'])} years to draw from, that range is itself rough. The verdict is an equivalence "
        "test (two one-sided tests) on the same draws: two models are called *equivalent* when the "
        f"{1 - 2 * compare.ALPHA / compare.TESTS:.1%} interval of their mean difference lies within "
        f"±{compare.MARGIN} NSE, *better* or *worse* when it lies beyond 0 on one side, and *inconclusive* "
        f"otherwise; the level is Bonferroni's for the {compare.TESTS} comparisons of the claims table (four "
        "candidates against IT at three leads). One run is one master seed (`seed` in params.yaml): the pre-trained "
        "bases are shared by every well, so their luck does not average over wells, and this interval does not "
        "hold it. The seed replication (`benchmarks/bench_seeds.py`, README) reruns the whole training chain under "
        "several seeds and bootstraps seeds and years together."
    )


def leads_held(medians: Mapping[int, pd.Series], rivals: list[str], leads: list[int]) -> str:
    """At which leads both LSTMs have a higher median NSE than every rival: ``every lead``, ``leads 1, 2`` or ``no lead``."""
    holds = [h for h in leads if min(medians[h]["tl"], medians[h]["it"]) > max(medians[h][r] for r in rivals)]
    return "every lead" if len(holds) == len(leads) else ("leads " + ", ".join(map(str, holds)) if holds else "no lead")


def rivals_text(nse: Mapping[int, pd.DataFrame], leads: list[int], lead: int, present: list[str]) -> str:
    """Claim (b): both LSTMs against SVR and Random Forest, ARX, pastas TFN, damped persistence and persistence.

    By median and per well.

    ``nse`` maps each lead to :func:`gwtl.report.summaries.metric_by_well`.
    """
    medians = {h: nse[h].median() for h in leads}

    def beats(a: str, b: str) -> str:
        c = compare.paired_wells(nse[lead][a], nse[lead][b])
        return f"{label(a)} beats {label(b)} on {c['wins']} of {c['n']} wells"

    lines = []
    for rivals, name in ((["svr", "rf"], "SVR and Random Forest"), (["arx"], "ARX"), (["tfn"], "the pastas TFN model"),
                         (["damped_persistence"], "damped persistence (no forcing)"), (["persistence"], "persistence")):
        rivals = [m for m in rivals if m in present]
        if not rivals:
            lines.append(f"- **vs {name}:** not scored in this run.")
            continue
        wins = "; ".join(beats(m, r) for m in ("tl", "it") for r in rivals)
        numbers = ", ".join(f"{label(m)} {medians[lead][m]:.2f}" for m in ("tl", "it", *rivals))
        lines.append(
            f"- **vs {name}:** median test NSE at lead {lead}: {numbers}. Both LSTMs have the higher median at "
            f"{leads_held(medians, rivals, leads)} (of {', '.join(map(str, leads))}). Per well at lead {lead}: {wins}.")
    return "**This run:**\n\n" + "\n".join(lines)


def tfn_text(nse: Mapping[int, pd.DataFrame], leads: list[int], lead: int, wins: pd.DataFrame,
             diagnostics: pd.DataFrame, wells: pd.DataFrame) -> str:
    """The hydrogeologists' baseline: pastas TFN against the LSTMs, its fits, and where it wins.

    ``wins`` is :func:`gwtl.report.summaries.tfn_wins` at ``lead``; ``diagnostics``
    the TFN fits' table; ``wells`` is ``wells.csv``.
    """
    means = ", ".join(f"lead {h}: {nse[h]['tfn'].mean():.2f} / {nse[h]['tfn'].median():.2f} "
                      f"(TL {nse[h]['tl'].mean():.2f} / {nse[h]['tl'].median():.2f})" for h in leads)
    status = diagnostics["status"].value_counts()
    corr = wells.set_index(wells["hzb"].astype(str))["corr_basin"].reindex(nse[lead].index)
    evp = diagnostics.set_index("well")["evp"]
    text = (f"**Pastas TFN** (one transfer-function noise model per well, `gwtl.models.tfn`): mean / median test NSE "
            f"{means}. Fits: {status.get('ok', 0)} converged, {status.get('not_converged', 0)} not converged, "
            f"{status.get('failed', 0)} failed (see `reports/tfn.html`); median training EVP "
            f"{evp.median():.0f} %. ")
    if wins.empty:
        return text + f"At lead {lead} it beats both LSTMs on no well."
    return text + (
        f"At lead {lead} it beats both LSTMs on {len(wins)} of {len(nse[lead]['tfn'].dropna())} wells (table below). "
        f"Their median correlation with the basin signal is {wins['corr_basin'].median():.2f} (all wells: "
        f"{corr.median():.2f}) and their median TFN EVP {wins['TFN EVP (%)'].median():.0f} % (all wells: "
        f"{evp.median():.0f} %).")


def cost_text(params: dict, inputs: Inputs, acc: pd.DataFrame, dev: pd.DataFrame, pretrain_s: float,
              lead: int, cores: int | None = None) -> str:
    """Claim (c): CPU per well and for the basin, TL against IT, at the accuracy each reaches.

    ``acc`` is :func:`gwtl.report.summaries.cost_accuracy`, ``dev``
    :func:`gwtl.report.summaries.development_cost` of the listed wells, ``pretrain_s``
    :func:`gwtl.report.summaries.pretrain_seconds`; ``cores`` (default: this
    machine's) is named with the absolute times.
    """
    ratio = dev["it"] / dev["tl"]
    basin_cpu = inputs.cost.query("well == 'basin'").set_index("model")["total_cpu_s"]
    fd = format_duration
    reach = smallest_budget_reaching(acc)
    budget_note = (
        f"The cheapest IT-LSTM whose mean *validation* NSE reaches TL's is {label(reach)}: "
        f"{acc.at[reach, 'x TL']:.1f}× TL's CPU per well, mean test NSE {acc.at[reach, 'mean NSE test']:.2f}."
        if reach else
        f"No measured IT budget (up to {params['it_lstm']['trials']} trials) reaches TL's mean validation NSE.")
    return (
        f"**This run:** per well, TL costs {fd(acc.at['tl', 'CPU s per well'])} of CPU (mean; fine-tuning plus "
        f"its share of the {fd(pretrain_s)} pre-training) and IT {fd(acc.at['it', 'CPU s per well'])} "
        f"({params['it_lstm']['trials']} Optuna trials and the training of its members); the per-well IT/TL ratio "
        f"has median {ratio.median():.1f}× (range {ratio.min():.1f}× to {ratio.max():.1f}× over "
        f"{ratio.notna().sum()} wells). For the whole basin TL needs {fd(basin_cpu['tl'])} and IT "
        f"{fd(basin_cpu['it'])} of CPU: IT costs {inputs.metrics['cost.it_over_tl']:.1f}× as much. At these costs the "
        f"mean test NSE at lead {lead} is {acc.at['tl', 'mean NSE test']:.2f} (TL) and "
        f"{acc.at['it', 'mean NSE test']:.2f} (IT). {budget_note} Absolute times are this machine's "
        f"({cores or os.cpu_count()} CPU cores) under this run's budgets; wall-clock times are in `reports/cost.csv` "
        "for information only."
    )


def weak_wells_text(stats: Mapping, weak: pd.DataFrame, median_corr: float) -> str:
    """Claim (d): the correlation over wells of TL's deficit with ``corr_basin``, and the verdict.

    ``stats`` is :func:`gwtl.report.summaries.gap_correlation`, ``weak`` the
    weakest wells (:func:`gwtl.report.summaries.weakest_wells`), ``median_corr`` the
    median ``corr_basin`` of the listed wells.
    """
    below = int((weak["corr_basin"] < median_corr).sum())
    return (
        f"**This run:** over {stats['n']} wells, TL−IT NSE correlates with the well's correlation to the basin "
        f"signal with Spearman ρ = {stats['spearman']:.2f} (permutation p = {stats['p_spearman']:.3f}) and "
        f"Pearson r = {stats['pearson']:.2f}. {below} of the {len(weak)} weakest wells lie below the median "
        f"correlation ({median_corr:.2f}). Does low correlation with the basin go with a TL deficit? "
        f"{compare.link_verdict(stats)}."
    )


def library_text(comparison: pd.DataFrame, comp: pd.DataFrame, choices: pd.DataFrame | None, lead: int) -> str:
    """The library of pre-trained models against TL: means, medians, wins, verdict, the weakest wells, members used.

    ``comp`` is :func:`gwtl.report.summaries.library_comparison` (its ``weak`` wells
    are the weakest for TL); ``choices`` the member each well started from.
    """
    first = pair_rows(comparison, "tl_library", "tl").loc[lead]
    weak = comp[comp["weak"]]
    moved = "" if choices is None else (
        f" {int((choices['member'] != 'basin').sum())} of {len(choices)} wells start from a member other than the "
        f"basin model ({', '.join(f'{m}: {k}' for m, k in choices['member'].value_counts().items())}).")
    return (
        f"**This run, lead {lead} month:** mean test NSE {first['mean_b']:.2f} (TL) against "
        f"{first['mean_a']:.2f} (TL-library), median {first['median_b']:.2f} against {first['median_a']:.2f}; the "
        f"library is better on {int(first['wins'])} of {int(first['n'])} wells. "
        f"{compare.verdict(first, 'TL-library', 'TL')}. On the {len(weak)} wells where TL is weakest "
        f"the median NSE goes from {weak['tl'].median():.2f} to {weak['tl_library'].median():.2f} and the library is "
        f"better on {int((weak['library_minus_tl'] > 0).sum())} of them.{moved}"
    )


def strategies_text(strat: pd.DataFrame, leads: list[int]) -> str | None:
    """The default TL strategy against IT on test, and its cost; None without a default.

    ``strat`` is the strategies table with its test columns
    (:func:`gwtl.report.inputs.load_strategies`: ``reports/strategies.csv``
    and the evaluate stage's test scores).

    Names the best strategy on mean validation NSE per lead, the default's
    test NSE minus IT's per lead (and whether it reaches IT at every lead)
    and whether it costs at most 1/50 of IT's CPU per well.
    """
    rows = strat[strat["strategy"] != "it"].set_index("strategy")
    best_val = {h: rows[f"nse_mean_validation_lead{h}"].idxmax() for h in leads}
    default = rows.index[rows["default"].astype(bool)]
    it_row = strat.set_index("strategy").loc["it"]
    if not len(default):
        return None
    d = rows.loc[default[0]]
    gaps = ", ".join(f"lead {h}: {d[f'nse_mean_test_lead{h}'] - it_row[f'nse_mean_test_lead{h}']:+.3f}" for h in leads)
    reached = all(d[f"nse_mean_test_lead{h}"] >= it_row[f"nse_mean_test_lead{h}"] for h in leads)
    return (
        f"**This run:** the default is `{default[0]}`. Best mean validation NSE per lead: "
        + ", ".join(f"lead {h}: `{s}`" for h, s in best_val.items()) + ". "
        f"The default's mean test NSE minus IT's: {gaps} "
        f"({'IT reached at every lead' if reached else 'IT not reached at every lead'}); its CPU per well is "
        f"1/{d['it_over_tl']:.1f} of IT's ({d['cpu_s_per_well']:.2f} s against {it_row['cpu_s_per_well']:.1f} s; "
        f"the goal of 1/50 is {'met' if d['it_over_tl'] >= 50 else '**not met**'})."
    )


def agreement_text(checks: list[float]) -> str | None:
    """How closely ``metrics.json`` agrees with ``results.csv`` (:func:`gwtl.report.summaries.metrics_agreement`); None if nothing to compare."""
    if not checks:
        return None
    return (f"metrics.json agrees with results.csv on {len(checks)} median NSE values "
            f"(largest difference {max(checks):.1e}).")


def limits_text(params: dict, wells: int) -> str:
    """The limits of this replication: basin, inputs, hyperparameters, monthly data, forcing mode, test period."""
    leads, test = params["forecast"]["leads"], params["split"]["test"]
    mode = params["forecast"]["mode"]
    forcing_note = (
        "The forecasts run in **observed-forcing** mode: the rain and discharge of the target month are taken "
        "as known, as in a hindcast with perfect weather forecasts. Most of the skill at leads beyond one month "
        "comes from knowing the target month's rain and discharge: forecasts issued without them (`dvc exp run -S "
        "forecast.mode=operational`) score far lower, so these scores are not the skill of a forecast for the "
        "coming months." if mode == "observed-forcing" else
        "The forecasts run in **operational** mode: no forcing after the issue month is used.")
    return f'''
- **Another basin.** The paper studies Kumamoto's volcanic aquifers; this run uses the porous alluvial
  aquifer of the {params["basin"]["name"]} on the Mur (Austria), with {wells} wells.
  Agreement or disagreement says how far the method carries, not whether the paper's numbers are right.
- **Inputs.** Areal precipitation and the Mur discharge ({", ".join(params["forecast"]["forcings"])});
  no pumping, temperature or evapotranspiration data.
- **Hyperparameters.** The paper does not give all of its settings; here they are tuned with Optuna under
  a trial budget ({params["pretrain"]["trials"]} trials for the pre-trained model, {params["it_lstm"]["trials"]}
  per IT-LSTM well, {params["baselines"]["trials"]} per baseline), so a larger budget might change the IT
  results and the cost ratio.
- **Monthly data.** Levels are monthly means; leads are {", ".join(map(str, leads))} months.
- **Forcing.** {forcing_note}
- **Test period.** {test[0]} to {test[1]}, one period of {len(pd.period_range(test[0], test[1], freq="M"))} months;
  scores of single wells rest on that many values at most.
'''
