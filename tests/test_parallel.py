"""gwtl.pipeline.parallel: the same results, in order, on local processes and on a Dask
cluster (a LocalCluster on 127.0.0.1 started here), the first error raised, and
a clear error, before any work, when the scheduler named by GWTL_DASK_SCHEDULER
cannot be reached or its workers run several threads."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask
import pytest
from dask import distributed

from gwtl.models.baselines import run_baselines
from gwtl.pipeline.parallel import SCHEDULER, map_in_processes

from synthetic import synthetic_processed, tiny_params, write_folder


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on 127.0.0.1; closed after the module's tests."""
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None)
    try:
        yield local
    finally:
        local.close()


@pytest.fixture
def on_cluster(cluster, monkeypatch):
    """GWTL_DASK_SCHEDULER set to the test cluster's address."""
    monkeypatch.setenv(SCHEDULER, cluster.scheduler_address)
    return cluster.scheduler_address


def test_results_in_order_on_dask(on_cluster):
    squares = [float(n * n) for n in range(12, 0, -1)]
    assert list(map_in_processes(math.sqrt, squares)) == list(range(12, 0, -1))


def test_first_error_is_raised_on_dask(on_cluster):
    with pytest.raises(ValueError, match="math domain error") as caught:
        list(map_in_processes(math.sqrt, [4.0, -1.0, 9.0]))
    assert any(on_cluster in note for note in caught.value.__notes__)


def test_unreachable_scheduler_is_a_clear_error_before_any_work(monkeypatch):
    address = "tcp://127.0.0.1:1"
    monkeypatch.setenv(SCHEDULER, address)
    start = time.perf_counter()
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(ConnectionError, match=f"{SCHEDULER}={address}.*unset {SCHEDULER}"):
            map_in_processes(math.sqrt, [1.0])  # raised at the call, not when the results are read
    assert time.perf_counter() - start < 20


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # the module's cluster holds it
def test_multithreaded_workers_are_refused(monkeypatch):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as threaded:
        monkeypatch.setenv(SCHEDULER, threaded.scheduler_address)
        with pytest.raises(ValueError, match="--nthreads 1"):
            map_in_processes(math.sqrt, [1.0])


def test_local_engine_does_not_import_dask(monkeypatch):
    monkeypatch.delenv(SCHEDULER, raising=False)
    code = ("import sys, math; from gwtl.pipeline.parallel import map_in_processes; "
            "assert list(map_in_processes(math.sqrt, [4.0, 9.0], 2)) == [2.0, 3.0]; "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_baselines_are_byte_identical_on_local_processes_and_dask(tmp_path, cluster, monkeypatch):
    processed = write_folder(synthetic_processed(), tmp_path / "processed")
    params = tiny_params()
    params["baselines"]["trials"] = 2
    monkeypatch.delenv(SCHEDULER, raising=False)
    local = run_baselines(params, processed, tmp_path / "local", n_jobs=2)
    monkeypatch.setenv(SCHEDULER, cluster.scheduler_address)
    dask = run_baselines(params, processed, tmp_path / "dask", n_jobs=2)
    for name in ("predictions.csv", "config.json"):
        assert (local.out / name).read_bytes() == (dask.out / name).read_bytes(), name
    assert sorted(local.predictions["well"].astype(str).unique()) == sorted(map(str, params["basin"]["wells"]))


SLEEPER = """
import os, sys, time
from pathlib import Path
from gwtl.pipeline.parallel import map_in_processes

def job(folder):
    Path(folder, str(os.getpid())).touch()
    time.sleep(120)
    return 0

if __name__ == "__main__":
    list(map_in_processes(job, [sys.argv[1]] * 2, n_jobs=2))
"""


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path):
    """A killed stage leaves no worker computing a well for nobody (dvc repro killed with its group)."""
    script, pids = tmp_path / "sleeper.py", tmp_path / "pids"
    script.write_text(SLEEPER)
    pids.mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(pids)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(pids.iterdir())) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        os.kill(parent.pid, signal.SIGKILL)  # the parent only: its workers are not told
        parent.wait()
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                     and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]]
        assert not alive, f"workers {alive} still run 10 s after their parent was killed"
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
