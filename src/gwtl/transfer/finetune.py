"""Stage logic: pre-train on the basin signal, fine-tune per well (TL), train per well from scratch (IT).

``run_pretrain`` tunes an LSTM on the basin signal (``Processed.series("basin")``)
and trains the chosen configuration once per ensemble member (the *bases*);
``run_finetune`` fine-tunes member ``i`` from base ``i``, training only the
parts named in ``finetune.trainable`` on one well, and takes the median of the
members; ``run_it`` tunes LSTMs on one well from scratch with the well's own
seeded search and trains the chosen configuration once per member (the
IT-LSTM). Rows for training, early stopping and tuning come from
:func:`gwtl.models.train.split_rows`: nothing of the test period, and no level after
the issue month, reaches them.

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

Outputs (each folder is written to a temporary sibling and renamed into place)
--------------------------------------------------------------------------------
``models/pretrain/``
    ``model.pt``        ``torch.save`` dict: ``config`` (LSTMForecaster arguments),
                        ``hyperparameters`` (window, hidden, layers, dropout, lr,
                        batch, val_loss), ``features``, ``leads``, ``window``,
                        ``target``, ``mode``, ``state_dict`` (base 0, the best
                        trial), ``state_dicts`` (every base) and ``base_seeds``;
                        :func:`load_bases` rebuilds the bases.
    ``config.json``     the same without weights.
    ``trials.csv``      one row per Optuna trial: ``trial, window, hidden, layers,
                        dropout, lr, batch, val_loss, epochs, best_epoch, seconds``.
    ``history.csv``     ``epoch, train_loss, val_loss`` of base 0 (masked MSE in
                        scaled units; a DVC plot).
    ``predictions.csv`` :mod:`gwtl.data.predictions` table, ``well`` = ``basin``,
                        ``model`` = ``pretrain`` (median of the bases, in
                        basin-signal units).
    ``cost.json``       ``wall_s, cpu_s, trials, epochs, trainable_params, threads,
                        bases`` (search and all bases).

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

``models/it/<well>/`` (IT-LSTM)
    as ``finetune`` with ``model`` = ``it``, plus ``config.json`` and ``trials.csv``
    of the well's own search; ``cost.json`` also holds ``trials``, ``seed`` (the
    search seed) and ``budgets``, and its times include the search.
    The accuracy-budget curve: for each smaller budget ``k`` of
    ``it_lstm.budgets``, the IT-LSTM that a ``k``-trial search would have given
    (the best of the first ``k`` trials, trained once per member like the full
    one; the same members when it is the same trial) forecasts as model
    ``it_<k>`` in ``predictions.csv``; ``budgets.csv`` holds its configuration
    (``trials, trial,`` hyperparameters, ``val_loss, cpu_s``) and
    ``cost.json["budgets"]`` its cost ``[{"trials", "cpu_s"}, ...]``: the CPU
    time of the first ``k`` trials, of training its members and the stage's
    other work (data, prediction), as a ``k``-trial run would have spent it.

Cost: ``wall_s`` (``time.perf_counter``) and ``cpu_s`` (``time.process_time``,
all threads) from the start of the function to the end of training and
prediction, data loading included, writing excluded; TL and IT are measured the
same way. Pre-training is counted once in ``models/pretrain/cost.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gwtl.data.predictions import prediction_table, write_predictions
from gwtl.data.processed import Processed, as_processed
from gwtl.data.samples import Samples, pool_samples, well_samples
from gwtl.models.lstm import PARTS, LSTMForecaster, build_model, count_trainable
from gwtl.models.train import fit_members, predict, set_threads, split_rows
from gwtl.models.tune import HYPERPARAMETERS, Best, train_config, tune, well_seed
from gwtl.params import SOURCES, as_params
from gwtl.pipeline.atomic import atomic_folder
from gwtl.pipeline.clock import Clock
from gwtl.pipeline.parallel import map_in_processes


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


def pretrain_samples(params: dict, data: Processed, window: int, wells: list[str]) -> Samples:
    """What a pre-trained model learns from (``pretrain.source``).

    ``basin``: the basin signal of ``data`` (the paper; for a cluster model of
    :mod:`gwtl.transfer.model_library`, the cluster's signal). ``wells``: the samples of
    every well of ``wells`` pooled (:func:`gwtl.data.samples.pool_samples`), each
    well scaled with its own training-period statistics as for fine-tuning.
    """
    source = params["pretrain"]["source"]
    if source == "basin":
        return well_samples(params, data, "basin", window)
    if source == "wells":
        return pool_samples([well_samples(params, data, well, window) for well in wells])
    raise ValueError(f"pretrain.source {source!r} is unknown; use one of {SOURCES}")


def _describe(samples: Samples, model: LSTMForecaster, hyper: dict, params: dict) -> dict:
    return {"config": model.config, "hyperparameters": hyper, "features": samples.features,
            "leads": samples.leads, "window": samples.window, "target": samples.target,
            "mode": params["forecast"]["mode"]}


def load_bases(folder: str | Path = "models/pretrain") -> tuple[list[LSTMForecaster], dict]:
    """The pre-trained bases and their description (``model.pt`` without weights).

    A model saved before bases existed (only ``state_dict``) is one base.
    """
    path = Path(folder) / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro pretrain` first")
    saved = torch.load(path, weights_only=True)
    bases = []
    for state in saved.get("state_dicts") or [saved["state_dict"]]:
        model = build_model(saved["config"])
        model.load_state_dict(state)
        bases.append(model.eval())
    return bases, {k: v for k, v in saved.items() if k not in ("state_dict", "state_dicts")}


def load_pretrained(folder: str | Path = "models/pretrain") -> tuple[LSTMForecaster, dict]:
    """The first pre-trained base (the best trial) and the description."""
    bases, info = load_bases(folder)
    return bases[0], info


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


def feature_role(name: str) -> str:
    """The role of an input feature: ``discharge`` for any ``discharge_<gauge>``, else the name itself."""
    return "discharge" if name.startswith("discharge_") else name


def align_features(info: dict, samples: Samples, params: dict, source: str | Path = "models/pretrain") -> Samples:
    """``samples`` with its input features in the order the pre-trained model ``info`` reads them.

    A model pre-trained in another basin (another project's ``models/pretrain``)
    names its discharge inputs after that basin's gauges. Features are matched
    by role (:func:`feature_role`) and, within a role, by position: the first
    ``discharge_*`` of the model reads this basin's first gauge, and so on;
    ``level``, ``observed``, ``precipitation`` and the month features match by
    name. The leads, the target and the forecast mode must be the same, and
    both must have the same number of inputs of every role.

    Raises
    ------
    ValueError
        Naming ``source`` and what differs.
    """
    got = {"leads": samples.leads, "target": samples.target, "mode": params["forecast"]["mode"]}
    for key, value in got.items():
        if info[key] != value:
            raise ValueError(f"the pre-trained model {source} has {key} {info[key]!r} but params.yaml now gives "
                             f"{value!r}; run `dvc repro pretrain` first (or choose a pre-trained model made "
                             "with the same forecast settings)")
    theirs, ours = list(info["features"]), list(samples.features)
    if theirs == ours:
        return samples
    count = lambda names: {r: [feature_role(n) for n in names].count(r) for r in map(feature_role, names)}
    if count(theirs) != count(ours) or len(theirs) != info["config"]["n_features"]:
        raise ValueError(f"the pre-trained model {source} reads the inputs {theirs} but this basin gives {ours}: "
                         f"inputs by role {count(theirs)} against {count(ours)}; choose a pre-trained model with "
                         "the same kinds of inputs (precipitation first, then the same number of discharge "
                         "gauges) or rerun `dvc repro pretrain`")
    positions = {}
    for i, name in enumerate(ours):
        positions.setdefault(feature_role(name), []).append(i)
    order = [positions[feature_role(name)].pop(0) for name in theirs]
    return replace(samples, x=samples.x[:, :, order], features=[ours[i] for i in order])


def run_pretrain(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
                 out: str | Path = "models/pretrain", log=print, wells: list[str] | None = None) -> StageResult:
    """Tune and train the pre-trained model of ``pretrain.source``; write ``out`` (see the module docstring).

    ``wells`` are the wells pooled by the ``wells`` source (default
    ``basin.wells``). Whatever the source, ``predictions.csv`` holds the
    bases' forecasts of the basin signal of ``processed``.
    """
    params = as_params(params)
    data = as_processed(processed)
    wells = data.listed_wells(params) if wells is None else data.require_wells(wells)
    clock = Clock()
    set_threads(params["train"]["threads"])
    result = tune(lambda window: pretrain_samples(params, data, window, wells), params["pretrain"]["search"],
                  params["split"], trials=params["pretrain"]["trials"], seed=params["seed"],
                  max_epochs=params["train"]["max_epochs"], patience=params["train"]["patience"], log=log)
    samples = pretrain_samples(params, data, result.best["window"], wells)
    seeds = member_seeds(params["seed"], params["ensemble"]["members"])
    bases, histories = train_members(Best(result.best, result.model, result.history),
                                     split_rows(samples, params["split"]), samples, seeds, params["train"])
    signal = well_samples(params, data, "basin", result.best["window"])
    table = prediction_table(signal, _ensemble(signal, bases), model="pretrain", well="basin",
                             split=params["split"])
    cost = {**clock.read(), "trials": len(result.table), "epochs": sum(h.epochs for h in histories),
            "trainable_params": count_trainable(bases[0]), "threads": params["train"]["threads"],
            "bases": len(bases), "source": params["pretrain"]["source"], "samples": len(samples)}
    info = {**_describe(samples, bases[0], result.best, params), "source": params["pretrain"]["source"],
            "wells": wells if params["pretrain"]["source"] == "wells" else []}
    history = result.history.to_frame()
    with atomic_folder(Path(out)) as tmp:
        torch.save({**info, "state_dict": bases[0].state_dict(), "state_dicts": [b.state_dict() for b in bases],
                    "base_seeds": seeds}, tmp / "model.pt")
        (tmp / "config.json").write_text(json.dumps(info, indent=2))
        result.table.to_csv(tmp / "trials.csv", index=False, float_format="%.6g")
        history.to_csv(tmp / "history.csv", index=False, float_format="%.6g")
        write_predictions(table, tmp / "predictions.csv")
        (tmp / "cost.json").write_text(json.dumps(cost, indent=2))
    return StageResult(Path(out), table, history, cost, info, result.table)


def _ensemble(samples: Samples, members: list[LSTMForecaster]) -> np.ndarray:
    """Median of the members' scaled forecasts, in levels."""
    return samples.to_level(np.median([predict(m, samples.x) for m in members], axis=0))


def _write_members(out: Path, info: dict, members, seeds, histories, table, cost, trained: list[str],
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
    table = prediction_table(samples, _ensemble(samples, members), model=model, well=well, split=params["split"])
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
    history = _write_members(out, done.info, done.members, done.seeds, done.histories, done.table, done.cost,
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


def it_fixed_well(params: dict, data: Processed, well: str, pretrain: str | Path,
                  model: str = "it_fixed") -> FineTuned:
    """IT-LSTM without a search: the pre-trained model's configuration trained on ``well`` from scratch.

    The control that separates the cost of IT's search from the cost of
    training: the hyperparameters (window, hidden, layers, dropout, lr, batch)
    are those the pre-training search chose (``pretrain``'s ``model.pt``), and
    member ``i`` is trained like an IT-LSTM member, with the well's IT seeds
    (:func:`gwtl.models.tune.well_seed`). The search that chose the configuration is
    not charged to it.
    """
    _, info = load_bases(pretrain)
    clock = Clock()
    tr = params["train"]
    set_threads(tr["threads"])
    config = info["hyperparameters"]
    samples = well_samples(params, data, well, config["window"])
    pairs = split_rows(samples, params["split"])
    seeds = member_seeds(well_seed(params["seed"], well), params["ensemble"]["members"])
    fits = [train_config(config, pairs, samples.x.shape[2], samples.leads, seed=seed, max_epochs=tr["max_epochs"],
                         patience=tr["patience"]) for seed in seeds]
    members, histories = [m for m, _ in fits], [h for _, h in fits]
    table = prediction_table(samples, _ensemble(samples, members), model=model, well=well, split=params["split"])
    cost = {**clock.read(), "epochs": [h.epochs for h in histories], "trainable_params": count_trainable(members[0]),
            "seeds": seeds, "threads": tr["threads"]}
    return FineTuned(members, histories, seeds, table, cost, {**_describe(samples, members[0], config, params),
                                                                "pretrained": str(pretrain)})


def run_it(params: dict | str | Path, well, processed: str | Path | Processed = "data/processed",
           out: str | Path | None = None, log=print) -> StageResult:
    """Tune and train LSTMs on ``well`` from scratch (IT-LSTM); write ``out`` (default models/it/<well>).

    The search uses ``pretrain.search`` with ``it_lstm.trials`` trials, its
    sampler and trials seeded with the well's own seed ``s``
    (:func:`gwtl.models.tune.well_seed` of the master ``seed`` and the well), so TPE
    adapts to each well; members use seeds ``s .. s + ensemble.members - 1``.
    Each smaller budget of ``it_lstm.budgets`` gives the forecasts ``it_<k>``
    (see the module docstring).
    """
    params = as_params(params)
    data = as_processed(processed)
    well = data.require_wells([well])[0]
    out = Path(out) if out is not None else Path("models/it") / well
    clock = Clock()
    set_threads(params["train"]["threads"])
    tr, it = params["train"], params["it_lstm"]
    seed = well_seed(params["seed"], well)
    seeds = member_seeds(seed, params["ensemble"]["members"])
    result = tune(lambda window: well_samples(params, data, well, window), params["pretrain"]["search"],
                  params["split"], trials=it["trials"], seed=seed, max_epochs=tr["max_epochs"],
                  patience=tr["patience"], log=log, budgets=tuple(it["budgets"]))
    best = Best(result.best, result.model, result.history)
    fits = {}  # trial -> (samples, members, histories, CPU seconds of training the members)

    def ensemble_of(first: Best):
        if first.config["trial"] not in fits:
            start = time.process_time()
            samples = well_samples(params, data, well, first.config["window"])
            members, histories = train_members(first, split_rows(samples, params["split"]), samples, seeds, tr)
            fits[first.config["trial"]] = samples, members, histories, time.process_time() - start
        return fits[first.config["trial"]]

    samples, members, histories, members_cpu = ensemble_of(best)
    table = prediction_table(samples, _ensemble(samples, members), model="it", well=well, split=params["split"])
    cost = {**clock.read(), "trials": len(result.table), "seed": seed, "epochs": [h.epochs for h in histories],
            "trainable_params": count_trainable(members[0]), "seeds": seeds, "threads": tr["threads"]}
    # What a k-trial search would have cost: its trials, its members, and the rest of this stage's work.
    other_cpu = cost["cpu_s"] - float(result.table["cpu_s"].sum()) - members_cpu
    tables, rows = [table], []
    for k in it["budgets"]:
        first = result.budgets[k]
        b_samples, b_members, _, b_members_cpu = ensemble_of(first)
        tables.append(prediction_table(b_samples, _ensemble(b_samples, b_members), model=f"it_{k}", well=well,
                                       split=params["split"]))
        cpu = float(result.table["cpu_s"].iloc[:k].sum()) + b_members_cpu + other_cpu
        rows.append({"trials": k, **{h: first.config[h] for h in ("trial", *HYPERPARAMETERS, "val_loss")},
                     "cpu_s": round(cpu, 3)})
    cost["budgets"] = [{"trials": r["trials"], "cpu_s": r["cpu_s"]} for r in rows]
    info = _describe(samples, members[0], result.best, params)
    history = _write_members(out, info, members, seeds, histories, pd.concat(tables, ignore_index=True), cost,
                             list(PARTS), trials=result.table,
                             budgets=pd.DataFrame(rows, columns=["trials", "trial", *HYPERPARAMETERS, "val_loss",
                                                                 "cpu_s"]))
    return StageResult(out, table, history, cost, info, result.table)


def _it_well(task: tuple[dict, str, Processed, Path]) -> tuple[pd.DataFrame, dict]:
    """One well of :func:`run_it_all` in a worker process: its forecasts and a summary line, not the models.

    The line's scores are those of :func:`nse_by_split`: training and validation, never the test period.
    """
    params, well, data, out = task
    result = run_it(params, well, data, out / well, log=None)
    nse = nse_by_split(result.predictions)
    row = {"well": well, **{k: result.config["hyperparameters"][k] for k in HYPERPARAMETERS},
           "val_loss": result.config["hyperparameters"]["val_loss"],
           "epochs": sum(result.cost["epochs"]), "wall_s": result.cost["wall_s"], "cpu_s": result.cost["cpu_s"],
           **{f"nse_{split}_lead{lead}": nse.loc[split, lead] for split in nse.index for lead in nse.columns}}
    return result.predictions, row


def run_it_all(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
               out: str | Path = "models/it",
               n_jobs: int | None = None, log=print) -> WellsResult:
    """:func:`run_it` for every well of ``basin.wells``, ``n_jobs`` wells at a time.

    Wells run side by side in worker processes (:mod:`gwtl.pipeline.parallel`; default one
    per core, ``train.threads`` torch threads each), so each well's cost is
    measured as when it runs alone; the results do not depend on ``n_jobs``.
    Every well's folder ``out/<well>`` is written as :func:`run_it` writes it.
    The first failing well stops the run (the remaining wells are cancelled)
    and its error is raised.

    Returns
    -------
    WellsResult
        ``wells``: one row per well, the chosen hyperparameters, ``val_loss``,
        ``epochs`` (summed over members), ``wall_s``, ``cpu_s`` and NSE per
        lead over the training and validation periods (``nse_<split>_lead<h>``,
        :func:`nse_by_split`; the test period is scored by the evaluate stage
        only); ``predictions``: the forecasts of model ``it``.
    """
    params = as_params(params)
    data = as_processed(processed)
    wells = data.listed_wells(params)  # fails early, before any worker starts
    tasks = [(params, well, data, Path(out)) for well in wells]
    first = f"nse_validation_lead{params['forecast']['leads'][0]}"
    tables, rows = [], []
    for table, row in map_in_processes(_it_well, tasks, n_jobs):
        tables.append(table)
        rows.append(row)
        if log is not None:
            log(f"{len(rows):3d}/{len(wells)} well {row['well']}: window {row['window']} hidden {row['hidden']} "
                f"layers {row['layers']}, {row['cpu_s']:.1f} s CPU, {first} {row[first]:.3f}")
    return WellsResult(Path(out), pd.concat(tables, ignore_index=True), pd.DataFrame(rows))


# ----------------------------------------------------------------------------- notebook views


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


def search_summary(folder: str | Path, wells, budgets: list[int]) -> pd.DataFrame:
    """What the wells' IT searches explored, per trial budget ``k`` (rows).

    Columns: ``distinct configurations`` among the wells' first ``k`` trials
    (all of them, pooled), ``wells with the final choice`` (whose best trial
    lies within the first ``k``), and the median over wells of the best
    validation loss within the first ``k`` trials.
    """
    trials = pd.concat([pd.read_csv(Path(folder) / str(w) / "trials.csv").assign(well=str(w)) for w in wells])
    final = trials[trials["state"] == "complete"].sort_values(["well", "val_loss", "trial"]).groupby("well").first()
    rows = {}
    for k in budgets:
        first = trials[trials["trial"] < k]
        rows[k] = {"distinct configurations": len(first[list(HYPERPARAMETERS)].round(6).drop_duplicates()),
                   "trials": len(first),
                   "wells with the final choice": int((final["trial"] < k).sum()),
                   "median best validation loss": first.groupby("well")["val_loss"].min().median()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("trial budget")
