"""TL strategies side by side: every pre-training source with every fine-tuning strategy (stage ``strategies``).

A TL-LSTM is made by two choices: what the pre-trained model learned from
(its *source*) and how it is fine-tuned on a well (its *strategy*). This
module runs every pair of ``strategies.sources`` and ``strategies.finetune``
on every listed well, with the same code, ensemble and settings as the
``finetune`` stage, and scores them against the IT-LSTM on the same months.

Sources
    ``basin``   a model pre-trained on the basin-average signal (the paper);
    ``wells``   one model pre-trained on every well's series pooled;
    ``clusters`` each well fine-tuned from the library member it follows most
                closely (``models/library``, :mod:`gwtl.transfer.model_library`; its cluster
                models follow ``pretrain.source``).
    ``scratch`` a control, no pre-training: untrained models of the
                pre-trained model's configuration, fine-tuned by the same
                strategy (:func:`gwtl.transfer.finetune.scratch_bases`); ``scratch/gradual``
                is a random initialisation trained with the gradual schedule.
    A source equal to ``pretrain.source`` uses ``models/pretrain`` itself;
    another is pre-trained here by :func:`gwtl.transfer.pretrain.run_pretrain` with the
    same search (``pretrain.*``) and kept in ``models/strategies/pretrain_<source>``.

Two rows are computed by other stages already, and are read from them rather
than computed twice: the default (``pretrain.source`` with the strategy of
``finetune.*``) is the ``finetune`` stage (``models/finetune``), and
``clusters`` with the default strategy is the ``finetune_library`` stage
(``models/tl_library``); the same code with the same settings gives the same
forecasts and cost (a test checks it).

Strategies (:data:`FINETUNE`)
    ``head``     only the head trains (the paper);
    ``all``      the LSTM (at ``finetune.lstm_lr``) and the head (at
                 ``finetune.lr``) train together;
    ``gradual``  the head first, then the LSTM and the head (gradual unfreezing).

A second control, ``it_fixed`` (``strategies.it_fixed``), is the IT-LSTM
without its search: the pre-trained model's configuration trained from
scratch on each well with IT's seeds (:func:`gwtl.transfer.it_lstm.it_fixed_well`).
Together the two controls tell what TL's cost ratio against IT means: how
much of IT's cost is its search, and what pre-training adds to the same
schedule. Neither is charged the pre-training search whose configuration it
borrows, and no strategy is charged this stage's own search over strategies
(its CPU is ``cpu_s_finetune`` of every row times the wells).

The choice of the default (``pretrain.source`` and ``finetune.*`` in
params.yaml) is made on the table's validation columns. The table has no test
column: the evaluate stage scores the strategies' test period
(``reports/strategy_results.csv``, :func:`gwtl.evaluation.evaluate.score_strategies`)
and the replication report shows it.

Outputs
-------
``models/strategies/`` (written to a temporary sibling and renamed into place)
    ``pretrain_<source>/`` as ``models/pretrain/``, for a source other than ``pretrain.source``.
    ``predictions.csv``    :mod:`gwtl.data.predictions` table of every well, ``model`` = ``<source>/<strategy>``.
    ``cost.csv``           ``well, strategy, wall_s, cpu_s`` of fine-tuning.
``reports/strategies.csv`` (:func:`strategy_table`)
    one row per ``strategy`` (``<source>/<strategy>``): ``source, finetune,
    default`` (the row that ``pretrain.source`` and ``finetune`` of
    params.yaml give), per lead the validation period's
    ``nse_mean_validation_lead<h>``, ``nse_median_validation_lead<h>`` and
    ``wins_validation_lead<h>`` (wells where the strategy's NSE beats the
    IT-LSTM's; :func:`gwtl.evaluation.strategy_scores.split_columns`), then ``cpu_s_finetune`` (mean per
    well), ``cpu_s_pretrain`` (pre-training, all bases and search; for
    ``clusters`` the basin and the cluster models), ``cpu_s_per_well``
    (fine-tuning plus pre-training shared over the wells), ``cpu_s_basin`` and
    ``it_over_tl`` (the IT-LSTM's CPU per well over ``cpu_s_per_well``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.predictions import read_predictions, write_predictions
from gwtl.data.processed import Processed, as_processed
from gwtl.evaluation.evaluate import score_strategies
from gwtl.evaluation.strategy_scores import IT, split_columns
from gwtl.params import as_params
from gwtl.pipeline.atomic import atomic_folder
from gwtl.pipeline.parallel import map_in_processes
from gwtl.transfer.finetune import finetune_well
from gwtl.transfer.it_lstm import it_fixed_well
from gwtl.transfer.pretrain import run_pretrain
from gwtl.transfer.model_library import library_choices, read_library

IT_FIXED = "it_fixed"  # the control of strategies.it_fixed
FINETUNE = {
    "head": {"trainable": ["head"], "gradual": False},
    "all": {"trainable": ["lstm", "head"], "gradual": False},
    "gradual": {"trainable": ["lstm", "head"], "gradual": True},
}


@dataclass
class StrategiesResult:
    """What :func:`run_strategies` wrote into ``out`` (besides the pre-trained models ``pretrain_<source>``).

    Attributes
    ----------
    out : Path
    predictions : DataFrame
        ``predictions.csv``: every well's forecasts, ``model`` = ``<source>/<strategy>``.
    cost : DataFrame
        ``cost.csv``: ``well, strategy, wall_s, cpu_s`` of fine-tuning.
    strategies : DataFrame
        ``strategies.csv``: ``strategy, source, finetune``, the per-well mean
        ``cpu_s_finetune`` and ``cpu_s_pretrain``; what :func:`strategy_table`
        needs besides the forecasts.
    """

    out: Path
    predictions: pd.DataFrame
    cost: pd.DataFrame
    strategies: pd.DataFrame


def variant(params: dict, source: str, finetune: str) -> dict:
    """``params`` with the pre-training ``source`` and the fine-tuning strategy ``finetune`` of :data:`FINETUNE`."""
    out = copy.deepcopy(params)
    if source not in ("clusters", "scratch"):
        out["pretrain"]["source"] = source
    out["finetune"].update(copy.deepcopy(FINETUNE[finetune]))
    return out


def default_strategy(params: dict) -> str | None:
    """The ``<source>/<strategy>`` that ``pretrain.source`` and ``finetune`` of ``params`` give (None if none)."""
    ft = params["finetune"]
    for name, settings in FINETUNE.items():
        if list(ft["trainable"]) == settings["trainable"] and ft["gradual"] == settings["gradual"]:
            return f"{params['pretrain']['source']}/{name}"
    return None


def _finetune_task(task: tuple[dict, str, Processed, str, str]) -> tuple[pd.DataFrame, dict]:
    params, well, data, pretrain, model = task
    if model == IT_FIXED:
        done = it_fixed_well(params, data, well, pretrain, model)
    else:
        done = finetune_well(params, data, well, pretrain, model, scratch=model.startswith("scratch/"))
    return done.table, done.cost


def run_label(params: dict, data: Processed, starts: dict[str, str | Path], label: str):
    """Forecasts and cost of the TL strategy or control ``label`` on every well of ``starts``, in worker processes.

    ``label`` is ``<source>/<strategy>`` (``scratch/...`` starts from untrained
    models) or :data:`IT_FIXED`; ``starts`` maps each well to the pre-trained
    folder it starts from; ``params`` carry the strategy's settings
    (:func:`variant`). Yields ``(predictions, cost)`` per well, in order.
    """
    return map_in_processes(_finetune_task, [(params, w, data, start, label) for w, start in starts.items()])


def _read_finetuned(folder: Path, well: str, label: str) -> tuple[pd.DataFrame, dict]:
    """The forecasts (renamed ``label``) and cost of ``well`` fine-tuned by another stage into ``folder``."""
    path = folder / well
    if not (path / "predictions.csv").exists() or not (path / "cost.json").exists():
        raise FileNotFoundError(f"{path}/predictions.csv or cost.json not found: strategy {label} is read from "
                                f"{folder}; run `dvc repro finetune finetune_library` first")
    return read_predictions(path / "predictions.csv").assign(model=label), json.loads((path / "cost.json").read_text())


def _reused(params: dict, pretrain: Path, finetuned: Path, tl_library: Path) -> dict[str, Path]:
    """The strategies that the ``finetune`` and ``finetune_library`` stages compute: label -> their folder."""
    default = default_strategy(params)
    if default is None:
        return {}
    found = {f"clusters/{default.split('/')[1]}": tl_library}
    if Path(params["finetune"]["pretrained"]).resolve() == pretrain.resolve():
        found[default] = finetuned
    return found


def _pretrain_cpu(folder: Path) -> float:
    return float(json.loads((folder / "cost.json").read_text())["cpu_s"])


def run_strategies(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
                   pretrain: str | Path = "models/pretrain", library: str | Path = "models/library",
                   out: str | Path = "models/strategies", finetuned: str | Path = "models/finetune",
                   tl_library: str | Path = "models/tl_library", log=print) -> StrategiesResult:
    """Fine-tune every well with every source and strategy; write ``out`` (see the module docstring).

    ``finetuned`` and ``tl_library`` are the folders of the ``finetune`` and
    ``finetune_library`` stages, whose rows are read, not recomputed.
    """
    params = as_params(params)
    data = as_processed(processed)
    wells = data.listed_wells(params)
    conf = params["strategies"]
    pretrain, out = Path(pretrain), Path(out)
    reused = _reused(params, pretrain, Path(finetuned), Path(tl_library))
    if "clusters" in conf["sources"]:
        lib = read_library(library)
        choices = library_choices(params, data, lib).set_index("well")["member"]
        member_path = dict(zip(lib.members["name"], lib.members["path"]))
        kinds = dict(zip(lib.members["name"], lib.members["kind"]))
        library_cpu = sum(_pretrain_cpu(Path(member_path[m])) for m in member_path if kinds[m] in ("basin", "cluster"))
    rows, tables, costs = [], [], []
    with atomic_folder(out) as tmp:
        folders: dict[str, Path] = {}
        for source in conf["sources"]:
            if source == "clusters":
                continue
            if source in (params["pretrain"]["source"], "scratch"):
                folders[source] = pretrain
            else:
                if log is not None:
                    log(f"pre-training from source {source} ...")
                run_pretrain(variant(params, source, "head"), data, tmp / f"pretrain_{source}", log=None)
                folders[source] = tmp / f"pretrain_{source}"
        jobs = [(source, name) for source in conf["sources"] for name in conf["finetune"]]
        for source, name in jobs + ([("", IT_FIXED)] if conf["it_fixed"] else []):
            label = f"{source}/{name}" if source else name
            settings = variant(params, source, name) if source else params
            starts = ({w: member_path[choices[w]] for w in wells} if source == "clusters"
                      else dict.fromkeys(wells, str(folders.get(source, pretrain))))
            done = ((_read_finetuned(reused[label], w, label) for w in wells) if label in reused
                    else run_label(settings, data, starts, label))
            cpu = []
            for well, (table, cost) in zip(wells, done):
                tables.append(table)
                costs.append({"well": well, "strategy": label, "wall_s": cost["wall_s"], "cpu_s": cost["cpu_s"]})
                cpu.append(cost["cpu_s"])
            pre = (library_cpu if source == "clusters" else
                   0.0 if source in ("scratch", "") else _pretrain_cpu(folders[source]))
            rows.append({"strategy": label, "source": source, "finetune": name,
                         "cpu_s_finetune": float(np.mean(cpu)), "cpu_s_pretrain": pre})
            if log is not None:
                log(f"{label}: {np.mean(cpu):.2f} s CPU per well fine-tuning, {pre:.0f} s pre-training"
                    + (f" (read from {reused[label]})" if label in reused else ""))
        result = StrategiesResult(out, pd.concat(tables, ignore_index=True), pd.DataFrame(costs), pd.DataFrame(rows))
        write_predictions(result.predictions, tmp / "predictions.csv")
        result.cost.to_csv(tmp / "cost.csv", index=False, float_format="%.4g")
        result.strategies.to_csv(tmp / "strategies.csv", index=False, float_format="%.6g")
    return result


def strategy_table(params: dict | str | Path, strategies: str | Path = "models/strategies",
                   it: str | Path = "models/it") -> pd.DataFrame:
    """The strategies table (``reports/strategies.csv``; columns in the module docstring).

    Every strategy and the IT-LSTM are scored on the validation months where
    all of them have a forecast (:func:`gwtl.evaluation.evaluate.score_strategies`);
    ``wins`` compares per well with the IT-LSTM
    (:func:`gwtl.evaluation.strategy_scores.split_columns`). The test period is not
    scored here: the evaluate stage scores it the same way. IT's CPU per well
    comes from its ``cost.json`` files (search, members and prediction).
    """
    params = as_params(params)
    folder = Path(strategies)
    for name in ("predictions.csv", "strategies.csv"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} not found; run `dvc repro strategies` first")
    wells = [str(w) for w in params["basin"]["wells"]]
    missing = [w for w in wells if not (Path(it) / w / "predictions.csv").exists()]
    if missing:
        raise FileNotFoundError(f"IT-LSTM forecasts of wells {missing[:5]} are missing in {it}; run `dvc repro it_lstm`")
    theirs = pd.concat([read_predictions(Path(it) / w / "predictions.csv") for w in wells], ignore_index=True)
    scores = score_strategies(read_predictions(folder / "predictions.csv"), theirs, params["split"], ("validation",))
    validation = split_columns(scores, "validation")
    it_cpu = float(np.mean([json.loads((Path(it) / w / "cost.json").read_text())["cpu_s"] for w in wells]))
    meta = pd.read_csv(folder / "strategies.csv")
    default = default_strategy(params)
    rows = []
    for row in meta.itertuples():
        per_well = row.cpu_s_finetune + row.cpu_s_pretrain / len(wells)
        rows.append({"strategy": row.strategy, "source": row.source, "finetune": row.finetune,
                     "default": row.strategy == default, **validation.loc[row.strategy].to_dict(),
                     "cpu_s_finetune": row.cpu_s_finetune, "cpu_s_pretrain": row.cpu_s_pretrain,
                     "cpu_s_per_well": per_well, "cpu_s_basin": per_well * len(wells), "it_over_tl": it_cpu / per_well})
    it_row = {"strategy": IT, "source": "", "finetune": "", "default": False,
              **validation.loc[IT].drop([c for c in validation.columns if c.startswith("wins_")]).to_dict(),
              "cpu_s_per_well": it_cpu, "cpu_s_basin": it_cpu * len(wells), "it_over_tl": 1.0}
    table = pd.DataFrame(rows + [it_row])
    wins = [c for c in table.columns if c.startswith("wins_")]
    table[wins] = table[wins].astype("Int64")
    return table
