"""The text of the replication report (gwtl.report.replication_text), on the synthetic project tree and small tables."""

import pandas as pd
import pytest
import yaml

from gwtl.params import validate
from gwtl.report import replication_text as rep
from gwtl.report import summaries as gs
from gwtl.report.inputs import load_inputs
from gwtl.report.model_names import models_in


@pytest.fixture(scope="module")
def tree(synthetic_tree):
    paths = synthetic_tree
    params = validate(yaml.safe_load(paths["params"].read_text()))
    inputs = load_inputs(params, **{k: paths[k] for k in ("processed", "models", "results", "cost", "metrics",
                                                          "comparison")})
    return params, inputs


def test_format_duration():
    assert [rep.format_duration(s) for s in (42, 90, 7200, 3 * 86400, float("nan"))] == [
        "42 s", "1.5 min", "2.0 h", "3.0 days", "n/a"]


def test_finetune_text_names_how_each_well_fine_tunes():
    params = {"pretrain": {"source": "basin"},
              "finetune": {"gradual": False, "trainable": ["head"], "lr": 0.02, "lstm_lr": 0.001}}
    assert "the head only (the paper) (head learning rate 0.02)" in rep.finetune_text(params)
    params["finetune"] |= {"trainable": ["lstm", "head"]}
    assert "the lstm and the head together (head learning rate 0.02, LSTM learning rate 0.001)" in rep.finetune_text(params)
    params["finetune"] |= {"gradual": True}
    assert "(gradual unfreezing)" in rep.finetune_text(params)


def test_config_table_is_one_row_per_setting():
    table = rep.config_table({"window": 18, "config": {"hidden": 64, "leads": [1, 2]}, "seed": None})
    assert table["value"].to_dict() == {"window": "18", "config.hidden": "64", "config.leads": "1, 2", "seed": "None"}


def test_config_table_reads_like_text_and_says_each_setting_once():
    config = {"config": {"hidden": 64, "dropout": 0.2068228743348062, "leads": [1, 2, 3]},
              "hyperparameters": {"hidden": 64, "dropout": 0.2068228743348062, "lr": 0.0054826772963003315,
                                  "layers": 2},
              "leads": [1, 2, 3], "wells": [], "layers": 1}
    table = rep.config_table(config)
    assert table["value"].to_dict() == {"config.hidden": "64", "config.dropout": "0.207", "config.leads": "1, 2, 3",
                                        "hyperparameters.lr": "0.00548", "hyperparameters.layers": "2",
                                        "layers": "1"}  # a different value under the same name stays


def test_leads_held():
    medians = {1: pd.Series({"tl": 0.9, "it": 0.8, "arx": 0.7}), 2: pd.Series({"tl": 0.6, "it": 0.8, "arx": 0.7})}
    assert rep.leads_held(medians, ["arx"], [1, 2]) == "leads 1"
    assert rep.leads_held(medians, ["arx"], [1]) == "every lead"
    assert rep.leads_held(medians, ["arx"], [2]) == "no lead"


def test_texts_of_the_synthetic_run(tree):
    params, inputs = tree
    lead, leads = inputs.lead, params["forecast"]["leads"]
    present = models_in(inputs.results)
    nse = {h: gs.metric_by_well(inputs.results, lead=h) for h in leads}
    assert f"{len(inputs.listed)} wells modelled" in rep.basin_text(params, inputs, present)
    assert "Verdict: " in rep.tl_it_text(inputs.comparison, lead)
    assert "share one test period of" in rep.shared_years_text(inputs.comparison, lead)
    rivals = rep.rivals_text(nse, leads, lead, present)
    assert "- **vs SVR and Random Forest:** not scored in this run." in rivals and "- **vs ARX:** median" in rivals
    acc = gs.cost_accuracy(inputs.results, inputs.cost, lead=lead)
    cost = rep.cost_text(params, inputs, acc, gs.development_cost(inputs.cost).reindex(inputs.listed),
                         gs.pretrain_seconds(inputs.cost, inputs.metrics), lead, cores=7)
    assert "per well, TL costs" in cost and "(7 CPU cores)" in cost
    weak = gs.weakest_wells(nse[lead], inputs.wells, n=5)
    text = rep.weak_wells_text(gs.gap_correlation(nse[lead], inputs.wells), weak, 0.5)
    assert "Does low correlation with the basin go with a TL deficit? **" in text
    assert "of the 3 weakest wells lie below" in text, "the count shown: 5 asked for, 3 wells"
    comp = gs.library_comparison(nse[lead], n=10)
    choices = pd.DataFrame({"well": inputs.listed, "member": ["basin", "c1", "c1"]})
    library = rep.library_text(inputs.comparison, comp, choices, lead)
    assert library.endswith(" 2 of 3 wells start from a member other than the basin model (c1: 2, basin: 1).")
    assert "On the 3 wells where TL is weakest" in library
    assert "On the 2 wells where TL is weakest" in rep.library_text(inputs.comparison, gs.library_comparison(
        nse[lead], n=2), None, lead)
    assert f"with {len(inputs.listed)} wells" in rep.limits_text(params, len(inputs.listed))
    assert "**operational** mode" in rep.limits_text({**params, "forecast": {**params["forecast"], "mode": "operational"}}, 3)


def test_strategies_text_checks_the_default_against_it():
    strat = pd.DataFrame({"strategy": ["basin/head", "basin/gradual", "it"], "default": [False, True, False],
                          "nse_mean_validation_lead1": [0.8, 0.9, 0.85], "nse_mean_test_lead1": [0.7, 0.86, 0.85],
                          "it_over_tl": [60.0, 8.0, 1.0], "cpu_s_per_well": [0.5, 3.0, 25.0]})
    text = rep.strategies_text(strat, [1])
    assert "the default is `basin/gradual`. Best mean validation NSE per lead: lead 1: `basin/gradual`." in text
    assert "lead 1: +0.010 (IT reached at every lead)" in text and "the goal of 1/50 is **not met**" in text
    assert rep.strategies_text(strat.assign(default=False), [1]) is None


def test_agreement_text():
    assert rep.agreement_text([]) is None
    assert rep.agreement_text([0.0, 2e-4]) == ("metrics.json agrees with results.csv on 2 median NSE values "
                                               "(largest difference 2.0e-04).")


def test_tfn_text_names_the_fits_and_the_wins():
    nse = {h: pd.DataFrame({"tfn": [0.9, 0.5], "tl": [0.8, 0.7], "it": [0.85, 0.6]}, index=["1", "2"])
           for h in (1, 3)}
    diagnostics = pd.DataFrame({"well": ["1", "2"], "evp": [80.0, 40.0], "status": ["ok", "not_converged"]})
    wells = pd.DataFrame({"hzb": [1, 2], "corr_basin": [0.3, 0.9]})
    wins = gs.tfn_wins(nse[1], diagnostics, wells)
    text = rep.tfn_text(nse, [1, 3], 1, wins, diagnostics, wells)
    assert "lead 1: 0.70 / 0.70 (TL 0.75 / 0.75)" in text
    assert "1 converged, 1 not converged, 0 failed" in text
    assert "beats both LSTMs on 1 of 2 wells" in text and "basin signal is 0.30 (all wells: 0.60)" in text
    none = rep.tfn_text(nse, [1, 3], 1, wins.iloc[:0], diagnostics, wells)
    assert none.endswith("At lead 1 it beats both LSTMs on no well.")


def test_claims_overview_sets_the_paper_tl_and_the_controls_against_it_with_their_cost():
    models = ["tl", "basin/head", "scratch/gradual", "it_fixed", "tl"]
    comparison = pd.DataFrame({"split": "test", "lead": [1, 1, 1, 1, 2], "a": models, "b": ["it"] * 4 + ["arx"],
                               "mean_a": [0.84, 0.83, 0.80, 0.82, 0.77], "mean_b": [0.83] * 5,
                               "mean_diff": [0.01, 0.0, -0.03, -0.01, -0.06], "eq_lo": [-0.005, -0.01, -0.06, -0.03, 0],
                               "eq_hi": [0.015, 0.012, -0.01, 0.01, 0], "equivalence":
                               ["equivalent", "equivalent", "worse", "inconclusive", "better"]})
    strat = pd.DataFrame({"strategy": ["basin/head", "basin/gradual", "scratch/gradual", "it_fixed", "it"],
                          "default": [False, True, False, False, False],
                          "cpu_s_finetune": [0.3, 2.7, 2.5, 5.3, None], "cpu_s_pretrain": [24.6, 24.6, 0.0, 0.0, None],
                          "cpu_s_per_well": [0.69, 3.09, 2.5, 5.3, 20.5]})
    table = rep.claims_overview(comparison, strat)
    assert len(table) == 4  # the TL-ARX row is not a claim against IT
    first = table.xs(1, level="lead")
    assert list(first["verdict (±0.02)"]) == ["equivalent", "equivalent", "worse", "inconclusive"]
    assert first["CPU s per well"].tolist() == [3.09, 0.69, 2.5, 5.3]  # TL costs what its default row costs
    assert first["IT / model CPU"].iloc[1] == pytest.approx(20.5 / 0.69)
    assert first.index[0].startswith("TL (default") and first.index[1].startswith("Paper's TL")
    text = rep.claims_text(strat, wells=63)
    # the search over strategies: every row's fine-tuning plus each distinct pre-training shared over the wells
    assert f"{0.3 + 2.7 + 2.5 + 5.3 + 24.6 / 63:.1f} s of CPU per well" in text and "**not charged**" in text
    assert rep.claims_overview(comparison[comparison["b"] == "arx"], None).empty
