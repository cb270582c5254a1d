"""Hyperparameter search with Optuna (TPE, seeded).

The search space is ``pretrain.search`` of params.yaml: ``window``, ``hidden``,
``layers`` and ``batch`` are categorical, ``dropout`` a uniform range and
``lr`` a log-uniform range. A trial trains one model with early stopping and
scores it by its best validation loss; training, validation and test periods
are those of :func:`gwtl.models.train.split_rows`, so test months never enter tuning.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

with warnings.catch_warnings():  # optuna imports tqdm.auto, which warns in a kernel without ipywidgets
    warnings.filterwarnings("ignore", message="IProgress not found")
    import optuna
import pandas as pd
import torch

from gwtl.data.samples import Samples
from gwtl.models.lstm import LSTMForecaster
from gwtl.models.train import History, Pair, fit, split_rows

HYPERPARAMETERS = ("window", "hidden", "layers", "dropout", "lr", "batch")
PRUNE_AFTER_TRIALS = 5


def suggest(trial: optuna.Trial, space: dict) -> dict:
    """One configuration drawn from ``space`` (the ``pretrain.search`` mapping)."""
    return {
        "window": trial.suggest_categorical("window", list(space["window"])),
        "hidden": trial.suggest_categorical("hidden", list(space["hidden"])),
        "layers": trial.suggest_categorical("layers", list(space["layers"])),
        "dropout": trial.suggest_float("dropout", *space["dropout"]),
        "lr": trial.suggest_float("lr", *space["lr"], log=True),
        "batch": trial.suggest_categorical("batch", list(space["batch"])),
    }


def well_seed(seed: int, well: str) -> int:
    """The search seed of ``well``: ``seed`` plus the CRC-32 of the well id, modulo 2**31.

    Every well gets its own seeded search (IT-LSTM), reproducible run to run
    and independent of which other wells are listed.
    """
    return (int(seed) + zlib.crc32(str(well).encode())) % 2**31


def train_config(
    config: dict, data: tuple[Pair, Pair], n_features: int, leads: list[int], *, seed: int, max_epochs: int,
    patience: int, on_epoch=None,
) -> tuple[LSTMForecaster, History]:
    """Build a model for ``config`` (weights seeded by ``seed``) and fit it."""
    torch.manual_seed(seed)
    model = LSTMForecaster(n_features, config["hidden"], config["layers"], config["dropout"], len(leads), leads)
    history = fit(model, *data, lr=config["lr"], batch=config["batch"],
                  max_epochs=max_epochs, patience=patience, seed=seed, on_epoch=on_epoch)
    return model, history


@dataclass
class Best:
    """The best trial so far: its configuration (with ``val_loss`` and ``trial``), model and history."""

    config: dict
    model: LSTMForecaster
    history: History


@dataclass
class TuneResult:
    """Best configuration, the trials table and the best trial's trained model.

    Trials are seeded alike, so the best trial's model is the model that
    retraining the best configuration with the same seed would give.
    ``budgets`` maps each budget ``k`` of ``tune(budgets=...)`` to the best of
    the first ``k`` trials: what a search with ``k`` trials would have found
    (the TPE sampler and the pruner only look at earlier trials, so the first
    ``k`` trials of a longer search are exactly a ``k``-trial search).
    """

    best: dict
    table: pd.DataFrame
    model: LSTMForecaster
    history: History
    budgets: dict[int, Best] = field(default_factory=dict)


def tune(
    make_samples: Callable[[int], Samples],
    space: dict,
    split: dict,
    *,
    trials: int,
    seed: int,
    max_epochs: int,
    patience: int,
    log: Callable[[str], None] | None = print,
    prune: bool = True,
    budgets: tuple[int, ...] = (),
) -> TuneResult:
    """Search ``space`` for the configuration with the lowest validation loss.

    Parameters
    ----------
    make_samples : callable
        ``window -> Samples``; called once per window (results are cached).
    space : dict
        ``pretrain.search`` of params.yaml.
    split : dict
        ``split`` of params.yaml.
    trials : int
        Number of Optuna trials.
    seed : int
        Seeds the TPE sampler and every trial's model and batch order.
    max_epochs, patience : int
        Early stopping settings (``train`` in params.yaml).
    log : callable or None
        Receives one line per trial; ``None`` for silence.
    prune : bool
        Stop a trial early (Optuna ``MedianPruner``) when, after ``patience``
        epochs, its best validation loss so far is worse than the median of
        earlier trials at the same epoch; the first
        :data:`PRUNE_AFTER_TRIALS` trials always run to the end.
    budgets : tuple of int
        Smaller trial budgets (each below ``trials``) whose best trial to keep
        in ``TuneResult.budgets``.

    Returns
    -------
    TuneResult
        ``best``: the best configuration (keys of :data:`HYPERPARAMETERS`),
        ``val_loss`` and ``trial`` (its number; the first of equal losses); ``table``: one row per trial with ``trial``, the
        hyperparameters, ``val_loss`` (best validation loss reached),
        ``epochs``, ``best_epoch`` (empty when pruned), ``seconds`` (wall),
        ``cpu_s`` (CPU time of the process) and ``state`` (``complete`` or
        ``pruned``); ``model`` and ``history`` of the best trial; ``budgets``.
    """
    if any(not 1 <= k < trials for k in budgets):
        raise ValueError(f"trial budgets {list(budgets)} must each lie in 1 .. {trials - 1} (below trials)")
    cache: dict[int, tuple[Samples, tuple[Pair, Pair]]] = {}

    def data(window: int):
        if window not in cache:
            samples = make_samples(window)
            cache[window] = samples, split_rows(samples, split)
        return cache[window]

    rows = []
    kept: dict = {}
    snapshots: dict[int, Best] = {}

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, space)
        samples, pairs = data(config["window"])
        start, cpu = time.perf_counter(), time.process_time()
        row = {"trial": trial.number, **config, "state": "complete"}

        def report(epoch: int, best_loss: float) -> None:
            row.update(val_loss=best_loss, epochs=epoch)
            trial.report(best_loss, epoch)
            if prune and trial.should_prune():
                raise optuna.TrialPruned()

        try:
            model, history = train_config(config, pairs, samples.x.shape[2], samples.leads, seed=seed,
                                          max_epochs=max_epochs, patience=patience, on_epoch=report)
        except optuna.TrialPruned:
            row["state"] = "pruned"
            raise
        else:
            row.update(val_loss=history.best_val, epochs=history.epochs, best_epoch=history.best_epoch)
            if not kept or history.best_val < kept["val_loss"]:
                kept.update(val_loss=history.best_val, model=model, history=history,
                            config={**config, "val_loss": history.best_val, "trial": trial.number})
            return history.best_val
        finally:
            row["seconds"] = time.perf_counter() - start
            row["cpu_s"] = time.process_time() - cpu
            rows.append(row)
            if trial.number + 1 in budgets and kept:
                snapshots[trial.number + 1] = Best(kept["config"], kept["model"], kept["history"])
            if log is not None:
                log(f"trial {trial.number:3d}: val_loss {row.get('val_loss', float('nan')):.4f} {row['state']:8s} window "
                    f"{config['window']} hidden {config['hidden']} layers {config['layers']} dropout "
                    f"{config['dropout']:.2f} lr {config['lr']:.4f} batch {config['batch']} "
                    f"({row.get('epochs', 0)} epochs, {row['seconds']:.1f} s)")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=patience)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    study.optimize(objective, n_trials=trials)
    best = kept["config"]
    table = pd.DataFrame(rows, columns=["trial", *HYPERPARAMETERS, "val_loss", "epochs", "best_epoch",
                                        "seconds", "cpu_s", "state"])
    return TuneResult(best, table, kept["model"], kept["history"], snapshots)
