"""A pool of warm Jupyter kernels that takes the start-up cost out of ``gwtl.notebook``.

Every DVC stage runs ``python -m gwtl.notebook ...`` as a process of its own. Started
cold, each run pays for importing papermill and nbconvert in the runner and for
starting a kernel that imports torch, pandas and matplotlib: about 5 s before any work.

The first run starts a small server (``python -m gwtl.kernel_pool serve``) in the
background and runs its own notebook the usual way. The server listens on a Unix socket
keyed by the working directory and the Python interpreter, has papermill and nbconvert
imported once, and keeps one *spare* kernel running (``GWTL_WARM_KERNELS=2``: two) in
which only third-party modules (:data:`WARM_MODULES`) have been imported. The next run
hands its notebook to the server, which executes it in a spare kernel with the same code
path as a cold run (:func:`gwtl.notebook.run_notebook`), streams the cell output back,
and shuts that kernel down afterwards: each kernel runs one notebook only. The next spare
starts as soon as a kernel is handed out, so it warms up while the current notebook runs.

A warm kernel runs a notebook as a fresh one would: same interpreter, working directory,
umask, environment (``DVC_STAGE``, which DVC sets per stage, is set to the caller's value
before the notebook starts), kernel command line, empty namespace and execution count 1.
Nothing from the project (``gwtl``) is imported in advance. The caller uses a server only
if its interpreter, prefix, working directory, umask, environment, installed packages
(modification times of the site-packages folders) and the code of this module and of
``gwtl.notebook`` all match; otherwise the server exits and the caller runs cold. Any
failure of the pool falls back to a cold run. ``GWTL_WARM_KERNELS=0`` disables the pool.

The server exits after :data:`IDLE_SECONDS` without a request and reaps its kernels; a
kernel whose caller went away during a run is killed, and kernels exit by themselves when
the server dies (ipykernel watches its parent process).
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import json
import os
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

#: Third-party modules imported in a spare kernel before it is handed out (override
#: with a comma-separated ``GWTL_WARM_MODULES``). Never project code, and only modules
#: that import silently in a fresh kernel: output at import time (e.g. optuna's tqdm
#: warning in a kernel without ipywidgets) would be lost. optuna costs ~0.05 s once these
#: are loaded.
WARM_MODULES = ("numpy", "pandas", "torch", "matplotlib.pyplot", "yaml")
#: Environment variables that may differ between the server and its callers (DVC sets
#: ``DVC_STAGE`` per stage, shells set ``_`` to the command run); a warm kernel gets the
#: caller's values before the notebook starts.
VOLATILE_ENV = ("DVC_STAGE", "_")
#: The server exits after this many seconds without a request.
IDLE_SECONDS = 120.0
#: How long a caller waits for the server to accept a request before running cold.
HANDSHAKE_SECONDS = 3.0

_HISTORY_ARG = "--HistoryManager.hist_file=:memory:"  # what nbclient gives a fresh kernel
_WARM_ARG = "--IPKernelApp.exec_lines="
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
        """An AsyncKernelManager that remembers its clients, so the pool can close them."""

        def client(self, **kwargs: Any):
            kc = super().client(**kwargs)
            self.pool_clients.append(kc)
            return kc

    return PoolKernelManager


def _warm_argument(modules: tuple[str, ...]) -> str:
    """ipykernel option that imports ``modules`` at start-up without touching the namespace.

    The code runs in a throw-away namespace and removes the option from ``sys.argv`` and
    ``sys.orig_argv``, so the notebook sees the command line of a fresh kernel.
    """
    code = (
        "import importlib, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "for argv in sys.argv, sys.orig_argv:\n"
        f"    argv[:] = [a for a in argv if not a.startswith({_WARM_ARG!r})]\n"
    )
    return f"{_WARM_ARG}exec({code!r}, {{}})"


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

    def serve(self) -> None:
        lock = _acquire_lock(self.path.with_suffix(".lock"), timeout=20.0)
        if lock is None:
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.path.unlink(missing_ok=True)  # stale socket of a server that died
            listener.bind(str(self.path))
            listener.listen(8)
            self._fill(self.env)
            _import_runner()

            last = time.monotonic()
            while True:
                self._reap()
                remaining = self.idle - (time.monotonic() - last)
                if remaining <= 0:
                    break
                listener.settimeout(min(remaining, 0.2) if self.dying else remaining)
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
                if not self.spares:
                    self._fill(request["env"])
                    _send(conn, {"accepted": False, "reason": "no warm kernel"})
                    return True
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
        """Start a spare kernel (returns at once; the kernel imports in the background)."""
        try:
            manager = _manager_class()(kernel_name="python3")
            manager.pool_clients = []
            self.run_sync(manager.start_kernel)(
                cwd=os.getcwd(), env=env,
                extra_arguments=[_HISTORY_ARG, _warm_argument(self.modules)])
            return _Kernel(manager, dict(env), manager.provisioner.pid)
        except Exception as error:
            print(f"kernel pool: could not start a kernel: {error}", file=sys.stderr, flush=True)
            return None

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
