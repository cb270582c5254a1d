"""How the pipeline's time grows with the number of wells: ``dvc repro`` on basins of 10 to 500 wells.

For each size N the benchmark builds a basin of N wells in the CSV layout of the
README (``data.format: csv``) from the real Leibnitzer Feld wells of the eHYD
mirror: well k is real well ``k mod 63`` plus Gaussian noise (standard deviation
a tenth of that well's month-to-month change, seeded by k; missing months stay
missing), with the basin's real precipitation and Mur discharge as forcings. It
copies the project into a temporary folder with that basin in ``params.yaml``
and measures:

* the full ``dvc repro``: wall and CPU seconds per stage (between DVC's "Running
  stage" lines, as :mod:`bench_pipeline` does) and, per stage, the wall time of
  the stage's own command (every ``cmd`` of the copy's ``dvc.yaml`` is wrapped by
  ``benchmarks/stamp_cmd.py``, which records when it started and ended). DVC's own
  overhead of a stage is its wall time minus its command's: checking deps and
  params, hashing and caching outputs, writing ``dvc.lock`` (plus the check of the
  next stage's deps); DVC's start-up before the first stage is counted apart;
* a second ``dvc repro`` that has nothing to do (it runs the stage ``source``,
  which is ``always_changed``), the same way;
* the size of ``dvc.lock`` and the number of files DVC tracks in the outputs.

Budgets: ``--budget reduced`` (default) uses the small trial budgets and
ensembles of the test suite (``tests/pipeline_copy.reduced_params``), so that
500 wells fit in an hour here: it shows how every part of the pipeline besides
the training arithmetic grows (data preparation, DVC, notebooks, reports,
evaluation, pooled and clustered steps). ``--budget full`` uses the project's own
``params.yaml`` budgets (about 45 min for 63 wells on 2 cores).

The full-budget panel of the plot adds a projection of the full ``dvc repro``
to 200 and 500 wells: a straight line (fixed cost plus cost per well) through
the two full-budget runs with the most wells (:func:`projection`). In ``benchmarks/results/growth.json``
the 63-well full-budget point is the timed full ``dvc repro`` of the default
basin's real wells (its ``conditions`` say where it was measured).

Usage::

    python benchmarks/bench_growth.py --sizes 10 63 200 500 --out benchmarks/results/growth.json
    python benchmarks/bench_growth.py --sizes 10 --budget full --out benchmarks/results/growth.json
    python benchmarks/bench_growth.py --plot benchmarks/results/growth.png benchmarks/results/growth.json

Results are appended size by size to ``--out`` (a run that stops keeps the sizes
it finished). The raw data come from GWTL_EHYD_MIRROR, else ../shared/data/ehyd.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_pipeline import timed_repro  # noqa: E402
from pipeline_copy import MIRROR, copy_project, did_work, pipeline_env, project_params, reduced_params  # noqa: E402

STAMP = ROOT / "benchmarks" / "stamp_cmd.py"
FIRST_ID = 900000  # ids of the synthetic wells: FIRST_ID + k
#: Stage groups of the plot: the stages of each group are summed.
GROUPS = {
    "data (params, source, fetch, prepare)": ("params", "source", "fetch", "prepare"),
    "TL (pretrain, finetune)": ("pretrain", "finetune"),
    "IT-LSTM": ("it_lstm",),
    "library + finetune_library": ("library", "finetune_library"),
    "strategies": ("strategies",),
    "baselines + tfn": ("baselines", "tfn"),
    "forecast": ("forecast",),
    "evaluate + figures": ("evaluate", "figures"),
}


# --------------------------------------------------------------------------- the synthetic basin


def real_basin() -> tuple[list, pd.DataFrame]:
    """The default basin's listed wells (monthly, with their headers) and forcings, read from the mirror."""
    from gwtl.sources import ehyd
    from gwtl.data.monthly import month_index

    params = project_params()
    months = month_index(params["prepare"]["start"], params["prepare"]["end"])
    inputs = ehyd.read_inputs(params, MIRROR, months)
    return inputs.listed["well"], inputs.forcings


def write_synthetic_basin(folder: Path, n: int, wells: list, forcings: pd.DataFrame) -> list[int]:
    """Write wells.csv, levels.csv and forcings.csv of ``n`` wells into ``folder``; return their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, levels = [], []
    for k in range(n):
        source = wells[k % len(wells)]
        series = source.monthly
        noise = np.random.default_rng(k).normal(0.0, 0.1 * np.nanstd(np.diff(series.to_numpy())), len(series))
        value = (series + noise).round(3).dropna()
        rows.append({"id": FIRST_ID + k, "name": f"copy {k} of {source.hzb}", "lon": source.meta["lon"],
                     "lat": source.meta["lat"], "elevation": source.meta.get("elevation")})
        levels.append(pd.DataFrame({"id": FIRST_ID + k, "date": value.index.strftime("%Y-%m-%d"),
                                    "level": value.to_numpy()}))
    pd.DataFrame(rows).to_csv(folder / "wells.csv", index=False)
    pd.concat(levels).to_csv(folder / "levels.csv", index=False)
    table = forcings.round(4).rename_axis("date").reset_index()
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    table.to_csv(folder / "forcings.csv", index=False)
    return [FIRST_ID + k for k in range(n)]


def basin_params(ids: list[int], folder: Path, forcings: list[str], budget: str) -> dict:
    """params.yaml of the copy: the synthetic basin in the CSV layout, with the chosen budgets."""
    params = reduced_params(ids) if budget == "reduced" else project_params()
    params["data"] |= {"format": "csv", "source": str(folder)}
    params["basin"] |= {"name": f"synthetic, {len(ids)} wells", "area": 1, "wells": ids,
                        "rain_stations": [], "gauges": []}
    params["forecast"]["forcings"] = forcings
    return params


def stamp_commands(project: Path, log: Path) -> None:
    """Wrap every stage command of the copy's dvc.yaml in stamp_cmd.py, which logs its start and end."""
    path = project / "dvc.yaml"
    pipeline = yaml.safe_load(path.read_text())
    for name, stage in pipeline["stages"].items():
        stage["cmd"] = f"python {STAMP} {log} {name} {stage['cmd']}"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))


# --------------------------------------------------------------------------- measuring


def read_stamps(log: Path) -> dict[str, float]:
    """Command wall seconds per stage from the stamp log, then empty the log."""
    walls: dict[str, float] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        walls[entry["stage"]] = walls.get(entry["stage"], 0.0) + entry["end"] - entry["start"]
    log.unlink(missing_ok=True)
    return walls


def repro(project: Path, env: dict, log: Path) -> dict:
    """One timed ``dvc repro``: total, DVC start-up, and per stage wall, CPU, command and DVC seconds."""
    total, stages, output = timed_repro(project, env)
    commands = read_stamps(log)
    rows = {name: {"wall_s": round(t["wall_s"], 2), "cpu_s": round(t["cpu_s"], 1),
                   "command_s": round(commands.get(name, 0.0), 2),
                   "dvc_s": round(t["wall_s"] - commands.get(name, 0.0), 2)} for name, t in stages.items()}
    return {"total_s": round(total, 1), "startup_s": round(total - sum(t["wall_s"] for t in stages.values()), 2),
            "dvc_s": round(total - sum(commands.values()), 1), "stages": rows, "did_work": did_work(output)}


def tracked_files(project: Path) -> int:
    """Files under the copy's DVC outputs (data, models, reports): what DVC hashes and caches."""
    return sum(1 for folder in ("data", "models", "reports") for p in (project / folder).rglob("*") if p.is_file())


def measure(n: int, budget: str, wells: list, forcings: pd.DataFrame, keep: Path | None) -> dict:
    """Build the basin of ``n`` wells, run a full and a no-op ``dvc repro`` in a copy, return the figures."""
    work = (keep / f"wells{n}" if keep else Path(tempfile.mkdtemp(prefix=f"gwtl-growth{n}-"))).resolve()
    project, folder, log = work / "project", work / "basin", work / "stamps.jsonl"
    project.mkdir(parents=True, exist_ok=True)
    ids = write_synthetic_basin(folder, n, wells, forcings)
    copy_project(project, basin_params(ids, folder, list(forcings.columns), budget))
    stamp_commands(project, log)
    env = pipeline_env() | {"PYTHONPATH": str(project / "src")}  # the copy's code, whatever changes meanwhile
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    full = repro(project, env, log)
    noop = repro(project, env, log)
    result = {"wells": n, "budget": budget, "basin": f"synthetic from {len(wells)} real wells", "started": started, "full": full, "noop": noop,
              "dvc_lock_bytes": (project / "dvc.lock").stat().st_size, "output_files": tracked_files(project)}
    if not keep:
        shutil.rmtree(work)
    return result


# --------------------------------------------------------------------------- plot


def group_cpu_seconds(run: dict) -> dict[str, float]:
    """CPU seconds of a run's stages per group of :data:`GROUPS`."""
    stages = run["stages"]
    return {group: sum(stages[s]["cpu_s"] for s in names if s in stages) for group, names in GROUPS.items()}


def projection(results: list[dict], sizes: list[int]) -> dict[int, float]:
    """Full-budget wall seconds of a full ``dvc repro`` at ``sizes``: a line through the two largest full runs.

    The time is taken as a fixed cost plus a cost per well (every stage's per-well
    loop); the straight line through the measured full-budget runs with the most
    wells gives both. A projection, not a measurement: the plot draws it dashed.
    """
    runs = sorted((r for r in results if r["budget"] == "full"), key=lambda r: r["wells"])[-2:]
    if len(runs) < 2:
        return {}
    (n1, t1), (n2, t2) = [(r["wells"], r["full"]["total_s"]) for r in runs]
    return {n: t1 + (t2 - t1) * (n - n1) / (n2 - n1) for n in sizes}


def plot(results: list[dict], out: Path, project_to: tuple[int, ...] = (200, 500)) -> None:
    """Wall time against wells, log-log.

    Left, the reduced-budget runs: the full ``dvc repro`` (wall and CPU time), the
    CPU time of its groups of stages (:data:`GROUPS`; less disturbed than wall time
    by other work on the machine), DVC's own time and the no-op ``dvc repro``. Right, the
    full ``dvc repro`` at full budgets: measured runs, and dashed the
    :func:`projection` to ``project_to`` wells.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 6.2))
    runs = sorted((r for r in results if r["budget"] == "reduced"), key=lambda r: r["wells"])
    x = [r["wells"] for r in runs]
    left.plot(x, [r["full"]["total_s"] / 60 for r in runs], "k-o", lw=2, label="full dvc repro (wall)")
    left.plot(x, [sum(t["cpu_s"] for t in r["full"]["stages"].values()) / 60 for r in runs], "-o", color="0.6",
              lw=2, label="full dvc repro (CPU, all processes)")
    for group in GROUPS:
        left.plot(x, [group_cpu_seconds(r["full"])[group] / 60 for r in runs], "-", marker=".",
                  label=f"{group} (CPU)")
    left.plot(x, [r["full"]["dvc_s"] / 60 for r in runs], "k--", label="DVC's own time in the full run (wall)")
    left.plot(x, [r["noop"]["total_s"] / 60 for r in runs], "k:", label="no-op dvc repro (wall)")
    left.set_title("reduced budgets (the tests' trials and ensembles)")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

    full = sorted((r for r in results if r["budget"] == "full"), key=lambda r: r["wells"])
    projected = projection(results, list(project_to))
    right.plot([r["wells"] for r in full], [r["full"]["total_s"] / 60 for r in full], "k-o", lw=2,
               label="full dvc repro, measured")
    if projected:
        right.plot([full[-1]["wells"], *projected], [full[-1]["full"]["total_s"] / 60,
                                                       *(t / 60 for t in projected.values())],
                   "k--", marker="o", mfc="white", label="projected (fixed + per-well cost)")
        for n, t in projected.items():
            right.annotate(f"{t / 3600:.1f} h", (n, t / 60), textcoords="offset points", xytext=(-30, 6), fontsize=8)
    right.set_title("full budgets (params.yaml)")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    for ax, ticks in ((left, x), (right, sorted({*(r["wells"] for r in full), *projected}))):
        ax.set(xscale="log", yscale="log", xlabel="wells", ylabel="minutes, 2 cores")
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(v) for v in ticks])
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


# --------------------------------------------------------------------------- command line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 63, 200, 500])
    parser.add_argument("--budget", choices=("reduced", "full"), default="reduced")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "growth.json")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep the copies")
    parser.add_argument("--plot", type=Path, help="only draw this PNG from the result files given")
    parser.add_argument("results", type=Path, nargs="*", help="result files to plot (with --plot)")
    args = parser.parse_args()
    if args.plot:
        plot([r for path in args.results for r in json.loads(path.read_text())], args.plot)
        return
    if not MIRROR.exists():
        raise SystemExit(f"no eHYD mirror at {MIRROR}: set GWTL_EHYD_MIRROR to the mirror folder")
    wells, forcings = real_basin()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = json.loads(args.out.read_text()) if args.out.exists() else []
    for n in args.sizes:
        result = measure(n, args.budget, wells, forcings, args.keep)
        done = [r for r in done if (r["wells"], r["budget"]) != (n, args.budget)] + [result]
        args.out.write_text(json.dumps(done, indent=1) + "\n")
        stages = result["full"]["stages"]
        print(f"{n} wells ({args.budget}): full {result['full']['total_s']} s (DVC {result['full']['dvc_s']} s), "
              f"no-op {result['noop']['total_s']} s; slowest: "
              + ", ".join(f"{s} {stages[s]['wall_s']:.0f} s" for s in sorted(stages, key=lambda s: -stages[s]['wall_s'])[:4]),
              flush=True)


if __name__ == "__main__":
    main()
