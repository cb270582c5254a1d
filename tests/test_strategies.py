"""Pre-training sources, fine-tuning strategies and the strategies table, on small synthetic series."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gwtl.data.predictions import read_predictions
from gwtl.data.samples import pool_samples, well_samples
from gwtl.models.train import fit, fit_members, set_threads, split_rows
from gwtl.models.tune import well_seed
from gwtl.params import ParamsError, validate
from gwtl.transfer.strategies import default_strategy, run_strategies, strategy_table, variant
from gwtl.transfer.finetune import finetune_well, run_finetune_all
from gwtl.transfer.it_lstm import it_fixed_well, run_it_all
from gwtl.transfer.pretrain import load_bases, pretrain_samples, run_pretrain

from synthetic import tiny_params
from test_library import WELLS, library_params, two_groups
from gwtl.transfer.model_library import build_library, library_choices, read_library, run_finetune_library


@pytest.fixture(autouse=True)
def one_thread():
    set_threads(1)


def wells_params() -> dict:
    params = tiny_params(WELLS)
    params["pretrain"]["source"] = "wells"
    params["pretrain"]["trials"] = 1
    return params


@pytest.mark.slow
def test_joint_model_trains_on_every_wells_training_rows_and_nothing_later(tmp_path):
    params, data = wells_params(), two_groups()
    wells = [str(w) for w in WELLS]
    pooled = pretrain_samples(params, data, 6, wells)
    alone = [well_samples(params, data, w, 6) for w in wells]
    (x, y), (xv, yv) = split_rows(pooled, params["split"])
    parts = [split_rows(s, params["split"]) for s in alone]
    np.testing.assert_array_equal(x, np.concatenate([p[0][0] for p in parts]))
    np.testing.assert_array_equal(y, np.concatenate([p[0][1] for p in parts]))
    np.testing.assert_array_equal(yv, np.concatenate([p[1][1] for p in parts]))
    assert len(x) == sum(s.within(params["split"]["train"]).sum() for s in alone) > 6 * 100

    weights = lambda folder: [v.clone() for v in load_bases(folder)[0][0].state_dict().values()]
    run_pretrain(params, data, tmp_path / "a", log=None)
    test_changed = two_groups()
    test_changed.levels.loc["2016-01-01":] += 50.0  # the test period never reaches pre-training
    run_pretrain(params, test_changed, tmp_path / "b", log=None)
    assert all(torch.equal(a, b) for a, b in zip(weights(tmp_path / "a"), weights(tmp_path / "b")))
    last_changed = two_groups()
    last_changed.levels.loc["1995-01-01":"1995-12-01", wells[-1]] += 3.0  # every well's training rows count
    run_pretrain(params, last_changed, tmp_path / "c", log=None)
    assert not all(torch.equal(a, b) for a, b in zip(weights(tmp_path / "a"), weights(tmp_path / "c")))
    info = load_bases(tmp_path / "a")[1]
    assert info["source"] == "wells" and info["wells"] == wells


def test_pooling_refuses_mismatched_samples():
    params, data = tiny_params(WELLS), two_groups()
    with pytest.raises(ValueError, match="different windows"):
        pool_samples([well_samples(params, data, str(WELLS[0]), 6), well_samples(params, data, str(WELLS[1]), 8)])


def test_lstm_learning_rate_is_its_own():
    params, data = tiny_params(WELLS), two_groups()
    samples = well_samples(params, data, str(WELLS[0]), 6)
    pairs = split_rows(samples, params["split"])
    from gwtl.models.lstm import LSTMForecaster
    torch.manual_seed(0)
    model = LSTMForecaster(samples.x.shape[2], 8, 1, 0.0, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, *pairs, lr=0.02, lstm_lr=0.0, batch=64, max_epochs=5, patience=5, seed=0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("lstm."))
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_gradual_unfreezing_starts_from_the_head_only_fit_and_never_loses_on_validation(tmp_path):
    params, data = tiny_params(WELLS), two_groups()
    run_pretrain(params, data, tmp_path / "pre", log=None)
    bases, info = load_bases(tmp_path / "pre")
    samples = well_samples(params, data, str(WELLS[3]), info["window"])
    pairs = split_rows(samples, params["split"])
    kw = dict(seeds=[0, 1], lr=0.02, batch=64, max_epochs=40, patience=8)
    heads, head_hist = fit_members(bases, ["head"], *pairs, **kw)
    members, hist = fit_members(bases, ["lstm", "head"], *pairs, lstm_lr=0.02, gradual=True, **kw)
    for base, head, member, h0, h in zip(bases, heads, members, head_hist, hist):
        assert h.val_loss[:h0.epochs] == h0.val_loss and h.epochs > h0.epochs
        assert h.best_val <= h0.best_val
        same = all(torch.equal(a, b) for a, b in zip(member.state_dict().values(), head.state_dict().values()))
        lstm_moved = not torch.equal(member.lstm.weight_ih_l0, base.lstm.weight_ih_l0)
        # the LSTM phase is kept only when it beat the head-only weights on validation
        assert (h.best_epoch > h0.epochs and lstm_moved and not same) or (h.best_epoch == h0.best_epoch and same)
    assert any(h.best_epoch > h0.epochs for h0, h in zip(head_hist, hist)), "no member gained from the LSTM phase"
    with pytest.raises(ValueError, match="gradual"):
        fit_members(bases, ["head"], *pairs, gradual=True, **kw)


@pytest.mark.parametrize("key, value, match", [
    ("pretrain.source", "everything", "pretrain.source"),
    ("finetune.gradual", "yes", "finetune.gradual"),
    ("finetune.lstm_lr", 0, "finetune.lstm_lr"),
    ("strategies.sources", ["basin", "basin"], "strategies.sources"),
    ("strategies.finetune", ["lstm"], "strategies.finetune"),
])
def test_impossible_strategy_params_are_refused(key, value, match):
    params = tiny_params(WELLS)
    section, name = key.split(".")
    params[section][name] = value
    with pytest.raises(ParamsError, match=match):
        validate(params)
    params = tiny_params(WELLS)
    params["finetune"].update(trainable=["head"], gradual=True)
    with pytest.raises(ParamsError, match="finetune.gradual"):
        validate(params)


@pytest.mark.slow
def test_strategies_table_scores_every_source_and_strategy_and_the_default_is_the_finetune_stage(tmp_path):
    params, data = library_params(), two_groups()
    params["strategies"] = {"sources": ["basin", "wells", "clusters", "scratch"], "finetune": ["head", "gradual"],
                            "it_fixed": True}
    params["finetune"]["pretrained"] = str(tmp_path / "pretrain")
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    build_library(params, data, tmp_path / "library", pretrain=tmp_path / "pretrain", log=None)
    run_finetune_all(params, data, out=tmp_path / "finetune", n_jobs=1, log=None)
    run_finetune_library(params, data, tmp_path / "library", tmp_path / "tl_library", log=None)
    run_it_all(params, data, tmp_path / "it", n_jobs=1, log=None)
    meta = run_strategies(params, data, pretrain=tmp_path / "pretrain", library=tmp_path / "library",
                          out=tmp_path / "strategies", finetuned=tmp_path / "finetune",
                          tl_library=tmp_path / "tl_library", log=None).strategies
    sources = ("basin", "wells", "clusters", "scratch")
    assert list(meta["strategy"]) == [*(f"{s}/{f}" for s in sources for f in ("head", "gradual")), "it_fixed"]
    pred = read_predictions(tmp_path / "strategies" / "predictions.csv")
    assert pred.groupby("model")["well"].nunique().eq(len(WELLS)).all() and pred["model"].nunique() == 9
    # the controls: no pre-training charged; scratch starts from untrained weights, not from the bases
    assert (meta.set_index("strategy").loc[["scratch/head", "scratch/gradual", "it_fixed"], "cpu_s_pretrain"] == 0).all()
    head = pred[pred["model"].isin(["basin/head", "scratch/head"])].pivot_table(
        index=["well", "issue", "lead"], columns="model", values="forecast")
    assert not np.allclose(head["basin/head"], head["scratch/head"], atol=1e-3)
    assert (tmp_path / "strategies" / "pretrain_wells" / "model.pt").exists()
    assert load_bases(tmp_path / "strategies" / "pretrain_wells")[1]["source"] == "wells"

    default = default_strategy(params)
    assert default == "basin/head"
    # the two rows read from the finetune and finetune_library stages are what this stage would compute
    well = str(WELLS[2])
    member = read_library(tmp_path / "library").members.set_index("name")["path"]
    chosen = member[library_choices(params, data, read_library(tmp_path / "library")).set_index("well").loc[well, "member"]]
    for label, start in ((default, tmp_path / "pretrain"), ("clusters/head", chosen)):
        alone = finetune_well(variant(params, label.split("/")[0], "head"), data, well, start, label)
        mine = pred[(pred["model"] == label) & (pred["well"] == well)]
        np.testing.assert_allclose(mine["forecast"].to_numpy(), alone.table["forecast"].to_numpy(),
                                   rtol=0, atol=6e-5)  # CSV keeps 0.1 mm
    assert alone.cost["source"] == "basin" and alone.cost["trainable"] == ["head"] and alone.cost["gradual"] is False
    cost = pd.read_csv(tmp_path / "strategies" / "cost.csv").set_index(["strategy", "well"])["cpu_s"]
    stage = json.loads((tmp_path / "finetune" / well / "cost.json").read_text())["cpu_s"]
    assert cost[(default, int(well))] == pytest.approx(stage, rel=1e-3)

    table = strategy_table(params, tmp_path / "strategies", tmp_path / "it")
    assert list(table["strategy"]) == [*meta["strategy"], "it"]
    assert table["default"].sum() == 1 and table.loc[table["default"], "strategy"].item() == default
    for lead in params["forecast"]["leads"]:
        wins = table[f"wins_validation_lead{lead}"].dropna()
        assert ((wins >= 0) & (wins <= len(WELLS))).all()
        assert table[f"nse_mean_validation_lead{lead}"].notna().all()
    assert [c for c in table.columns if "test" in c] == []  # the test period is scored by evaluate alone
    clusters = table.set_index("strategy").loc["clusters/head"]
    assert clusters["cpu_s_pretrain"] > table.set_index("strategy").loc["basin/head", "cpu_s_pretrain"]
    assert (table["cpu_s_per_well"] > 0).all() and np.isclose(table["it_over_tl"].iloc[-1], 1.0)


def test_variant_sets_source_and_strategy_only():
    params = tiny_params(WELLS)
    v = variant(params, "wells", "gradual")
    assert v["pretrain"]["source"] == "wells" and v["finetune"]["trainable"] == ["lstm", "head"] and v["finetune"]["gradual"]
    assert params["pretrain"]["source"] == "basin" and variant(params, "clusters", "all")["pretrain"]["source"] == "basin"
    assert default_strategy(v) == "wells/gradual"


@pytest.mark.slow
def test_it_fixed_trains_the_pretrained_configuration_with_the_wells_it_seeds(tmp_path):
    params, data = library_params(), two_groups()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    _, info = load_bases(tmp_path / "pretrain")
    well = str(WELLS[0])
    done = it_fixed_well(params, data, well, tmp_path / "pretrain")
    assert done.info["hyperparameters"] == info["hyperparameters"]
    assert done.seeds == [well_seed(params["seed"], well) + i for i in range(params["ensemble"]["members"])]
    member = done.members[0]
    assert member.lstm.hidden_size == info["config"]["hidden"] and member.lstm.num_layers == info["config"]["layers"]
    assert set(done.table["model"]) == {"it_fixed"}


@pytest.mark.slow
def test_finetune_seeds_follow_the_master_seed(tmp_path):
    params, data = library_params(), two_groups()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    well = str(WELLS[0])
    first = finetune_well(params, data, well, tmp_path / "pretrain")
    params["seed"] = 7
    other = finetune_well(params, data, well, tmp_path / "pretrain")
    assert first.seeds == list(range(params["ensemble"]["members"]))
    assert other.seeds == [7 + i for i in range(params["ensemble"]["members"])]
    assert not np.allclose(first.table["forecast"], other.table["forecast"], atol=1e-4)
