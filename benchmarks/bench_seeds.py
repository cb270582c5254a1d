"""Seed replication: the whole training chain under several master seeds, and what TL-IT differences survive.

One seed of params.yaml's ``seed`` fixes the pre-training search and its bases,
the fine-tuning of the TL members, every well's IT search and members and the
controls. This script reruns that chain once per seed on a project's prepared
data (``data/processed``) and scores, per seed, on the months every model
forecasts (:func:`gwtl.evaluation.evaluate.scored_rows`):

``tl``              the default TL-LSTM (``pretrain.source`` with ``finetune.*``);
``basin/head``      the paper's TL: only the head fine-tuned on the frozen pre-trained LSTM;
``it``              the IT-LSTM, its own seeded search per well (``it_lstm.trials``; no budget curve);
``it_fixed``        control: IT with the pre-trained configuration and no search;
``scratch/gradual`` control: random initialisation trained with the default's gradual schedule.

Per seed, the forecasts of the validation and test months go to
``<work>/seed_<s>/rows.csv.gz`` and the cost to ``cost.csv``; a seed whose
files exist is not run again, so the script resumes after a stop. Then it
writes, under the basin's name in ``--out`` (other basins' entries are kept):
``seeds``; per split and lead and model the mean and standard deviation over
seeds of the basin-mean NSE; per candidate against IT the seed-and-year
bootstrap and the equivalence verdict (:func:`gwtl.evaluation.compare.equivalence`), and
the CPU seconds per well.

Usage (in the background; about 20 min of both cores per seed on the Leibnitzer Feld)::

    python benchmarks/bench_seeds.py --project /work/run --seeds 0 1 2 3 4 --work /work/seeds/390 \\
        --out benchmarks/results/seeds.json [--from-pipeline /work/run]

``--from-pipeline`` takes the seed of params.yaml (0) from a finished ``dvc repro`` of the same params
instead of running its chain again.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.processed import as_processed
from gwtl.evaluation.compare import equivalence, paired_forecasts, seed_year_bootstrap
from gwtl.evaluation.evaluate import scored_rows
from gwtl.evaluation.metrics import nse
from gwtl.params import load_params
from gwtl.transfer.it_lstm import run_it_all
from gwtl.transfer.pretrain import run_pretrain
from gwtl.transfer.strategies import IT_FIXED, run_label, variant

CANDIDATES = ("tl", "basin/head", IT_FIXED, "scratch/gradual")
MODELS = (*CANDIDATES, "it")


def run_seed(params: dict, data, seed: int, folder: Path) -> None:
    """The chain under ``seed``: every model of :data:`MODELS` on every well; forecasts and cost into ``folder``."""
    params = copy.deepcopy(params)
    params["seed"] = seed
    params["it_lstm"]["budgets"] = []
    wells = data.listed_wells(params)
    folder.mkdir(parents=True, exist_ok=True)
    cpu = {}
    start = time.process_time()
    pre = run_pretrain(params, data, folder / "pretrain", log=None)
    cpu["pretrain"] = pre.cost["cpu_s"]
    tables = []
    base = str(folder / "pretrain")
    runs = {"tl": params, "basin/head": variant(params, "basin", "head"),
            "scratch/gradual": variant(params, "scratch", "gradual"), IT_FIXED: params}
    for label, settings in runs.items():
        done = list(run_label(settings, data, dict.fromkeys(wells, base), label))
        tables += [table for table, _ in done]
        cpu[label] = float(np.mean([cost["cpu_s"] for _, cost in done]))
        print(f"  seed {seed} {label}: {cpu[label]:.2f} s CPU per well", flush=True)
    it = run_it_all(params, data, folder / "it", log=None)
    tables.append(it.predictions)
    cpu["it"] = float(it.wells["cpu_s"].mean())
    print(f"  seed {seed} it: {cpu['it']:.2f} s CPU per well", flush=True)
    table = pd.concat(tables, ignore_index=True)
    rows = scored_rows(table, params["split"])
    rows.to_csv(folder / "rows.csv.gz", index=False, float_format="%.6g")
    pd.Series({**cpu, "process_cpu_s": time.process_time() - start, "wells": len(wells)}).to_csv(
        folder / "cost.csv", header=["value"])


def import_pipeline(params: dict, project: Path, folder: Path) -> None:
    """Seed ``params["seed"]`` from a finished ``dvc repro`` of the same params in ``project``, into ``folder``.

    The pipeline's stages run the same functions as :func:`run_seed` (``finetune``: ``tl``; ``it_lstm``:
    ``it``, whose ``cost.json`` times the search and the members, not the budget curve; ``strategies``:
    ``basin/head``, ``scratch/gradual``, ``it_fixed``), so its outputs are that seed's chain.
    """
    models = project / "models"
    wells = [str(w) for w in params["basin"]["wells"]]
    read = lambda path: pd.read_csv(path, dtype={"well": str}, parse_dates=["issue", "month"])
    tables = [read(models / "finetune" / w / "predictions.csv") for w in wells]
    tables += [t[t["model"] == "it"] for t in (read(models / "it" / w / "predictions.csv") for w in wells)]
    strategies = read(models / "strategies" / "predictions.csv")
    tables.append(strategies[strategies["model"].isin(["basin/head", "scratch/gradual", IT_FIXED])])
    rows = scored_rows(pd.concat(tables, ignore_index=True), params["split"])
    cost_of = lambda stage: float(np.mean([json.loads((models / stage / w / "cost.json").read_text())["cpu_s"]
                                           for w in wells]))
    by_strategy = pd.read_csv(models / "strategies" / "cost.csv").groupby("strategy")["cpu_s"].mean()
    cpu = {"pretrain": json.loads((models / "pretrain" / "cost.json").read_text())["cpu_s"], "tl": cost_of("finetune"),
           **{m: float(by_strategy[m]) for m in ("basin/head", "scratch/gradual", IT_FIXED)}, "it": cost_of("it")}
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / "rows.csv.gz", index=False, float_format="%.6g")
    pd.Series({**cpu, "process_cpu_s": float("nan"), "wells": len(wells), "from": str(project)}).to_csv(
        folder / "cost.csv", header=["value"])


def summarize(work: Path, seeds: list[int], draws: int) -> dict:
    """Means and spreads over seeds, and each candidate against IT, from the seeds' files in ``work``."""
    rows = {s: pd.read_csv(work / f"seed_{s}" / "rows.csv.gz", dtype={"well": str},
                           parse_dates=["month", "issue"]) for s in seeds}
    costs = {s: pd.to_numeric(pd.read_csv(work / f"seed_{s}" / "cost.csv", index_col=0)["value"], errors="coerce")
             for s in seeds}
    out: dict = {"seeds": seeds, "models": list(MODELS)}
    for split in ("validation", "test"):
        for lead in sorted(rows[seeds[0]]["lead"].unique()):
            entry = {}
            per_seed = {}
            for s in seeds:
                part = rows[s][(rows[s]["split"] == split) & (rows[s]["lead"] == lead)]
                per_seed[s] = part
                scores = part.groupby(["model", "well"]).apply(lambda g: nse(g["observed"], g["forecast"]),
                                                               include_groups=False)
                for model, value in scores.groupby(level="model").mean().items():
                    entry.setdefault(model, []).append(float(value))
            stats = {m: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                         "per_seed": [round(x, 4) for x in v]} for m, v in entry.items()}
            comparisons = {}
            for a in CANDIDATES:
                paired = [paired_forecasts(per_seed[s], a, "it") for s in seeds]
                boot = seed_year_bootstrap(paired, draws=draws)
                diffs = [stats[a]["per_seed"][i] - stats["it"]["per_seed"][i] for i in range(len(seeds))]
                tests = len(CANDIDATES) * rows[seeds[0]]["lead"].nunique()
                comparisons[f"{a}_vs_it"] = {"mean_diff": float(np.mean(diffs)),
                                            "per_seed_diff": [round(d, 4) for d in diffs],
                                            **equivalence(boot, tests=tests)}
            out.setdefault(split, {})[f"lead{lead}"] = {"nse_mean": stats, "vs_it": comparisons}
    cost = pd.DataFrame(costs).T
    out["cpu_s_per_well"] = {m: {"mean": float(cost[m].mean()),
                                 "sd": float(cost[m].std(ddof=1)) if len(seeds) > 1 else None} for m in MODELS}
    wells = float(cost["wells"].iloc[0])
    out["cpu_s_per_well"]["pretrain_shared"] = {"mean": float(cost["pretrain"].mean() / wells)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="checkout with params.yaml and data/processed")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--work", type=Path, required=True, help="folder for each seed's models and forecasts")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/seeds.json"))
    parser.add_argument("--basin", help="name under which --out holds the result (default basin.name)")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--summarize-only", action="store_true", help="only summarize seeds already run")
    parser.add_argument("--from-pipeline", type=Path, help="take the seed of params.yaml from this finished "
                        "`dvc repro` of the same params instead of running it")
    args = parser.parse_args(argv)
    params = load_params(args.project / "params.yaml")
    data = as_processed(args.project / "data" / "processed")
    done = []
    for seed in args.seeds:
        folder = args.work / f"seed_{seed}"
        if not (folder / "rows.csv.gz").exists() and args.from_pipeline and seed == params["seed"]:
            import_pipeline(params, args.from_pipeline, folder)
        if not (folder / "rows.csv.gz").exists():
            if args.summarize_only:
                continue
            print(f"seed {seed} ...", flush=True)
            start = time.perf_counter()
            run_seed(params, data, seed, folder)
            print(f"seed {seed} done in {time.perf_counter() - start:.0f} s", flush=True)
        done.append(seed)
    if not done:
        print("no seed has been run", file=sys.stderr)
        return 1
    result = summarize(args.work, done, args.draws)
    result["command"] = "python benchmarks/bench_seeds.py " + " ".join(sys.argv[1:] if argv is None else argv)
    name = args.basin or params["basin"]["name"]
    whole = json.loads(args.out.read_text()) if args.out.exists() else {}
    whole[name] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(whole, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k in ("seeds", "cpu_s_per_well")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
