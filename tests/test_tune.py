"""gwtl.models.tune: the seeded Optuna search on a tiny synthetic well, and each of its steps.

One search (8 trials, seed 3, two windows) is run once for the module; in it
trial 7 is pruned, so both kinds of rows are there.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from gwtl.data.samples import well_samples
from gwtl.models.train import History, set_threads
from gwtl.models.tune import (HYPERPARAMETERS, PRUNE_AFTER_TRIALS, TRIAL_COLUMNS, EpochReport, TrialRecord,
                              WindowData, train_config, trial_line, trial_row, tune, well_seed)

from synthetic import synthetic_processed, tiny_params

PARAMS = tiny_params()
SPACE = {**PARAMS["pretrain"]["search"], "window": [6, 12], "hidden": [4, 8]}
SETTINGS = {"trials": 8, "seed": 3, "max_epochs": 10, "patience": 2}
CONFIG = {"window": 6, "hidden": 4, "layers": 1, "dropout": 0.125, "lr": 0.01, "batch": 64}


class Counted:
    """``make_samples`` of one synthetic well that counts its calls by window."""

    def __init__(self, data=None):
        self.data = synthetic_processed() if data is None else data
        self.calls: list[int] = []

    def __call__(self, window: int):
        self.calls.append(window)
        return well_samples(PARAMS, self.data, "900001", window)


def search(make_samples=None, **settings):
    """A tune run on the synthetic well: the result and its log lines."""
    lines: list[str] = []
    result = tune(make_samples or Counted(), SPACE, PARAMS["split"], log=lines.append,
                  **{**SETTINGS, **settings})
    return result, lines


def without_timings(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["seconds", "cpu_s"])


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    one, two = a.state_dict(), b.state_dict()
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    set_threads(1)


@pytest.fixture(scope="module")
def counted() -> Counted:
    return Counted()


@pytest.fixture(scope="module")
def searched(counted):
    return search(counted, budgets=(2, 4))


# --------------------------------------------------------------------------- the search


def test_same_seed_gives_identical_trials(searched):
    result, lines = searched
    again, again_lines = search(budgets=(2, 4))
    pd.testing.assert_frame_equal(without_timings(result.table), without_timings(again.table), check_exact=True)
    assert result.best == again.best
    assert same_weights(result.model, again.model)
    assert result.history == again.history
    assert {k: b.config for k, b in result.budgets.items()} == {k: b.config for k, b in again.budgets.items()}
    assert [line.split(" epochs, ")[0] for line in lines] == [line.split(" epochs, ")[0] for line in again_lines]


def test_another_seed_draws_other_configurations():
    one, _ = search(trials=2, max_epochs=1, prune=False)
    other, _ = search(trials=2, max_epochs=1, prune=False, seed=4)
    assert not one.table[list(HYPERPARAMETERS)].equals(other.table[list(HYPERPARAMETERS)])


def test_trials_table_has_the_documented_columns(searched):
    table = searched[0].table
    assert list(table.columns) == TRIAL_COLUMNS == ["trial", "window", "hidden", "layers", "dropout", "lr", "batch",
                                                    "val_loss", "epochs", "best_epoch", "seconds", "cpu_s", "state"]
    assert table["trial"].tolist() == list(range(SETTINGS["trials"]))
    assert table["state"].tolist() == ["complete"] * 7 + ["pruned"]
    for name in ("window", "hidden", "layers", "batch"):
        assert set(table[name]) <= set(SPACE[name])
    for name in ("dropout", "lr"):
        assert table[name].between(*SPACE[name]).all()
    complete = table[table["state"] == "complete"]
    assert (complete["best_epoch"] >= 1).all() and (complete["best_epoch"] <= complete["epochs"]).all()
    assert (table["epochs"] <= SETTINGS["max_epochs"]).all() and table["val_loss"].notna().all()
    assert (table["seconds"] > 0).all() and (table["cpu_s"] >= 0).all()


def test_pruning_spares_the_first_trials_and_the_first_epochs(searched):
    table = searched[0].table
    assert (table["state"].iloc[:PRUNE_AFTER_TRIALS] == "complete").all()
    pruned = table[table["state"] == "pruned"]
    assert pruned["best_epoch"].isna().all()  # empty when pruned
    assert (pruned["epochs"] > SETTINGS["patience"] - 1).all() and (pruned["epochs"] < SETTINGS["max_epochs"]).all()


def test_best_trial_has_the_lowest_validation_loss(searched):
    result = searched[0]
    complete = result.table[result.table["state"] == "complete"]
    first_lowest = complete.loc[complete["val_loss"].idxmin()]
    assert list(result.best) == [*HYPERPARAMETERS, "val_loss", "trial"]
    assert result.best["trial"] == first_lowest["trial"]
    assert result.best["val_loss"] == first_lowest["val_loss"] == result.history.best_val
    assert result.best["val_loss"] <= result.table["val_loss"].min()
    assert {h: result.best[h] for h in HYPERPARAMETERS} == {h: first_lowest[h] for h in HYPERPARAMETERS}


def test_best_model_is_the_best_configuration_retrained(searched):
    result = searched[0]
    samples, pairs = WindowData(Counted(), PARAMS["split"])(result.best["window"])
    model, history = train_config(result.best, pairs, samples.x.shape[2], samples.leads, seed=SETTINGS["seed"],
                                  max_epochs=SETTINGS["max_epochs"], patience=SETTINGS["patience"])
    assert same_weights(model, result.model) and history == result.history


def test_budgets_are_the_best_of_the_first_trials(searched):
    result = searched[0]
    assert sorted(result.budgets) == [2, 4]
    for k, best in result.budgets.items():
        first = result.table.iloc[:k]
        assert best.config["trial"] < k
        assert best.config["val_loss"] == first["val_loss"].min() == best.history.best_val


def test_a_shorter_search_is_the_start_of_a_longer_one(searched):
    """What ``budgets`` relies on: the first ``k`` trials of a search are a ``k``-trial search."""
    result = searched[0]
    short, _ = search(trials=4)
    pd.testing.assert_frame_equal(without_timings(short.table), without_timings(result.table.iloc[:4]),
                                  check_exact=True, check_dtype=False)  # best_epoch: int here, float with NaN there
    assert short.best == result.budgets[4].config and same_weights(short.model, result.budgets[4].model)


@pytest.mark.parametrize("budgets", [(0,), (8,), (2, 9)])
def test_budgets_must_lie_below_the_trials(budgets):
    with pytest.raises(ValueError, match=r"must each lie in 1 \.\. 7"):
        search(budgets=budgets, make_samples=lambda window: pytest.fail("no trial may run"))


def test_samples_are_made_once_per_window(searched, counted):
    assert sorted(counted.calls) == sorted(set(searched[0].table["window"]))


def test_one_log_line_per_trial(searched):
    result, lines = searched
    assert len(lines) == len(result.table)
    for line, row in zip(lines, result.table.itertuples()):
        assert line.startswith(f"trial {row.trial:3d}: val_loss {row.val_loss:.4f} {row.state:8s} window {row.window}")
        assert f" ({row.epochs} epochs, " in line


def test_test_months_never_enter_tuning():
    changed = synthetic_processed()
    changed.levels.loc[changed.levels.index >= "2016-01-01", "900001"] += 5.0
    changed.forcings.loc[changed.forcings.index >= "2016-01-01"] *= 2.0
    quick = {"trials": 2, "max_epochs": 3, "prune": False}
    base, _ = search(**quick)
    other, _ = search(Counted(changed), **quick)
    pd.testing.assert_frame_equal(without_timings(base.table), without_timings(other.table), check_exact=True)
    assert same_weights(base.model, other.model)


# --------------------------------------------------------------------------- steps


class FakeTrial:
    """The two methods of an Optuna trial that :class:`EpochReport` calls."""

    def __init__(self, prune_from: int = 10**6):
        self.prune_from = prune_from
        self.reported: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return len(self.reported) >= self.prune_from


def test_epoch_report_reports_and_prunes():
    trial = FakeTrial(prune_from=2)
    reached = EpochReport(trial, prune=True)
    assert reached.epochs is None and reached.val_loss is None
    reached(1, 0.5)
    with pytest.raises(optuna.TrialPruned):
        reached(2, 0.4)
    assert trial.reported == [(0.5, 1), (0.4, 2)] and (reached.epochs, reached.val_loss) == (2, 0.4)
    kept_on = EpochReport(FakeTrial(prune_from=1), prune=False)
    kept_on(1, 0.5)
    kept_on(2, 0.3)  # the pruner's advice is ignored
    assert (kept_on.epochs, kept_on.val_loss) == (2, 0.3)


def test_trial_row_of_a_finished_a_pruned_and_an_unstarted_trial():
    reached = EpochReport(FakeTrial(), prune=False)
    assert trial_row(0, CONFIG, "complete", reached, None, 1.5, 1.0) == \
        {"trial": 0, **CONFIG, "state": "complete", "seconds": 1.5, "cpu_s": 1.0}
    reached(1, 0.9)
    reached(2, 0.8)
    pruned = trial_row(3, CONFIG, "pruned", reached, None, 2.0, 1.0)
    assert pruned == {"trial": 3, **CONFIG, "state": "pruned", "val_loss": 0.8, "epochs": 2, "seconds": 2.0,
                      "cpu_s": 1.0}
    history = History(train_loss=[1.0, 0.9, 0.8], val_loss=[0.9, 0.8, 0.85], best_epoch=2)
    finished = trial_row(4, CONFIG, "complete", reached, history, 3.0, 2.0)
    assert (finished["val_loss"], finished["epochs"], finished["best_epoch"]) == (0.8, 3, 2)
    assert pd.DataFrame([finished, pruned], columns=TRIAL_COLUMNS)["best_epoch"].isna().tolist() == [False, True]


def test_trial_line():
    row = {"trial": 7, **CONFIG, "state": "pruned", "val_loss": 0.71351, "epochs": 2, "seconds": 0.06}
    assert trial_line(row) == ("trial   7: val_loss 0.7135 pruned   window 6 hidden 4 layers 1 dropout 0.12 "
                               "lr 0.0100 batch 64 (2 epochs, 0.1 s)")
    assert trial_line({"trial": 0, **CONFIG, "state": "complete", "seconds": 0.0}).startswith(
        "trial   0: val_loss nan complete window 6")


def finished(number: int, val_loss: float) -> tuple[dict, tuple[str, History]]:
    """A row and a stand-in (model, history) of a finished trial with best validation loss ``val_loss``."""
    history = History(train_loss=[1.0], val_loss=[val_loss], best_epoch=1)
    return {"trial": number, **CONFIG, "state": "complete", "val_loss": val_loss}, (f"model {number}", history)


def test_trial_record_keeps_the_first_lowest_loss_and_the_budgets():
    record = TrialRecord(budgets=(1, 3))
    record.add(*finished(0, 0.5))
    record.add(*finished(1, 0.3))
    record.add({"trial": 2, **CONFIG, "state": "pruned", "val_loss": 0.1}, None)  # pruned: never the best
    record.add(*finished(3, 0.3))  # equal loss: the first stays
    record.add(*finished(4, 0.4))
    assert record.best.config == {**CONFIG, "val_loss": 0.3, "trial": 1} and record.best.model == "model 1"
    assert {k: b.config["trial"] for k, b in record.best_of_first.items()} == {1: 0, 3: 1}
    result = record.result()
    assert result.best == record.best.config and result.budgets == record.best_of_first
    assert list(result.table.columns) == TRIAL_COLUMNS and result.table["trial"].tolist() == [0, 1, 2, 3, 4]
    assert math.isnan(result.table.at[2, "best_epoch"])


def test_trial_record_without_a_finished_trial():
    record = TrialRecord()
    record.add({"trial": 0, **CONFIG, "state": "pruned", "val_loss": 0.1}, None)
    with pytest.raises(ValueError, match="no trial finished training"):
        record.result()


def test_window_data_makes_each_window_once():
    made = Counted()
    windows = WindowData(made, PARAMS["split"])
    samples, (train, val) = windows(6)
    assert windows(6)[0] is samples and windows(12)[0].window == 12 and made.calls == [6, 12]
    assert train[0].shape[1] == val[0].shape[1] == 6 + max(samples.leads)
    assert not np.isnan(train[1]).all() and not np.isnan(val[1]).all()


# --------------------------------------------------------------------------- well seeds


def test_well_seed_is_stable_and_differs_by_well():
    assert well_seed(0, "900001") == 1766745272 == zlib.crc32(b"900001")  # fixed: CRC-32, not hash()
    assert well_seed(390, "325423") == 1593463172
    assert well_seed(0, 900001) == well_seed(0, "900001")  # a well number or its text
    seeds = [well_seed(0, w) for w in ("900001", "900002", "900003", "325423")]
    assert len(set(seeds)) == len(seeds)
    assert well_seed(1, "900001") == well_seed(0, "900001") + 1
    assert 0 <= well_seed(2**31 - 1, "900001") == (2**31 - 1 + 1766745272) % 2**31 < 2**31
