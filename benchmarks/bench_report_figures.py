"""Benchmark the report's one-panel-per-well figure as the wells grow: this checkout against another.

The report stage (``figures``) grew faster than the wells in ``bench_growth.py``
(53 s of CPU at 200 wells, 252 s at 500). At 63 wells most of its figure time goes to
``test_hydrographs``, one panel per well (``gwtl.report.figures.hydrograph_figure``). This
script draws and saves that figure from an up-to-date project's outputs with the wells
copied ``k`` times under new ids (``k`` = 1, 2, 4: 63, 126 and 252 wells on the
Leibnitzer Feld), once with this checkout's ``src`` and once with ``--old-src`` (e.g.
``git worktree add /tmp/old 0caf470``, then ``--old-src /tmp/old/src``), each in a
fresh process, and prints the CPU seconds of drawing and of saving and the ratio old/new.

Usage (in the up-to-date project)::

    python benchmarks/bench_report_figures.py --old-src /tmp/old/src --copies 1 2 4 --out figures.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Run in a fresh interpreter with the checkout under test first on sys.path.
CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import pandas as pd
from gwtl.params import load_params
from gwtl.report.figures import hydrograph_figure
from gwtl.report.inputs import load_inputs
from gwtl.report.replication_figures import _save, metric_by_well

copies = int(sys.argv[1])
params = load_params("params.yaml")
inputs = load_inputs(params, processed="data/processed", models="models", results="reports/results.csv",
                     cost="reports/cost.csv", metrics="metrics.json", comparison="reports/comparison.csv")
nse = metric_by_well(inputs.results, lead=inputs.lead)
predictions = pd.concat([inputs.predictions.assign(well=inputs.predictions["well"] + f"_{k}") for k in range(copies)])
nse = pd.concat([nse.rename(index=lambda w, k=k: f"{w}_{k}") for k in range(copies)])
start = time.process_time()
fig = hydrograph_figure(predictions, nse, lead=inputs.lead)
draw = time.process_time() - start
with tempfile.TemporaryDirectory() as out:
    start = time.process_time()
    _save(fig, Path(out) / "test_hydrographs.png")
    save = time.process_time() - start
print(json.dumps({"wells": len(nse), "draw_s": round(draw, 2), "save_s": round(save, 2)}))
"""


def _run(src: Path, copies: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "GWTL_CHECKOUT_SRC": str(src)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(copies)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"drawing with {src} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-src", type=Path, required=True, help="the src folder of the checkout to compare with")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for copies in args.copies:
        new, old = _run(ROOT / "src", copies), _run(args.old_src.resolve(), copies)
        total_new, total_old = new["draw_s"] + new["save_s"], old["draw_s"] + old["save_s"]
        rows.append({"wells": new["wells"], "new": new, "old": old, "old_over_new": round(total_old / total_new, 2)})
        print(f"{new['wells']} wells: new draw {new['draw_s']} s + save {new['save_s']} s, "
              f"old {old['draw_s']} s + {old['save_s']} s (old/new {rows[-1]['old_over_new']})", flush=True)
    report = {"rows": rows, "load_average": os.getloadavg()}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
