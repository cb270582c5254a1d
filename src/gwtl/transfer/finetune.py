"""Fine-tuning (TL-LSTM): member ``i`` of every well starts from pre-trained base ``i``.

``run_finetune`` fine-tunes member ``i`` from base ``i``, training only the
parts named in ``finetune.trainable`` on one well (with ``finetune.gradual``,
the head first, then every part), and takes the median of the members;
``run_finetune_all`` does it for every well in worker processes. Rows for
training and early stopping come from :func:`gwtl.models.train.split_rows`:
nothing of the test period, and no level after the issue month, reaches them.
See :mod:`gwtl.transfer.ensemble` for the seeds and the cost records.

Outputs (each folder is written to a temporary sibling and renamed into place)
--------------------------------------------------------------------------------
``models/finetune/<well>/`` (TL-LSTM)
    ``model.pt``        as above but, instead of ``state_dict``: ``seeds``,
                        ``trained`` (the parts trained, ``finetune.trainable``),
                        ``state_dicts`` (one per member) and ``base_state_dict``:
                        when all members share their untrained parts (one base),
                        those weights once and the members' trained parts in
                        ``state_dicts``; else None and full weights per member;
                        :func:`load_members` rebuilds the members.
    ``predictions.csv`` ``model`` = ``tl``: median of the members' forecasts
                        (median in scaled units, then converted to levels).
    ``history.csv``     ``member, epoch, train_loss, val_loss``.
    ``cost.json``       ``wall_s, cpu_s, epochs`` (list, one per member),
                        ``trainable_params, seeds, threads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from gwtl.data.predictions import prediction_table
from gwtl.data.processed import Processed, as_processed
from gwtl.data.samples import well_samples
from gwtl.models.lstm import LSTMForecaster, build_model, count_trainable
from gwtl.models.train import fit_members, set_threads, split_rows
from gwtl.params import as_params
from gwtl.pipeline.atomic import atomic_folder
from gwtl.pipeline.clock import Clock
from gwtl.pipeline.parallel import map_in_processes
from gwtl.transfer.ensemble import StageResult, WellsResult, ensemble_forecast, member_seeds, write_members
from gwtl.transfer.pretrain import align_features, load_bases


def strategy(params: dict, info: dict) -> dict:
    """How a TL-LSTM was made: the pre-training ``source`` of the model ``info`` and the ``finetune`` settings."""
    ft = params["finetune"]
    return {"source": info.get("source", "basin"), "trainable": list(ft["trainable"]), "lr": ft["lr"],
            "lstm_lr": ft["lstm_lr"] if "lstm" in ft["trainable"] else None, "gradual": ft["gradual"]}


@dataclass
class FineTuned:
    """The members fine-tuned on one well, their forecasts and cost (:func:`finetune_well`)."""

    members: list[LSTMForecaster]
    histories: list
    seeds: list[int]
    table: pd.DataFrame
    cost: dict
    info: dict


def scratch_bases(info: dict, seeds: list[int]) -> list[LSTMForecaster]:
    """Untrained models of the pre-trained model's configuration ``info``, weights seeded by each of ``seeds``.

    The random-initialisation control of :func:`finetune_well` (``scratch=True``):
    the same architecture and fine-tuning schedule as the TL-LSTM, without
    what pre-training learned.
    """
    bases = []
    for seed in seeds:
        torch.manual_seed(seed)
        bases.append(build_model(info["config"]).eval())
    return bases


def finetune_well(params: dict, data: Processed, well: str, pretrain: str | Path, model: str = "tl",
                  scratch: bool = False) -> FineTuned:
    """Fine-tune the bases of the pre-trained model in ``pretrain`` on ``well`` with ``params["finetune"]``.

    Member ``i`` starts from base ``i``; a model with fewer bases (an older or
    external one) is reused in turn. ``scratch``: start instead from untrained
    models of the same configuration (:func:`scratch_bases`, member ``i``
    initialised with seed ``seed + i``), the control that shows what
    pre-training adds. ``cost`` is measured from loading the data to the end
    of prediction (the bases are read before).
    """
    bases, info = load_bases(pretrain)
    seeds = member_seeds(params["seed"], params["ensemble"]["members"])
    if scratch:
        bases = scratch_bases(info, seeds)
    clock = Clock()
    set_threads(params["train"]["threads"])
    ft, tr = params["finetune"], params["train"]
    samples = align_features(info, well_samples(params, data, well, info["window"]), params, pretrain)
    pairs = split_rows(samples, params["split"])
    starts = [bases[i % len(bases)] for i in range(len(seeds))]
    members, histories = fit_members(starts, ft["trainable"], *pairs, seeds=seeds, lr=ft["lr"],
                                     lstm_lr=ft["lstm_lr"] if "lstm" in ft["trainable"] else None,
                                     gradual=ft["gradual"], batch=info["hyperparameters"]["batch"],
                                     max_epochs=tr["max_epochs"], patience=tr["patience"])
    table = prediction_table(samples, ensemble_forecast(samples, members), model=model, well=well, split=params["split"])
    cost = {**clock.read(), "epochs": [h.epochs for h in histories],
            "trainable_params": count_trainable(members[0]), "seeds": seeds, "bases": len(bases),
            "threads": tr["threads"], **strategy(params, info)}
    info = {**info, "features": samples.features, "pretrained_features": info["features"],
            "pretrained": str(pretrain), "finetune_lr": ft["lr"]}
    return FineTuned(members, histories, seeds, table, cost, info)


def run_finetune(params: dict | str | Path, well, processed: str | Path | Processed = "data/processed",
                 pretrain: str | Path | None = None, out: str | Path | None = None,
                 model: str = "tl") -> StageResult:
    """Fine-tune a pre-trained model on ``well`` (TL-LSTM); write ``out`` (default models/finetune/<well>).

    ``pretrain`` is the folder of the pre-trained model (default
    ``finetune.pretrained`` of params.yaml); a model of another basin works
    when its inputs match by role (:func:`align_features`). ``model`` names the
    forecasts in ``predictions.csv``. What trains, and how, is
    ``finetune.trainable``, ``lr``, ``lstm_lr`` and ``gradual`` (:func:`finetune_well`).
    """
    params = as_params(params)
    data = as_processed(processed)
    well = data.require_wells([well])[0]
    out = Path(out) if out is not None else Path("models/finetune") / well
    pretrain = params["finetune"]["pretrained"] if pretrain is None else pretrain
    done = finetune_well(params, data, well, pretrain, model)
    history = write_members(out, done.info, done.members, done.seeds, done.histories, done.table, done.cost,
                             list(params["finetune"]["trainable"]))
    return StageResult(out, done.table, history, done.cost, done.info)


def _finetune_task(task: tuple[dict, str, Processed, str | Path, Path, str]) -> tuple[pd.DataFrame, dict]:
    """One well of :func:`finetune_wells` in a worker process: its forecasts and cost, not the models."""
    params, well, data, pretrain, out, model = task
    result = run_finetune(params, well, data, pretrain=pretrain, out=out, model=model)
    return result.predictions, result.cost


def finetune_wells(params: dict, data: Processed, starts: dict[str, str | Path], folder: Path, model: str = "tl",
                   n_jobs: int | None = None, log=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`run_finetune` of every well of ``starts`` from its pre-trained folder, into ``folder/<well>``.

    Wells run side by side in worker processes (:mod:`gwtl.pipeline.parallel`; one per
    core, ``train.threads`` torch threads each), so a well's ``cost.json`` is
    what it costs alone and no result depends on ``n_jobs``. Returns the
    forecasts of all wells and one cost row per well (``well, wall_s, cpu_s``).
    """
    for start in set(map(str, starts.values())):
        if not (Path(start) / "model.pt").exists():
            raise FileNotFoundError(f"{start}/model.pt not found: run the stage that writes this pre-trained model "
                                    "(`dvc repro pretrain`, or `dvc repro library` for a library member) first")
    tasks = [(params, well, data, start, Path(folder) / well, model) for well, start in starts.items()]
    tables, costs = [], []
    for well, (table, cost) in zip(starts, map_in_processes(_finetune_task, tasks, n_jobs)):
        tables.append(table)
        costs.append({"well": well, "wall_s": cost["wall_s"], "cpu_s": cost["cpu_s"]})
        if log is not None:
            log(f"{len(costs):3d}/{len(starts)} well {well}: {cost['cpu_s']:.1f} s CPU")
    return pd.concat(tables, ignore_index=True), pd.DataFrame(costs)


def run_finetune_all(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
                     pretrain: str | Path | None = None, out: str | Path = "models/finetune",
                     n_jobs: int | None = None, log=print) -> WellsResult:
    """The TL-LSTM of every well of ``basin.wells`` (:func:`run_finetune`); write ``out/<well>``.

    One stage for all wells: a stage per well cost more in start-up (DVC, the
    notebook) than fine-tuning costs, and here the wells share the cores
    (:func:`finetune_wells`). ``out`` is replaced as a whole only when every
    well has succeeded; the first failing well stops the run and its error is
    raised.
    """
    params = as_params(params)
    data = as_processed(processed)
    wells = data.listed_wells(params)  # fails early, before any worker starts
    pretrain = params["finetune"]["pretrained"] if pretrain is None else pretrain
    with atomic_folder(out) as tmp:
        predictions, cost = finetune_wells(params, data, dict.fromkeys(wells, pretrain), tmp, n_jobs=n_jobs, log=log)
    return WellsResult(Path(out), predictions, cost)
