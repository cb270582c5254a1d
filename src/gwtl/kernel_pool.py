"""A pool of warm Jupyter kernels that takes the start-up cost out of ``gwtl.notebook``.

Every DVC stage runs ``python -m gwtl.notebook ...`` as a process of its own. Started
cold, each run pays for importing papermill and nbconvert in the runner and for
starting a kernel that imports torch, pandas and matplotlib: 5-10 s before any work.

The first run starts a small server (``python -m gwtl.kernel_pool serve``) in the
background and runs its own notebook the usual way. The server listens on a Unix socket
keyed by the working directory and the Python interpreter, has papermill and nbconvert
imported once, and starts a *zygote*: a process that imports third-party modules only
(:data:`WARM_MODULES` and ipykernel; never project code) and then waits, without
threads, event loops or zmq contexts. Kernels are ``os.fork()``-ed from the zygote in
milliseconds and become what ``python -m ipykernel_launcher -f <file>`` would be: own
session, the kernel's working directory, environment, ``sys.argv``, ``sys.orig_argv``
and ``sys.path``, stdin on /dev/null, default signal handlers, the global generators of
random, numpy and torch reseeded from the OS, and loggers created at import writing to
the kernel's streams. The server keeps one *spare* kernel forked (``GWTL_WARM_KERNELS=2``:
two), runs the next notebook in it with the same code path as a cold run
(:func:`gwtl.notebook.run_notebook`), streams the cell output back, and shuts that
kernel down afterwards: each kernel runs one notebook only.

A warm kernel runs a notebook as a fresh one would: same interpreter, working directory,
umask, environment (``DVC_STAGE``, which DVC sets per stage, is set to the caller's value
before the notebook starts), kernel command line, empty namespace and execution count 1.
Nothing from the project (``gwtl``) is imported in advance. The caller uses a server only
if its interpreter, prefix, working directory, umask, environment, installed packages
(modification times of the site-packages folders) and the code of this module and of
``gwtl.notebook`` all match; otherwise the server exits and the caller runs cold. Any
failure of the pool, the zygote's included, falls back to a cold run.
``GWTL_WARM_KERNELS=0`` disables the pool.

The server exits after :data:`IDLE_SECONDS` without a request and reaps its kernels; a
kernel whose caller went away during a run is killed; the zygote exits with the server,
and kernels exit with the zygote (ipykernel watches its parent process).
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import json
import logging
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

#: Third-party modules the zygote imports before it forks kernels (override with a
#: comma-separated ``GWTL_WARM_MODULES``). Never project code, and only modules that
#: import silently: output at import time would go to the server's log, not to a notebook
#: (optuna is left out: its tqdm warns at import in a kernel; it costs ~0.1 s after these).
#: ``torch.optim`` imports ``torch._dynamo`` (~2 s) on its first use.
WARM_MODULES = ("numpy", "pandas", "torch", "torch._dynamo", "torch.optim",
                "matplotlib.pyplot", "yaml")
#: Environment variables that may differ between the server and its callers (DVC sets
#: ``DVC_STAGE`` per stage, shells set ``_`` to the command run); a warm kernel gets the
#: caller's values before the notebook starts.
VOLATILE_ENV = ("DVC_STAGE", "_")
#: The server exits after this many seconds without a request.
IDLE_SECONDS = 120.0
#: How long a caller waits for the server to accept a request before running cold.
HANDSHAKE_SECONDS = 3.0
#: How long a run waits for the zygote to finish its imports before the caller runs cold.
ZYGOTE_WAIT_SECONDS = 2.0

_HISTORY_ARG = "--HistoryManager.hist_file=:memory:"  # what nbclient gives a fresh kernel
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # ipykernel's default
_SOURCE_FILES = (Path(__file__), Path(__file__).with_name("notebook.py"))


class NotebookFailed(RuntimeError):
    """A notebook run in a warm kernel raised an error (the message is papermill's)."""


# --- shared by caller and server ------------------------------------------------------


def pool_size() -> int:
    """Spare kernels to keep warm: ``GWTL_WARM_KERNELS`` (default 1; 0 disables the pool)."""
    try:
        return max(0, int(os.environ.get("GWTL_WARM_KERNELS", "1")))
    except ValueError:
        return 1


def enabled() -> bool:
    """Whether runs may use the pool (POSIX only, ``GWTL_WARM_KERNELS`` not 0)."""
    return os.name == "posix" and pool_size() > 0


def identity() -> dict[str, Any]:
    """What a server and its callers must share: interpreter, folder, packages, code."""
    mask = os.umask(0)
    os.umask(mask)
    return {
        "code": _code_hash(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "cwd": os.getcwd(),
        "umask": mask,
        "packages": _packages_fingerprint(),
    }


def socket_path() -> Path | None:
    """The server's socket for this working directory and interpreter (None if unsafe).

    It lives in ``$XDG_RUNTIME_DIR/gwtl-kernels-<uid>`` (else the temp folder), a
    folder only this user may enter.
    """
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = base / f"gwtl-kernels-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    key = "\0".join((os.getcwd(), sys.executable, sys.prefix))
    return folder / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".sock")


def _code_hash() -> str:
    digest = hashlib.sha256()
    for path in _SOURCE_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _packages_fingerprint() -> list[list[Any]]:
    """Modification times of the site-packages folders (installing a package changes them)."""
    import site

    folders = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return [[f, os.stat(f).st_mtime_ns] for f in folders if os.path.isdir(f)]


def _stable_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in VOLATILE_ENV}


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def _receive(reader: BinaryIO) -> dict[str, Any]:
    line = reader.readline()
    if not line:
        raise ConnectionError("connection closed")
    return json.loads(line)


# --- caller ----------------------------------------------------------------------------


def run_warm(source: Path, output: Path, parameters: dict[str, Any],
             log_output: bool = True) -> bool:
    """Run a notebook in a warm kernel of the pool server, if one can be used.

    Parameters are those of :func:`gwtl.notebook.run_notebook`. Returns True when the
    server ran the notebook and wrote its outputs, False when the caller must run it
    itself with a fresh kernel (pool disabled or unavailable; a server is then started
    for the next run). Cell output is written to ``sys.stdout``/``sys.stderr`` as it comes.

    Raises
    ------
    NotebookFailed
        If the notebook raised an error (its outputs are then handled as in a cold run).
    """
    path = socket_path() if enabled() else None
    if path is None:
        return False
    try:
        request = json.dumps({
            "op": "run", "identity": identity(), "env": dict(os.environ),
            "source": str(source), "output": str(output), "parameters": parameters,
            "log_output": log_output,
        }).encode() + b"\n"
    except (TypeError, ValueError):  # parameters JSON cannot carry (e.g. dates)
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(HANDSHAKE_SECONDS)
            sock.connect(str(path))
        except OSError as error:
            if isinstance(error, (ConnectionRefusedError, FileNotFoundError)):
                start_server()  # no server, or the socket of one that died
            return False
        with sock.makefile("rb") as reader:
            try:
                sock.sendall(request)
                reply = _receive(reader)
                if not reply.get("accepted"):
                    if reply.get("exiting"):
                        start_server()  # one that matches this caller, for the next run
                    return False
                _send(sock, {"go": True})  # from here on the run is the server's
                sock.settimeout(None)
            except (OSError, ValueError):  # busy or broken server
                return False
            reason = _follow_run(reader)
            if reason is None:
                return True
    print(f"gwtl.notebook: warm kernel failed ({reason}); running with a fresh kernel",
          file=sys.stderr, flush=True)
    _wait_gone(reply.get("kernel_pid"), 5.0)
    return False


def _follow_run(reader: BinaryIO) -> str | None:
    """Write the run's streamed output; None when it succeeded, else why the pool failed."""
    try:
        while True:
            message = _receive(reader)
            if "stream" in message:
                stream = sys.stdout if message["stream"] == "stdout" else sys.stderr
                stream.write(message["text"])
                stream.flush()
            elif message.get("result") == "ok":
                return None
            elif message.get("result") == "failed":
                raise NotebookFailed(message["message"])
            else:
                return message.get("message", "unknown error")
    except (OSError, ValueError) as error:
        return f"lost the pool server ({error})"


def start_server(detach: bool = True, idle: float = IDLE_SECONDS) -> subprocess.Popen | None:
    """Start a pool server for the current folder in the background.

    With ``detach`` the server is a grandchild of this process (nothing to wait for) and
    None is returned; otherwise the server's :class:`subprocess.Popen`, for tests.
    A second server for the same socket waits for the first to exit, or gives up.
    """
    path = socket_path()
    if path is None:
        return None
    log = path.with_suffix(".log")
    if log.exists() and log.stat().st_size > 1_000_000:
        log.unlink()
    command = [sys.executable, "-m", "gwtl.kernel_pool", "serve", "--idle", str(idle)]
    command += ["--detach"] * detach
    with open(log, "ab") as out:
        # env: exactly os.environ (the C-level environment can hold more, e.g. LINES and
        # COLUMNS exported by readline), which is also what a fresh kernel would get
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=out, env=dict(os.environ), start_new_session=True)
    if not detach:
        return process
    process.wait(timeout=30)  # the intermediate process exits as soon as it has forked
    return None


def server_status(timeout: float = HANDSHAKE_SECONDS) -> dict[str, Any] | None:
    """The server's pid, kernel pids and identity, or None if no server answers."""
    return _ask({"op": "status"}, timeout)


def stop_server(timeout: float = 30.0) -> bool:
    """Ask the server for this folder to exit; wait until it has reaped its kernels.

    Returns True if a server was running.
    """
    if _ask({"op": "stop"}, HANDSHAKE_SECONDS) is None:
        return False
    path = socket_path()
    assert path is not None
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until the server is done
                fcntl.flock(fd, fcntl.LOCK_UN)
                return True
            except BlockingIOError:
                time.sleep(0.05)
        raise TimeoutError(f"kernel pool server for {os.getcwd()} did not stop")
    finally:
        os.close(fd)


def _ask(message: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    path = socket_path()
    if path is None:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            _send(sock, message)
            return _receive(sock.makefile("rb"))
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int | None, timeout: float) -> None:
    """Wait until process ``pid`` has exited (a kernel left behind by a crashed server)."""
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


# --- server ----------------------------------------------------------------------------


@dataclass
class _Kernel:
    """A kernel started by the server, with the environment it was started with."""

    manager: Any  # jupyter_client AsyncKernelManager that records its clients
    env: dict[str, str]
    pid: int


@functools.cache
def _manager_class() -> type:
    from jupyter_client.manager import AsyncKernelManager

    class PoolKernelManager(AsyncKernelManager):
        """An AsyncKernelManager whose kernels the zygote forks; remembers its clients.

        ``pool_fork(cmd, env, cwd) -> pid`` asks the zygote for a kernel; the provisioner
        (jupyter_client's LocalProvisioner) then manages it through :class:`_Forked`.
        """

        def client(self, **kwargs: Any):
            kc = super().client(**kwargs)
            self.pool_clients.append(kc)
            return kc

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            provisioner = self.provisioner
            cwd = str(kw.get("cwd") or os.getcwd())
            pid = self.pool_fork(kernel_cmd, kw["env"], cwd)
            provisioner.process = _Forked(pid)
            provisioner.pid = provisioner.pgid = pid  # the kernel leads its own session
            provisioner.cwd = cwd
            self._reconcile_connection_info(provisioner.connection_info)

    return PoolKernelManager


class _Forked:
    """The part of :class:`subprocess.Popen` that jupyter_client uses, for a forked kernel.

    The zygote is the kernel's parent and reaps it, so "exited" means "gone".
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0  # the exit status went to the zygote
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:  # called once poll() says exited
        while self.poll() is None:
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


# --- zygote: its own process (``python -c``), so this file is run, not imported as gwtl --


def _zygote(fd: int, modules: list[str]) -> None:
    """Import ``modules`` and ipykernel, then fork a kernel for every request on ``fd``.

    Requests are JSON lines ``{"argv", "env", "cwd"}``; the answer is ``{"pid"}``.
    Returns only in a forked child, which then becomes the kernel; the zygote exits when
    the server closes the socket.
    """
    del sys.path[0]  # "" of python -c; ipykernel_launcher also imports without the cwd
    os.environ["JPY_PARENT_PID"] = str(os.getpid())  # ipykernel reads it at import time
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = _INLINE_BACKEND  # as ipykernel sets it before any import
    for name in [*modules, "ipykernel.kernelapp"]:
        try:
            __import__(name)
        except ImportError:
            pass
    conn = socket.socket(fileno=fd)
    reader = conn.makefile("rb")
    signal.signal(signal.SIGCHLD, _reap_children)
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None
    message = {"ready": True, "threads": threads}  # OpenBLAS stops its threads at a fork
    while True:
        try:
            _send(conn, message)
            request = _receive(reader)
        except (OSError, ValueError):
            sys.exit(0)  # the server is gone
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            break
        message = {"pid": pid}
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    reader.close()
    conn.close()
    _become_kernel(request["argv"], request["env"], request["cwd"])


def _reap_children(*_: Any) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _become_kernel(argv: list[str], env: dict[str, str], cwd: str) -> None:
    """Turn a forked zygote into ``argv`` (``python -m ipykernel_launcher ...``) and run it."""
    os.setsid()
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env, JPY_PARENT_PID=str(os.getppid()))  # ipykernel watches the zygote
    if "numpy" in sys.modules:  # random reseeds itself after a fork
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].default_generator.seed()  # as torch seeds itself at import
    sys.orig_argv[:] = argv
    sys.argv[:] = argv[2:]  # run_module sets argv[0] to the module's file, as -m does
    sys.path.insert(0, cwd)  # what -m puts first; ipykernel_launcher takes it out again
    _log_to_kernel_streams()
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)


def _log_to_kernel_streams() -> None:
    """Make log handlers created at import (torch, optuna) write to the kernel's streams.

    Imported in a fresh kernel, they would hold the kernel's ``sys.stderr``; here they hold
    the zygote's, so they are moved over once ipykernel has replaced the streams.
    """
    from ipykernel.kernelapp import IPKernelApp

    original = IPKernelApp.init_io
    streams = {id(sys.stdout): "stdout", id(sys.stderr): "stderr"}
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = [(h, streams[id(h.stream)]) for logger in loggers
                for h in getattr(logger, "handlers", [])
                if isinstance(h, logging.StreamHandler) and id(h.stream) in streams]

    def init_io(self: Any) -> None:
        IPKernelApp.init_io = original  # leave no trace in the kernel
        original(self)
        for handler, name in handlers:
            handler.setStream(getattr(sys, name))

    IPKernelApp.init_io = init_io


class _ClientWatcher(threading.Thread):
    """Kills a kernel's process group if its caller goes away during a run."""

    def __init__(self, conn: socket.socket, pid: int) -> None:
        super().__init__(daemon=True)
        self.conn, self.pid = conn, pid
        self.active = True
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            while self.conn.recv(4096):  # the caller sends nothing more; b"" means gone
                pass
        except OSError:
            pass
        with self.lock:
            if self.active:
                try:
                    os.killpg(self.pid, signal.SIGKILL)  # kernels lead their own session
                except OSError:
                    pass

    def finish(self) -> None:
        with self.lock:
            self.active = False


class _SocketStream:
    """File-like object that forwards cell output (papermill ``stdout_file``) to the caller."""

    def __init__(self, conn: socket.socket, name: str) -> None:
        self.conn, self.name = conn, name

    def write(self, text: str) -> int:
        try:
            _send(self.conn, {"stream": self.name, "text": text})
        except OSError:
            pass  # caller gone: the watcher kills the kernel
        return len(text)

    def flush(self) -> None:
        pass


class _Server:
    """Serves runs, one at a time, each in a spare kernel; keeps :func:`pool_size` warm."""

    def __init__(self, path: Path, idle: float) -> None:
        from jupyter_core.utils import run_sync

        self.path, self.idle, self.run_sync = path, idle, run_sync
        self.env = dict(os.environ)
        self.identity = identity()
        modules = os.environ.get("GWTL_WARM_MODULES")
        self.modules = tuple(m for m in modules.split(",") if m) if modules else WARM_MODULES
        self.size = max(1, pool_size())
        self.spares: list[_Kernel] = []  # oldest first
        self.dying: list[tuple[_Kernel, float]] = []
        self.zygote: subprocess.Popen | None = None
        self.zygote_conn: socket.socket | None = None
        self.zygote_reader: BinaryIO | None = None
        self.ready = self.broken = False  # the zygote has imported / has failed

    def serve(self) -> None:
        lock = _acquire_lock(self.path.with_suffix(".lock"), timeout=20.0)
        if lock is None:
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.path.unlink(missing_ok=True)  # stale socket of a server that died
            listener.bind(str(self.path))
            listener.listen(8)
            self._start_zygote()
            _import_runner()

            last = time.monotonic()
            while not self.broken:
                self._reap()
                self._fill(self.env)
                remaining = self.idle - (time.monotonic() - last)
                if remaining <= 0:
                    break
                busy = self.dying or len(self.spares) < self.size
                listener.settimeout(min(remaining, 0.2) if busy else remaining)
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                keep = self._handle(conn)
                last = time.monotonic()
                if not keep:
                    break
        finally:
            listener.close()
            self.path.unlink(missing_ok=True)
            self._shutdown_all()
            self._stop_zygote()
            os.close(lock)

    def _handle(self, conn: socket.socket) -> bool:
        """Answer one connection; False when the server must exit."""
        kernel = None
        with conn:
            try:
                conn.settimeout(HANDSHAKE_SECONDS)
                reader = conn.makefile("rb")
                request = _receive(reader)
                if request.get("op") == "status":
                    spares = [k.pid for k in self.spares]
                    dying = [k.pid for k, _ in self.dying]
                    _send(conn, {"pid": os.getpid(), "spare": (spares or [None])[0],
                                 "spares": spares, "kernels": spares + dying,
                                 "zygote": self.zygote and self.zygote.pid,
                                 "identity": self.identity})
                    return True
                if request.get("op") != "run":
                    _send(conn, {"stopping": True})
                    return False
                reason = self._mismatch(request)
                if reason:
                    _send(conn, {"accepted": False, "exiting": True, "reason": reason})
                    return False
                while self.spares and not self.run_sync(self.spares[0].manager.is_alive)():
                    self._retire(self.spares.pop(0), now=True)  # died while waiting
                if not self.spares:  # forking one takes milliseconds once the zygote is ready
                    self._zygote_ready(ZYGOTE_WAIT_SECONDS)
                    self._fill(request["env"])
                if not self.spares:
                    _send(conn, {"accepted": False, "exiting": self.broken,
                                 "reason": "no warm kernel"})
                    return not self.broken
                kernel = self.spares[0]
                _send(conn, {"accepted": True, "kernel_pid": kernel.pid})
                if not _receive(reader).get("go"):
                    raise ConnectionError("caller did not confirm")
            except (OSError, ValueError) as error:
                print(f"kernel pool: dropped a request: {error}", file=sys.stderr, flush=True)
                return True  # the spare kernels stay for the next caller
            self.spares.remove(kernel)
            conn.settimeout(None)
            self._run(conn, request, kernel)
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the watcher thread
            except OSError:
                pass
        return True

    def _mismatch(self, request: dict[str, Any]) -> str | None:
        theirs = request.get("identity", {})
        for key, value in self.identity.items():
            if theirs.get(key) != value:
                return f"{key} differs"
        theirs, ours = _stable_env(request.get("env", {})), _stable_env(self.env)
        if theirs != ours:
            keys = sorted(k for k in theirs.keys() | ours.keys() if theirs.get(k) != ours.get(k))
            return f"environment differs: {', '.join(keys)}"
        return None

    def _run(self, conn: socket.socket, request: dict[str, Any], kernel: _Kernel) -> None:
        from papermill.exceptions import PapermillExecutionError

        from gwtl.notebook import run_notebook

        start = time.monotonic()
        self._fill(request["env"])  # the next kernel warms up while this notebook runs
        watcher = _ClientWatcher(conn, kernel.pid)
        watcher.start()
        try:
            changes = {k: request["env"].get(k) for k in VOLATILE_ENV
                       if request["env"].get(k) != kernel.env.get(k)}
            self.run_sync(_set_environment)(kernel.manager, changes)
            streams = [_SocketStream(conn, "stdout"), _SocketStream(conn, "stderr")]
            run_notebook(Path(request["source"]), Path(request["output"]),
                         request["parameters"], log_output=request["log_output"],
                         km=kernel.manager, stdout=streams[0], stderr=streams[1])
            result = {"result": "ok"}
        except PapermillExecutionError as error:
            result = {"result": "failed", "message": str(error)}
        except Exception as error:  # anything else is the pool's problem: caller runs cold
            result = {"result": "error", "message": f"{type(error).__name__}: {error}"}
        finally:
            watcher.finish()
            self._retire(kernel)
        try:
            _send(conn, result)
        except OSError:
            pass
        print(f"kernel pool: {request['source']} -> {request['output']}: {result['result']} "
              f"in {time.monotonic() - start:.2f} s", file=sys.stderr, flush=True)

    def _fill(self, env: dict[str, str]) -> None:
        """Start spare kernels until there are :attr:`size` of them."""
        while len(self.spares) < self.size:
            kernel = self._launch(env)
            if kernel is None:
                return
            self.spares.append(kernel)

    def _launch(self, env: dict[str, str]) -> _Kernel | None:
        """Fork a spare kernel from the zygote, if it is ready (the kernel starts meanwhile)."""
        if self.broken or not self._zygote_ready(0.0):
            return None
        try:
            manager = _manager_class()(kernel_name="python3")
            manager.pool_clients, manager.pool_fork = [], self._fork
            self.run_sync(manager.start_kernel)(cwd=os.getcwd(), env=env,
                                                extra_arguments=[_HISTORY_ARG])
            return _Kernel(manager, dict(env), manager.provisioner.pid)
        except Exception as error:  # the server exits: the next caller starts a new one
            print(f"kernel pool: could not fork a kernel: {error}", file=sys.stderr, flush=True)
            self.broken = True
            return None

    def _start_zygote(self) -> None:
        """Start the zygote (:func:`_zygote`); it imports while the server goes on."""
        ours, theirs = socket.socketpair()
        boot = ("import runpy, sys\n"
                "runpy.run_path(sys.argv[1], run_name='gwtl_zygote')['_zygote']"
                "(int(sys.argv[2]), [m for m in sys.argv[3].split(',') if m])")
        try:
            self.zygote = subprocess.Popen(
                [sys.executable, "-c", boot, __file__, str(theirs.fileno()),
                 ",".join(self.modules)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=self.env)
        except OSError as error:
            print(f"kernel pool: could not start the zygote: {error}", file=sys.stderr)
            self.broken = True
        finally:
            theirs.close()
        self.zygote_conn, self.zygote_reader = ours, ours.makefile("rb")

    def _zygote_ready(self, timeout: float) -> bool:
        """Whether the zygote has done its imports; waits up to ``timeout`` seconds."""
        if self.ready or self.broken:
            return self.ready
        try:
            if select.select([self.zygote_conn], [], [], timeout)[0]:
                message = _receive(self.zygote_reader)
                self.ready = bool(message.get("ready"))
                print(f"kernel pool: zygote {self.zygote.pid} ready, {message.get('threads')} "
                      "threads", file=sys.stderr, flush=True)
        except (OSError, ValueError) as error:
            print(f"kernel pool: the zygote failed: {error}", file=sys.stderr, flush=True)
            self.broken = True
        return self.ready

    def _fork(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        """Ask the zygote for a kernel running ``argv``; returns its pid."""
        if argv[:3] != [sys.executable, "-m", "ipykernel_launcher"]:
            raise RuntimeError(f"the zygote cannot run the kernel command {argv}")
        self.zygote_conn.settimeout(10.0)
        _send(self.zygote_conn, {"argv": argv, "env": env, "cwd": cwd})
        return int(_receive(self.zygote_reader)["pid"])

    def _stop_zygote(self) -> None:
        """Close the zygote's socket (it exits then) and reap it."""
        if self.zygote_conn is not None:
            self.zygote_reader.close()
            self.zygote_conn.close()
        if self.zygote is not None:
            try:
                self.zygote.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.zygote.kill()
                self.zygote.wait()

    def _retire(self, kernel: _Kernel, now: bool = False) -> None:
        """Close our clients and ask the kernel to exit; it is reaped by :meth:`_reap`."""
        for kc in kernel.manager.pool_clients:
            kc.stop_channels()
        kernel.manager.pool_clients.clear()
        try:
            if now:
                self.run_sync(kernel.manager.shutdown_kernel)(now=True)
                return
            self.run_sync(kernel.manager.request_shutdown)()
        except Exception as error:
            print(f"kernel pool: shutdown of kernel {kernel.pid}: {error}", file=sys.stderr)
        self.dying.append((kernel, time.monotonic() + 5.0))

    def _reap(self, wait: bool = False) -> None:
        """Clean up kernels that have exited; kill those that took too long."""
        still = []
        for kernel, deadline in self.dying:
            manager = kernel.manager
            try:
                while wait and self.run_sync(manager.is_alive)() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not self.run_sync(manager.is_alive)():
                    self.run_sync(manager.cleanup_resources)()
                elif time.monotonic() > deadline:
                    self.run_sync(manager.shutdown_kernel)(now=True)  # kills and reaps
                else:
                    still.append((kernel, deadline))
            except Exception as error:  # unexpected: make sure the process is gone
                print(f"kernel pool: reaping kernel {kernel.pid}: {error}", file=sys.stderr)
                process = getattr(manager.provisioner, "process", None)
                if process is not None:
                    process.kill()
                    process.wait()
        self.dying = still

    def _shutdown_all(self) -> None:
        while self.spares:
            self._retire(self.spares.pop(), now=True)
        self._reap(wait=True)


def _import_runner() -> None:
    """Import papermill and render a tiny notebook once, so that the first run is fast."""
    import nbformat
    import papermill  # noqa: F401

    from gwtl.notebook import render_html

    with tempfile.TemporaryDirectory() as folder:
        notebook = Path(folder) / "empty.ipynb"
        nbformat.write(nbformat.v4.new_notebook(), notebook)
        render_html(notebook, notebook.with_suffix(".html"))


async def _set_environment(manager: Any, changes: dict[str, str | None]) -> None:
    """Set (or, for None, remove) environment variables in a kernel, leaving no trace.

    Runs silently (no history, no execution count) in a throw-away namespace.
    """
    if not changes:
        return
    code = ("import os\nfor k, v in changes.items():\n"
            "    os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)\n")
    kc = manager.client()
    kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    msg_id = kc.execute(f"exec({code!r}, {{'changes': {changes!r}}})", silent=True,
                        store_history=False)
    while True:
        reply = await kc.get_shell_msg(timeout=120)  # waits for the kernel's warm-up
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    if reply["content"]["status"] != "ok":
        raise RuntimeError("could not set the environment of the warm kernel")


def _acquire_lock(path: Path, timeout: float) -> int | None:
    """An exclusive lock held for the server's life (so one server per socket)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Warm kernel pool server for gwtl.notebook")
    parser.add_argument("command", choices=["serve", "status", "stop"])
    parser.add_argument("--detach", action="store_true", help="fork and return at once")
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS,
                        help="exit after this many seconds without a request")
    args = parser.parse_args(argv)
    if args.command == "status":
        print(json.dumps(server_status(), indent=1))
        return 0
    if args.command == "stop":
        return 0 if stop_server() else 1
    path = socket_path()
    if path is None:
        return 1
    if args.detach and os.fork():
        os._exit(0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _Server(path, args.idle).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
