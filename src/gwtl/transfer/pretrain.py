"""Pre-training: tune an LSTM on the basin signal and train it once per ensemble member (the *bases*).

``run_pretrain`` tunes an LSTM on what ``pretrain.source`` names (the basin
signal, ``Processed.series("basin")``, as in the paper; or the wells pooled)
and trains the chosen configuration once per ensemble member. A model
pre-trained elsewhere is read by :func:`load_bases`, its inputs matched by
role (:func:`align_features`). Rows for training, early stopping and tuning
come from :func:`gwtl.models.train.split_rows`: nothing of the test period
reaches them.

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
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from gwtl.data.predictions import prediction_table, write_predictions
from gwtl.data.processed import Processed, as_processed
from gwtl.data.samples import Samples, pool_samples, well_samples
from gwtl.models.lstm import LSTMForecaster, build_model, count_trainable
from gwtl.models.train import set_threads, split_rows
from gwtl.models.tune import Best, tune
from gwtl.params import SOURCES, as_params
from gwtl.pipeline.atomic import atomic_folder
from gwtl.pipeline.clock import Clock
from gwtl.transfer.ensemble import StageResult, describe_model, ensemble_forecast, member_seeds, train_members


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
    table = prediction_table(signal, ensemble_forecast(signal, bases), model="pretrain", well="basin",
                             split=params["split"])
    cost = {**clock.read(), "trials": len(result.table), "epochs": sum(h.epochs for h in histories),
            "trainable_params": count_trainable(bases[0]), "threads": params["train"]["threads"],
            "bases": len(bases), "source": params["pretrain"]["source"], "samples": len(samples)}
    info = {**describe_model(samples, bases[0], result.best, params), "source": params["pretrain"]["source"],
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
