"""Run independent per-well jobs side by side in worker processes.

``dvc repro`` runs one stage at a time, so a stage that loops over wells uses one
core unless it spreads the wells over processes itself. Each worker is limited
to one BLAS/OpenMP thread, so a job costs the same CPU time as when it runs
alone; results never depend on the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def available_cores() -> int:
    """Cores this process may use (its CPU affinity, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _single_threaded(fn: Callable, item: Any) -> Any:
    import threadpoolctl

    with threadpoolctl.threadpool_limits(1):
        return fn(item)


def map_in_processes(fn: Callable[[Any], Any], items: Iterable, n_jobs: int | None = None) -> Iterator:
    """``fn(item)`` for every item, in order, ``n_jobs`` at a time (default: all cores).

    ``fn`` must be a module-level function (it is pickled to the workers). With
    one job, or one item, everything runs in this process. Results are yielded
    as they arrive in order, so a caller can report progress; the first error
    raised by ``fn`` is raised here and the remaining items are cancelled.
    """
    items = list(items)
    n_jobs = max(1, min(n_jobs or available_cores(), len(items)))
    if n_jobs == 1:
        return (fn(item) for item in items)
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_single_threaded)(fn, item) for item in items)
