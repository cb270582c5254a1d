"""Paired comparison of two models over the wells of one basin, and what it allows to claim.

The paper compares TL-LSTM and IT-LSTM by their mean NSE over wells (0.91
against 0.92 at a lead of one month). All wells of a basin are scored on one
shared test period (here six years), so they are not independent samples:
a dry year that one model handles badly lowers its NSE on every well at once.
For a pair of models ``a`` and ``b`` and one lead, :func:`compare_pair` gives

``n``
    wells with a score of both models.
``mean_a``, ``mean_b``, ``median_a``, ``median_b``
    mean (the paper's statistic) and median NSE over those wells.
``mean_diff``, ``median_diff``
    mean and median over wells of ``NSE_a - NSE_b``.
``wins``
    wells where ``a`` scores higher than ``b`` (ties count for neither).
``wilcoxon_p``
    two-sided Wilcoxon signed-rank test of the per-well differences
    (:func:`scipy.stats.wilcoxon`; wells with equal NSE are dropped; 1.0
    when every well ties). It treats the wells as independent: it answers
    "does one model score higher on most wells of *this* test period?".
``boot_lo``, ``boot_hi``
    2.5 and 97.5 % points of the mean over wells of ``NSE_a - NSE_b`` under
    a block bootstrap over test years (:func:`year_bootstrap`): the calendar
    years of the test period are drawn with replacement (a year drawn twice
    counts twice), and every well's NSE of both models is recomputed from
    the monthly forecasts of the drawn years. It answers "how much does the
    difference depend on which years were tested?"; the wells of one draw
    share its years, as they share the real test period.
``eq_lo``, ``eq_hi``, ``equivalence``
    the equivalence test (two one-sided tests, :func:`equivalence`) on the
    same year-bootstrap draws: the ``1 - 2 * 0.05 / 12`` interval of the mean
    difference (Bonferroni over the 12 comparisons of the claims table: four
    candidates against IT at three leads) and its verdict within
    ``MARGIN`` = 0.02 NSE: ``equivalent``, ``better``, ``worse`` or
    ``inconclusive``. One run is one master seed: the interval holds the
    test years' noise, not the seed's (``benchmarks/bench_seeds.py`` measures
    both together with :func:`seed_year_bootstrap`).
``years``
    calendar years of target months in the compared rows.

:func:`comparison_table` runs :func:`compare_pair` for every lead and pair
present (:data:`PAIRS`) on the rows the evaluate stage scored
(:func:`gwtl.evaluation.evaluate.scored_rows`: the common months of each well), so the
per-well NSE here is the NSE of ``reports/results.csv``.
:func:`verdict` turns one comparison into the sentence the report states;
:func:`link_verdict` does the same for the correlation over wells of TL's
deficit with a well's correlation to the basin signal
(:func:`gwtl.report.summaries.gap_correlation`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from gwtl.evaluation.metrics import nse

# (a, b) pairs compared when both models are present; a is the candidate, b the reference.
PAIRS = (("tl", "it"), ("tl_library", "it"), ("tl_library", "tl"), ("tl", "arx"), ("tl", "damped_persistence"))
# Keys of each comparison that go to metrics.json (``test.lead1.tl_vs_it.wins``, ...).
METRIC_KEYS = ("wins", "mean_diff", "wilcoxon_p", "boot_lo", "boot_hi", "eq_lo", "eq_hi")
DRAWS = 2000
SEED = 0
ALPHA = 0.05
MARGIN = 0.02  # equivalence margin of a mean NSE difference (two one-sided tests)
TESTS = 12  # comparisons in the claims table (4 candidates against IT at 3 leads): Bonferroni's divisor
COLUMNS = ["split", "lead", "a", "b", "n", "mean_a", "mean_b", "median_a", "median_b", "mean_diff",
           "median_diff", "wins", "wilcoxon_p", "boot_lo", "boot_hi", "eq_lo", "eq_hi", "equivalence", "years",
           "draws"]


def paired_wells(a: pd.Series, b: pd.Series) -> dict:
    """Compare two models' per-well scores (indexed by well) over the wells both have.

    Returns ``n``, ``mean_a``, ``mean_b``, ``median_a``, ``median_b``,
    ``mean_diff``, ``median_diff``, ``wins`` and ``wilcoxon_p`` (see the
    module docstring).
    """
    both = pd.concat([a, b], axis=1, keys=["a", "b"]).dropna()
    diff = (both["a"] - both["b"]).to_numpy(dtype=float)
    return {
        "n": len(both),
        "mean_a": both["a"].mean(), "mean_b": both["b"].mean(),
        "median_a": both["a"].median(), "median_b": both["b"].median(),
        "mean_diff": float(diff.mean()) if len(diff) else np.nan,
        "median_diff": float(np.median(diff)) if len(diff) else np.nan,
        "wins": int((diff > 0).sum()),
        "wilcoxon_p": wilcoxon_p(diff),
    }


def wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; 1.0 if all are 0, NaN if none."""
    diff = np.asarray(diff, dtype=float)
    if len(diff) == 0:
        return np.nan
    if not np.any(diff != 0):
        return 1.0
    return float(wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_forecasts(rows: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """One row per well and month with ``observed``, ``a`` and ``b`` (the forecasts of both models).

    ``rows`` is a predictions table of one lead (columns ``well``, ``model``,
    ``month``, ``observed``, ``forecast``); months where either forecast or
    the observation is missing are dropped.
    """
    part = rows[rows["model"].isin([a, b])]
    wide = part.pivot_table(index=["well", "month"], columns="model", values="forecast", aggfunc="first")
    wide = wide.reindex(columns=[a, b])
    wide.columns = ["a", "b"]
    observed = part.groupby(["well", "month"])["observed"].first()
    return wide.assign(observed=observed).dropna().reset_index()


def year_sums(paired: pd.DataFrame) -> tuple[list[str], list[int], dict[str, np.ndarray]]:
    """Per well and calendar year: months, sums of the centred observations and squares, both SSEs.

    Returns the wells, the years and arrays of shape (wells, years) named
    ``n``, ``s1``, ``s2``, ``sse_a``, ``sse_b``. Observations are centred on
    each well's mean first, which keeps the sums of squares exact for levels
    of hundreds of metres.
    """
    paired = paired.assign(year=pd.DatetimeIndex(paired["month"]).year)
    centred = paired["observed"] - paired.groupby("well")["observed"].transform("mean")
    paired = paired.assign(c=centred, c2=centred**2, ea=(paired["a"] - paired["observed"]) ** 2,
                           eb=(paired["b"] - paired["observed"]) ** 2, one=1.0)
    sums = paired.groupby(["well", "year"])[["one", "c", "c2", "ea", "eb"]].sum()
    wells = sorted(paired["well"].unique())
    years = sorted(paired["year"].unique())
    full = sums.reindex(pd.MultiIndex.from_product([wells, years]), fill_value=0.0)
    shape = (len(wells), len(years))
    arrays = {name: full[col].to_numpy(dtype=float).reshape(shape)
              for name, col in (("n", "one"), ("s1", "c"), ("s2", "c2"), ("sse_a", "ea"), ("sse_b", "eb"))}
    return wells, [int(y) for y in years], arrays


def nse_from_counts(counts: np.ndarray, sums: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """NSE of both models per draw and well when year ``y`` counts ``counts[:, y]`` times.

    ``counts`` has shape (draws, years), ``sums`` is the third value of
    :func:`year_sums`; returns two arrays of shape (draws, wells), NaN where
    a well has fewer than 2 months or no variance in the drawn years. With
    every count 1 this is each well's NSE over all its months.
    """
    counts = np.asarray(counts, dtype=float)
    n = counts @ sums["n"].T
    s1 = counts @ sums["s1"].T
    s2 = counts @ sums["s2"].T
    with np.errstate(divide="ignore", invalid="ignore"):
        sst = s2 - np.where(n > 0, s1**2 / n, 0.0)
        ok = (n >= 2) & (sst > 1e-12 * np.maximum(s2, 1e-300))
        nse_a = np.where(ok, 1.0 - (counts @ sums["sse_a"].T) / sst, np.nan)
        nse_b = np.where(ok, 1.0 - (counts @ sums["sse_b"].T) / sst, np.nan)
    return nse_a, nse_b


def year_bootstrap(paired: pd.DataFrame, *, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """Mean over wells of ``NSE_a - NSE_b`` for each of ``draws`` resamplings of the calendar years.

    ``paired`` is a :func:`paired_forecasts` table. Each draw takes as many
    years as there are, with replacement, and the same years for every well.
    Draws where no well has an NSE are left out.
    """
    _, years, sums = year_sums(paired)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(years), np.full(len(years), 1 / len(years)), size=draws)
    nse_a, nse_b = nse_from_counts(counts, sums)
    diff = nse_a - nse_b
    has = np.isfinite(diff).any(axis=1)
    return np.nanmean(diff[has], axis=1)


def seed_year_bootstrap(paired_by_seed: list[pd.DataFrame], *, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """Mean over seeds and wells of ``NSE_a - NSE_b`` for ``draws`` resamplings of seeds and years together.

    ``paired_by_seed`` holds one :func:`paired_forecasts` table per master
    seed (the whole training chain rerun under that seed; same wells and
    months). Each draw takes as many seeds as there are and as many calendar
    years as there are, both with replacement, and averages the drawn seeds'
    mean-over-wells difference on the drawn years. With one seed it is
    :func:`year_bootstrap`. Seed noise enters because a seed's luck (one set
    of pre-trained bases for every well) does not average over wells.
    """
    sums = [year_sums(paired) for paired in paired_by_seed]
    years = sums[0][1]
    if any(s[1] != years for s in sums):
        raise ValueError("the seeds' forecasts cover different years; score every seed on the same months")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(years), np.full(len(years), 1 / len(years)), size=draws)
    by_seed = []
    for _, _, arrays in sums:
        nse_a, nse_b = nse_from_counts(counts, arrays)
        by_seed.append(np.nanmean(nse_a - nse_b, axis=1))
    by_seed = np.array(by_seed)  # (seeds, draws)
    picks = rng.multinomial(len(sums), np.full(len(sums), 1 / len(sums)), size=draws)  # (draws, seeds)
    return (picks * by_seed.T).sum(axis=1) / len(sums)


def equivalence(boot: np.ndarray, *, margin: float = MARGIN, alpha: float = ALPHA, tests: int = TESTS) -> dict:
    """Two one-sided tests (TOST) of a mean NSE difference from its bootstrap draws ``boot``.

    The difference is *equivalent* to 0 within ``margin`` when the
    ``1 - 2 * alpha / tests`` percentile interval of ``boot`` lies inside
    ``(-margin, margin)`` (both one-sided tests reject at ``alpha / tests``:
    Bonferroni over the ``tests`` comparisons that a claims table makes);
    *better* when the interval lies above 0 and *worse* when below 0 without
    being equivalent; else *inconclusive*. An interval that is both above 0
    and inside the margin is ``equivalent`` with ``direction`` ``better``.

    Returns ``lo``, ``hi`` (the interval), ``level`` (its coverage),
    ``margin``, ``tests``, ``verdict`` and ``direction`` (``better``,
    ``worse`` or ``none``: the sign the interval excludes).
    """
    level = 1 - 2 * alpha / tests
    boot = np.asarray(boot, dtype=float)
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return {"lo": np.nan, "hi": np.nan, "level": level, "margin": margin, "tests": tests,
                "verdict": "inconclusive", "direction": "none"}
    lo, hi = np.percentile(boot, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    direction = "better" if lo > 0 else "worse" if hi < 0 else "none"
    if -margin < lo and hi < margin:
        name = "equivalent"
    elif direction != "none":
        name = direction
    else:
        name = "inconclusive"
    return {"lo": float(lo), "hi": float(hi), "level": level, "margin": margin, "tests": tests,
            "verdict": name, "direction": direction}


def compare_pair(rows: pd.DataFrame, a: str, b: str, *, draws: int = DRAWS, seed: int = SEED) -> dict:
    """Every statistic of the module docstring for models ``a`` and ``b`` on ``rows`` (one lead, one split)."""
    paired = paired_forecasts(rows, a, b)
    if paired.empty:
        raise ValueError(f"models {a} and {b} share no month with an observation; nothing to compare")
    scores = pd.DataFrame.from_dict(
        {well: {"a": nse(g["observed"], g["a"]), "b": nse(g["observed"], g["b"])}
         for well, g in paired.groupby("well")}, orient="index")
    out = paired_wells(scores["a"], scores["b"])
    boot = year_bootstrap(paired, draws=draws, seed=seed)
    lo, hi = np.percentile(boot, [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
    eq = equivalence(boot)
    return {**out, "boot_lo": float(lo), "boot_hi": float(hi), "eq_lo": eq["lo"], "eq_hi": eq["hi"],
            "equivalence": eq["verdict"],
            "years": int(pd.DatetimeIndex(paired["month"]).year.nunique()), "draws": len(boot)}


def comparison_table(rows: pd.DataFrame, *, split: str = "test", pairs=PAIRS, draws: int = DRAWS,
                     seed: int = SEED) -> pd.DataFrame:
    """:func:`compare_pair` for every lead and every pair of :data:`PAIRS` whose models are both in ``rows``.

    ``rows`` are the scored rows of the evaluate stage (columns ``well``,
    ``model``, ``lead``, ``month``, ``split``, ``observed``, ``forecast``);
    only the listed wells belong in it (not ``basin``). One row per lead and
    pair, columns :data:`COLUMNS`.
    """
    rows = rows[rows["split"] == split]
    present = set(rows["model"])
    records = []
    for lead, part in rows.groupby("lead", sort=True):
        for a, b in pairs:
            if a in present and b in present:
                records.append({"split": split, "lead": int(lead), "a": a, "b": b,
                                **compare_pair(part, a, b, draws=draws, seed=seed)})
    return pd.DataFrame(records, columns=COLUMNS)


def comparison_metrics(table: pd.DataFrame) -> dict:
    """``{split: {"lead<h>": {"<a>_vs_<b>": {key: value}}}}`` with the :data:`METRIC_KEYS` of each row."""
    tree: dict = {}
    for row in table.itertuples(index=False):
        entry = {k: getattr(row, k) for k in METRIC_KEYS}
        tree.setdefault(row.split, {}).setdefault(f"lead{row.lead}", {})[f"{row.a}_vs_{row.b}"] = entry
    return tree


def verdict(comparison: Mapping, a: str = "TL", b: str = "IT") -> str:
    """What one comparison allows to say, as a sentence for the report, in the words of the equivalence test.

    The verdict is :func:`equivalence`'s on the year bootstrap (``eq_lo``,
    ``eq_hi``, ``equivalence`` of :func:`compare_pair`): *equivalent* within
    ±``MARGIN`` NSE, *better*, *worse* or *inconclusive*, each at the
    Bonferroni level of the claims table's :data:`TESTS` comparisons. The
    Wilcoxon test over wells is quoted beside it: it treats the wells as
    independent samples, which they are not.
    """
    lo, hi, name = comparison["eq_lo"], comparison["eq_hi"], comparison["equivalence"]
    level = 1 - 2 * ALPHA / TESTS
    interval = (f"{level:.1%} year-bootstrap interval of the mean NSE difference {lo:+.3f} to {hi:+.3f}, "
                f"Bonferroni over {TESTS} comparisons; Wilcoxon p = {comparison['wilcoxon_p']:.3g} over "
                f"{int(comparison['n'])} wells")
    if name == "equivalent":
        ahead = (f"; {a} is ahead, by less than the margin" if lo > 0 else
                 f"; {b} is ahead, by less than the margin" if hi < 0 else "")
        return f"{a} and {b} are **equivalent** within ±{MARGIN} NSE ({interval}){ahead}"
    if name == "better":
        return f"{a} is **better** than {b} ({interval}: above 0, beyond the ±{MARGIN} margin)"
    if name == "worse":
        return f"{a} is **worse** than {b} ({interval}: below 0, beyond the ±{MARGIN} margin)"
    return (f"{a} and {b} are **neither shown equivalent nor different** ({interval}: it contains 0 and "
            f"reaches past ±{MARGIN})")


def claims_table(comparison: pd.DataFrame, a: str, b: str, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The comparison rows of the pair (``a``, ``b``), one per lead, with readable column names."""
    names = names or {}
    na, nb = names.get(a, a), names.get(b, b)
    rows = comparison[(comparison["a"] == a) & (comparison["b"] == b)].set_index("lead").sort_index()
    table = pd.DataFrame({
        "wells": rows["n"],
        f"mean {na}": rows["mean_a"], f"mean {nb}": rows["mean_b"],
        f"median {na}": rows["median_a"], f"median {nb}": rows["median_b"],
        f"mean {na}−{nb}": rows["mean_diff"],
        f"{na} better on": rows["wins"],
        "Wilcoxon p": rows["wilcoxon_p"],
        "years 2.5%": rows["boot_lo"], "years 97.5%": rows["boot_hi"],
        "equivalence (±0.02)": rows["equivalence"],
    })
    table.index.name = "lead (months)"
    return table


def link_verdict(stats: Mapping, alpha: float = ALPHA) -> str:
    """Does a low correlation with the basin go with a TL deficit? The answer for the report.

    ``stats`` is :func:`gwtl.report.summaries.gap_correlation` (TL-minus-IT NSE
    against ``corr_basin`` over wells): a significant positive Spearman
    coefficient is the paper's finding, a significant negative one the
    opposite, anything else no clear link at ``alpha``.
    """
    if stats["spearman"] > 0 and stats["p_spearman"] < alpha:
        return ("**yes**: the less a well follows the basin signal, the more TL loses against IT, "
                "as the paper found")
    if stats["spearman"] < 0 and stats["p_spearman"] < alpha:
        return "**the opposite**: TL loses more on wells that follow the basin signal closely"
    return f"**no clear link** at the {alpha:.0%} level in this run"
