"""The warm kernel pool: a warm run equals a fresh one; every failure falls back to a cold run.

Each test runs in its own folder, so it gets its own server; the fixture stops it and
checks that no kernel process is left.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time

import nbformat
import pytest

from gwtl.pipeline import kernel_pool
from gwtl.pipeline import kernel_server
from gwtl.pipeline.notebook import main
from gwtl.pipeline.notebook_run import run_notebook

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the pool needs Unix sockets")
START_SERVER = kernel_pool.start_server  # some tests replace it by a recorder


def write_notebook(path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nname = 'a'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Pool:
    """Starts servers for the test's folder; stops them and checks their kernels are gone."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.kernels: set[int] = set()

    def start(self, idle: float = kernel_server.IDLE_SECONDS) -> subprocess.Popen:
        process = START_SERVER(detach=False, idle=idle)
        self.processes.append(process)
        wait_until(lambda: self.status() is not None and self.status()["spare"])
        return process

    def status(self) -> dict | None:
        status = kernel_pool.server_status()
        if status:
            self.kernels.update(status["kernels"])
        return status

    def close(self) -> None:
        self.status()
        kernel_pool.stop_server()
        for process in self.processes:
            process.wait(timeout=30)
        assert all(gone(pid) for pid in self.kernels), "kernel processes left behind"


@pytest.fixture
def pool(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GWTL_WARM_KERNELS", "1")
    monkeypatch.setenv("GWTL_WARM_MODULES", "json")  # light kernels; the default is tested below
    pool = Pool()
    yield pool
    pool.close()


@pytest.fixture
def no_spawn(monkeypatch):
    """Record instead of starting servers in the background."""
    calls = []
    monkeypatch.setattr(kernel_pool, "start_server", lambda **kw: calls.append(kw))
    return calls


PROBE = [
    "import json, os, sys, warnings, logging",
    "print(sorted(k for k in globals() if not k.startswith('_')))",
    "print(os.getcwd(), sys.path, sys.argv[0], sys.argv[1], sys.argv[3:], sys.orig_argv[-1])",
    "print(json.dumps({k: v for k, v in os.environ.items() if k != 'JPY_PARENT_PID'}, "
    "sort_keys=True))",
    # torch._dynamo, which gwtl.models.train imports, brings sympy's warning filter
    "import torch, torch._dynamo, numpy as np, pandas as pd, optuna\n"
    "print(torch.manual_seed(0) and torch.rand(3), torch.get_num_threads())\n"
    "print(np.random.default_rng(0).random(), pd.__version__, len(warnings.filters))",
    # libraries that keep sys.stderr from import time must see the notebook's stream
    "print(sorted((name, type(h.stream).__name__) for name, log in "
    "logging.Logger.manager.loggerDict.items() for h in getattr(log, 'handlers', []) "
    "if hasattr(h, 'stream')))",
    "import matplotlib.pyplot as plt\n"
    "print(plt.get_backend())\n"
    "plt.plot([1, 3, 2]); plt.title(name)",
    "x * 2",
]


def test_warm_kernel_runs_a_notebook_as_a_fresh_kernel_does(pool, tmp_path, monkeypatch):
    monkeypatch.delenv("GWTL_WARM_MODULES")  # the default warm modules: torch and friends
    monkeypatch.setenv("DVC_STAGE", "prepare")  # the value when the spare kernel starts
    write_notebook(tmp_path / "probe.ipynb", *PROBE)
    pool.start()
    spare = pool.status()["spare"]
    monkeypatch.setenv("DVC_STAGE", "finetune@310854")  # DVC sets it per stage
    warm, cold = tmp_path / "warm" / "probe.ipynb", tmp_path / "cold" / "probe.ipynb"
    assert kernel_pool.run_warm(tmp_path / "probe.ipynb", warm, {"x": 21, "name": "w"}, False)
    assert pool.status()["spare"] != spare  # the spare kernel did run it
    run_notebook(tmp_path / "probe.ipynb", cold, {"x": 21, "name": "w"}, log_output=False)

    warm_nb, cold_nb = nbformat.read(warm, 4), nbformat.read(cold, 4)
    counts = [c.get("execution_count") for c in warm_nb.cells]
    assert counts == [c.get("execution_count") for c in cold_nb.cells]
    assert counts == list(range(1, len(PROBE) + 3))  # parameters, injected ones, PROBE
    for w, c in zip(warm_nb.cells, cold_nb.cells):
        assert w.source == c.source
        assert w.get("outputs") == c.get("outputs"), w.source
    text = json.dumps([c.get("outputs") for c in warm_nb.cells])
    assert "finetune@310854" in text and "OutStream" in text and "image/png" in text
    assert warm.with_suffix(".html").exists()


def test_parameters_and_streamed_output_in_a_warm_kernel(pool, tmp_path, capsys):
    write_notebook(tmp_path / "nb.ipynb", "import os, sys\nprint('value', x * 2, name)\n"
                   "print('to stderr', file=sys.stderr)\nprint('pid', os.getpid())")
    pool.start()
    spare = pool.status()["spare"]
    out = tmp_path / "reports" / "run.ipynb"
    main([str(tmp_path / "nb.ipynb"), str(out), "-p", "x", "21", "-p", "name", "[1, 2]"])
    streamed = capsys.readouterr()
    assert "value 42 [1, 2]" in streamed.out and f"pid {spare}" in streamed.out
    assert "to stderr" in streamed.err
    assert "value 42 [1, 2]" in out.read_text()
    assert "value 42" in out.with_suffix(".html").read_text()
    assert not list(tmp_path.rglob("*.tmp*"))


def test_failure_in_a_warm_kernel_leaves_no_declared_output(pool, tmp_path):
    write_notebook(tmp_path / "nb.ipynb", "raise RuntimeError('boom')")
    pool.start()
    out = tmp_path / "reports" / "run.ipynb"
    with pytest.raises(kernel_pool.NotebookFailed, match="boom"):
        main([str(tmp_path / "nb.ipynb"), str(out), "--quiet"])
    assert not out.exists() and not out.with_suffix(".html").exists()
    assert (tmp_path / "reports" / "run.failed.ipynb").exists()
    assert pool.status() is not None  # the server carries on


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses prctl")
def test_first_run_starts_a_server_for_the_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GWTL_WARM_KERNELS", "1")
    monkeypatch.setenv("GWTL_WARM_MODULES", "json")
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: reap the detached server ourselves
    pool = Pool()
    try:
        write_notebook(tmp_path / "nb.ipynb", "import os\nprint('pid', os.getpid())")
        main([str(tmp_path / "nb.ipynb"), str(tmp_path / "a.ipynb"), "--quiet"])  # cold
        wait_until(lambda: (pool.status() or {}).get("spare"))
        status = pool.status()
        main([str(tmp_path / "nb.ipynb"), str(tmp_path / "b.ipynb"), "--quiet"])
        assert f"pid {status['spare']}" in (tmp_path / "b.ipynb").read_text()
    finally:
        status = pool.status()
        pool.close()
        if status:
            os.waitpid(status["pid"], 0)
        libc.prctl(36, 0, 0, 0, 0)


@pytest.mark.parametrize("change", ["environment", "code"])
def test_a_server_that_does_not_match_exits_and_the_caller_runs_cold(
        pool, tmp_path, monkeypatch, no_spawn, change):
    write_notebook(tmp_path / "nb.ipynb", "print('value', x)")
    process = pool.start()
    if change == "environment":
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # read by libraries at import time
    else:
        real = kernel_server.identity
        monkeypatch.setattr(kernel_server, "identity", lambda: {**real(), "code": "edited"})
    assert not kernel_pool.run_warm(tmp_path / "nb.ipynb", tmp_path / "o.ipynb", {}, False)
    assert process.wait(timeout=30) == 0
    assert no_spawn  # a matching server is started for the next run
    main([str(tmp_path / "nb.ipynb"), str(tmp_path / "o.ipynb"), "--quiet"])  # cold
    assert "value 1" in (tmp_path / "o.ipynb").read_text()


def test_no_server_or_a_stale_socket_means_a_cold_run(tmp_path, monkeypatch, no_spawn):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GWTL_WARM_KERNELS", "1")
    write_notebook(tmp_path / "nb.ipynb", "print('value', x)")
    assert not kernel_pool.run_warm(tmp_path / "nb.ipynb", tmp_path / "o.ipynb", {}, False)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(kernel_server.socket_path()))
    stale.close()  # the socket file stays, nobody listens
    assert not kernel_pool.run_warm(tmp_path / "nb.ipynb", tmp_path / "o.ipynb", {}, False)
    assert len(no_spawn) == 2
    kernel_server.socket_path().unlink()


def test_disabled_pool_is_not_touched(tmp_path, monkeypatch, no_spawn):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GWTL_WARM_KERNELS", "0")
    write_notebook(tmp_path / "nb.ipynb", "print('value', x)")
    assert not kernel_pool.enabled()
    assert not kernel_pool.run_warm(tmp_path / "nb.ipynb", tmp_path / "o.ipynb", {}, False)
    assert not no_spawn


def test_server_exits_when_idle_and_reaps_its_kernel(pool):
    process = pool.start(idle=1.0)
    kernel = pool.status()["spare"]
    assert process.wait(timeout=30) == 0
    assert gone(kernel)
    assert not kernel_server.socket_path().exists()


def test_kernel_is_killed_when_its_caller_goes_away(pool, tmp_path):
    write_notebook(tmp_path / "nb.ipynb", "import time\nprint('started', flush=True)\n"
                   "time.sleep(60)")
    pool.start()
    kernel = pool.status()["spare"]
    request = {"op": "run", "identity": kernel_server.identity(), "env": dict(os.environ),
               "source": str(tmp_path / "nb.ipynb"), "output": str(tmp_path / "o.ipynb"),
               "parameters": {}, "log_output": True}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(kernel_server.socket_path()))
        reader = sock.makefile("rb")
        sock.sendall(json.dumps(request).encode() + b"\n")
        assert json.loads(reader.readline())["accepted"]
        sock.sendall(b'{"go": true}\n')
        assert "started" in json.loads(reader.readline())["text"]
        reader.close()
    wait_until(lambda: gone(kernel), timeout=30)
    wait_until(lambda: pool.status() is not None, timeout=30)  # serving again
    assert not (tmp_path / "o.ipynb").exists()


def test_cli_status_without_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = subprocess.run([sys.executable, "-m", "gwtl.pipeline.kernel_pool", "status"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "null"


FRESH = [
    "import os, sys, random, signal\n"
    "print(sorted(k for k in globals() if not k.startswith('_')))\n"
    "print([str(signal.getsignal(s)) for s in signal.valid_signals() if s < 32])\n"
    "print(sorted(m for m in sys.modules if m == 'gwtl' or m.startswith('gwtl.')))\n"
    "print(os.getcwd(), os.environ.get('DVC_STAGE'), oct(os.umask(0o022)))",
    "import mymod\nprint('value', mymod.VALUE)",
    "import numpy as np\nprint('random', random.random(), np.random.random())",
]


def outputs(path) -> list[str]:
    cells = nbformat.read(path, 4).cells
    return ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in cells]


def test_forked_kernels_are_fresh_and_see_code_changes(pool, tmp_path, monkeypatch):
    monkeypatch.setenv("GWTL_WARM_MODULES", "numpy")  # the global generator is reseeded
    write_notebook(tmp_path / "nb.ipynb", *FRESH)
    (tmp_path / "mymod.py").write_text("VALUE = 1\n")  # project code: imported per notebook
    pool.start()
    runs = []
    for i, stage in enumerate(["first", "second"]):
        monkeypatch.setenv("DVC_STAGE", stage)
        spare = pool.status()["spare"]
        main([str(tmp_path / "nb.ipynb"), str(tmp_path / f"w{i}.ipynb"), "--quiet"])
        assert pool.status()["spare"] != spare  # ran in the forked spare
        runs.append(outputs(tmp_path / f"w{i}.ipynb"))
        (tmp_path / "mymod.py").write_text("VALUE = 22  # changed\n")
    monkeypatch.setenv("GWTL_WARM_KERNELS", "0")
    main([str(tmp_path / "nb.ipynb"), str(tmp_path / "cold.ipynb"), "--quiet"])
    cold = outputs(tmp_path / "cold.ipynb")

    counts = [c.get("execution_count") for c in nbformat.read(tmp_path / "w1.ipynb", 4).cells]
    assert counts == list(range(1, len(FRESH) + 2))  # parameters, FRESH
    for run, stage in zip(runs, ["first", "second"]):
        assert run[1] == cold[1].replace("second", stage)  # names, no gwtl, cwd, env, umask
        assert "[]\n" in run[1] and str(tmp_path) in run[1]
    assert runs[0][2] == "value 1\n" and runs[1][2] == "value 22\n" == cold[2]
    assert len({runs[0][3], runs[1][3], cold[3]}) == 3  # random and numpy reseeded per kernel


def test_a_failing_zygote_means_a_cold_run_and_a_new_server(pool, tmp_path, no_spawn):
    write_notebook(tmp_path / "nb.ipynb", "print('value', x)")
    process = pool.start()
    status = pool.status()
    os.kill(status["zygote"], signal.SIGKILL)
    wait_until(lambda: gone(status["spare"]), timeout=30)  # its kernels follow it
    assert not kernel_pool.run_warm(tmp_path / "nb.ipynb", tmp_path / "o.ipynb", {}, False)
    assert process.wait(timeout=30) == 0
    assert no_spawn  # a new server for the next run
    main([str(tmp_path / "nb.ipynb"), str(tmp_path / "o.ipynb"), "--quiet"])  # cold
    assert "value 1" in (tmp_path / "o.ipynb").read_text()
