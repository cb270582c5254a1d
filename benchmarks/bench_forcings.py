"""Do tributary gauges help the TL-LSTM on wells that follow the basin signal poorly? (issue 11, item 4)

Measures the TL-LSTM of the paper (pre-trained on the basin signal, head fine-tuned
per well: ``finetune.trainable [head]``, ``gradual false``; everything else as in
params.yaml) on all listed wells with four forcing sets:

* ``default``   precipitation, Mur at Spielfeld (211466)
* ``+sulm``     ... and the Sulm at Leibnitz (211458)
* ``+lassnitz`` ... and the Laßnitz at Tillmitsch (211441)
* ``+both``     ... and both tributaries

For each set (``basin.gauges`` and ``forecast.forcings`` changed together, as
``gwtl basin 390 --gauge 211466 --gauge 211458 ...`` would) it runs prepare,
pre-training and fine-tuning with the gwtl API in a working folder (never in the
project), for each pre-training seed of ``--seeds``. NSE is computed per well,
split and lead on the months every run forecasts, averaged over seeds, and
summarised for all wells and for the wells that follow the basin signal poorly
(lowest quartile of ``corr_basin`` in wells.csv, a training-period correlation).
``diff_*``, ``wins`` and ``wilcoxon_p`` compare each set with ``default`` per
well; ``diff_mean_lo/hi`` is the range of the mean difference over seeds. Decide
on validation; test is reported. Writes ``bench_forcings.csv`` (summary) and
``bench_forcings_wells.csv`` (per well) into the working folder.

Usage (the eHYD mirror is ``$GWTL_EHYD_MIRROR``, else ``<work>/../shared/data/ehyd``)::

    .venv/bin/python benchmarks/bench_forcings.py --work /work/forcings_tmp --seeds 0 1 2 --jobs 2

With three seeds: 12 pre-trainings and 756 fine-tunings, about 30 min wall on 2 shared cores.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import pandas as pd

from gwtl.data.prepare import prepare
from gwtl.data.processed import load_processed
from gwtl.evaluation.compare import paired_wells
from gwtl.evaluation.metrics import nse
from gwtl.params import load_params
from gwtl.pipeline.parallel import map_in_processes
from gwtl.sources.fetch import fetch
from gwtl.transfer.finetune import run_finetune
from gwtl.transfer.pretrain import run_pretrain

ROOT = Path(__file__).resolve().parents[1]
MAIN, SULM, LASSNITZ = 211466, 211458, 211441
SETS = {"default": [MAIN], "+sulm": [MAIN, SULM], "+lassnitz": [MAIN, LASSNITZ], "+both": [MAIN, SULM, LASSNITZ]}


def set_params(base: dict, gauges: list[int], seed: int) -> dict:
    """``base`` with the gauges as forcings, head-only fine-tuning and pre-training seed ``seed``."""
    params = copy.deepcopy(base)
    params["basin"]["gauges"] = gauges
    params["forecast"]["forcings"] = ["precipitation", *(f"discharge_{g}" for g in gauges)]
    params["finetune"].update(trainable=["head"], gradual=False)
    params["pretrain"]["seed"] = seed
    return params


def pretrain_task(task) -> tuple:
    params, processed, out = task
    return out, run_pretrain(params, processed, out, log=None).cost["cpu_s"]


def finetune_task(task) -> pd.DataFrame:
    params, data, well, pretrain, out, name, seed = task
    table = run_finetune(params, well, data, pretrain=pretrain, out=out).predictions
    return table[table["split"].isin(["validation", "test"])].assign(forcings=name, seed=seed)


def score(predictions: pd.DataFrame) -> pd.DataFrame:
    """NSE per forcing set, seed, well, split and lead, on the months that every run forecasts."""
    runs = predictions["forcings"] + "/" + predictions["seed"].astype(str)
    common = runs.groupby([predictions[k] for k in ("well", "lead", "month")]).transform("nunique") == runs.nunique()
    return (predictions[common].groupby(["split", "lead", "seed", "well", "forcings"])
            .apply(lambda g: nse(g["observed"], g["forecast"]), include_groups=False)
            .unstack("forcings")[list(SETS)])


def summary(scores: pd.DataFrame, groups: dict[str, list[str]]) -> pd.DataFrame:
    """Mean and median NSE per group, split, lead and forcing set, and the paired difference to ``default``."""
    rows = []
    for group, wells in groups.items():
        part = scores[scores.index.get_level_values("well").isin(wells)]
        order = lambda item: (item[0][0] == "test", item[0][1])  # validation first, then test; by lead
        for (split, lead), runs in sorted(part.groupby(level=["split", "lead"]), key=order):
            per_well = runs.groupby(level="well").mean()  # over seeds
            per_seed = runs.groupby(level="seed").mean()  # over wells
            for name in SETS:
                cmp = paired_wells(per_well[name], per_well["default"])
                seed_diff = per_seed[name] - per_seed["default"]
                rows.append({"group": group, "split": split, "lead": lead, "forcings": name, "n_wells": cmp["n"],
                             "nse_mean": cmp["mean_a"], "nse_median": cmp["median_a"], "diff_mean": cmp["mean_diff"],
                             "diff_median": cmp["median_diff"], "wins": cmp["wins"], "wilcoxon_p": cmp["wilcoxon_p"],
                             "diff_mean_lo": seed_diff.min(), "diff_mean_hi": seed_diff.max()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/work/forcings_tmp"), help="working folder (kept)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="pre-training seeds (pretrain.seed)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    work = args.work.resolve()
    mirror = Path(os.environ.get("GWTL_EHYD_MIRROR", work.parent / "shared" / "data" / "ehyd"))
    start, cpu = time.perf_counter(), time.process_time()
    base = load_params(ROOT / "params.yaml")

    fetch(set_params(base, SETS["+both"], 0), work / "data" / "raw", source=str(mirror))
    data, pretrains, finetunes = {}, [], []
    for name, gauges in SETS.items():
        prepare(set_params(base, gauges, 0), work / "data" / "raw", work / name / "processed")
        data[name] = load_processed(work / name / "processed")
        for seed in args.seeds:
            params, folder = set_params(base, gauges, seed), work / name / f"seed{seed}"
            pretrains.append((params, data[name], folder / "pretrain"))
            finetunes += [(params, data[name], well, folder / "pretrain", folder / "finetune" / str(well), name, seed)
                          for well in map(str, base["basin"]["wells"])]
    pretrain_cpu = dict(map_in_processes(pretrain_task, pretrains, args.jobs))
    print(f"pre-trained {len(pretrains)} models, {sum(pretrain_cpu.values()):.0f} s CPU", flush=True)
    predictions = pd.concat(map_in_processes(finetune_task, finetunes, args.jobs), ignore_index=True)
    print(f"fine-tuned {len(finetunes)} well models", flush=True)

    wells = data["default"].wells.assign(hzb=lambda w: w["hzb"].astype(str)).set_index("hzb")
    corr = wells.loc[[str(w) for w in base["basin"]["wells"]], "corr_basin"]
    low = corr[corr <= corr.quantile(0.25)].index.tolist()
    scores = score(predictions)
    table = summary(scores, {"all": corr.index.tolist(), "low_corr": low})
    table.to_csv(work / "bench_forcings.csv", index=False, float_format="%.4f")
    per_well = scores.groupby(level=["well", "split", "lead"]).mean()
    per_well = per_well.join(corr.rename_axis("well"))
    per_well["low_corr"] = per_well.index.get_level_values("well").isin(low)
    per_well.to_csv(work / "bench_forcings_wells.csv", float_format="%.4f")

    pd.set_option("display.width", 200, "display.max_rows", 500)
    print(f"\nlow-corr quartile: {len(low)} wells with corr_basin <= {corr.quantile(0.25):.3f}: {' '.join(low)}")
    print(table.round(3).to_string(index=False))
    for group in ("all", "low_corr"):
        val = table[(table["group"] == group) & (table["split"] == "validation")].groupby("forcings")["nse_mean"].mean()
        print(f"{group}: best on validation (mean NSE over leads): {val.idxmax()} "
              f"({', '.join(f'{k} {v:.3f}' for k, v in val.items())})")
    print(f"\nwall {time.perf_counter() - start:.0f} s; CPU in this process {time.process_time() - cpu:.0f} s, "
          f"pre-training {sum(pretrain_cpu.values()):.0f} s; results in {work}")


if __name__ == "__main__":
    main()
