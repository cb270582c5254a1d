"""Stages pretrain, finetune and IT on a tiny synthetic basin: outputs, errors and no leakage."""

import json

import pandas as pd
import pytest
import torch

from gwtl.data.predictions import COLUMNS, read_predictions
from gwtl.models.train import predict, set_threads
from gwtl.models.tune import well_seed
from gwtl.transfer.ensemble import load_members
from gwtl.transfer.finetune import run_finetune
from gwtl.transfer.it_lstm import run_it, run_it_all
from gwtl.transfer.pretrain import load_bases, load_pretrained, run_pretrain

from synthetic import WELLS, synthetic_processed, tiny_params

WELL = WELLS[1]


@pytest.fixture(autouse=True)
def one_thread():
    set_threads(1)


def run_all(tmp, data, params):
    """All three stages into ``tmp``; every trained weight and every validation loss, by stage."""
    results = {"pretrain": run_pretrain(params, data, tmp / "pretrain", log=None),
               "finetune": run_finetune(params, WELL, data, tmp / "pretrain", tmp / "finetune"),
               "it": run_it(params, WELL, data, tmp / "it", log=None)}
    saved = {"pretrain": torch.load(tmp / "pretrain" / "model.pt", weights_only=True)["state_dict"]}
    for stage in ("finetune", "it"):
        for i, state in enumerate(torch.load(tmp / stage / "model.pt", weights_only=True)["state_dicts"]):
            saved[f"{stage}{i}"] = state
    losses = {stage: r.history["val_loss"].tolist() for stage, r in results.items()}
    losses.update({f"{stage} trials": r.trials["val_loss"].tolist() for stage, r in results.items()
                   if r.trials is not None})
    return saved, losses


def identical(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[s][k], b[s][k]) for s in a for k in a[s])


@pytest.mark.slow
def test_test_period_never_reaches_training(tmp_path):
    """Test-period values (well, basin, forcings) change no weight and no validation loss; a training value does."""
    params = tiny_params()
    base, base_losses = run_all(tmp_path / "a", synthetic_processed(), params)

    changed = synthetic_processed()
    test = changed.levels.index >= "2016-01-01"
    changed.levels.loc[test, str(WELL)] += 5.0
    changed.basin.loc[test, "basin"] *= -3.0
    changed.forcings.loc[test] *= 2.0
    weights, losses = run_all(tmp_path / "b", changed, params)
    assert identical(base, weights)
    assert losses == base_losses  # nothing of the test period enters early stopping or tuning either

    trained = synthetic_processed()
    trained.levels.loc["2000-06-01", str(WELL)] += 1.0
    trained.basin.loc["2000-06-01", "basin"] += 1.0
    other, _ = run_all(tmp_path / "c", trained, params)
    for stage in ("pretrain", "finetune0", "it0"):
        assert not all(torch.equal(base[stage][k], other[stage][k]) for k in base[stage]), stage


@pytest.mark.slow
def test_stage_outputs(tmp_path):
    params, data = tiny_params(), synthetic_processed()
    pre = run_pretrain(params, data, tmp_path / "pretrain", log=None)
    files = {p.name for p in (tmp_path / "pretrain").iterdir()}
    assert files == {"model.pt", "config.json", "trials.csv", "history.csv", "predictions.csv", "cost.json"}
    assert list(pd.read_csv(tmp_path / "pretrain" / "history.csv").columns) == ["epoch", "train_loss", "val_loss"]
    table = read_predictions(tmp_path / "pretrain" / "predictions.csv")
    assert list(table.columns) == COLUMNS and set(table.model) == {"pretrain"} and set(table.well) == {"basin"}
    assert set(table.split) >= {"train", "validation", "test"}
    cost = json.loads((tmp_path / "pretrain" / "cost.json").read_text())
    assert {"wall_s", "cpu_s", "trials", "epochs", "trainable_params"} <= cost.keys() and cost["trials"] == 2
    assert cost["bases"] == 2
    assert len(pd.read_csv(tmp_path / "pretrain" / "trials.csv")) == 2
    assert json.loads((tmp_path / "pretrain" / "config.json").read_text())["leads"] == params["forecast"]["leads"]

    tl = run_finetune(params, WELL, data, tmp_path / "pretrain", tmp_path / "tl")
    table = read_predictions(tmp_path / "tl" / "predictions.csv")
    assert list(table.columns) == COLUMNS and set(table.model) == {"tl"} and set(table.well) == {str(WELL)}
    assert table.forecast.notna().all()
    assert list(tl.history.columns) == ["member", "epoch", "train_loss", "val_loss"]
    assert set(tl.history.member) == {0, 1}
    assert tl.cost["seeds"] == [0, 1] and len(tl.cost["epochs"]) == 2
    assert tl.cost["trainable_params"] == pre.config["config"]["hidden"] * 3 + 3  # head only

    members, info = load_members(tmp_path / "tl")
    assert len(members) == 2 and info["trained"] == ["head"]
    base, _ = load_pretrained(tmp_path / "pretrain")
    assert torch.equal(members[0].lstm.weight_hh_l0, base.lstm.weight_hh_l0)
    assert not torch.equal(members[0].head.weight, base.head.weight)

    it = run_it(params, WELL, data, tmp_path / "it", log=None)
    assert {p.name for p in (tmp_path / "it").iterdir()} == {"model.pt", "config.json", "trials.csv", "history.csv",
                                                             "predictions.csv", "cost.json", "budgets.csv"}
    assert set(it.predictions.model) == {"it"} and it.cost["trials"] == 3
    assert set(read_predictions(tmp_path / "it" / "predictions.csv").model) == {"it", "it_2"}
    members, _ = load_members(tmp_path / "it")
    assert len(members) == 2
    assert not list(tmp_path.glob(".*"))  # no temporary folders left


@pytest.mark.slow
def test_members_reproduce_the_written_forecast(tmp_path):
    params, data = tiny_params(), synthetic_processed()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    result = run_finetune(params, WELL, data, tmp_path / "pretrain", tmp_path / "tl")
    members, info = load_members(tmp_path / "tl")
    from gwtl.data.samples import well_samples
    import numpy as np
    samples = well_samples(params, data, str(WELL), info["window"])
    level = samples.to_level(np.median([predict(m, samples.x) for m in members], axis=0))
    lead1 = result.predictions[result.predictions.lead == 1].forecast.to_numpy()
    assert np.allclose(level[:, 0], lead1)


def test_unknown_well_and_missing_inputs_are_named(tmp_path):
    params, data = tiny_params(), synthetic_processed()
    with pytest.raises(ValueError, match="well 123456 is not in the prepared data.*basin.wells of params.yaml"):
        run_finetune(params, 123456, data, tmp_path / "pretrain", tmp_path / "x")
    with pytest.raises(ValueError, match="well 123456"):
        run_it(params, 123456, data, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="dvc repro pretrain"):
        run_finetune(params, WELL, data, tmp_path / "missing", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="dvc repro prepare"):
        run_pretrain(params, tmp_path / "no-processed", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_finetune_refuses_a_pretrained_model_of_other_settings(tmp_path):
    params, data = tiny_params(), synthetic_processed()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    params["forecast"]["leads"] = [1, 2]
    with pytest.raises(ValueError, match="run `dvc repro pretrain` first"):
        run_finetune(params, WELL, data, tmp_path / "pretrain", tmp_path / "tl")


@pytest.mark.slow
def test_it_for_all_wells_does_not_depend_on_the_workers(tmp_path):
    params, data = tiny_params(), synthetic_processed()
    result = run_it_all(params, data, tmp_path / "one", n_jobs=1, log=None)
    alone = result.wells
    side_by_side = run_it_all(params, data, tmp_path / "two", n_jobs=2, log=None).wells
    assert result.out == tmp_path / "one" and set(result.predictions["model"]) == {"it"}
    assert sorted(alone.well) == sorted(str(w) for w in WELLS) == sorted(result.predictions["well"].unique())
    pd.testing.assert_frame_equal(alone.drop(columns=["wall_s", "cpu_s"]), side_by_side.drop(columns=["wall_s", "cpu_s"]))
    for well in WELLS:
        one = (tmp_path / "one" / str(well) / "predictions.csv").read_bytes()
        assert one == (tmp_path / "two" / str(well) / "predictions.csv").read_bytes()
    # the member trained with the search's seed is the best trial, not trained twice
    trials = pd.read_csv(tmp_path / "one" / str(WELL) / "trials.csv")
    best = trials.loc[trials.val_loss.idxmin()]
    history = pd.read_csv(tmp_path / "one" / str(WELL) / "history.csv")
    assert (history.member == 0).sum() == best.epochs


def test_it_for_all_wells_refuses_unknown_wells_before_training(tmp_path):
    params, data = tiny_params(), synthetic_processed()
    params["basin"]["wells"] = [*WELLS, 123456]
    with pytest.raises(ValueError, match="123456"):
        run_it_all(params, data, tmp_path / "it", log=None)
    assert not (tmp_path / "it").exists()


@pytest.mark.slow
def test_tl_members_start_from_their_own_pre_trained_bases(tmp_path):
    """Each TL member fine-tunes its own base (the best configuration pre-trained with its own seed)."""
    params, data = tiny_params(), synthetic_processed()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    bases, info = load_bases(tmp_path / "pretrain")
    assert len(bases) == params["ensemble"]["members"] == 2 and info["base_seeds"] == [0, 1]
    assert not torch.equal(bases[0].lstm.weight_hh_l0, bases[1].lstm.weight_hh_l0)
    first, _ = load_pretrained(tmp_path / "pretrain")
    assert torch.equal(first.lstm.weight_hh_l0, bases[0].lstm.weight_hh_l0)
    run_finetune(params, WELL, data, tmp_path / "pretrain", tmp_path / "tl")
    members, _ = load_members(tmp_path / "tl")
    for member, base in zip(members, bases):
        assert torch.equal(member.lstm.weight_hh_l0, base.lstm.weight_hh_l0)
        assert not torch.equal(member.head.weight, base.head.weight)


@pytest.mark.slow
def test_it_searches_each_well_with_its_own_seed(tmp_path):
    """Every well gets its own seeded search, so the wells' trials explore different configurations."""
    params, data = tiny_params(), synthetic_processed()
    configs = {}
    for well in WELLS[:2]:
        result = run_it(params, well, data, tmp_path / str(well), log=None)
        assert result.cost["seed"] == well_seed(params["seed"], str(well))
        assert result.cost["seeds"] == [result.cost["seed"] + i for i in range(2)]
        trials = pd.read_csv(tmp_path / str(well) / "trials.csv")
        configs[well] = trials[["layers", "dropout", "lr"]].round(6).to_numpy().tolist()
    assert configs[WELLS[0]] != configs[WELLS[1]]
    assert well_seed(0, "900001") == well_seed(0, "900001") != well_seed(0, "900002")


@pytest.mark.slow
def test_it_budget_curve_is_the_best_of_the_first_trials(tmp_path):
    """it_<k> is what a k-trial search gives: the best of the first k trials, with its own cost."""
    params, data = tiny_params(), synthetic_processed()
    params["it_lstm"].update(trials=4, budgets=[1, 2])
    result = run_it(params, WELL, data, tmp_path / "it", log=None)
    trials = pd.read_csv(tmp_path / "it" / "trials.csv")
    budgets = pd.read_csv(tmp_path / "it" / "budgets.csv")
    table = read_predictions(tmp_path / "it" / "predictions.csv")
    assert list(budgets.trials) == [1, 2] and set(table.model) == {"it", "it_1", "it_2"}
    for row in budgets.itertuples():
        first = trials[(trials.trial < row.trials) & (trials.state == "complete")]
        assert row.trial == first.loc[first.val_loss.idxmin(), "trial"]
        assert row.cpu_s < result.cost["cpu_s"]
        same = row.trial == result.config["hyperparameters"]["trial"]
        a = table[table.model == f"it_{row.trials}"].forecast.to_numpy()
        b = table[table.model == "it"].forecast.to_numpy()
        assert same == (len(a) == len(b) and bool((a == b).all()))
    assert [b["trials"] for b in result.cost["budgets"]] == [1, 2]
    alone = tiny_params()
    alone["it_lstm"].update(trials=2, budgets=[])
    short = run_it(alone, WELL, data, tmp_path / "short", log=None)
    assert short.config["hyperparameters"]["trial"] == budgets.trial.iloc[1]
    again = read_predictions(tmp_path / "short" / "predictions.csv")
    two = table[table.model == "it_2"].drop(columns="model").reset_index(drop=True)
    pd.testing.assert_frame_equal(again.drop(columns="model").reset_index(drop=True), two)
