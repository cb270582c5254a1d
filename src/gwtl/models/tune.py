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
from functools import partial

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
TRIAL_COLUMNS = ["trial", *HYPERPARAMETERS, "val_loss", "epochs", "best_epoch", "seconds", "cpu_s", "state"]


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
        ``val_loss`` and ``trial`` (its number; the first of equal losses);
        ``table``: one row per trial with the columns :data:`TRIAL_COLUMNS`:
        ``trial``, the hyperparameters, ``val_loss`` (best validation loss
        reached), ``epochs``, ``best_epoch`` (empty when pruned), ``seconds`` (wall),
        ``cpu_s`` (CPU time of the process) and ``state`` (``complete`` or
        ``pruned``); ``model`` and ``history`` of the best trial; ``budgets``.
    """
    if any(not 1 <= k < trials for k in budgets):
        raise ValueError(f"trial budgets {list(budgets)} must each lie in 1 .. {trials - 1} (below trials)")
    record = TrialRecord(budgets)
    run = partial(objective, space=space, windows=WindowData(make_samples, split), record=record, seed=seed,
                  max_epochs=max_epochs, patience=patience, prune=prune, log=log)
    make_study(seed, patience).optimize(run, n_trials=trials)
    return record.result()


# --------------------------------------------------------------------------- steps of the search


class WindowData:
    """Samples and training/validation rows of each window, made on first use.

    Parameters
    ----------
    make_samples : callable
        ``window -> Samples``.
    split : dict
        ``split`` of params.yaml, for :func:`gwtl.models.train.split_rows`.
    """

    def __init__(self, make_samples: Callable[[int], Samples], split: dict):
        self.make_samples = make_samples
        self.split = split
        self.made: dict[int, tuple[Samples, tuple[Pair, Pair]]] = {}

    def __call__(self, window: int) -> tuple[Samples, tuple[Pair, Pair]]:
        """The samples of ``window`` and their training and validation pairs."""
        if window not in self.made:
            samples = self.make_samples(window)
            self.made[window] = samples, split_rows(samples, self.split)
        return self.made[window]


class EpochReport:
    """``on_epoch`` of one trial: report the best validation loss so far to Optuna, and prune.

    Remembers the last epoch reported and its loss (``epochs``, ``val_loss``;
    ``None`` before the first epoch), which is what a pruned trial reached.
    """

    def __init__(self, trial: optuna.Trial, prune: bool):
        self.trial = trial
        self.prune = prune
        self.epochs: int | None = None
        self.val_loss: float | None = None

    def __call__(self, epoch: int, best_loss: float) -> None:
        self.epochs, self.val_loss = epoch, best_loss
        self.trial.report(best_loss, epoch)
        if self.prune and self.trial.should_prune():
            raise optuna.TrialPruned()


def trial_row(number: int, config: dict, state: str, reached: EpochReport, history: History | None,
              seconds: float, cpu_s: float) -> dict:
    """One row of the trials table (columns :data:`TRIAL_COLUMNS`).

    ``val_loss`` and ``epochs`` are those of ``history`` when the trial
    finished training, else the last epoch ``reached`` (absent before the
    first epoch); ``best_epoch`` only of a finished trial.
    """
    row = {"trial": number, **config, "state": state}
    if reached.epochs is not None:
        row.update(val_loss=reached.val_loss, epochs=reached.epochs)
    if history is not None:
        row.update(val_loss=history.best_val, epochs=history.epochs, best_epoch=history.best_epoch)
    return {**row, "seconds": seconds, "cpu_s": cpu_s}


def trial_line(row: dict) -> str:
    """The log line of one trial (``row`` of :func:`trial_row`)."""
    return (f"trial {row['trial']:3d}: val_loss {row.get('val_loss', float('nan')):.4f} {row['state']:8s} window "
            f"{row['window']} hidden {row['hidden']} layers {row['layers']} dropout "
            f"{row['dropout']:.2f} lr {row['lr']:.4f} batch {row['batch']} "
            f"({row.get('epochs', 0)} epochs, {row['seconds']:.1f} s)")


class TrialRecord:
    """The trials of one search: their rows, the best trial so far and the best of the first ``k`` trials.

    Parameters
    ----------
    budgets : tuple of int
        Trial counts ``k`` after which to keep the best trial so far.
    """

    def __init__(self, budgets: tuple[int, ...] = ()):
        self.budgets = tuple(budgets)
        self.rows: list[dict] = []
        self.best: Best | None = None
        self.best_of_first: dict[int, Best] = {}

    def add(self, row: dict, fitted: tuple[LSTMForecaster, History] | None) -> None:
        """Record one trial: its ``row`` and, when it finished training, its model and history.

        A finished trial becomes the best when its best validation loss is
        strictly lower than the best so far (so the first of equal losses
        stays); after trial ``k`` of ``budgets`` the best so far is kept.
        """
        if fitted is not None:
            model, history = fitted
            if self.best is None or history.best_val < self.best.config["val_loss"]:
                config = {h: row[h] for h in HYPERPARAMETERS}
                self.best = Best({**config, "val_loss": history.best_val, "trial": row["trial"]}, model, history)
        self.rows.append(row)
        if row["trial"] + 1 in self.budgets and self.best is not None:
            self.best_of_first[row["trial"] + 1] = self.best

    def table(self) -> pd.DataFrame:
        """One row per trial, columns :data:`TRIAL_COLUMNS`."""
        return pd.DataFrame(self.rows, columns=TRIAL_COLUMNS)

    def result(self) -> TuneResult:
        """The search's :class:`TuneResult`."""
        if self.best is None:
            raise ValueError("no trial finished training, so there is no best configuration")
        return TuneResult(self.best.config, self.table(), self.best.model, self.best.history, self.best_of_first)


def make_study(seed: int, patience: int) -> optuna.Study:
    """A study that minimizes, with the TPE sampler seeded by ``seed`` and the median pruner.

    The pruner leaves the first :data:`PRUNE_AFTER_TRIALS` trials and the
    first ``patience`` epochs of every trial alone.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=patience)
    return optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)


def objective(trial: optuna.Trial, *, space: dict, windows: WindowData, record: TrialRecord, seed: int,
              max_epochs: int, patience: int, prune: bool, log: Callable[[str], None] | None) -> float:
    """Train the configuration that ``trial`` draws from ``space``; return its best validation loss.

    Every trial's model and batch order are seeded by ``seed``. The trial is
    added to ``record`` and logged also when it is pruned (``optuna.TrialPruned``
    goes on to Optuna) or training raises (the error goes on too, and the row
    keeps the state ``complete``).
    """
    config = suggest(trial, space)
    samples, pairs = windows(config["window"])
    start, cpu = time.perf_counter(), time.process_time()
    reached = EpochReport(trial, prune)
    state, fitted = "complete", None
    try:
        fitted = train_config(config, pairs, samples.x.shape[2], samples.leads, seed=seed,
                              max_epochs=max_epochs, patience=patience, on_epoch=reached)
        return fitted[1].best_val
    except optuna.TrialPruned:
        state = "pruned"
        raise
    finally:
        row = trial_row(trial.number, config, state, reached, fitted[1] if fitted else None,
                        time.perf_counter() - start, time.process_time() - cpu)
        record.add(row, fitted)
        if log is not None:
            log(trial_line(row))
