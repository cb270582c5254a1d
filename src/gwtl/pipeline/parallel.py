"""Run independent per-well jobs side by side, on local processes or a Dask cluster.

``dvc repro`` runs one stage at a time, so a stage that loops over wells uses one
core unless it spreads the wells over processes itself. Two engines do that:

* local processes (the default): joblib's process pool on this machine,
  ``n_jobs`` at a time;
* a Dask cluster, when the environment variable ``GWTL_DASK_SCHEDULER`` holds
  its scheduler's address (``tcp://host:8786``): every item is submitted at
  once and the cluster's scheduler spreads them over its workers (``n_jobs``
  is not used). Each Dask worker runs one job at a time (``--nthreads 1``).
  Dask is imported only then.

Results never depend on the engine or on the number of workers: each job is a
pure function of its item (the item carries the data and params, and every
seed comes from them) and runs with one BLAS/OpenMP thread, so a job computes
the same numbers, and costs the same CPU time, wherever it runs; results are
yielded in the order of the items.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

SCHEDULER = "GWTL_DASK_SCHEDULER"


def available_cores() -> int:
    """Cores this process may use (its CPU affinity, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def exit_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """From now on, end this worker process as soon as ``parent`` (the process that started it) is gone.

    A stage killed with its process group (``dvc repro`` interrupted) takes its
    notebook's kernel with it (the kernel watches its parent), but the kernel's
    worker processes are not in that group: without this they would go on
    computing their wells for nobody. A worker whose parent died before its
    first job started ends at once. Started once per process.
    """
    if getattr(exit_with_parent, "started", None) == os.getpid():
        return
    exit_with_parent.started = os.getpid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="gwtl-exit-with-parent", daemon=True).start()


def _single_threaded(fn: Callable, item: Any, parent: int | None = None) -> Any:
    """``fn(item)`` with one BLAS/OpenMP thread; in a local worker process, ended with its ``parent``."""
    import threadpoolctl

    if parent is not None:
        exit_with_parent(parent)
    with threadpoolctl.threadpool_limits(1):
        return fn(item)


def map_in_processes(fn: Callable[[Any], Any], items: Iterable, n_jobs: int | None = None) -> Iterator:
    """``fn(item)`` for every item, in order, ``n_jobs`` at a time (default: all cores).

    ``fn`` must be a module-level function (it is pickled to the workers). With
    one job, or one item, everything runs in this process. Results are yielded
    as they arrive in order, so a caller can report progress; the first error
    raised by ``fn`` is raised here and the remaining items are cancelled.
    When ``GWTL_DASK_SCHEDULER`` is set, the items run on that Dask cluster
    instead (see the module docstring); a scheduler that cannot be reached is
    an error raised here, before any job starts.
    """
    items = list(items)
    address = os.environ.get(SCHEDULER)
    if address:
        return _map_on_dask(fn, items, address)
    n_jobs = max(1, min(n_jobs or available_cores(), len(items)))
    if n_jobs == 1:
        return (fn(item) for item in items)
    from joblib import Parallel, delayed

    parent = os.getpid()
    return Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_single_threaded)(fn, item, parent)
                                                          for item in items)


def _map_on_dask(fn: Callable[[Any], Any], items: list, address: str) -> Iterator:
    """Submit every item to the Dask scheduler at ``address``; the results, in order.

    Every worker must be single-threaded (``dask worker ADDRESS --nthreads 1``),
    as a job seeds process-wide random generators; workers that joined so far
    are checked.

    Connecting waits at most Dask's ``distributed.comm.timeouts.connect``
    (30 s unless set, e.g. ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
    """
    from dask.distributed import Client

    try:
        client = Client(address, set_as_default=False)
    except OSError as error:
        raise ConnectionError(
            f"{SCHEDULER}={address}: no Dask scheduler answers at this address ({error}). Start the "
            f"scheduler (`dask scheduler`) and its workers (`dask worker {address} --nthreads 1`), or unset "
            f"{SCHEDULER} to run the jobs on local processes") from error
    threaded = sorted(worker for worker, threads in client.nthreads().items() if threads != 1)
    if threaded:
        client.close()
        raise ValueError(
            f"Dask workers {threaded} of the cluster at {address} run several threads; the per-well jobs seed "
            "torch's global random generator, so each worker must run one job at a time: start them with "
            f"`dask worker {address} --nthreads 1` (and `--nworkers N` for N jobs per machine)")
    futures = client.map(_single_threaded, [fn] * len(items), items, pure=False)
    return _in_order(client, futures, address)


def _in_order(client, futures: list, address: str) -> Iterator:
    """The futures' results in order; on the first error the others are cancelled and it is raised."""
    try:
        for i, future in enumerate(futures):
            try:
                yield future.result()
            except Exception as error:
                error.add_note(f"raised by job {i + 1} of {len(futures)} on the Dask cluster at {address}")
                raise
    finally:
        client.cancel(futures)
        client.close()
