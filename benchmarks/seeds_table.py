"""The README's seed-replication tables (Markdown) from ``benchmarks/results/seeds.json``.

Usage::

    python benchmarks/seeds_table.py [benchmarks/results/seeds.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = {"tl": "TL default (basin/gradual)", "basin/head": "paper's TL (basin/head)", "it": "IT-LSTM",
         "it_fixed": "control: IT, pre-trained config, no search", "scratch/gradual": "control: random init, gradual"}
CANDIDATES = ("tl", "basin/head", "it_fixed", "scratch/gradual")
LEADS = (1, 2, 3)


def basin_tables(basin: str, result: dict) -> list[str]:
    """Two tables for one basin: mean test NSE ± sd over seeds with CPU, and each candidate against IT."""
    lines = [f"**{basin}**, seeds {result['seeds']}: mean test NSE over wells (mean ± sd over seeds), "
             "leads 1 / 2 / 3; CPU s per well", "",
             "| model | lead 1 | lead 2 | lead 3 | CPU s/well |", "| --- | --- | --- | --- | --- |"]
    for model in ("tl", "basin/head", "it", "it_fixed", "scratch/gradual"):
        cells = []
        for lead in LEADS:
            value = result["test"][f"lead{lead}"]["nse_mean"][model]
            cells.append(f"{value['mean']:.3f}" + (f" ± {value['sd']:.3f}" if value["sd"] is not None else ""))
        lines.append(f"| {NAMES[model]} | " + " | ".join(cells) + f" | {result['cpu_s_per_well'][model]['mean']:.1f} |")
    lines += ["", "| against IT (test) | lead 1 | lead 2 | lead 3 |", "| --- | --- | --- | --- |"]
    for model in CANDIDATES:
        cells = []
        for lead in LEADS:
            c = result["test"][f"lead{lead}"]["vs_it"][f"{model}_vs_it"]
            cells.append(f"{c['mean_diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}] {c['verdict']}")
        lines.append(f"| {NAMES[model]} | " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0] if argv else "benchmarks/results/seeds.json")
    for basin, result in json.loads(path.read_text(encoding="utf-8")).items():
        print("\n".join(basin_tables(basin, result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
