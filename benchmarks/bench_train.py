"""Speed and skill of the LSTM stages on the prepared 63-well data.

Measures, in one process (compute only: no interpreter or notebook start-up):

* torch threads: one training of the chosen basin configuration with 1 and 2 threads;
* pre-training with the settings of params.yaml (tuning included);
* fine-tuning (TL-LSTM, all members) of a sample of wells, or of every well with ``--all``;
* the IT-LSTM (tuning and members) of a few wells;

and compares the median validation/test NSE of TL and IT at the first and the
largest lead with the ridge ARX baseline on the same wells (``gwtl.models.baselines``)
and with the reference figures of the project brief. Targets on the 2-core
development machine: fine-tuning one well <= 3 s CPU, pre-training plus all
fine-tunings <= 300 s, TL at least 20 times cheaper than IT per well.

Usage::

    python benchmarks/bench_train.py --all --it-wells 5 --out bench_train.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.processed import load_processed
from gwtl.evaluation.metrics import nse
from gwtl.models.train import set_threads, split_rows
from gwtl.models.tune import train_config
from gwtl.params import load_params
from gwtl.data.samples import well_samples
from gwtl.transfer.finetune import run_finetune
from gwtl.transfer.it_lstm import run_it
from gwtl.transfer.pretrain import run_pretrain

BRIEF_ARX_TEST = {1: 0.84, 3: 0.73}  # ridge ARX, median test NSE over 63 wells, from the brief
TARGETS = {"tl_cpu_s_per_well": 3.0, "pretrain_plus_all_tl_s": 300.0, "it_over_tl": 20.0}


def spread(wells: list[str], n: int) -> list[str]:
    """``n`` wells spread evenly over the list."""
    n = min(n, len(wells))
    return [wells[i] for i in np.linspace(0, len(wells) - 1, n).round().astype(int)]


def thread_timing(params: dict, data, config: dict) -> dict:
    """Wall and CPU seconds of one training of ``config`` on the basin, per thread count."""
    samples = well_samples(params, data, "basin", config["window"])
    pairs = split_rows(samples, params["split"])
    out = {}
    for threads in (1, 2):
        set_threads(threads)
        wall, cpu = time.perf_counter(), time.process_time()
        _, history = train_config(config, pairs, samples.x.shape[2], samples.leads, seed=0,
                                  max_epochs=params["train"]["max_epochs"], patience=params["train"]["patience"])
        out[threads] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                        "epochs": history.epochs}
    set_threads(params["train"]["threads"])
    return out


def skill(tables: list[pd.DataFrame], leads: list[int]) -> dict:
    """Median over wells of the NSE per split and lead."""
    rows = []
    for table in tables:
        for (split, lead), g in table[table["split"].isin(["validation", "test"])].groupby(["split", "lead"]):
            rows.append({"split": split, "lead": int(lead), "nse": nse(g["observed"], g["forecast"])})
    frame = pd.DataFrame(rows)
    return {f"{split}_lead{lead}": round(float(frame[(frame.split == split) & (frame.lead == lead)].nse.median()), 3)
            for split in ("validation", "test") for lead in leads}


def arx_skill(params: dict, data, wells: list[str], leads: list[int]) -> dict | None:
    """The ridge ARX baseline of :mod:`gwtl.models.baselines` on ``wells`` (None if it is not available)."""
    try:
        from gwtl.models.baselines import run_well
    except ImportError:
        return None
    tables = [run_well(w, data, params, models=("arx",))[0] for w in wells]
    return skill(tables, leads)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--processed", default="data/processed")
    parser.add_argument("--tl-wells", type=int, default=5, help="wells to fine-tune without --all")
    parser.add_argument("--all", action="store_true", help="fine-tune every well (measured, not extrapolated)")
    parser.add_argument("--it-wells", type=int, default=1, help="wells for the IT-LSTM")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    data = load_processed(args.processed)
    wells = [str(w) for w in params["basin"]["wells"]]
    leads = sorted({params["forecast"]["leads"][0], params["forecast"]["leads"][-1]})
    work = Path(tempfile.mkdtemp(prefix="bench_train."))
    set_threads(params["train"]["threads"])

    pre = run_pretrain(params, data, work / "pretrain", log=None)
    print(f"pretrain: {pre.cost['wall_s']:.1f} s wall, {pre.cost['cpu_s']:.1f} s CPU, "
          f"{pre.cost['trials']} trials", flush=True)
    tl_wells = wells if args.all else spread(wells, args.tl_wells)
    tl = [run_finetune(params, w, data, work / "pretrain", work / "tl" / w) for w in tl_wells]
    print(f"finetune: {len(tl)} wells", flush=True)
    it_wells = spread(wells, args.it_wells)
    it = [run_it(params, w, data, work / "it" / w, log=None) for w in it_wells]
    print(f"IT: {len(it)} wells", flush=True)
    threads = thread_timing(params, data, pre.config["hyperparameters"])

    tl_cpu = float(np.mean([r.cost["cpu_s"] for r in tl]))
    tl_wall = float(np.mean([r.cost["wall_s"] for r in tl]))
    it_cpu = float(np.mean([r.cost["cpu_s"] for r in it]))
    it_wall = float(np.mean([r.cost["wall_s"] for r in it]))
    total_cpu = pre.cost["cpu_s"] + (sum(r.cost["cpu_s"] for r in tl) if args.all else tl_cpu * len(wells))
    total_wall = pre.cost["wall_s"] + (sum(r.cost["wall_s"] for r in tl) if args.all else tl_wall * len(wells))
    tl_it_wells = [r for r, w in zip(tl, tl_wells) if w in it_wells] if args.all else []
    result = {
        "machine_threads": params["train"]["threads"],
        "pretrain": {k: pre.cost[k] for k in ("wall_s", "cpu_s", "trials", "epochs")},
        "pretrain_config": {k: v for k, v in pre.config["hyperparameters"].items()},
        "threads": threads,
        "tl_per_well": {"wells": len(tl), "wall_s": round(tl_wall, 3), "cpu_s": round(tl_cpu, 3),
                        "epochs_per_member": float(np.mean([np.mean(r.cost["epochs"]) for r in tl]))},
        "it_per_well": {"wells": len(it), "wall_s": round(it_wall, 3), "cpu_s": round(it_cpu, 3)},
        "pretrain_plus_all_tl": {"wells": len(wells), "measured": bool(args.all),
                                 "wall_s": round(total_wall, 1), "cpu_s": round(total_cpu, 1)},
        "it_over_tl_cpu": round(it_cpu / tl_cpu, 1),
        "nse_median": {
            "tl": {**skill([r.predictions for r in tl], leads), "wells": len(tl)},
            "it": {**skill([r.predictions for r in it], leads), "wells": len(it)},
            "tl_on_it_wells": skill([r.predictions for r in tl_it_wells], leads) if tl_it_wells else None,
            "arx_on_tl_wells": arx_skill(params, data, tl_wells, leads),
            "arx_brief_test": BRIEF_ARX_TEST,
            "basin_pretrain": skill([pre.predictions], leads),
        },
    }
    result["targets"] = {
        "tl_cpu_s_per_well": [round(tl_cpu, 2), TARGETS["tl_cpu_s_per_well"], tl_cpu <= TARGETS["tl_cpu_s_per_well"]],
        "pretrain_plus_all_tl_s": [round(total_cpu, 1), TARGETS["pretrain_plus_all_tl_s"],
                                   total_cpu <= TARGETS["pretrain_plus_all_tl_s"]],
        "it_over_tl": [round(it_cpu / tl_cpu, 1), TARGETS["it_over_tl"], it_cpu / tl_cpu >= TARGETS["it_over_tl"]],
    }

    print("\nthreads (one basin training):")
    for n, t in threads.items():
        print(f"  {n} thread(s): {t['wall_s']:6.2f} s wall {t['cpu_s']:6.2f} s CPU ({t['epochs']} epochs)")
    print("\ncost (s)                        wall      CPU")
    print(f"  pretrain                    {pre.cost['wall_s']:8.1f} {pre.cost['cpu_s']:8.1f}")
    print(f"  finetune, one well ({len(tl)} avg) {tl_wall:8.2f} {tl_cpu:8.2f}")
    print(f"  IT, one well ({len(it)} avg)      {it_wall:8.1f} {it_cpu:8.1f}")
    print(f"  pretrain + {len(wells)} finetunes{'' if args.all else ' (extrap.)'} {total_wall:8.1f} {total_cpu:8.1f}")
    print(f"  IT / TL per well (CPU)      {it_cpu / tl_cpu:8.1f}")
    print("\nmedian NSE          " + "  ".join(f"{s[:4]} L{h}" for s in ("validation", "test") for h in leads))
    for name, scores in result["nse_median"].items():
        if isinstance(scores, dict) and "test_lead1" in scores:
            values = "  ".join(f"{scores[f'{s}_lead{h}']:7.3f}" for s in ("validation", "test") for h in leads)
            print(f"  {name:17s} {values}   ({scores.get('wells', '')} wells)")
    print(f"  ARX (brief) test: lead 1 {BRIEF_ARX_TEST[1]}, lead 3 {BRIEF_ARX_TEST[3]}")
    print("\ntargets [measured, target, met]:", json.dumps(result["targets"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(args.out)
    return result


if __name__ == "__main__":
    main()
