"""Score every model on every well, lead and split; summarize skill and cost.

Fair comparison
    All models of one well are scored on the same target months: for each well
    and lead, a month counts only if *every* model present for that well has a
    forecast for it and the level is observed (:func:`common_months`). A model
    whose samples start later (a longer window), or that skipped a month (a
    missing forcing), thus removes that month from the scores of all models of
    the well. Months are assigned to splits by ``params["split"]``.

Scores (:mod:`gwtl.metrics`) are NSE, KGE, RMSE, MAE, R², bias and the
persistence index (PI), whose reference is the observed level at the issue
month, taken from the observed column of the predictions.

Outputs
    ``metrics.json`` (DVC metrics, short stable keys, floats to 4 digits)::

        {"test": {"lead1": {"nse_median": {"tl": .., "it": .., "arx": ..},
                            "nse_mean": {..}, "kge_median": {..}, "rmse_median": {..},
                            "n_wells": 63, "nse_basin": {"pretrain": ..}}, ...},
         "validation": {...},
         "cost": {"pretrain_s": .., "tl_s_per_well": .., "it_s_per_well": ..,
                  "tl_basin_s": .., "it_basin_s": .., "it_over_tl": ..}}

    Medians and means run over the listed wells (the basin signal, ``basin``,
    is reported separately as ``nse_basin``). Only the splits of
    ``evaluate.splits`` appear.

    ``results.csv``: ``well, model, lead, split, nse, kge, rmse, mae, r2, bias, pi, n``.

    ``cost.csv``: ``well, model, wall_s, cpu_s`` -- development time per well
    for ``tl`` (fine-tuning only) and ``it`` (tuning and training from
    scratch), the baselines per well when given, and basin totals in rows with
    ``well = basin``: ``pretrain``, ``tl`` (pretrain + sum over wells of
    fine-tuning), ``it`` (sum over wells), each baseline's sum, and
    ``it_over_tl`` (the ratio of the basin totals, unitless). Cost figures in
    ``metrics.json`` are wall-clock seconds. When ``models/tl_library`` exists,
    its fine-tuning time per well is a ``tl_library`` row (the library's
    pre-training is not included) and its scores appear like any model's
    (e.g. ``test.lead1.nse_median.tl_library``).
"""

from __future__ import annotations

import glob
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import period
from .metrics import NAMES, score
from .predictions import COLUMNS, SPLITS, read_predictions

def inputs_under(models: str | Path = "models") -> dict:
    """The predictions globs and cost files the pipeline writes under ``models``.

    The TL-LSTM fine-tuned from a library of pre-trained models
    (``models/tl_library``, :mod:`gwtl.library`) is included when that folder exists.
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
    return inputs


PREDICTIONS = inputs_under()["predictions"]
COST_FILES = inputs_under()["cost_files"]
# Which DVC stage writes the files under models/<folder>/, and which stage makes a model.
STAGE_OF_FOLDER = {"pretrain": "pretrain", "finetune": "finetune", "it": "it_lstm", "baselines": "baselines",
                   "tl_library": "finetune_library"}
STAGE_OF_MODEL = {"pretrain": "pretrain", "tl": "finetune", "it": "it_lstm", "tl_library": "finetune_library"}
RESULT_COLUMNS = ["well", "model", "lead", "split", *NAMES, "n"]
BASIN = "basin"


@dataclass
class EvaluateResult:
    """What :func:`run_evaluate` wrote: per-well results, the metrics dict and the cost table."""

    results: pd.DataFrame
    metrics: dict
    cost: pd.DataFrame


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
                             "(gwtl.predictions); rerun the stage that wrote it")
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
        wells = wells[wells["listed"].astype(str).str.lower().isin(["true", "1"])]
    if wells.empty:
        raise ValueError(f"{path}: no listed wells; check basin.wells in params.yaml and rerun prepare")
    return [str(w) for w in wells["hzb"]]


def check_coverage(table: pd.DataFrame, wells: list[str]) -> None:
    """Every model forecasts every listed well, and no unlisted well (except ``basin``)."""
    present = table.groupby("model")["well"].agg(lambda s: set(s))
    extra = sorted(set(table["well"]) - set(wells) - {BASIN})
    if extra:
        raise ValueError(f"predictions hold well(s) {extra[:5]} not listed in wells.csv; "
                         "the models are stale: rerun them (`dvc repro`)")
    for model, have in present.items():
        if have == {BASIN}:
            continue
        lacking = [w for w in wells if w not in have]
        if lacking:
            stage = STAGE_OF_MODEL.get(model, "baselines")
            raise ValueError(f"model {model} has no forecasts for well(s) {', '.join(lacking[:5])}"
                             f"{' ...' if len(lacking) > 5 else ''}; run `dvc repro {stage}` for them")


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


def score_table(table: pd.DataFrame, split: dict, splits=("validation", "test")) -> pd.DataFrame:
    """Scores per well, model, lead and split, on the common months of each well."""
    rows = common_months(table).copy()
    rows["split"] = label_splits(rows["month"], split)
    rows = rows[rows["split"].isin(list(splits))].copy()
    rows["persistence"] = persistence_reference(rows, table)
    records = []
    for (well, model, lead, name), g in rows.groupby(["well", "model", "lead", "split"], sort=True):
        records.append({"well": well, "model": model, "lead": int(lead), "split": name,
                        **score(g["observed"], g["forecast"], g["persistence"])})
    return pd.DataFrame(records, columns=RESULT_COLUMNS)


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def summarize(results: pd.DataFrame, splits) -> dict:
    """``{split: {"lead<h>": {"nse_median": {model: ..}, ...}}}`` over the listed wells."""
    summary = {}
    wells = results[results["well"] != BASIN]
    basin = results[results["well"] == BASIN]
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
            entry = {k: {m: _clean(float(v)) for m, v in s.items()} for k, s in entry.items()}
            entry["n_wells"] = int(part["well"].nunique().max()) if len(part) else 0
            b = basin[(basin["split"] == name) & (basin["lead"] == lead)]
            if len(b):
                entry["nse_basin"] = {m: _clean(float(v)) for m, v in zip(b["model"], b["nse"])}
            summary[name][f"lead{int(lead)}"] = entry
    return summary


def median_table(results: pd.DataFrame, metric: str = "nse") -> pd.DataFrame:
    """Median of ``metric`` over the listed wells: rows (split, model), columns lead."""
    wells = results[results["well"] != BASIN]
    table = wells.groupby(["split", "model", "lead"])[metric].median().unstack("lead")
    table.columns = [f"lead {c}" for c in table.columns]
    return table


# ----------------------------------------------------------------------------- cost


def _read_cost_json(path: Path) -> dict:
    try:
        cost = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); rerun the stage that wrote it") from None
    missing = [k for k in ("wall_s", "cpu_s") if k not in cost]
    if missing:
        raise ValueError(f"{path}: keys {missing} are missing (need wall_s, cpu_s); rerun the stage that wrote it")
    return {"wall_s": float(cost["wall_s"]), "cpu_s": float(cost["cpu_s"])}


def load_costs(cost_files: dict, wells: list[str]) -> pd.DataFrame:
    """Per-well cost rows (``well, model, wall_s, cpu_s``) from the cost files.

    ``cost_files`` maps ``pretrain`` to one JSON file, ``tl`` and ``it`` to a
    glob of ``<folder>/<well>/cost.json`` files and optionally ``baselines``
    to the ``cost.csv`` of :func:`gwtl.baselines.run_baselines` and ``tl_library``
    to a glob of the library TL-LSTM's ``<well>/cost.json`` files.
    """
    rows = []
    for model in ("pretrain", "tl", "it"):
        if model not in cost_files:
            raise ValueError(f"cost_files needs a {model!r} entry")
    rows.append({"well": BASIN, "model": "pretrain", **_read_cost_json(expand(cost_files["pretrain"])[0])})
    for model in ("tl", "it", *(["tl_library"] if cost_files.get("tl_library") else [])):
        paths = expand(cost_files[model])
        found = {p.parent.name: p for p in paths}
        lacking = [w for w in wells if w not in found]
        if lacking:
            raise FileNotFoundError(f"no {model} cost file for well(s) {', '.join(lacking[:5])} "
                                    f"(pattern {cost_files[model]}); run `dvc repro {STAGE_OF_MODEL[model]}`")
        rows += [{"well": w, "model": model, **_read_cost_json(found[w])} for w in wells]
    if cost_files.get("baselines"):
        path = expand(cost_files["baselines"])[0]
        base = pd.read_csv(path, dtype={"well": str})
        if not {"well", "model", "wall_s", "cpu_s"} <= set(base.columns):
            raise ValueError(f"{path}: needs columns well, model, wall_s, cpu_s; rerun `dvc repro baselines`")
        rows += base[["well", "model", "wall_s", "cpu_s"]].to_dict("records")
    return pd.DataFrame(rows, columns=["well", "model", "wall_s", "cpu_s"])


def cost_table(per_well: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per-well rows plus basin totals, and the cost entry of ``metrics.json``."""
    wells = per_well[per_well["well"] != BASIN]
    pretrain = per_well[(per_well["well"] == BASIN) & (per_well["model"] == "pretrain")][["wall_s", "cpu_s"]].sum()
    sums = wells.groupby("model")[["wall_s", "cpu_s"]].sum()
    totals = [{"well": BASIN, "model": "pretrain", **pretrain.to_dict()}]
    tl = pretrain + sums.loc["tl"]
    it = sums.loc["it"]
    totals.append({"well": BASIN, "model": "tl", **tl.to_dict()})
    totals.append({"well": BASIN, "model": "it", **it.to_dict()})
    totals += [{"well": BASIN, "model": m, **sums.loc[m].to_dict()} for m in sums.index if m not in ("tl", "it")]
    ratio = (it / tl).where(tl > 0)
    totals.append({"well": BASIN, "model": "it_over_tl", **ratio.to_dict()})
    table = pd.concat([wells, pd.DataFrame(totals)], ignore_index=True)
    means = wells.groupby("model")["wall_s"].mean()
    metrics = {
        "pretrain_s": pretrain["wall_s"],
        "tl_s_per_well": means["tl"],
        "it_s_per_well": means["it"],
        "tl_basin_s": tl["wall_s"],
        "it_basin_s": it["wall_s"],
        "it_over_tl": ratio["wall_s"],
    }
    return table, {k: _clean(float(v)) for k, v in metrics.items()}


# ----------------------------------------------------------------------------- stage


def _write_atomic(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_evaluate(
    params: dict,
    predictions=PREDICTIONS,
    wells_csv: str | Path = "data/processed/wells.csv",
    out_metrics: str | Path = "metrics.json",
    out_results: str | Path = "reports/results.csv",
    out_cost: str | Path = "reports/cost.csv",
    cost_files: dict | None = None,
) -> EvaluateResult:
    """Score all models and write ``metrics.json``, the results and the cost table.

    Parameters
    ----------
    params : dict
        Loaded ``params.yaml`` (``split`` and ``evaluate.splits`` are used).
    predictions : list of paths or globs
        Predictions tables (:mod:`gwtl.predictions`); each pattern must match a file.
    wells_csv : path
        ``wells.csv`` of the prepared data; its listed wells must all be forecast.
    out_metrics, out_results, out_cost : paths
        Outputs, written atomically.
    cost_files : dict, optional
        Default :data:`COST_FILES`.
    """
    splits = list(params["evaluate"]["splits"])
    wells = listed_wells(wells_csv)
    per_well_cost = load_costs(COST_FILES if cost_files is None else cost_files, wells)
    table = load_predictions(predictions)
    check_coverage(table, wells)

    results = score_table(table, params["split"], splits)
    cost, cost_metrics = cost_table(per_well_cost)
    metrics = {**summarize(results, splits), "cost": cost_metrics}

    _write_atomic(results.to_csv(index=False, float_format="%.6g"), out_results)
    _write_atomic(cost.to_csv(index=False, float_format="%.6g"), out_cost)
    _write_atomic(json.dumps(metrics, indent=2) + "\n", out_metrics)
    return EvaluateResult(results, metrics, cost)
