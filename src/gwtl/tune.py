"""Hyperparameter search with Optuna (TPE, seeded).

The search space is ``pretrain.search`` of params.yaml: ``window``, ``hidden``,
``layers`` and ``batch`` are categorical, ``dropout`` a uniform range and
``lr`` a log-uniform range. A trial trains one model with early stopping and
scores it by its best validation loss; training, validation and test periods
are those of :func:`gwtl.train.split_rows`, so test months never enter tuning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import pandas as pd
import torch

from .dataset import Samples
from .model import LSTMForecaster
from .train import History, Pair, fit, split_rows

HYPERPARAMETERS = ("window", "hidden", "layers", "dropout", "lr", "batch")


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


def train_config(
    config: dict, data: tuple[Pair, Pair], n_features: int, leads: list[int], *, seed: int, max_epochs: int,
    patience: int,
):
    """Build a model for ``config`` (weights seeded by ``seed``) and fit it; returns (model, history)."""
    torch.manual_seed(seed)
    model = LSTMForecaster(n_features, config["hidden"], config["layers"], config["dropout"], len(leads), leads)
    history = fit(model, *data, lr=config["lr"], batch=config["batch"],
                  max_epochs=max_epochs, patience=patience, seed=seed)
    return model, history


@dataclass
class TuneResult:
    """Best configuration, the trials table and the best trial's trained model.

    Trials are seeded alike, so the best trial's model is the model that
    retraining the best configuration with the same seed would give.
    """

    best: dict
    table: pd.DataFrame
    model: LSTMForecaster
    history: History


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

    Returns
    -------
    TuneResult
        ``best``: the best configuration (keys of :data:`HYPERPARAMETERS`) and
        ``val_loss``; ``table``: one row per trial with ``trial``, the
        hyperparameters, ``val_loss``, ``epochs``, ``best_epoch``,
        ``seconds``; ``model`` and ``history`` of the best trial.
    """
    cache: dict[int, tuple[Samples, tuple[Pair, Pair]]] = {}

    def data(window: int):
        if window not in cache:
            samples = make_samples(window)
            cache[window] = samples, split_rows(samples, split)
        return cache[window]

    rows = []
    kept: dict = {}

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, space)
        samples, pairs = data(config["window"])
        start = time.perf_counter()
        model, history = train_config(config, pairs, samples.x.shape[2], samples.leads,
                                  seed=seed, max_epochs=max_epochs, patience=patience)
        row = {"trial": trial.number, **config, "val_loss": history.best_val, "epochs": history.epochs,
               "best_epoch": history.best_epoch, "seconds": time.perf_counter() - start}
        rows.append(row)
        if not kept or history.best_val < kept["val_loss"]:
            kept.update(val_loss=history.best_val, model=model, history=history)
        if log is not None:
            log(f"trial {trial.number:3d}: val_loss {row['val_loss']:.4f}  window {config['window']} "
                f"hidden {config['hidden']} layers {config['layers']} dropout {config['dropout']:.2f} "
                f"lr {config['lr']:.4f} batch {config['batch']}  ({row['epochs']} epochs, {row['seconds']:.1f} s)")
        return history.best_val

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    best = {**{k: study.best_params[k] for k in HYPERPARAMETERS}, "val_loss": study.best_value}
    return TuneResult(best, pd.DataFrame(rows), kept["model"], kept["history"])
