"""Ensembles of LSTM members, shared by pre-training, fine-tuning and the IT-LSTM.

The members' seeds and training, the median forecast, writing and loading a
folder of members, the stage results, and the validation scores a training
stage reports.

Fair comparison (one rule for both sides)
    TL and IT both have ``ensemble.members`` members, each trained from its own
    random start: TL member ``i`` is base ``i`` fine-tuned with seed
    ``seed + i``, base ``i`` the best configuration pre-trained with seed
    ``seed + i`` (base 0 is the best trial itself; ``seed`` is the master seed
    of params.yaml, :func:`member_seeds`); IT member ``i`` is the well's best
    configuration trained with seed ``s + i``, where ``s`` is the well's search
    seed (:func:`gwtl.models.tune.well_seed`; member 0 is the best trial itself). IT's
    search has ``it_lstm.trials`` trials per well, by default as many as the
    pre-training search. Pre-training, all bases included, is TL's cost and is
    counted in ``models/pretrain/cost.json``.

Cost: ``wall_s`` (``time.perf_counter``) and ``cpu_s`` (``time.process_time``,
all threads) from the start of the function to the end of training and
prediction, data loading included, writing excluded; TL and IT are measured the
same way. Pre-training is counted once in ``models/pretrain/cost.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gwtl.data.predictions import write_predictions
from gwtl.data.samples import Samples
from gwtl.models.lstm import PARTS, LSTMForecaster, build_model
from gwtl.models.train import predict
from gwtl.models.tune import Best, train_config
from gwtl.pipeline.atomic import atomic_folder


@dataclass
class StageResult:
    """What :func:`run_pretrain`, :func:`run_finetune` or :func:`run_it` wrote into the model folder ``out``.

    Like every stage function's result, ``out`` first, then what it wrote
    there: ``predictions.csv``, ``history.csv``, ``cost.json``, the model's
    description (``config.json``, ``model.pt`` without weights) and, for a
    search, ``trials.csv``.
    """

    out: Path
    predictions: pd.DataFrame
    history: pd.DataFrame
    cost: dict
    config: dict
    trials: pd.DataFrame | None = field(default=None)


@dataclass
class WellsResult:
    """What :func:`run_finetune_all` or :func:`run_it_all` wrote: one model folder ``out/<well>`` per well.

    ``predictions`` holds the forecasts of every well (``predictions.csv`` of
    each folder, the stage's own model only); ``wells`` one row per well
    (``well, wall_s, cpu_s`` of its ``cost.json``; for the IT-LSTM also the
    chosen configuration, epochs and NSE, see :func:`run_it_all`).
    """

    out: Path
    predictions: pd.DataFrame
    wells: pd.DataFrame


def member_seeds(seed: int, members: int) -> list[int]:
    """The seeds of an ensemble's members: ``seed, seed + 1, ..., seed + members - 1``."""
    return [int(seed) + i for i in range(members)]


def train_members(first: Best, pairs, samples: Samples, seeds: list[int], train: dict) -> tuple[list, list]:
    """``first``'s configuration trained once per seed; ``first`` itself is the member of ``seeds[0]``.

    ``first`` comes from a search whose trials were all seeded with
    ``seeds[0]``, so retraining it with that seed would give the same model.
    """
    members, histories = [first.model], [first.history]
    for seed in seeds[1:]:
        model, history = train_config(first.config, pairs, samples.x.shape[2], samples.leads, seed=seed,
                                      max_epochs=train["max_epochs"], patience=train["patience"])
        members.append(model)
        histories.append(history)
    return members, histories


def describe_model(samples: Samples, model: LSTMForecaster, hyper: dict, params: dict) -> dict:
    return {"config": model.config, "hyperparameters": hyper, "features": samples.features,
            "leads": samples.leads, "window": samples.window, "target": samples.target,
            "mode": params["forecast"]["mode"]}


def ensemble_forecast(samples: Samples, members: list[LSTMForecaster]) -> np.ndarray:
    """Median of the members' scaled forecasts, in levels."""
    return samples.to_level(np.median([predict(m, samples.x) for m in members], axis=0))


def write_members(out: Path, info: dict, members, seeds, histories, table, cost, trained: list[str],
                   trials=None, budgets=None) -> pd.DataFrame:
    history = pd.concat([h.to_frame().assign(member=i) for i, h in enumerate(histories)], ignore_index=True)
    history = history[["member", "epoch", "train_loss", "val_loss"]]
    frozen = [p for p in PARTS if p not in trained]
    base = _part_state(members[0], frozen)
    shared = frozen and all(all(torch.equal(v, _part_state(m, frozen)[k]) for k, v in base.items())
                            for m in members[1:])
    saved = {**info, "seeds": seeds, "trained": trained,
             "state_dicts": [_part_state(m, trained if shared else list(PARTS)) for m in members],
             "base_state_dict": base if shared else None}
    with atomic_folder(out) as tmp:
        torch.save(saved, tmp / "model.pt")
        if trials is not None:
            (tmp / "config.json").write_text(json.dumps(info, indent=2))
            trials.to_csv(tmp / "trials.csv", index=False, float_format="%.6g")
        if budgets is not None:
            budgets.to_csv(tmp / "budgets.csv", index=False, float_format="%.6g")
        history.to_csv(tmp / "history.csv", index=False, float_format="%.6g")
        write_predictions(table, tmp / "predictions.csv")
        (tmp / "cost.json").write_text(json.dumps(cost, indent=2))
    return history


def _part_state(model: LSTMForecaster, parts: list[str]) -> dict:
    return {k: v for k, v in model.state_dict().items() if k.split(".")[0] in parts}


def load_members(folder: str | Path) -> tuple[list[LSTMForecaster], dict]:
    """The member models of a ``finetune`` or ``it`` folder and their description."""
    path = Path(folder) / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the finetune or it_lstm stage of this well first")
    saved = torch.load(path, weights_only=True)
    members = []
    for state in saved["state_dicts"]:
        model = build_model(saved["config"])
        model.load_state_dict({**(saved["base_state_dict"] or {}), **state})
        members.append(model.eval())
    return members, {k: v for k, v in saved.items() if k not in ("state_dicts", "base_state_dict")}


def nse_by_split(table: pd.DataFrame, splits=("train", "validation")) -> pd.DataFrame:
    """NSE of a predictions table per split (rows, of ``splits``) and lead (columns).

    For the training stages' own reports: only the training and validation
    periods may be scored here; the test period is scored by the evaluate
    stage alone (and the report and the forecast stage's scoring read it), so
    that nothing chosen by reading a training stage's report has seen it. A
    split other than ``train`` or ``validation`` is a ValueError.
    """
    from gwtl.evaluation.metrics import nse

    refused = [s for s in splits if s not in ("train", "validation")]
    if refused:
        raise ValueError(f"split(s) {refused} are not scored in a training stage's report; the test period is "
                         "scored by the evaluate stage (reports/results.csv)")
    rows = table[table["split"].isin(list(splits))]
    scores = {(split, lead): nse(g["observed"], g["forecast"]) for (split, lead), g in rows.groupby(["split", "lead"])}
    frame = pd.Series(scores, dtype=float).unstack()
    frame.index.name, frame.columns.name = "split", "lead"
    return frame.reindex([s for s in splits if s in frame.index]).round(3)


def nse_by_well(table: pd.DataFrame, splits=("validation",)) -> pd.DataFrame:
    """NSE per well (rows) with columns ``nse_<split>_lead<h>`` for ``splits`` (train or validation, :func:`nse_by_split`)."""
    rows = {}
    for well, group in table.groupby("well", sort=False):
        scores = nse_by_split(group, splits)
        rows[well] = {f"nse_{split}_lead{lead}": scores.loc[split, lead]
                      for split in splits if split in scores.index for lead in scores.columns}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "well"
    return frame
