"""Tables and statistics of the replication report (gwtl.report.summaries)."""

import numpy as np
import pandas as pd
import pytest

from gwtl.report import summaries as gs
from synthetic_results import COST


def test_development_cost_is_cpu_with_the_pretraining_share():
    cost = gs.development_cost(COST)
    assert list(cost.columns) == ["tl", "it"]
    assert cost.loc["2"].tolist() == [258.0, 80.0]
    assert gs.pretrain_seconds(COST, {}) == 500
    assert gs.pretrain_seconds(COST[COST["model"] != "pretrain"], {"cost.pretrain_cpu_s": 12.0}) == 12
    with pytest.raises(ValueError, match="total_cpu_s.*dvc repro"):
        gs.development_cost(COST.drop(columns=["total_cpu_s"]))
    summary = gs.cost_summary(COST)
    assert list(summary.index) == ["tl", "it", "it_5", "arx"]
    assert summary.loc["tl"].tolist() == [258.5, 258.5, 250.0, 517.0]


def test_gap_correlation():
    corr = np.linspace(0.2, 0.95, 12)
    nse = pd.DataFrame({"tl": 0.9 - (1 - corr) * 0.5, "it": np.full(12, 0.9)}, index=[str(i) for i in range(12)])
    wells = pd.DataFrame({"hzb": nse.index, "corr_basin": corr})
    stats = gs.gap_correlation(nse, wells)
    assert stats["spearman"] == pytest.approx(1.0)
    assert stats["p_spearman"] < 0.01
    weakest = gs.weakest_wells(nse, wells, n=2)
    assert list(weakest.index) == ["0", "1"]


NSE = pd.DataFrame({"tl": [0.9, 0.5, 0.8], "it": [0.85, 0.7, 0.8]}, index=["1", "2", "3"])
WELLS = pd.DataFrame({"hzb": ["1", "2", "3", "9"], "name": ["A", "B", "C", "Z"], "corr_basin": [0.9, 0.3, 0.6, 0.1],
                      "elevation": [300.0, 310, 320, 330], "coverage": [1.0, 0.9, 0.95, 0.5]})


def test_weakest_wells_ranked_ranks_corr_among_the_listed_wells():
    weak = gs.weakest_wells_ranked(NSE, WELLS, ["1", "2", "3"], n=2)
    assert list(weak.index) == ["2", "3"]
    assert weak["corr rank (1 = lowest)"].tolist() == [1, 2]


def test_per_well_table_is_sorted_by_tl_with_well_properties():
    table = gs.per_well_table(NSE, WELLS)
    assert list(table.index) == ["1", "3", "2"]
    assert list(table.columns) == ["tl", "it", "name", "corr_basin", "elevation", "coverage"]


def test_nse_table_names_models_and_leads():
    rows = pd.DataFrame([{"well": w, "model": m, "lead": h, "split": "test", "nse": v}
                         for w, v in (("1", 0.9), ("2", 0.5), ("basin", -5.0)) for m in ("it", "tl") for h in (1, 2)])
    table = gs.nse_table(rows)
    assert list(table.index) == ["TL-LSTM", "IT-LSTM"]
    assert list(table.columns) == ["median NSE, lead 1", "median NSE, lead 2", "mean NSE, lead 1", "mean NSE, lead 2"]
    assert table.iloc[0, 0] == pytest.approx(0.7), "the basin signal is left out"


def test_metrics_agreement_compares_every_median_nse_key():
    rows = pd.DataFrame({"well": ["1", "2"], "model": "tl", "lead": 1, "split": "test", "nse": [0.8, 0.6]})
    summary = gs.summary_table(rows)
    checks = gs.metrics_agreement(summary, {"test.lead1.nse_median.tl": 0.71, "test.lead2.nse_median.tl": 0.1,
                                            "cost.it_over_tl": 9.0})
    assert checks == [pytest.approx(0.01)]


def test_tfn_wins_are_the_wells_where_it_beats_both_lstms():
    nse = pd.DataFrame({"tfn": [0.9, 0.5, 0.8, np.nan], "tl": [0.8, 0.7, 0.85, 0.9], "it": [0.85, 0.6, 0.7, 0.9]},
                       index=["1", "2", "3", "4"])
    diagnostics = pd.DataFrame({"well": ["1", "2", "3", "4"], "evp": [80.0, 40.0, 60.0, np.nan],
                                "status": ["ok", "ok", "ok", "failed"]})
    wells = pd.DataFrame({"hzb": [1, 2, 3, 4], "corr_basin": [0.3, 0.9, 0.8, 0.7]})
    wins = gs.tfn_wins(nse, diagnostics, wells)
    assert list(wins.index) == ["1"]  # well 3 beats IT only; well 4 has no TFN forecast
    assert wins.loc["1", "margin"] == pytest.approx(0.05)
    assert wins.loc["1", ["TFN EVP (%)", "corr_basin"]].tolist() == [80.0, 0.3]
