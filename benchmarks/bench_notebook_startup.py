"""Start-up cost per notebook of ``python -m gwtl.pipeline.notebook``: this checkout against another.

Runs a notebook that does what a stage notebook does first (import torch with
``torch._dynamo``, which ``torch.optim`` and ``gwtl.models.train`` load, pandas,
matplotlib and optuna) ``--runs`` times with this checkout's runner (plain papermill, a
fresh kernel per run) and, with ``--old-src``, with the runner of an older checkout. Up
to commit 5dc23fd that runner handed notebooks to a warm kernel pool (removed since), so
an older checkout is timed twice: with a fresh kernel per run (``GWTL_WARM_KERNELS=0``)
and with the pool (``GWTL_WARM_KERNELS=1``; its first run finds no pool, runs cold and
starts one). The variants take turns, run by run, each in a folder of its own, so that a
load that changes meanwhile hits them alike. Per variant it reports the wall seconds per
run, the overhead (wall minus the seconds papermill recorded for the cells), and the CPU
seconds of every process working in the variant's folder (runner, kernel, and the pool's
server and zygote) divided by the runs.

Usage::

    mkdir /tmp/old && git archive 5dc23fd src | tar -x -C /tmp/old
    python benchmarks/bench_notebook_startup.py --runs 5 --old-src /tmp/old/src --out startup.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_pipeline import ProjectCpu  # noqa: E402
from results_json import show_and_save  # noqa: E402

IMPORTS = "import torch, torch._dynamo, pandas as pd, numpy as np, matplotlib.pyplot as plt, optuna"


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(IMPORTS)]
    nbformat.write(nb, path)


def cells_seconds(executed: Path) -> float:
    """Seconds papermill recorded for the notebook's cells."""
    cells = nbformat.read(executed, as_version=4).cells
    return sum(c.metadata.get("papermill", {}).get("duration") or 0.0 for c in cells)


def variants(old_src: Path | None) -> dict[str, dict[str, str]]:
    """Name -> environment changes of each runner timed."""
    found = {"plain papermill (this checkout)": {"PYTHONPATH": str(ROOT / "src")}}
    if old_src is not None:
        found["old runner, fresh kernel"] = {"PYTHONPATH": str(old_src), "GWTL_WARM_KERNELS": "0"}
        found["old runner, warm kernel pool"] = {"PYTHONPATH": str(old_src), "GWTL_WARM_KERNELS": "1"}
    return found


def summary(values: list[float]) -> dict:
    rest = values[1:] or values
    return {"all": [round(v, 2) for v in values], "median_after_first": round(statistics.median(rest), 2),
            "mean_after_first": round(statistics.mean(rest), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-src", type=Path, help="src folder of an older checkout to time too")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    timed = variants(args.old_src.resolve() if args.old_src else None)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gwtl-startup-") as tmp:
        folders, meters, walls, overheads = {}, {}, {}, {}
        for i, name in enumerate(timed):
            folders[name] = Path(tmp, f"variant{i}").resolve()
            folders[name].mkdir()
            write_notebook(folders[name] / "bench.ipynb")
            meters[name], walls[name], overheads[name] = ProjectCpu(folders[name]), [], []
        try:
            for run in range(args.runs):
                for name, changes in timed.items():
                    output = folders[name] / f"run{run}.ipynb"
                    start = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "gwtl.pipeline.notebook", "bench.ipynb", str(output),
                                    "--quiet"], cwd=folders[name], env=os.environ | changes, check=True,
                                   stderr=subprocess.DEVNULL)
                    walls[name].append(time.perf_counter() - start)
                    overheads[name].append(walls[name][-1] - cells_seconds(output))
        finally:
            for name, changes in timed.items():
                if changes.get("GWTL_WARM_KERNELS") == "1":  # the older checkout's pool would idle two minutes
                    subprocess.run([sys.executable, "-m", "gwtl.pipeline.kernel_pool", "stop"], cwd=folders[name],
                                   env=os.environ | changes, stdout=subprocess.DEVNULL)
        cpu = {}
        for name, meter in meters.items():
            cpu[name] = meter.read()
            meter.stop()
    report = {
        "command": " ".join(["python", *sys.argv]) if argv is None else None,
        "notebook": IMPORTS, "runs": args.runs, "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "variants": {name: {"wall_s": summary(walls[name]), "overhead_s": summary(overheads[name]),
                            "cpu_s_per_run": round(cpu[name] / args.runs, 2)} for name in timed},
    }
    show_and_save(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
