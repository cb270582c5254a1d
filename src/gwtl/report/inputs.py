"""What the replication report reads: the pipeline's output files, checked and loaded as :class:`Inputs`.

:func:`input_paths` names every file the report needs and the stage that
writes it, :func:`check_inputs` names the missing ones before anything is
read, and :func:`load_inputs` reads them (``metrics.json`` flattened to dotted
keys by :func:`flatten`). The tables of :mod:`gwtl.report.summaries` and the figures
of :mod:`gwtl.report.replication_figures` are made from an :class:`Inputs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gwtl.data.predictions import read_predictions
from gwtl.data.processed import listed_flags, require_wells
from gwtl.evaluation.strategy_scores import split_columns


@dataclass
class Inputs:
    """Everything the figures and the report read.

    Attributes
    ----------
    params : dict
        The validated params.yaml.
    wells : DataFrame
        ``wells.csv`` with ``hzb`` as string; all wells of the area, listed or not.
    results : DataFrame
        ``reports/results.csv`` (``well`` as string).
    cost : DataFrame
        ``reports/cost.csv`` as read.
    comparison : DataFrame
        ``reports/comparison.csv`` (:func:`gwtl.evaluation.compare.comparison_table`).
    metrics : dict
        ``metrics.json`` flattened to dotted keys (``cost.pretrain_cpu_s``).
    predictions : DataFrame
        TL and IT forecasts of the listed wells over the test period, all leads.
    basin : DataFrame
        The pre-trained model's test forecasts of the basin signal, all leads.
    history : DataFrame
        ``models/pretrain/history.csv`` (``epoch``, ``train_loss``, ``val_loss``).
    config : dict
        ``models/pretrain/config.json``.
    """

    params: dict
    wells: pd.DataFrame
    results: pd.DataFrame
    cost: pd.DataFrame
    comparison: pd.DataFrame
    metrics: dict
    predictions: pd.DataFrame
    basin: pd.DataFrame
    history: pd.DataFrame
    config: dict

    @property
    def listed(self) -> list[str]:
        """The wells the models were built for: ``basin.wells``, each listed in ``wells.csv`` (else a ValueError)."""
        return require_wells(self.params["basin"]["wells"], self.wells.loc[self.wells["listed"], "hzb"],
                             "the wells listed in wells.csv")

    @property
    def lead(self) -> int:
        """The first (shortest) lead, the one most figures show."""
        return int(self.params["forecast"]["leads"][0])


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested mappings as one mapping with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def input_paths(params: dict, *, processed="data/processed", models="models",
                results="reports/results.csv", cost="reports/cost.csv",
                metrics="metrics.json", comparison="reports/comparison.csv") -> dict[Path, str]:
    """Every file :func:`load_inputs` reads, mapped to the stage that writes it."""
    processed, models = Path(processed), Path(models)
    paths = {processed / "wells.csv": "prepare"}
    for well in params["basin"]["wells"]:
        paths[models / "finetune" / str(well) / "predictions.csv"] = "finetune"
        paths[models / "it" / str(well) / "predictions.csv"] = "it_lstm"
    for name in ("history.csv", "config.json", "predictions.csv"):
        paths[models / "pretrain" / name] = "pretrain"
    for path in (results, cost, metrics, comparison):
        paths[Path(path)] = "evaluate"
    return paths


def check_inputs(paths: dict[Path, str]) -> None:
    """Raise FileNotFoundError naming every missing input and the stage that writes it."""
    missing = [f"{path} (stage {stage})" for path, stage in paths.items() if not path.exists()]
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise FileNotFoundError(
            f"the figures stage needs {len(missing)} missing input file(s):\n  {shown}\n"
            "run those stages first (`dvc repro <stage>`) or pass the right folders"
        )


def require_columns(frame: pd.DataFrame, columns, path) -> None:
    """Raise ValueError naming the ``columns`` that ``frame`` (read from ``path``) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing (has {list(frame.columns)}); "
                         "rerun the stage that writes it (`dvc repro`)")


def load_inputs(params: dict, *, processed="data/processed", models="models",
                results="reports/results.csv", cost="reports/cost.csv",
                metrics="metrics.json", comparison="reports/comparison.csv") -> Inputs:
    """Read all inputs of the figures stage; missing files are named before anything is read."""
    paths = input_paths(params, processed=processed, models=models, results=results, cost=cost,
                        metrics=metrics, comparison=comparison)
    check_inputs(paths)
    processed, models = Path(processed), Path(models)

    wells = pd.read_csv(processed / "wells.csv", dtype={"hzb": str})
    require_columns(wells, ["hzb", "lon", "lat", "listed", "train_mean", "corr_basin"], processed / "wells.csv")
    wells["listed"] = listed_flags(wells["listed"])
    table = pd.read_csv(results, dtype={"well": str})
    require_columns(table, ["well", "model", "lead", "split", "nse"], results)
    cost_table = pd.read_csv(cost, dtype={"well": str})
    require_columns(cost_table, ["well", "model", "cpu_s", "pretrain_cpu_s", "total_cpu_s"], cost)
    pairs = pd.read_csv(comparison)
    require_columns(pairs, ["lead", "a", "b", "mean_diff", "wilcoxon_p", "boot_lo", "boot_hi"], comparison)

    frames = []
    for well in params["basin"]["wells"]:
        for folder in ("finetune", "it"):
            pred = read_predictions(models / folder / str(well) / "predictions.csv")
            frames.append(pred[pred["split"] == "test"])
    basin = read_predictions(models / "pretrain" / "predictions.csv")
    history = pd.read_csv(models / "pretrain" / "history.csv")
    require_columns(history, ["epoch", "train_loss", "val_loss"], models / "pretrain" / "history.csv")
    return Inputs(
        params=params,
        wells=wells,
        results=table,
        cost=cost_table,
        comparison=pairs,
        metrics=flatten(json.loads(Path(metrics).read_text())),
        predictions=pd.concat(frames, ignore_index=True),
        basin=basin[basin["split"] == "test"].reset_index(drop=True),
        history=history,
        config=json.loads((models / "pretrain" / "config.json").read_text()),
    )


def load_tfn_diagnostics(models="models") -> pd.DataFrame | None:
    """``models/tfn/diagnostics.csv`` (pastas' diagnostics of each well's TFN fit), None if there is none."""
    path = Path(models) / "tfn" / "diagnostics.csv"
    return pd.read_csv(path, dtype={"well": str}) if path.exists() else None


def load_library_choices(models="models") -> pd.DataFrame | None:
    """``models/tl_library/choices.csv`` (the library member each well started from), None if there is none."""
    path = Path(models) / "tl_library" / "choices.csv"
    return pd.read_csv(path, dtype={"well": str}) if path.exists() else None


def load_strategies(strategies="reports/strategies.csv",
                    scores="reports/strategy_results.csv") -> pd.DataFrame | None:
    """The TL strategies table with its test columns, None if either file is missing.

    ``strategies`` is the strategies stage's table (validation columns and
    cost, :func:`gwtl.transfer.strategies.strategy_table`); ``scores`` the evaluate
    stage's scores of the strategies and the IT-LSTM
    (:func:`gwtl.evaluation.evaluate.score_strategies`), whose test period adds
    ``nse_mean_test_lead<h>``, ``nse_median_test_lead<h>`` and
    ``wins_test_lead<h>`` (:func:`gwtl.evaluation.strategy_scores.split_columns`).
    """
    if not (Path(strategies).exists() and Path(scores).exists()):
        return None
    table = pd.read_csv(strategies)
    require_columns(table, ["strategy", "default", "cpu_s_per_well", "it_over_tl"], strategies)
    scored = pd.read_csv(scores, dtype={"well": str})
    require_columns(scored, ["well", "model", "lead", "split", "nse"], scores)
    test = split_columns(scored, "test")
    lacking = [s for s in table["strategy"] if s not in test.index]
    if lacking:
        raise ValueError(f"{scores} has no test scores of strategies {lacking}; the strategies table is newer: "
                         "rerun `dvc repro evaluate`")
    return table.join(test, on="strategy")
