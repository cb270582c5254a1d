"""Do several pre-trained bases make a better TL ensemble than one? (issue 11, item 3)

For every listed well the TL ensemble is fine-tuned twice, with identical
settings and seeds (``0 .. ensemble.members - 1``):

``bases``  member ``i`` from base ``i`` (today's rule, as
           :func:`gwtl.transfer.finetune.finetune_well`: ``bases[i % len(bases)]``);
``base0``  every member from base 0 (the best pre-training trial).

Both ensembles are the members' median (:func:`gwtl.transfer.ensemble.ensemble_forecast`) and
are scored by NSE per well, lead and split (validation and test) on the same
rows. Nothing is chosen on the test period: the two variants are fixed in
advance and test is only reported. Per lead and split the script prints the
mean and median over wells of both, the difference ``bases - base0``, the
wells where ``bases`` wins, the two-sided paired Wilcoxon p-value over wells
and the 95 % interval of the mean difference under a bootstrap over calendar
years (:func:`gwtl.evaluation.compare.compare_pair`), plus the CPU seconds of each
variant. It also gives the mean NSE of the single members, which tells
whether a difference comes from better members or from a more diverse
ensemble.

The fine-tuning settings are ``finetune`` of the project's params.yaml
(``trainable``, ``lr``, ``lstm_lr``, ``gradual``); ``--strategy head`` or
``--strategy gradual`` (``all``: LSTM and head together) overrides
``trainable`` and ``gradual`` as the strategies stage does
(:data:`gwtl.transfer.strategies.FINETUNE`).

The project folder is only read. The pre-trained model is first copied to the
output folder (a running ``dvc repro`` may rewrite it; reading is retried),
so all wells use the same bases. Wells run in worker processes
(:func:`gwtl.pipeline.parallel.map_in_processes`), one torch thread each.

Outputs in ``--out`` (``<tag>`` = ``<strategy>`` or ``--tag``):
``bases_<tag>.csv`` (the summary table), ``bases_<tag>_wells.csv`` (NSE per
well, variant, split and lead), ``bases_<tag>_predictions.csv`` and
``bases_<tag>.json`` (settings, CPU, the summary).

Usage::

    python benchmarks/bench_bases.py --strategy head
    python benchmarks/bench_bases.py --strategy gradual --project /work/run390 \\
        --pretrain /work/run390/models/pretrain --out /work/bench_bases_out
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from gwtl.data.predictions import prediction_table
from gwtl.data.processed import load_processed
from gwtl.evaluation.compare import compare_pair
from gwtl.evaluation.metrics import nse
from gwtl.models.train import fit_members, predict, set_threads, split_rows
from gwtl.params import load_params
from gwtl.pipeline.parallel import map_in_processes
from gwtl.data.samples import well_samples
from gwtl.transfer.ensemble import ensemble_forecast
from gwtl.transfer.pretrain import align_features, load_bases
from gwtl.transfer.strategies import FINETUNE

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("bases", "base0")  # a: member i from base i; b: every member from base 0
SPLITS = ("validation", "test")


def _retry(fn, what: str, tries: int = 10, wait: float = 3.0):
    for attempt in range(1, tries + 1):
        try:
            return fn()
        except Exception as error:  # a file being replaced by a running `dvc repro`
            if attempt == tries:
                raise
            print(f"reading {what} failed ({type(error).__name__}: {error}); retry {attempt}/{tries - 1}",
                  file=sys.stderr)
            time.sleep(wait)


def project_params(project: Path) -> tuple[dict, str]:
    """Validated params of ``project``; when its params.yaml does not load (mid-update), the repository's
    params.yaml with ``basin.wells`` of the project."""
    try:
        return _retry(lambda: load_params(project / "params.yaml"), f"{project}/params.yaml", tries=3), \
            str(project / "params.yaml")
    except Exception as error:
        print(f"{project}/params.yaml does not load ({error}); using {REPO}/params.yaml", file=sys.stderr)
    params = load_params(REPO / "params.yaml")
    try:
        wells = yaml.safe_load((project / "params.yaml").read_text())["basin"]["wells"]
        source = f"{REPO}/params.yaml, basin.wells of {project}/params.yaml"
    except Exception:
        wells = list(load_processed(project / "data" / "processed").levels.columns)
        source = f"{REPO}/params.yaml, wells of {project}/data/processed"
    params["basin"]["wells"] = [str(w) for w in wells]
    return params, source


def snapshot_pretrained(pretrain: Path, out: Path) -> tuple[Path, str]:
    """Copy ``pretrain``'s model.pt (and config.json) into ``out`` once, checking it loads; its sha256."""
    target = out / "pretrained"
    target.mkdir(parents=True, exist_ok=True)

    def copy_and_load():
        for name in ("model.pt", "config.json"):
            if (pretrain / name).exists():
                shutil.copyfile(pretrain / name, target / name)
        load_bases(target)
        return hashlib.sha256((target / "model.pt").read_bytes()).hexdigest()

    return target, _retry(copy_and_load, f"{pretrain}/model.pt")


def _scores(table: pd.DataFrame) -> dict:
    rows = table[table["split"].isin(SPLITS)]
    return {(split, int(lead)): nse(g["observed"], g["forecast"]) for (split, lead), g in rows.groupby(["split", "lead"])}


def _well(task: tuple) -> dict:
    """Both variants on one well, in a worker process."""
    params, well, data, pretrain = task
    set_threads(params["train"]["threads"])
    bases, info = load_bases(pretrain)
    ft, tr = params["finetune"], params["train"]
    samples = align_features(info, well_samples(params, data, well, info["window"]), params, pretrain)
    pairs = split_rows(samples, params["split"])
    seeds = list(range(params["ensemble"]["members"]))
    starts = {"bases": [bases[i % len(bases)] for i in seeds], "base0": [bases[0] for _ in seeds]}
    tables, cost, member_nse = [], {}, {}
    for variant in VARIANTS:
        start = time.process_time()
        members, histories = fit_members(starts[variant], ft["trainable"], *pairs, seeds=seeds, lr=ft["lr"],
                                         lstm_lr=ft["lstm_lr"] if "lstm" in ft["trainable"] else None,
                                         gradual=ft["gradual"], batch=info["hyperparameters"]["batch"],
                                         max_epochs=tr["max_epochs"], patience=tr["patience"])
        table = prediction_table(samples, ensemble_forecast(samples, members), model=variant, well=well,
                                 split=params["split"])
        cost[variant] = {"cpu_s": time.process_time() - start, "epochs": sum(h.epochs for h in histories)}
        tables.append(table)
        singles = [_scores(prediction_table(samples, samples.to_level(predict(m, samples.x)), model=variant,
                                            well=well, split=params["split"])) for m in members]
        member_nse[variant] = {key: float(np.mean([s[key] for s in singles])) for key in singles[0]}
    return {"well": well, "table": pd.concat(tables, ignore_index=True), "cost": cost, "member_nse": member_nse,
            "n_bases": len(bases)}


def summary(predictions: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Per split and lead: :func:`gwtl.evaluation.compare.compare_pair` of ``bases`` against ``base0`` and member NSE."""
    records = []
    for (split, lead), part in predictions[predictions["split"].isin(SPLITS)].groupby(["split", "lead"]):
        m = members[(members["split"] == split) & (members["lead"] == lead)]
        records.append({"split": split, "lead": int(lead), **compare_pair(part, "bases", "base0"),
                        "member_mean_bases": m["bases"].mean(), "member_mean_base0": m["base0"].mean()})
    table = pd.DataFrame(records)
    table["split"] = pd.Categorical(table["split"], SPLITS, ordered=True)
    return table.sort_values(["split", "lead"]).reset_index(drop=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, default=Path("/work/run390"), help="project folder (read only)")
    parser.add_argument("--pretrain", type=Path, help="pre-trained model folder (default <project>/models/pretrain)")
    parser.add_argument("--out", type=Path, default=Path("/work/bench_bases_out"), help="output folder")
    parser.add_argument("--strategy", choices=["params", *FINETUNE], default="params",
                        help="fine-tuning strategy (default: finetune of params.yaml)")
    parser.add_argument("--wells", type=int, help="only the first N listed wells (a quick check)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--tag", help="name of the outputs (default: the strategy)")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    pretrain = (args.pretrain or project / "models" / "pretrain").resolve()
    out = args.out.resolve()
    if out == project or project in out.parents:
        parser.error(f"--out {out} lies in the project folder, which is read only")
    out.mkdir(parents=True, exist_ok=True)
    tag = args.tag or args.strategy

    wall, cpu = time.perf_counter(), time.process_time()
    params, params_source = project_params(project)
    params = copy.deepcopy(params)
    if args.strategy != "params":
        params["finetune"].update(copy.deepcopy(FINETUNE[args.strategy]))
    params["train"]["threads"] = 1
    data = _retry(lambda: load_processed(project / "data" / "processed"), f"{project}/data/processed")
    wells = [str(w) for w in params["basin"]["wells"]]
    missing = [w for w in wells if w not in data.levels.columns]
    if missing:
        raise SystemExit(f"wells {missing} are not in {project}/data/processed")
    wells = wells[: args.wells] if args.wells else wells
    snapshot, digest = snapshot_pretrained(pretrain, out / f"pretrained_{tag}")
    ft = params["finetune"]
    settings = {"project": str(project), "params": params_source, "pretrained": str(pretrain),
                "model_sha256": digest, "strategy": args.strategy, "trainable": list(ft["trainable"]),
                "lr": ft["lr"], "lstm_lr": ft["lstm_lr"] if "lstm" in ft["trainable"] else None,
                "gradual": ft["gradual"], "members": params["ensemble"]["members"], "wells": len(wells),
                "jobs": args.jobs, "threads": 1, "max_epochs": params["train"]["max_epochs"],
                "patience": params["train"]["patience"]}
    print(json.dumps(settings))

    results = []
    tasks = [(params, well, data, str(snapshot)) for well in wells]
    for result in map_in_processes(_well, tasks, args.jobs):
        results.append(result)
        c = result["cost"]
        print(f"{len(results):3d}/{len(wells)} {result['well']}: CPU {c['bases']['cpu_s']:.1f} s (bases), "
              f"{c['base0']['cpu_s']:.1f} s (base0)", flush=True)
    settings["bases"] = results[0]["n_bases"]

    predictions = pd.concat([r["table"] for r in results], ignore_index=True)
    scores = pd.DataFrame([{"well": r["well"], "variant": v, "split": s, "lead": h, "nse": x,
                            "member_mean_nse": r["member_nse"][v][(s, h)]}
                           for r in results for v in VARIANTS
                           for (s, h), x in _scores(predictions[(predictions["well"] == r["well"])
                                                                & (predictions["model"] == v)]).items()])
    members = scores.pivot_table(index=["well", "split", "lead"], columns="variant",
                                 values="member_mean_nse").reset_index()
    table = summary(predictions, members)
    cpu_of = {v: [r["cost"][v]["cpu_s"] for r in results] for v in VARIANTS}
    cost = {**{f"cpu_s_{v}": round(float(np.sum(x)), 1) for v, x in cpu_of.items()},
            **{f"cpu_s_per_well_{v}": round(float(np.mean(x)), 2) for v, x in cpu_of.items()},
            **{f"epochs_{v}": int(sum(r["cost"][v]["epochs"] for r in results)) for v in VARIANTS},
            "wall_s": round(time.perf_counter() - wall, 1), "main_cpu_s": round(time.process_time() - cpu, 1)}

    table.to_csv(out / f"bases_{tag}.csv", index=False, float_format="%.5g")
    scores.to_csv(out / f"bases_{tag}_wells.csv", index=False, float_format="%.5g")
    predictions.to_csv(out / f"bases_{tag}_predictions.csv", index=False, date_format="%Y-%m-%d",
                       float_format="%.4f")
    (out / f"bases_{tag}.json").write_text(json.dumps(
        {"settings": settings, "cost": cost, "summary": json.loads(table.to_json(orient="records"))}, indent=2))

    shown = table[["split", "lead", "n", "mean_a", "mean_b", "mean_diff", "median_a", "median_b", "median_diff",
                   "wins", "wilcoxon_p", "boot_lo", "boot_hi", "member_mean_bases", "member_mean_base0"]].rename(
        columns={"mean_a": "mean_bases", "mean_b": "mean_base0", "median_a": "med_bases", "median_b": "med_base0",
                 "mean_diff": "mean_d", "median_diff": "med_d", "member_mean_bases": "memb_bases",
                 "member_mean_base0": "memb_base0"})
    print(f"\nNSE, bases (member i from base i) vs base0 (all members from base 0); strategy {args.strategy}: "
          f"trainable {settings['trainable']}, gradual {settings['gradual']}, {len(wells)} wells, "
          f"{settings['members']} members, {settings['bases']} bases")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(json.dumps(cost))
    print(f"wrote {out}/bases_{tag}.csv")


if __name__ == "__main__":
    main()
