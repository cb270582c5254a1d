"""The IT-LSTM, the reference TL is measured against: an LSTM tuned and trained on one well from scratch.

``run_it`` tunes LSTMs on one well with the well's own seeded search
(:func:`gwtl.models.tune.well_seed`) and trains the chosen configuration once
per ensemble member; ``run_it_all`` does it for every well.
``it_fixed_well`` is the control without a search: the pre-trained model's
configuration trained from scratch on the well. See
:mod:`gwtl.transfer.ensemble` for the fair-comparison rule and the cost records.

Outputs (each folder is written to a temporary sibling and renamed into place)
--------------------------------------------------------------------------------
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
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from gwtl.data.predictions import prediction_table
from gwtl.data.processed import Processed, as_processed
from gwtl.data.samples import well_samples
from gwtl.models.lstm import PARTS, count_trainable
from gwtl.models.train import set_threads, split_rows
from gwtl.models.tune import HYPERPARAMETERS, Best, train_config, tune, well_seed
from gwtl.params import as_params
from gwtl.pipeline.clock import Clock
from gwtl.pipeline.parallel import map_in_processes
from gwtl.transfer.ensemble import (
    StageResult, WellsResult, describe_model, ensemble_forecast, member_seeds, nse_by_split, train_members,
    write_members,
)
from gwtl.transfer.finetune import FineTuned
from gwtl.transfer.pretrain import load_bases


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
    table = prediction_table(samples, ensemble_forecast(samples, members), model=model, well=well, split=params["split"])
    cost = {**clock.read(), "epochs": [h.epochs for h in histories], "trainable_params": count_trainable(members[0]),
            "seeds": seeds, "threads": tr["threads"]}
    return FineTuned(members, histories, seeds, table, cost, {**describe_model(samples, members[0], config, params),
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
    table = prediction_table(samples, ensemble_forecast(samples, members), model="it", well=well, split=params["split"])
    cost = {**clock.read(), "trials": len(result.table), "seed": seed, "epochs": [h.epochs for h in histories],
            "trainable_params": count_trainable(members[0]), "seeds": seeds, "threads": tr["threads"]}
    # What a k-trial search would have cost: its trials, its members, and the rest of this stage's work.
    other_cpu = cost["cpu_s"] - float(result.table["cpu_s"].sum()) - members_cpu
    tables, rows = [table], []
    for k in it["budgets"]:
        first = result.budgets[k]
        b_samples, b_members, _, b_members_cpu = ensemble_of(first)
        tables.append(prediction_table(b_samples, ensemble_forecast(b_samples, b_members), model=f"it_{k}", well=well,
                                       split=params["split"]))
        cpu = float(result.table["cpu_s"].iloc[:k].sum()) + b_members_cpu + other_cpu
        rows.append({"trials": k, **{h: first.config[h] for h in ("trial", *HYPERPARAMETERS, "val_loss")},
                     "cpu_s": round(cpu, 3)})
    cost["budgets"] = [{"trials": r["trials"], "cpu_s": r["cpu_s"]} for r in rows]
    info = describe_model(samples, members[0], result.best, params)
    history = write_members(out, info, members, seeds, histories, pd.concat(tables, ignore_index=True), cost,
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
