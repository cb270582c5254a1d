"""Score every model on every well, lead and split; compare TL with IT; summarize skill and cost.

Fair comparison
    All models of one well are scored on the same target months: for each well
    and lead, a month counts only if *every* model present for that well has a
    forecast for it and the level is observed (:func:`common_months`). A model
    whose samples start later (a longer window), or that skipped a month (a
    missing forcing), thus removes that month from the scores of all models of
    the well. Rows with a missing observation or forecast are never scored.
    Months are assigned to splits by ``params["split"]``.

Scores (:mod:`gwtl.evaluation.metrics`) are NSE, KGE, RMSE, MAE, R², bias and the
persistence index (PI), whose reference is the observed level at the issue
month, taken from the observed column of the predictions. KGE is KGE''
(Tang et al. 2021), whose bias term is the bias over the observed standard
deviation: it does not depend on the level the series is measured from.
Models ``it_<k>`` (the IT-LSTM a ``k``-trial search would have produced) are
scored like any other.

TL strategies (:mod:`gwtl.transfer.strategies`, argument ``strategies``)
    The forecasts of ``models/strategies`` (models ``<source>/<strategy>``
    and the control ``it_fixed``) are scored apart from the other models,
    together with the IT-LSTM (``it``), on the months where all of those have
    a forecast (:func:`score_strategies`): a strategy whose samples start later thus
    changes none of the other models' months, scores or comparisons. This is
    where the strategies' test period is scored; the ``strategies`` stage
    scores their validation period the same way.

Paired comparisons (:mod:`gwtl.evaluation.compare`)
    On the same scored rows, test period, per lead: TL against IT, TL-library
    against IT and TL, TL against ARX and damped persistence
    (:data:`gwtl.evaluation.compare.PAIRS`, those present): wins, mean difference,
    Wilcoxon test over wells, a bootstrap over test years and the
    equivalence test. On the strategies' rows, the claims of
    :data:`CLAIMED` against IT (the paper's TL and the two controls) join
    ``comparison.csv`` and ``metrics.json`` the same way.

Outputs
    ``metrics.json`` (DVC metrics, short stable keys, floats to 4 digits)::

        {"test": {"lead1": {"nse_median": {"tl": .., "it": .., "arx": ..},
                            "nse_mean": {..}, "kge_median": {..}, "rmse_median": {..},
                            "skill_vs_damped_persistence": {"tl": .., "it": .., ..},
                            "n_wells": 63, "nse_basin": {"pretrain": ..},
                            "tl_vs_it": {"wins": .., "mean_diff": .., "wilcoxon_p": ..,
                                         "boot_lo": .., "boot_hi": .., "eq_lo": .., "eq_hi": ..},
                            "basin/head_vs_it": {..}, ...}, ...},
         "validation": {...},
         "cost": {"pretrain_cpu_s": .., "library_pretrain_cpu_s": ..,
                  "cpu_s_per_well": {"tl": .., "tl_library": .., "it": .., "it_5": .., "arx": .., ...},
                  "cpu_s_basin": {"tl": .., ...}, "it_over_tl": ..}}

    With the forecast stage's ``models/forecast/metrics.json`` (argument
    ``intervals``), ``test.lead<h>`` also holds ``coverage<L>``, ``width<L>``,
    ``wis`` and ``nse_esp`` per model (:mod:`gwtl.forecast.intervals`).

    ``skill_vs_damped_persistence`` (when the baseline ``damped_persistence``
    of :mod:`gwtl.models.baselines` is scored) is the skill of every other model
    against it: per well ``1 - MSE_model / MSE_damped`` over the well's scored
    months (the same months for every model of the well), then the mean over
    wells (:func:`skill_against`). Positive: better than the damped anomaly
    persistence that reads no forcing.

    Medians and means run over the listed wells (the basin signal, ``basin``,
    is reported separately as ``nse_basin``). Only the splits of
    ``evaluate.splits`` appear; the comparisons only under ``test``.

    ``results.csv``: ``well, model, lead, split, nse, kge, rmse, mae, r2, bias, pi, n``.

    ``strategy_results.csv`` (with ``strategies``): the same columns for the
    TL strategies and the IT-LSTM scored with them (:func:`score_strategies`),
    every split of ``evaluate.splits``; the report summarizes its test rows
    (:func:`gwtl.evaluation.strategy_scores.split_columns`).

    ``comparison.csv``: one row per lead and pair, the columns of
    :data:`gwtl.evaluation.compare.COLUMNS`.

    ``cost.csv``: development cost, one row per well and model, with columns

    ``well, model``
        per-well rows for ``tl``, ``tl_library``, ``it``, each ``it_<k>`` and
        the baselines; ``well = basin`` rows for the basin totals of the same
        models and for the pre-training itself (``pretrain``: the basin
        model, all its search and bases; ``pretrain_library``: the sum over
        the library's cluster models).
    ``wall_s``
        own wall-clock seconds (information only: workers ran side by side;
        empty for ``it_<k>``, whose IT ``budgets`` entries give CPU only).
    ``cpu_s``
        own CPU seconds (``time.process_time`` of the process that did the
        work): fine-tuning for ``tl``/``tl_library``, search and training
        for ``it`` and ``it_<k>`` (the ``budgets`` entry of the well's IT
        ``cost.json`` with ``trials = k``), tuning and fitting for baselines.
    ``pretrain_cpu_s``
        pre-training CPU charged on top: per well, the model's pre-training
        divided by the number of listed wells (``tl``: ``pretrain``;
        ``tl_library``: ``pretrain`` + ``pretrain_library``, since the
        library holds the basin model too; others: 0); per basin, the whole
        pre-training once; 0 on the pre-training rows.
    ``total_cpu_s``
        ``cpu_s + pretrain_cpu_s``: the cost every comparison uses.

    External library members (``library.external``) were pre-trained in
    another project: their cost is not this basin's and is left out. In
    ``metrics.json``, ``cpu_s_per_well`` is the mean ``total_cpu_s`` over
    wells, ``cpu_s_basin`` the basin ``total_cpu_s``, and ``it_over_tl`` the
    ratio of the basin totals of IT and TL (pre-training included).
"""

from __future__ import annotations

import glob
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.predictions import COLUMNS, SPLITS, read_predictions
from gwtl.data.processed import listed_flags
from gwtl.data.samples import period
from gwtl.evaluation.compare import comparison_metrics, comparison_table
from gwtl.evaluation.metrics import NAMES, SKILL_REFERENCE as REFERENCE, score, skill
from gwtl.pipeline.atomic import write_text


def inputs_under(models: str | Path = "models") -> dict:
    """The predictions globs and cost files the pipeline writes under ``models``.

    The TL-LSTM fine-tuned from a library of pre-trained models
    (``models/tl_library``, :mod:`gwtl.transfer.model_library`), the pastas TFN models
    (``models/tfn``, :mod:`gwtl.models.tfn`, with their per-well ``diagnostics.csv``)
    the interval scores of the forecast stage
    (``models/forecast/metrics.json``, :mod:`gwtl.forecast.outlook`) and the TL
    strategies (``models/strategies/predictions.csv``, :mod:`gwtl.transfer.strategies`,
    scored apart: :func:`score_strategies`) are included when their folders
    exist.
    """
    m = Path(models)
    inputs = {
        "predictions": [str(m / "pretrain" / "predictions.csv"), str(m / "finetune" / "*" / "predictions.csv"),
                        str(m / "it" / "*" / "predictions.csv"), str(m / "baselines" / "predictions.csv")],
        "cost_files": {"pretrain": str(m / "pretrain" / "cost.json"), "tl": str(m / "finetune" / "*" / "cost.json"),
                       "it": str(m / "it" / "*" / "cost.json"), "baselines": str(m / "baselines" / "cost.csv")},
    }
    if (m / "tl_library").is_dir():
        inputs["predictions"].append(str(m / "tl_library" / "*" / "predictions.csv"))
        inputs["cost_files"]["tl_library"] = str(m / "tl_library" / "*" / "cost.json")
        inputs["cost_files"]["library"] = str(m / "library" / "members.csv")
    if (m / "tfn").is_dir():
        inputs["predictions"].append(str(m / "tfn" / "predictions.csv"))
        inputs["cost_files"]["tfn"] = str(m / "tfn" / "cost.csv")
        inputs["diagnostics"] = {"tfn": str(m / "tfn" / "diagnostics.csv")}
    if (m / "forecast").is_dir():
        inputs["intervals"] = str(m / "forecast" / "metrics.json")
    if (m / "strategies").is_dir():
        inputs["strategies"] = str(m / "strategies" / "predictions.csv")
    return inputs


PREDICTIONS = inputs_under()["predictions"]
COST_FILES = inputs_under()["cost_files"]
# Which DVC stage writes the files under models/<folder>/, and which stage makes a model.
STAGE_OF_FOLDER = {"pretrain": "pretrain", "finetune": "finetune", "it": "it_lstm", "baselines": "baselines",
                   "tl_library": "finetune_library", "library": "library", "forecast": "forecast", "tfn": "tfn",
                   "strategies": "strategies"}
STAGE_OF_MODEL = {"pretrain": "pretrain", "tl": "finetune", "it": "it_lstm", "tl_library": "finetune_library",
                  "tfn": "tfn"}
RESULT_COLUMNS = ["well", "model", "lead", "split", *NAMES, "n"]
BASIN = "basin"
IT = "it"
# Strategies and controls compared with IT in the claims table, besides TL (the default): the paper's TL (head
# fine-tuned on the frozen pre-trained LSTM), a random initialisation with the default's gradual schedule, and
# IT with the pre-trained configuration and no search.
CLAIMED = ("basin/head", "scratch/gradual", "it_fixed")


@dataclass
class EvaluateResult:
    """What :func:`run_evaluate` wrote: per-well results, the metrics dict, the cost and comparison tables.

    Unlike the other stages' results it has no ``out``: its files go to the
    places its arguments name (``reports/`` and ``metrics.json``).
    ``strategies`` holds the scores of ``strategy_results.csv`` (None without
    the strategies' forecasts).
    """

    results: pd.DataFrame
    metrics: dict
    cost: pd.DataFrame
    comparison: pd.DataFrame
    strategies: pd.DataFrame | None = None


# ----------------------------------------------------------------------------- inputs


def _stage_hint(pattern: str) -> str:
    for part in reversed(Path(pattern).parts[:-1]):
        if part in STAGE_OF_FOLDER:
            return f"`dvc repro {STAGE_OF_FOLDER[part]}`"
    return "the stage that writes it (`dvc repro`)"


def expand(patterns) -> list[Path]:
    """Paths matching each pattern (a path or a glob); each must match at least one file."""
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    paths = []
    for pattern in patterns:
        found = sorted(glob.glob(str(pattern)))
        if not found:
            raise FileNotFoundError(f"no file matches {pattern}; run {_stage_hint(str(pattern))} first")
        paths.extend(Path(p) for p in found)
    return paths


def load_predictions(patterns) -> pd.DataFrame:
    """Read and concatenate predictions tables; refuse repeated forecasts."""
    frames = []
    for path in expand(patterns):
        frame = read_predictions(path)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: columns {missing} are missing; it is not a predictions table "
                             "(gwtl.data.predictions); rerun the stage that wrote it")
        frames.append(frame[COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    table["well"] = table["well"].astype(str)
    table["model"] = table["model"].astype(str)
    repeated = table.duplicated(["well", "model", "lead", "month"])
    if repeated.any():
        row = table[repeated].iloc[0]
        raise ValueError(
            f"{int(repeated.sum())} repeated forecasts, e.g. well {row.well}, model {row.model}, "
            f"lead {row.lead}, month {row.month:%Y-%m}; is a model's file listed twice?"
        )
    return table


def listed_wells(wells_csv: str | Path) -> list[str]:
    """HZB numbers of the listed wells in ``wells.csv`` (all rows if there is no ``listed`` column)."""
    path = Path(wells_csv)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `dvc repro prepare` first")
    wells = pd.read_csv(path)
    if "hzb" not in wells.columns:
        raise ValueError(f"{path}: no 'hzb' column; rerun prepare")
    if "listed" in wells.columns:
        wells = wells[listed_flags(wells["listed"])]
    listed = [str(w) for w in wells["hzb"]]
    if not listed:
        raise ValueError(f"{path} lists no well; list the wells in basin.wells of params.yaml "
                         "(`gwtl basin AREA` chooses them) and rerun `dvc repro prepare`")
    return listed


def check_coverage(table: pd.DataFrame, wells: list[str], failed: dict[str, list[str]] | None = None,
                   stage: str | None = None) -> None:
    """Every model forecasts every listed well, and no unlisted well (except ``basin``).

    ``failed`` names, per model, the wells whose fit failed and that its stage
    reported as such (:func:`failed_fits`): they are excused, not missing.
    ``stage`` is the stage that makes every model of ``table``, named in the
    error (default: the model's own, :data:`STAGE_OF_MODEL`, else baselines).
    """
    present = table.groupby("model")["well"].agg(lambda s: set(s))
    extra = sorted(set(table["well"]) - set(wells) - {BASIN})
    if extra:
        raise ValueError(f"predictions hold well(s) {extra[:5]} not listed in wells.csv; "
                         "the models are stale: rerun them (`dvc repro`)")
    for model, have in present.items():
        if have == {BASIN}:
            continue
        lacking = [w for w in wells if w not in have and w not in (failed or {}).get(model, [])]
        if lacking:
            maker = stage or STAGE_OF_MODEL.get(model, "baselines")
            raise ValueError(f"model {model} has no forecasts for well(s) {', '.join(lacking[:5])}"
                             f"{' ...' if len(lacking) > 5 else ''}; run `dvc repro {maker}` for them")


def failed_fits(diagnostics: dict[str, str | Path], wells: list[str]) -> dict[str, list[str]]:
    """Per model, the listed wells whose fit failed, from its diagnostics table (one row per well).

    A diagnostics table that lacks a listed well is stale: a ValueError says to rerun its stage.
    """
    failed = {}
    for model, pattern in diagnostics.items():
        (path,) = expand(pattern)
        table = pd.read_csv(path, dtype={"well": str})
        lacking = [w for w in wells if w not in set(table["well"])]
        if lacking:
            raise ValueError(f"{path} has no row for well(s) {', '.join(lacking[:5])}; "
                             f"rerun `dvc repro {STAGE_OF_MODEL.get(model, model)}`")
        failed[model] = [w for w in table.loc[table["status"] == "failed", "well"] if w in wells]
    return failed


def label_splits(months: pd.Series, split: dict) -> np.ndarray:
    """Split name of each month (``none`` outside all periods)."""
    label = np.full(len(months), "none", dtype=object)
    for name in SPLITS:
        lo, hi = period(split[name])
        label[((months >= lo) & (months <= hi)).to_numpy()] = name
    return label


# ----------------------------------------------------------------------------- scoring


def common_months(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the months where every model of the well has a forecast and the level is observed.

    Per well and lead, a month is kept when its count of models with a
    forecast equals the number of models present for that well.
    """
    valid = table.dropna(subset=["forecast", "observed"])
    by_month = valid.groupby(["well", "month"])["observed"]
    spread = by_month.max() - by_month.min()
    if (spread > 1e-3).any():
        well, month = spread[spread > 1e-3].index[0]
        raise ValueError(f"well {well}, {month:%Y-%m}: models disagree on the observed level; "
                         "they were made from different prepared data: rerun them (`dvc repro`)")
    n_models = table.groupby("well")["model"].nunique()
    count = valid.groupby(["well", "lead", "month"])["model"].transform("nunique")
    return valid[count.to_numpy() == n_models.reindex(valid["well"]).to_numpy()]


def persistence_reference(rows: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Observed level at the issue month of each of ``rows``, looked up in all of ``table``.

    NaN where no model's table holds that month as an observed target month.
    """
    observed = table.dropna(subset=["observed"]).drop_duplicates(["well", "month"])
    lookup = observed.set_index(["well", "month"])["observed"]
    return lookup.reindex(pd.MultiIndex.from_arrays([rows["well"], rows["issue"]])).to_numpy()


def scored_rows(table: pd.DataFrame, split: dict, splits=("validation", "test")) -> pd.DataFrame:
    """The rows that are scored: common months (:func:`common_months`) in ``splits``.

    Adds ``split`` (its name) and ``persistence`` (the observed level at the
    issue month, :func:`persistence_reference`).
    """
    rows = common_months(table).copy()
    rows["split"] = label_splits(rows["month"], split)
    rows = rows[rows["split"].isin(list(splits))].copy()
    rows["persistence"] = persistence_reference(rows, table)
    return rows


def score_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Scores per well, model, lead and split of :func:`scored_rows`."""
    records = []
    for (well, model, lead, name), g in rows.groupby(["well", "model", "lead", "split"], sort=True):
        records.append({"well": well, "model": model, "lead": int(lead), "split": name,
                        **score(g["observed"], g["forecast"], g["persistence"])})
    return pd.DataFrame(records, columns=RESULT_COLUMNS)


def score_table(table: pd.DataFrame, split: dict, splits=("validation", "test")) -> pd.DataFrame:
    """Scores per well, model, lead and split, on the common months of each well (see :func:`score_rows`)."""
    return score_rows(scored_rows(table, split, splits))


def strategy_rows(strategies: pd.DataFrame, table: pd.DataFrame, split: dict,
                  splits=("validation", "test")) -> pd.DataFrame:
    """Scored rows of the TL strategies and of the IT-LSTM of ``table``, on the months where all of them have a forecast.

    ``strategies`` holds the forecasts of ``models/strategies`` (models
    ``<source>/<strategy>`` and the control ``it_fixed``), ``table`` those of
    the IT-LSTM (model ``it``; other models are left out). They are scored apart from the other models
    (see the module docstring): each strategy is compared with IT on the same
    months (:func:`gwtl.evaluation.strategy_scores.split_columns`).
    """
    own = table[table["model"] == IT]
    if not len(own):
        raise ValueError(f"no IT-LSTM forecasts (model {IT!r}) to score the strategies with; run `dvc repro it_lstm`")
    return scored_rows(pd.concat([strategies, own], ignore_index=True), split, splits)


def score_strategies(strategies: pd.DataFrame, table: pd.DataFrame, split: dict,
                     splits=("validation", "test")) -> pd.DataFrame:
    """Scores per well, model, lead and split of :func:`strategy_rows`."""
    return score_rows(strategy_rows(strategies, table, split, splits))


def skill_against(results: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per well, model, lead and split: ``skill = 1 - MSE_model / MSE_reference``, from ``results``' RMSE.

    ``results`` is :func:`score_table`'s, whose scores of one well cover the
    same months for every model (:func:`common_months`), so the ratio compares
    like with like. Columns ``well, model, lead, split, skill``; the reference
    itself and the wells without it are left out; NaN where the reference's
    MSE is 0.
    """
    keys = ["well", "lead", "split"]
    ref = results[results["model"] == reference].set_index(keys)["rmse"]
    rows = results[(results["model"] != reference) & (results["well"] != BASIN)]
    mse_ref = ref.reindex(pd.MultiIndex.from_frame(rows[keys])).to_numpy() ** 2
    out = rows[["well", "model", "lead", "split"]].assign(skill=skill(rows["rmse"].to_numpy() ** 2, mse_ref))
    return out[~np.isnan(mse_ref)].reset_index(drop=True)


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def summarize(results: pd.DataFrame, splits, comparison: pd.DataFrame | None = None) -> dict:
    """``{split: {"lead<h>": {"nse_median": {model: ..}, ...}}}`` over the listed wells.

    ``comparison`` (:func:`gwtl.evaluation.compare.comparison_table`) adds the entries
    ``"<a>_vs_<b>"`` of :func:`gwtl.evaluation.compare.comparison_metrics`. When
    :data:`REFERENCE` is among the models, ``skill_vs_damped_persistence``
    holds every other model's mean skill over wells (:func:`skill_against`).
    """
    summary = {}
    wells = results[results["well"] != BASIN]
    basin = results[results["well"] == BASIN]
    skills = skill_against(results) if REFERENCE in set(results["model"]) else None
    for name in splits:
        summary[name] = {}
        for lead in sorted(results["lead"].unique()):
            part = wells[(wells["split"] == name) & (wells["lead"] == lead)].groupby("model")
            entry = {
                "nse_median": part["nse"].median(),
                "nse_mean": part["nse"].mean(),
                "kge_median": part["kge"].median(),
                "rmse_median": part["rmse"].median(),
            }
            if skills is not None:
                entry[f"skill_vs_{REFERENCE}"] = (skills[(skills["split"] == name) & (skills["lead"] == lead)]
                                                  .groupby("model")["skill"].mean())
            entry = {k: {m: _clean(float(v)) for m, v in s.items()} for k, s in entry.items()}
            entry["n_wells"] = int(part["well"].nunique().max()) if len(part) else 0
            b = basin[(basin["split"] == name) & (basin["lead"] == lead)]
            if len(b):
                entry["nse_basin"] = {m: _clean(float(v)) for m, v in zip(b["model"], b["nse"])}
            summary[name][f"lead{int(lead)}"] = entry
    if comparison is not None:
        for name, leads in comparison_metrics(comparison).items():
            for lead, pairs in leads.items():
                for pair, values in pairs.items():
                    summary.setdefault(name, {}).setdefault(lead, {})[pair] = {
                        k: _clean(v if isinstance(v, int) else float(v)) for k, v in values.items()}
    return summary


def median_table(results: pd.DataFrame, metric: str = "nse") -> pd.DataFrame:
    """Median of ``metric`` over the listed wells: rows (split, model), columns lead."""
    wells = results[results["well"] != BASIN]
    table = wells.groupby(["split", "model", "lead"])[metric].median().unstack("lead")
    table.columns = [f"lead {c}" for c in table.columns]
    return table


# ----------------------------------------------------------------------------- cost


COST_COLUMNS = ["well", "model", "wall_s", "cpu_s", "pretrain_cpu_s", "total_cpu_s"]
# The pre-training each model's development needs (rows with well = basin of load_costs).
PRETRAINING = {"tl": ("pretrain",), "tl_library": ("pretrain", "pretrain_library")}


def merge_metrics(metrics: dict, extra: dict, prefix: str = "") -> dict:
    """``metrics`` with the nested entries of ``extra`` added; an entry present in both is an error."""
    out = dict(metrics)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_metrics(out[key], value, f"{prefix}{key}.")
        elif key in out:
            raise ValueError(f"metrics entry {prefix}{key} comes from two sources (evaluate and the forecast stage)")
        else:
            out[key] = value
    return out


def _read_json(path: Path) -> dict:
    """A JSON file of the pipeline; the error names it and the stage that writes it."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run {_stage_hint(str(path))}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); rerun {_stage_hint(str(path))}") from None


def _read_cost_json(path: Path) -> dict:
    cost = _read_json(path)
    missing = [k for k in ("wall_s", "cpu_s") if k not in cost]
    if missing:
        raise ValueError(f"{path}: keys {missing} are missing (need wall_s, cpu_s); rerun the stage that wrote it")
    return cost


def _seconds(cost: dict) -> dict:
    return {"wall_s": float(cost["wall_s"]), "cpu_s": float(cost["cpu_s"])}


def budget_rows(cost: dict, well: str, path: Path) -> list[dict]:
    """Cost rows of the models ``it_<k>`` from the ``budgets`` list of one well's IT ``cost.json``.

    Each entry needs ``trials`` and ``cpu_s``; ``wall_s`` is NaN when the
    entry has none (a smaller budget's wall time is not measured).
    """
    rows = []
    for entry in cost.get("budgets") or []:
        if not {"trials", "cpu_s"} <= set(entry):
            raise ValueError(f"{path}: a budgets entry lacks trials or cpu_s ({entry}); rerun `dvc repro it_lstm`")
        rows.append({"well": well, "model": f"it_{int(entry['trials'])}",
                     "wall_s": float(entry.get("wall_s", np.nan)), "cpu_s": float(entry["cpu_s"])})
    return rows


def library_pretrain_cost(members_csv: Path) -> dict:
    """Wall and CPU seconds of pre-training the library's cluster models, summed.

    The cluster members are the ``kind = cluster`` rows of the library's
    ``members.csv``; each has a ``cost.json`` in ``<library>/<name>/``. The
    basin member is ``models/pretrain`` (counted as ``pretrain``); external
    members were pre-trained in another project and their cost is not ours.
    """
    members = pd.read_csv(members_csv, dtype=str, keep_default_na=False)
    if not {"name", "kind"} <= set(members.columns):
        raise ValueError(f"{members_csv}: needs columns name, kind; rerun `dvc repro library`")
    total = {"wall_s": 0.0, "cpu_s": 0.0}
    for name in members.loc[members["kind"] == "cluster", "name"]:
        path = members_csv.parent / name / "cost.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run `dvc repro library`")
        cost = _seconds(_read_cost_json(path))
        total = {k: total[k] + cost[k] for k in total}
    return total


def load_costs(cost_files: dict, wells: list[str]) -> pd.DataFrame:
    """Own cost rows (``well, model, wall_s, cpu_s``) from the cost files.

    ``cost_files`` maps ``pretrain`` to one JSON file, ``tl`` and ``it`` to a
    glob of ``<folder>/<well>/cost.json`` files and optionally ``baselines``
    to the ``cost.csv`` of :func:`gwtl.models.baselines.run_baselines` (``tfn``
    likewise to that of :func:`gwtl.models.tfn.run_tfn`),
    ``tl_library`` to a glob of the library TL-LSTM's ``<well>/cost.json``
    files and ``library`` to the library's ``members.csv``
    (:func:`library_pretrain_cost`). The IT files' ``budgets`` give the rows
    of the models ``it_<k>`` (:func:`budget_rows`); every well must list the
    same budgets. Pre-training is in rows with ``well = basin``: ``pretrain``
    and, with a library, ``pretrain_library``.
    """
    for model in ("pretrain", "tl", "it"):
        if model not in cost_files:
            raise ValueError(f"cost_files needs a {model!r} entry")
    rows = [{"well": BASIN, "model": "pretrain", **_seconds(_read_cost_json(expand(cost_files["pretrain"])[0]))}]
    if cost_files.get("library"):
        path = Path(cost_files["library"])
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run `dvc repro library`")
        rows.append({"well": BASIN, "model": "pretrain_library", **library_pretrain_cost(path)})
    for model in ("tl", "it", *(["tl_library"] if cost_files.get("tl_library") else [])):
        paths = expand(cost_files[model])
        found = {p.parent.name: p for p in paths}
        lacking = [w for w in wells if w not in found]
        if lacking:
            raise FileNotFoundError(f"no {model} cost file for well(s) {', '.join(lacking[:5])} "
                                    f"(pattern {cost_files[model]}); run `dvc repro {STAGE_OF_MODEL[model]}`")
        budgets = set()
        for well in wells:
            cost = _read_cost_json(found[well])
            rows.append({"well": well, "model": model, **_seconds(cost)})
            if model == "it":
                extra = budget_rows(cost, well, found[well])
                budgets.add(tuple(r["model"] for r in extra))
                rows += extra
        if len(budgets) > 1:
            raise ValueError(f"the IT cost files ({cost_files['it']}) list different trial budgets "
                             f"({sorted(budgets)}); rerun `dvc repro it_lstm` for all wells")
    for stage in ("baselines", "tfn"):
        if cost_files.get(stage):
            path = expand(cost_files[stage])[0]
            base = pd.read_csv(path, dtype={"well": str})
            if not {"well", "model", "wall_s", "cpu_s"} <= set(base.columns):
                raise ValueError(f"{path}: needs columns well, model, wall_s, cpu_s; rerun `dvc repro {stage}`")
            rows += base[["well", "model", "wall_s", "cpu_s"]].to_dict("records")
    return pd.DataFrame(rows, columns=["well", "model", "wall_s", "cpu_s"])


def cost_table(own: pd.DataFrame, n_wells: int) -> tuple[pd.DataFrame, dict]:
    """``cost.csv`` (see the module docstring) and the ``cost`` entry of ``metrics.json``.

    ``own`` is :func:`load_costs`; pre-training is amortised over
    ``n_wells``, the number of listed wells.
    """
    pre = own[own["well"] == BASIN].set_index("model")
    wells = own[own["well"] != BASIN].copy()
    pretrain_of = {m: sum(float(pre.at[p, "cpu_s"]) for p in PRETRAINING.get(m, ()) if p in pre.index)
                   for m in wells["model"].unique()}
    wells["pretrain_cpu_s"] = wells["model"].map(pretrain_of) / n_wells
    sums = wells.groupby("model", sort=False)[["wall_s", "cpu_s"]].sum(min_count=1)
    basin = sums.assign(pretrain_cpu_s=pd.Series(pretrain_of)).reset_index().assign(well=BASIN)
    table = pd.concat([wells, basin, pre.reset_index().assign(pretrain_cpu_s=0.0)], ignore_index=True)
    table["total_cpu_s"] = table["cpu_s"] + table["pretrain_cpu_s"]
    table = table[COST_COLUMNS]

    totals = table[table["well"] == BASIN].set_index("model")["total_cpu_s"]
    per_well = wells.assign(total=wells["cpu_s"] + wells["pretrain_cpu_s"]).groupby("model", sort=False)["total"]
    metrics = {"pretrain_cpu_s": _clean(float(pre.at["pretrain", "cpu_s"]))}
    if "pretrain_library" in pre.index:
        metrics["library_pretrain_cpu_s"] = _clean(float(pre.at["pretrain_library", "cpu_s"]))
    metrics["cpu_s_per_well"] = {m: _clean(float(v)) for m, v in per_well.mean().items()}
    metrics["cpu_s_basin"] = {m: _clean(float(totals[m])) for m in per_well.mean().index}
    metrics["it_over_tl"] = _clean(float(totals["it"] / totals["tl"]) if totals["tl"] > 0 else float("nan"))
    return table, metrics


# ----------------------------------------------------------------------------- stage


def run_evaluate(
    params: dict,
    predictions=PREDICTIONS,
    wells_csv: str | Path = "data/processed/wells.csv",
    out_metrics: str | Path = "metrics.json",
    out_results: str | Path = "reports/results.csv",
    out_cost: str | Path = "reports/cost.csv",
    cost_files: dict | None = None,
    out_comparison: str | Path = "reports/comparison.csv",
    intervals: str | Path | None = None,
    diagnostics: dict[str, str | Path] | None = None,
    strategies: str | Path | None = None,
    out_strategies: str | Path = "reports/strategy_results.csv",
) -> EvaluateResult:
    """Score all models and write ``metrics.json``, the results, the comparisons and the cost table.

    Parameters
    ----------
    params : dict
        Loaded ``params.yaml`` (``split`` and ``evaluate.splits`` are used).
    predictions : list of paths or globs
        Predictions tables (:mod:`gwtl.data.predictions`); each pattern must match a file.
    wells_csv : path
        ``wells.csv`` of the prepared data; its listed wells must all be
        forecast.
    out_metrics, out_results, out_cost, out_comparison : paths
        Outputs, written atomically.
    cost_files : dict, optional
        Default :data:`COST_FILES`.
    intervals : path, optional
        ``models/forecast/metrics.json`` of the forecast stage: its entries
        (test coverage, width and WIS of the intervals, ``nse_esp``) join
        ``metrics.json`` under the same split and lead.
    diagnostics : dict, optional
        Per model, a fit diagnostics table with ``well`` and ``status``
        (``models/tfn/diagnostics.csv``): wells whose fit ``failed`` are
        excused from the coverage check, and their count per model is
        ``fits_failed`` in ``metrics.json``.
    strategies : path, optional
        ``models/strategies/predictions.csv``: the TL strategies, scored apart
        with the IT-LSTM (:func:`score_strategies`) into ``out_strategies``;
        nothing else changes.
    """
    splits = list(params["evaluate"]["splits"])
    wells = listed_wells(wells_csv)
    own_cost = load_costs(COST_FILES if cost_files is None else cost_files, wells)
    table = load_predictions(predictions)
    failed = failed_fits(diagnostics or {}, wells)
    check_coverage(table, wells, failed)

    rows = scored_rows(table, params["split"], splits)
    results = score_rows(rows)
    comparison = comparison_table(rows[rows["well"] != BASIN])  # test rows only; empty without them
    scored = None
    if strategies is not None:
        theirs = load_predictions(strategies)
        check_coverage(theirs, wells, stage="strategies")
        theirs_rows = strategy_rows(theirs, table, params["split"], splits)
        scored = score_rows(theirs_rows)
        claims = comparison_table(theirs_rows, pairs=[(m, IT) for m in CLAIMED if m in set(theirs["model"])])
        comparison = pd.concat([comparison, claims], ignore_index=True)
    cost, cost_metrics = cost_table(own_cost, len(wells))
    metrics = {**summarize(results, splits, comparison), "cost": cost_metrics}
    if failed:
        metrics["fits_failed"] = {model: len(w) for model, w in failed.items()}
    if intervals is not None:
        metrics = merge_metrics(metrics, _read_json(Path(intervals)))

    write_text(out_results, results.to_csv(index=False, float_format="%.6g"))
    if scored is not None:
        write_text(out_strategies, scored.to_csv(index=False, float_format="%.6g"))
    write_text(out_comparison, comparison.to_csv(index=False, float_format="%.6g"))
    write_text(out_cost, cost.to_csv(index=False, float_format="%.6g"))
    write_text(out_metrics, json.dumps(metrics, indent=2) + "\n")
    return EvaluateResult(results, metrics, cost, comparison, scored)
