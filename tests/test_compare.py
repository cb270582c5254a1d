"""Paired comparisons: hand-checkable cases, the bootstrap over test years, the verdict."""

import numpy as np
import pandas as pd
import pytest

from gwtl.evaluation import compare
from gwtl.evaluation.metrics import nse

YEARS = list(range(2016, 2022))
MONTHS = pd.date_range("2016-01-01", "2021-12-01", freq="MS")


def rows_of(observed: dict, forecasts: dict, lead: int = 1) -> pd.DataFrame:
    """Scored rows (test split) of wells ``observed[well]`` and models ``forecasts[model][well]``."""
    frames = []
    for model, by_well in forecasts.items():
        for well, fc in by_well.items():
            frames.append(pd.DataFrame({"well": well, "model": model, "lead": lead, "month": MONTHS,
                                        "split": "test", "observed": observed[well], "forecast": fc}))
    return pd.concat(frames, ignore_index=True)


def seasonal_wells(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    season = np.sin(2 * np.pi * np.arange(len(MONTHS)) / 12)
    return {str(i): 300 + 10 * i + season + rng.normal(0, 0.3, len(MONTHS)) for i in range(n)}


def well_bootstrap_interval(diff: np.ndarray, draws: int = 2000, seed: int = 0) -> np.ndarray:
    """The bootstrap over wells the issue warns against: resample wells, mean of the differences."""
    rng = np.random.default_rng(seed)
    return np.percentile(diff[rng.integers(0, len(diff), (draws, len(diff)))].mean(axis=1), [2.5, 97.5])


def test_a_better_in_every_month_of_every_well():
    obs = seasonal_wells(8)
    rng = np.random.default_rng(1)
    noise = {w: rng.normal(0, 1, len(MONTHS)) for w in obs}
    rows = rows_of(obs, {"a": {w: o + 0.1 * noise[w] for w, o in obs.items()},
                         "b": {w: o + 0.3 * noise[w] for w, o in obs.items()}})
    c = compare.compare_pair(rows, "a", "b")
    assert c["n"] == 8 and c["wins"] == 8
    assert c["boot_lo"] > 0
    assert c["wilcoxon_p"] == pytest.approx(2 / 2**8)  # exact test: all 8 signs positive
    assert c["years"] == 6 and c["draws"] == compare.DRAWS
    per_well = [nse(obs[w], obs[w] + 0.1 * noise[w]) for w in obs]
    assert c["mean_a"] == pytest.approx(np.mean(per_well))
    assert c["median_a"] == pytest.approx(np.median(per_well))
    assert c["equivalence"] == "better" and c["eq_lo"] > compare.MARGIN
    assert "A is **better** than B" in compare.verdict(c, "A", "B")


def test_one_year_driving_the_difference_is_caught_by_the_year_bootstrap():
    obs = seasonal_wells(10)
    rng = np.random.default_rng(2)
    in_2018 = MONTHS.year == 2018
    a = {w: o + rng.normal(0, 0.2, len(MONTHS)) for w, o in obs.items()}
    # b equals a except in 2018, where it is 0.8 m off on every well
    b = {w: np.where(in_2018, o + 0.8, a[w]) for w, o in obs.items()}
    c = compare.compare_pair(rows_of(obs, {"a": a, "b": b}), "a", "b")
    assert c["wins"] == 10 and c["mean_diff"] > 0.1
    # draws without 2018 (a third of them) give exactly no difference
    assert c["boot_lo"] <= 0 < c["boot_hi"]
    diff = np.array([nse(obs[w], a[w]) - nse(obs[w], b[w]) for w in obs])
    lo, _ = well_bootstrap_interval(diff)
    assert lo > 0.05, "a bootstrap over wells would call the difference certain"
    assert c["wilcoxon_p"] < 0.01
    assert c["equivalence"] == "inconclusive"
    assert "**neither shown equivalent nor different**" in compare.verdict(c, "A", "B")


def test_nse_from_counts_recomputes_each_wells_nse():
    obs = seasonal_wells(3)
    a = {w: o + 0.2 * np.cos(np.arange(len(o))) for w, o in obs.items()}
    b = {w: o + 0.1 for w, o in obs.items()}
    paired = compare.paired_forecasts(rows_of(obs, {"a": a, "b": b}), "a", "b")
    wells, years, sums = compare.year_sums(paired)
    assert years == YEARS
    counts = np.array([[1, 1, 1, 1, 1, 1], [2, 0, 0, 1, 0, 3]])
    nse_a, nse_b = compare.nse_from_counts(counts, sums)
    assert nse_a[0] == pytest.approx([nse(obs[w], a[w]) for w in wells], abs=1e-12)
    assert nse_b[0] == pytest.approx([nse(obs[w], b[w]) for w in wells], abs=1e-12)
    # draw 2: 2016 twice, 2019 once, 2021 three times; a repeated year counts as repeated months
    take = np.concatenate([np.flatnonzero(MONTHS.year == y) for y in [2016, 2016, 2019, 2021, 2021, 2021]])
    assert nse_a[1] == pytest.approx([nse(obs[w][take], a[w][take]) for w in wells], abs=1e-12)


def test_year_bootstrap_is_seeded_and_uses_one_draw_of_years_for_all_wells():
    obs = seasonal_wells(4)
    rng = np.random.default_rng(3)
    a = {w: o + rng.normal(0, 0.2, len(MONTHS)) for w, o in obs.items()}
    b = {w: o + rng.normal(0, 0.3, len(MONTHS)) for w, o in obs.items()}
    paired = compare.paired_forecasts(rows_of(obs, {"a": a, "b": b}), "a", "b")
    first = compare.year_bootstrap(paired, draws=50, seed=7)
    assert np.array_equal(first, compare.year_bootstrap(paired, draws=50, seed=7))
    assert not np.array_equal(first, compare.year_bootstrap(paired, draws=50, seed=8))
    counts = np.random.default_rng(7).multinomial(6, np.full(6, 1 / 6), size=50)
    nse_a, nse_b = compare.nse_from_counts(counts, compare.year_sums(paired)[2])
    assert first == pytest.approx((nse_a - nse_b).mean(axis=1))


def test_missing_observations_and_forecasts_are_dropped():
    obs = seasonal_wells(2)
    a = {w: o + 0.1 for w, o in obs.items()}
    b = {w: o - 0.2 for w, o in obs.items()}
    a["0"] = a["0"].copy()
    a["0"][:5] = np.nan
    obs["1"] = obs["1"].copy()
    obs["1"][-3:] = np.nan
    rows = rows_of(obs, {"a": a, "b": b})
    paired = compare.paired_forecasts(rows, "a", "b")
    assert paired.groupby("well").size().to_dict() == {"0": len(MONTHS) - 5, "1": len(MONTHS) - 3}
    c = compare.compare_pair(rows, "a", "b")
    keep = ~np.isnan(a["0"])
    assert c["mean_a"] == pytest.approx(np.mean([nse(obs["0"][keep], a["0"][keep]), nse(obs["1"], a["1"])]))
    assert np.isfinite(c["boot_lo"]) and c["wins"] == 2


def test_paired_wells_by_hand():
    a = pd.Series([0.9, 0.8, 0.7, 0.6], index=list("abcd"))
    b = pd.Series([0.8, 0.85, 0.5, np.nan], index=list("abcd"))
    c = compare.paired_wells(a, b)
    assert c["n"] == 3 and c["wins"] == 2
    assert c["mean_diff"] == pytest.approx(0.25 / 3)
    assert c["median_diff"] == pytest.approx(0.1)
    assert c["mean_b"] == pytest.approx(2.15 / 3)
    # differences 0.1, -0.05, 0.2: ranks 2, 1, 3, W- = 1; exact two-sided p = 2 * 2/8
    assert c["wilcoxon_p"] == pytest.approx(0.5)
    assert compare.wilcoxon_p(np.zeros(4)) == 1.0
    assert np.isnan(compare.wilcoxon_p(np.array([])))


def test_comparison_table_pairs_leads_and_metric_keys():
    obs = seasonal_wells(3)
    models = {m: {w: o + s for w, o in obs.items()} for m, s in (("tl", 0.1), ("it", 0.2), ("arx", 0.3))}
    rows = pd.concat([rows_of(obs, models, lead=1), rows_of(obs, models, lead=3)], ignore_index=True)
    rows.loc[rows["month"] < "2016-06-01", "split"] = "validation"
    table = compare.comparison_table(rows, draws=100)
    assert list(table.columns) == compare.COLUMNS
    assert table[["lead", "a", "b"]].values.tolist() == [[1, "tl", "it"], [1, "tl", "arx"],
                                                          [3, "tl", "it"], [3, "tl", "arx"]]
    assert (table["split"] == "test").all() and (table["wins"] == 3).all()
    tree = compare.comparison_metrics(table)
    assert set(tree["test"]) == {"lead1", "lead3"}
    assert set(tree["test"]["lead1"]) == {"tl_vs_it", "tl_vs_arx"}
    assert set(tree["test"]["lead1"]["tl_vs_it"]) == {"wins", "mean_diff", "wilcoxon_p", "boot_lo", "boot_hi",
                                                        "eq_lo", "eq_hi"}
    claims = compare.claims_table(table, "tl", "it", {"tl": "TL", "it": "IT"})
    assert list(claims.index) == [1, 3]
    assert claims.loc[1, "TL better on"] == 3
    assert claims.loc[1, "mean TL−IT"] == pytest.approx(table.loc[0, "mean_diff"])


@pytest.mark.parametrize(("boot", "expected"), [
    (np.linspace(-0.01, 0.015, 1001), "equivalent"),  # inside ±0.02
    (np.linspace(0.005, 0.015, 1001), "equivalent"),  # above 0 too, but by less than the margin
    (np.linspace(0.01, 0.05, 1001), "better"),
    (np.linspace(-0.05, -0.01, 1001), "worse"),
    (np.linspace(-0.01, 0.03, 1001), "inconclusive"),
])
def test_equivalence_two_one_sided_tests(boot, expected):
    result = compare.equivalence(boot)
    assert result["verdict"] == expected
    level = 1 - 2 * 0.05 / 12
    assert result["level"] == pytest.approx(level) and result["tests"] == 12 and result["margin"] == 0.02
    assert result["lo"] == pytest.approx(np.percentile(boot, 100 * (1 - level) / 2))
    assert result["hi"] == pytest.approx(np.percentile(boot, 100 * (1 + level) / 2))


def test_equivalence_needs_the_bonferroni_interval_not_the_95_percent_one():
    # a 95 % interval inside the margin, the 99.2 % interval of 12 tests not: inconclusive, not equivalent
    boot = np.random.default_rng(0).normal(0.0, 0.0095, 20000)
    assert np.percentile(boot, 97.5) < 0.02 < np.percentile(boot, 100 - 100 * 0.05 / 12)
    assert compare.equivalence(boot, tests=1)["verdict"] == "equivalent"
    assert compare.equivalence(boot)["verdict"] == "inconclusive"


@pytest.mark.parametrize(("lo", "hi", "name", "expected"), [
    (-0.005, 0.012, "equivalent", "TL and IT are **equivalent** within ±0.02 NSE"),
    (0.004, 0.012, "equivalent", "TL and IT are **equivalent**"),
    (0.03, 0.05, "better", "TL is **better** than IT"),
    (-0.05, -0.03, "worse", "TL is **worse** than IT"),
    (-0.01, 0.04, "inconclusive", "TL and IT are **neither shown equivalent nor different**"),
])
def test_verdict(lo, hi, name, expected):
    sentence = compare.verdict({"wilcoxon_p": 0.01, "eq_lo": lo, "eq_hi": hi, "equivalence": name, "n": 20})
    assert sentence.startswith(expected)
    assert "Bonferroni over 12 comparisons" in sentence
    assert ("TL is ahead, by less than the margin" in sentence) == (name == "equivalent" and lo > 0)


def test_seed_year_bootstrap_adds_the_seeds_spread():
    obs = seasonal_wells(6)
    rng = np.random.default_rng(4)
    noise = {w: rng.normal(0, 1, len(MONTHS)) for w in obs}
    b = {w: o + 0.3 * noise[w] for w, o in obs.items()}
    # one seed of a is as good as b on every well, another clearly better: the seed is a shared luck
    seeds = [rows_of(obs, {"a": {w: o + s * noise[w] for w, o in obs.items()}, "b": b}) for s in (0.3, 0.1)]
    paired = [compare.paired_forecasts(r, "a", "b") for r in seeds]
    one = compare.seed_year_bootstrap(paired[:1], draws=400, seed=1)
    assert np.allclose(one, compare.year_bootstrap(paired[0], draws=400, seed=1))  # one seed: the year bootstrap
    both = compare.seed_year_bootstrap(paired, draws=400, seed=1)
    years_only = [compare.year_bootstrap(p, draws=400, seed=1) for p in paired]
    assert np.std(both) > 2 * max(np.std(y) for y in years_only)  # the seeds' disagreement widens it
    assert np.min(both) == pytest.approx(np.min(years_only[0]), abs=0.02)


@pytest.mark.parametrize("rho, p, expected", [
    (0.6, 0.01, "**yes**"), (-0.6, 0.01, "**the opposite**"), (0.6, 0.2, "**no clear link** at the 5% level"),
    (-0.6, 0.05, "**no clear link**")])
def test_link_verdict(rho, p, expected):
    assert compare.link_verdict({"spearman": rho, "p_spearman": p}).startswith(expected)
