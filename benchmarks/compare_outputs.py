"""Are two pipeline runs the same, timings aside? Compare the outputs of two project folders file by file.

After a refactoring that must not change results (issue 26), run the full
pipeline in the new checkout and compare it with the committed run::

    python benchmarks/compare_outputs.py OLD_PROJECT NEW_PROJECT [--out benchmarks/results/same_outputs.json]

Compared, under ``data/processed``, ``models`` and ``reports`` (HTML and
executed notebooks excluded, they hold timings and paths) and ``metrics.json``:

- CSV and JSON files: byte-identical, except that columns and keys that
  measure time (:data:`TIMING`: CPU and wall seconds, ``cost`` records) are
  dropped first and the rest compared as text;
- ``model.pt``: every tensor equal, and every other entry equal;
- any other file: byte-identical.

A file present on one side only is a difference. The exit code is 0 when
nothing differs, else 1; the report lists every differing file and why.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd
import torch

TIMING = re.compile(r"(^|_)(cpu|wall)(_|$)|seconds|_s$|^cost$|^threads$")
FOLDERS = ("data/processed", "models", "reports")
SKIP_SUFFIXES = (".html", ".ipynb", ".png", ".svg")


def _without_timing(value):
    """``value`` (parsed JSON) without the keys that measure time, at any depth."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if not TIMING.search(k)}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _same_tensors(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(
            torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b))
    return a == b


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return fh.readline().strip().split(",")


def difference(old: Path, new: Path) -> str | None:
    """Why file ``new`` differs from ``old`` (None when they are the same, timings aside)."""
    if old.suffix == ".pt":
        same = _same_tensors(torch.load(old, weights_only=True), torch.load(new, weights_only=True))
        return None if same else "tensors or entries differ"
    if old.suffix == ".json":
        a, b = (_without_timing(json.loads(p.read_text(encoding="utf-8"))) for p in (old, new))
        return None if a == b else "values differ"
    if old.suffix == ".csv" and any(TIMING.search(column) for column in _header(old)):
        a, b = (pd.read_csv(p, dtype=str) for p in (old, new))
        if list(a.columns) != list(b.columns):
            return "columns differ"
        keep = [c for c in a.columns if not TIMING.search(c)]
        return None if a[keep].equals(b[keep]) else "values differ"
    return None if old.read_bytes() == new.read_bytes() else "bytes differ"


def files(root: Path) -> set[str]:
    found = {str(p.relative_to(root)) for folder in FOLDERS for p in (root / folder).rglob("*") if p.is_file()}
    found = {f for f in found if not f.endswith(SKIP_SUFFIXES)}
    return found | ({"metrics.json"} if (root / "metrics.json").exists() else set())


def compare(old: Path, new: Path) -> dict:
    """The files of two runs, compared: counts and every difference."""
    a, b = files(old), files(new)
    differing = {name: why for name in sorted(a & b) if (why := difference(old / name, new / name))}
    return {"old": str(old), "new": str(new), "compared": len(a & b), "same": len(a & b) - len(differing),
            "differing": differing, "only_old": sorted(a - b), "only_new": sorted(b - a)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = compare(args.old, args.new)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(f"{result['compared']} files compared, {result['same']} the same; {len(result['differing'])} differ, "
          f"{len(result['only_old'])} only in {args.old}, {len(result['only_new'])} only in {args.new}")
    for name, why in result["differing"].items():
        print(f"  {name}: {why}")
    return 0 if not (result["differing"] or result["only_old"] or result["only_new"]) else 1


if __name__ == "__main__":
    sys.exit(main())
