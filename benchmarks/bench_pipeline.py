"""Benchmark the whole pipeline on this machine, in a temporary copy of the project.

Measures, in one run:

* the full ``dvc repro`` on the default params: wall seconds, and per stage the wall
  and CPU seconds between DVC's "Running stage" lines (CPU: user + system time of every
  process working in the copy: DVC, the notebook runners and their kernels; see
  :class:`ProjectCpu`);
* the TL path (fetch, prepare, pretrain, finetune, evaluate) as a share of the full run;
* the finetune stage(s) (one per well in older commits) and the one IT-LSTM stage:
  their wall time against their wells' summed compute (``cost.json``);
* pretraining cost and TL against IT development cost per well (CPU seconds) and
  their ratio;
* a ``dvc repro`` that has nothing to do.

Usage::

    python benchmarks/bench_pipeline.py --out reports/benchmark.json [--keep DIR]
    # an older commit side by side, measured the same way:
    git worktree add /tmp/old efa730f
    python benchmarks/bench_pipeline.py --source /tmp/old --out old.json

The raw data come from the same place as in the project (GWTL_EHYD_MIRROR, else
../shared/data/ehyd, else download).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pipeline_copy import copy_project, did_work, pipeline_env  # noqa: E402


TICK = os.sysconf("SC_CLK_TCK")
#: Stages of the TL path: what a user who only wants the TL-LSTM forecasts runs.
TL_PATH = ("fetch", "prepare", "pretrain", "finetune", "evaluate")


class ProjectCpu:
    """CPU seconds of every process that has worked in ``project`` since this meter started.

    A thread reads, five times a second, the user + system time of each process whose
    working folder is ``project`` (DVC, the notebook runners and their kernels) and keeps
    the last value seen per process (pid and start time). A process's time since the last
    reading before it ended is missed (at most 0.2 s each).
    """

    def __init__(self, project: Path):
        self.project, self.seen, self.lock = project, {}, threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _scan(self) -> None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if Path(os.readlink(entry / "cwd")) != self.project:
                        continue
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                with self.lock:
                    self.seen[(entry.name, fields[19])] = (int(fields[11]) + int(fields[12])) / TICK

    def _run(self) -> None:
        while not self.stopped.wait(0.2):
            self._scan()

    def read(self) -> float:
        """CPU seconds so far."""
        self._scan()
        with self.lock:
            return sum(self.seen.values())

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def timed_repro(project: Path, env: dict) -> tuple[float, dict[str, dict[str, float]], str]:
    """Run ``dvc repro``; return total seconds, wall and CPU seconds per stage and the output."""
    start, meter = time.perf_counter(), ProjectCpu(project)
    proc = subprocess.Popen(["dvc", "repro"], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    stages: dict[str, dict[str, float]] = {}
    current, since, cpu_since, lines = None, start, 0.0, []

    def close(now: float, cpu: float) -> None:
        if current:
            stages[current] = {"wall_s": now - since, "cpu_s": cpu - cpu_since}

    for line in proc.stdout:
        lines.append(line)
        found = re.match(r"Running stage '([^']+)'", line)
        if found:
            now, cpu = time.perf_counter(), meter.read()
            close(now, cpu)
            current, since, cpu_since = found.group(1), now, cpu
    cpu = meter.read()
    proc.wait()
    end = time.perf_counter()
    meter.stop()
    close(end, max(cpu, meter.read()))
    if proc.returncode:
        sys.stderr.write("".join(lines[-60:]))
        raise SystemExit(f"dvc repro failed in {project}")
    return end - start, stages, "".join(lines)


def per_well_costs(project: Path, folder: str) -> list[dict]:
    costs = []
    for path in sorted((project / "models" / folder).glob("*/cost.json")):
        costs.append(json.loads(path.read_text()) | {"well": path.parent.name})
    return costs


def _flat(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def summarize(project: Path, total: float, timed: dict[str, dict[str, float]], noop: float) -> dict:
    tl, it = per_well_costs(project, "finetune"), per_well_costs(project, "it")
    pretrain = json.loads((project / "models" / "pretrain" / "cost.json").read_text())
    metrics = _flat(json.loads((project / "metrics.json").read_text()))

    stages = {name: t["wall_s"] for name, t in timed.items()}
    walls = [t for name, t in stages.items() if name.split("@")[0] == "finetune"]  # one stage, or one per well
    finetune = {
        "stages": len(walls),
        "stage_wall_s": round(sum(walls), 1),
        "wells_cpu_s_sum": round(sum(c["cpu_s"] for c in tl), 1),
        "wells_wall_s_sum": round(sum(c["wall_s"] for c in tl), 1),
    }
    it_stage = {
        "stage_wall_s": round(stages["it_lstm"], 1),
        "wells_cpu_s_sum": round(sum(c["cpu_s"] for c in it), 1),
        "wells_wall_s_sum": round(sum(c["wall_s"] for c in it), 1),
    }

    tl_path = sum(stages[name] for name in stages if name.split("@")[0] in TL_PATH)
    tl_cpu = statistics.mean(c["cpu_s"] for c in tl)
    it_cpu = statistics.mean(c["cpu_s"] for c in it)
    return {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "wells": len(tl),
        "full_repro_s": round(total, 1),
        "noop_repro_s": round(noop, 2),
        "pretrain": {"wall_s": pretrain["wall_s"], "cpu_s": pretrain["cpu_s"]},
        "tl_per_well": {"wall_s": round(statistics.mean(c["wall_s"] for c in tl), 2), "cpu_s": round(tl_cpu, 2)},
        "it_per_well": {"wall_s": round(statistics.mean(c["wall_s"] for c in it), 2), "cpu_s": round(it_cpu, 2)},
        "it_over_tl_cpu": round(it_cpu / tl_cpu, 1),
        "pretrain_plus_all_finetune_cpu_s": round(pretrain["cpu_s"] + sum(c["cpu_s"] for c in tl), 1),
        "it_basin_over_tl_basin_cpu": round(sum(c["cpu_s"] for c in it)
                                            / (pretrain["cpu_s"] + sum(c["cpu_s"] for c in tl)), 1),
        "test_nse_median": {key: value for key, value in metrics.items()
                            if key.startswith("test.") and ".nse_median." in key},
        "finetune_stages": finetune,
        "it_lstm_stage": it_stage,
        "tl_path_wall_s": round(tl_path, 1),
        "tl_path_share": round(tl_path / total, 3),
        "stages": _by_stage(timed),
    }


def _by_stage(timed: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds per stage, the ``name@item`` stages of one ``foreach`` summed."""
    out: dict[str, dict[str, float]] = {}
    for name, t in timed.items():
        row = out.setdefault(name.split("@")[0], {"count": 0, "wall_s": 0.0, "cpu_s": 0.0})
        row["count"] += 1
        row["wall_s"] += t["wall_s"]
        row["cpu_s"] += t["cpu_s"]
    return {k: {"count": v["count"], "wall_s": round(v["wall_s"], 1), "cpu_s": round(v["cpu_s"], 1)}
            for k, v in out.items()}


def print_table(report: dict) -> None:
    rows = [
        ("full dvc repro (s)", report["full_repro_s"]),
        ("no-op dvc repro (s)", report["noop_repro_s"]),
        ("pretrain wall / cpu (s)", f"{report['pretrain']['wall_s']:.1f} / {report['pretrain']['cpu_s']:.1f}"),
        ("TL per well wall / cpu (s)", f"{report['tl_per_well']['wall_s']} / {report['tl_per_well']['cpu_s']}"),
        ("IT per well wall / cpu (s)", f"{report['it_per_well']['wall_s']} / {report['it_per_well']['cpu_s']}"),
        ("IT / TL (cpu)", report["it_over_tl_cpu"]),
        ("pretrain + all finetune cpu (s)", report["pretrain_plus_all_finetune_cpu_s"]),
        ("IT basin / TL basin incl. pretrain (cpu)", report["it_basin_over_tl_basin_cpu"]),
        ("finetune stage(s): count / wall / wells' summed wall (s)",
         f"{report['finetune_stages']['stages']} / {report['finetune_stages']['stage_wall_s']}"
         f" / {report['finetune_stages']['wells_wall_s_sum']}"),
        ("it_lstm stage: wall / wells' summed wall (s)",
         f"{report['it_lstm_stage']['stage_wall_s']} / {report['it_lstm_stage']['wells_wall_s_sum']}"),
    ]
    rows.append(("TL path wall (s) / share of the full run", f"{report['tl_path_wall_s']} / {report['tl_path_share']}"))
    rows += [(f"stage {k} x{v['count']}: wall / cpu (s)", f"{v['wall_s']} / {v['cpu_s']}")
             for k, v in report["stages"].items()]
    rows += [(f"median NSE {k}", v) for k, v in report["test_nse_median"].items()]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _commit(source: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmark.json")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="git checkout to time (default this project), e.g. a worktree of an older commit")
    args = parser.parse_args()
    project = (args.keep or Path(tempfile.mkdtemp(prefix="gwtl-bench-"))).resolve()
    project.mkdir(parents=True, exist_ok=True)
    env = pipeline_env()
    env["PYTHONPATH"] = str(project / "src")  # the copy's code, even if the project changes meanwhile
    copy_project(project, source=args.source.resolve())
    total, stages, _ = timed_repro(project, env)
    noop_start = time.perf_counter()
    _, _, again = timed_repro(project, env)
    noop = time.perf_counter() - noop_start
    if did_work(again):
        raise SystemExit("the second dvc repro was not a no-op (beyond the check of the data source)")
    report = summarize(project, total, stages, noop) | {"source": str(args.source), "commit": _commit(args.source)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    if not args.keep:
        shutil.rmtree(project)


if __name__ == "__main__":
    main()
