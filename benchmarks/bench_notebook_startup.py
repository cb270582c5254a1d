"""Start-up cost of ``python -m gwtl.pipeline.notebook``: fresh kernels vs the warm kernel pool.

Runs a notebook that imports torch (with ``torch._dynamo``, which ``torch.optim`` and
``gwtl.models.train`` load), pandas, matplotlib and optuna ``--runs`` times in a row, first with
``GWTL_WARM_KERNELS=0`` (a fresh kernel each run), then with the pool (the first warm run
finds no server, runs cold and starts one). Prints the mean seconds per run and the
start-up overhead (wall time minus the time papermill recorded for the notebook's cells)
and writes the figures as JSON::

    python benchmarks/bench_notebook_startup.py --out reports/bench_notebook_startup.json

``--work N`` adds a cell doing N fixed 512x512 torch matrix products and reports how long
that cell took: with the pool, the next kernel warms up in the background while the
notebook runs, and on a small machine the two compete for CPU. ``--gap S`` waits S seconds
between runs (DVC spends some time between stages).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

IMPORTS = ("import torch, torch._dynamo, pandas as pd, numpy as np, matplotlib.pyplot as plt, "
           "optuna")
WORK = """import time
a = torch.rand(512, 512)
start = time.perf_counter()
for _ in range(n_products):
    a = torch.tanh(a @ a)
print(f"work_seconds={time.perf_counter() - start:.3f}")"""


def write_notebook(path: Path, work: int) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(f"n_products = {work}")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(IMPORTS)]
    if work:
        nb.cells.append(nbformat.v4.new_code_cell(WORK))
    nbformat.write(nb, path)


def cells_seconds(executed: Path) -> float:
    """Seconds papermill recorded for the notebook's cells: the notebook's own compute."""
    cells = nbformat.read(executed, as_version=4).cells
    return sum(c.metadata.get("papermill", {}).get("duration") or 0.0 for c in cells)


def work_seconds(executed: Path) -> float | None:
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("work_seconds="):
                    return float(line.split("=")[1])
    return None


def run_series(folder: Path, warm: bool, runs: int, gap: float) -> dict:
    env = dict(os.environ, GWTL_WARM_KERNELS="1" if warm else "0")
    walls, cpus, works, overheads = [], [], [], []
    for i in range(runs):
        output = folder / ("warm" if warm else "cold") / f"run{i}.ipynb"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gwtl.pipeline.notebook", "bench.ipynb", str(output),
                        "--quiet"], cwd=folder, env=env, check=True,
                       stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        works.append(work_seconds(output))
        overheads.append(walls[-1] - cells_seconds(output))
        time.sleep(gap)
    result = {
        "wall_seconds": [round(w, 3) for w in walls],
        "mean_wall_seconds": round(statistics.mean(walls), 3),
        "mean_wall_seconds_after_first": round(statistics.mean(walls[1:]), 3)
        if runs > 1 else None,
        "overhead_seconds": [round(o, 3) for o in overheads],
        "mean_overhead_seconds_after_first": round(statistics.mean(overheads[1:]), 3)
        if runs > 1 else None,
        # CPU of the runner process only (a warm run's kernel lives in the pool server)
        "mean_runner_cpu_seconds": round(statistics.mean(cpus), 3),
    }
    if works[0] is not None:
        result["work_cell_seconds"] = [round(w, 3) for w in works]
        result["mean_work_cell_seconds"] = round(statistics.mean(works), 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--work", type=int, default=0, help="torch matrix products per run")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between runs")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gwtl-bench-") as tmp:
        folder = Path(tmp)
        write_notebook(folder / "bench.ipynb", args.work)
        load_before = os.getloadavg()
        try:
            cold = run_series(folder, warm=False, runs=args.runs, gap=args.gap)
            warm = run_series(folder, warm=True, runs=args.runs, gap=args.gap)
        finally:
            subprocess.run([sys.executable, "-m", "gwtl.pipeline.kernel_pool", "stop"], cwd=folder,
                           stdout=subprocess.DEVNULL)
    figures = {
        "notebook": IMPORTS, "runs": args.runs, "work_products": args.work, "gap": args.gap,
        "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cold": cold, "warm": warm,
    }
    for name, series in (("cold", cold), ("warm", warm)):
        line = f"{name}: {series['mean_wall_seconds']:.2f} s per run"
        if series["mean_wall_seconds_after_first"] is not None:
            line += f" ({series['mean_wall_seconds_after_first']:.2f} s after the first)"
        if series["mean_overhead_seconds_after_first"] is not None:
            line += f", overhead {series['mean_overhead_seconds_after_first']:.2f} s"
        if "mean_work_cell_seconds" in series:
            line += f", work cell {series['mean_work_cell_seconds']:.2f} s"
        print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
