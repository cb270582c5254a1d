"""Benchmark a ``dvc repro`` that has nothing to do, for variants of dvc.lock and of the YAML parser.

A no-op ``dvc repro`` is mostly YAML parsing: DVC reads dvc.yaml, params.yaml and
dvc.lock several times, and rewrites dvc.lock because the ``source`` stage always runs.
This script times it, in one run and interleaved (variant A, B, C, D, then again), for

* the project's dvc.lock and the dvc.lock of an older commit (``--old-lock-rev``; the
  lock's content only, the workspace stays as it is), and
* ruamel.yaml's C parser (``ruamel.yaml.clib``, when installed) and its pure-Python parser
  (forced by shadowing the C module).

It runs in place, in a project whose pipeline is up to date (``dvc status`` clean), and
puts the project's dvc.lock back afterwards, byte for byte. It writes the median wall
seconds per variant and each variant's ratio to the first.

Usage::

    python benchmarks/bench_noop.py --project . --old-lock-rev 452ee9c --runs 5 --out noop.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from results_json import show_and_save

ROOT = Path(__file__).resolve().parents[1]


def _lock_at(rev: str) -> bytes:
    return subprocess.run(["git", "show", f"{rev}:dvc.lock"], cwd=ROOT, check=True, capture_output=True).stdout


def _timed_repro(project: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "Running stage" in done.stdout.replace("Running stage 'source'", ""):
        raise SystemExit(f"dvc repro in {project} did work or failed; bring the project up to date first:\n"
                         f"{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="an up-to-date project (default: this one)")
    parser.add_argument("--old-lock-rev", required=True, help="commit whose dvc.lock is the other lock variant")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lock_path = args.project / "dvc.lock"
    locks = {"lock now": lock_path.read_bytes(), f"lock at {args.old_lock_rev}": _lock_at(args.old_lock_rev)}
    with tempfile.TemporaryDirectory() as shadow:
        Path(shadow, "_ruamel_yaml.py").write_text("raise ImportError('pure-Python YAML parser for the benchmark')\n")
        pure_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [shadow, os.environ.get("PYTHONPATH")]))}
        parsers = {"C parser": dict(os.environ), "pure-Python parser": pure_env}
        times: dict[str, list[float]] = {}
        try:
            for _ in range(args.runs):
                for lock_name, lock in locks.items():
                    lock_path.write_bytes(lock)
                    for parser_name, env in parsers.items():
                        times.setdefault(f"{lock_name}, {parser_name}", []).append(_timed_repro(args.project, env))
        finally:
            lock_path.write_bytes(locks["lock now"])
    medians = {name: statistics.median(values) for name, values in times.items()}
    first = next(iter(medians.values()))
    report = {
        "runs": args.runs,
        "lock_bytes": {name: len(lock) for name, lock in locks.items()},
        "median_s": {name: round(value, 2) for name, value in medians.items()},
        "ratio_to_first": {name: round(value / first, 2) for name, value in medians.items()},
        "all_s": {name: [round(v, 2) for v in values] for name, values in times.items()},
        "load_average": os.getloadavg(),
    }
    show_and_save(report, args.out)


if __name__ == "__main__":
    main()
