"""The server of the warm kernel pool (:mod:`gwtl.pipeline.kernel_pool`): one process per folder.

It listens on :func:`socket_path`, has papermill and nbconvert imported once, and keeps
one spare kernel forked from the zygote (:mod:`gwtl.pipeline.kernel_zygote`). A request runs one
notebook in the spare kernel with :func:`gwtl.pipeline.notebook_run.run_notebook`, streams the cell
output to the caller, and retires that kernel while the next one is forked. A caller whose
:func:`identity` or environment differs, or a failing zygote, makes the server exit. It
exits after :data:`IDLE_SECONDS` without a request and reaps its kernels; a kernel whose
caller went away during a run is killed; the zygote exits with the server, and kernels
exit with the zygote (ipykernel watches its parent process).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
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

from gwtl.pipeline import kernel_zygote
from gwtl.pipeline.kernel_zygote import receive, send
from gwtl.pipeline.notebook_run import render_html, run_notebook

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
#: The code of the pool and of what its server runs: a caller with other code uses no server.
_SOURCE_FILES = tuple(Path(__file__).with_name(name) for name in (
    "kernel_pool.py", "kernel_server.py", "kernel_zygote.py", "notebook_run.py", "atomic.py"))


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
            send(self.conn, {"stream": self.name, "text": text})
        except OSError:
            pass  # caller gone: the watcher kills the kernel
        return len(text)

    def flush(self) -> None:
        pass


class _Server:
    """Serves runs, one at a time, each in the spare kernel; forks the next one meanwhile."""

    def __init__(self, path: Path, idle: float) -> None:
        from jupyter_core.utils import run_sync

        self.path, self.idle, self.run_sync = path, idle, run_sync
        self.env = dict(os.environ)
        self.identity = identity()
        modules = os.environ.get("GWTL_WARM_MODULES")
        self.modules = tuple(m for m in modules.split(",") if m) if modules else WARM_MODULES
        self.spare: _Kernel | None = None
        self.dying: list[tuple[_Kernel, float]] = []
        self.zygote: subprocess.Popen | None = None
        self.zygote_conn: socket.socket | None = None
        self.zygote_reader: BinaryIO | None = None
        self.ready = self.broken = False  # the zygote has imported / has failed

    def serve(self) -> None:
        lock = acquire_lock(self.path.with_suffix(".lock"), timeout=20.0)
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
                busy = self.dying or self.spare is None
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
                request = receive(reader)
                if request.get("op") == "status":
                    spare = [self.spare.pid] if self.spare else []
                    send(conn, {"pid": os.getpid(), "spare": self.spare and self.spare.pid,
                                "kernels": spare + [k.pid for k, _ in self.dying],
                                "zygote": self.zygote and self.zygote.pid,
                                "identity": self.identity})
                    return True
                if request.get("op") != "run":
                    send(conn, {"stopping": True})
                    return False
                reason = self._mismatch(request)
                if reason:
                    send(conn, {"accepted": False, "exiting": True, "reason": reason})
                    return False
                if self.spare and not self.run_sync(self.spare.manager.is_alive)():
                    self._retire(self.spare, now=True)  # died while waiting
                    self.spare = None
                if self.spare is None:  # forking one takes milliseconds once the zygote is ready
                    self._zygote_ready(ZYGOTE_WAIT_SECONDS)
                    self._fill(request["env"])
                if self.spare is None:
                    send(conn, {"accepted": False, "exiting": self.broken,
                                "reason": "no warm kernel"})
                    return not self.broken
                kernel = self.spare
                send(conn, {"accepted": True, "kernel_pid": kernel.pid})
                if not receive(reader).get("go"):
                    raise ConnectionError("caller did not confirm")
            except (OSError, ValueError) as error:
                print(f"kernel pool: dropped a request: {error}", file=sys.stderr, flush=True)
                return True  # the spare kernel stays for the next caller
            self.spare = None
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
            send(conn, result)
        except OSError:
            pass
        print(f"kernel pool: {request['source']} -> {request['output']}: {result['result']} "
              f"in {time.monotonic() - start:.2f} s", file=sys.stderr, flush=True)

    def _fill(self, env: dict[str, str]) -> None:
        """Fork a spare kernel if there is none."""
        if self.spare is None:
            self.spare = self._launch(env)

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
        """Start the zygote; it imports while the server goes on."""
        try:
            self.zygote, self.zygote_conn = kernel_zygote.start(self.modules, self.env)
        except OSError as error:
            print(f"kernel pool: could not start the zygote: {error}", file=sys.stderr)
            self.broken = True
            return
        self.zygote_reader = self.zygote_conn.makefile("rb")

    def _zygote_ready(self, timeout: float) -> bool:
        """Whether the zygote has done its imports; waits up to ``timeout`` seconds."""
        if self.ready or self.broken:
            return self.ready
        try:
            if select.select([self.zygote_conn], [], [], timeout)[0]:
                message = receive(self.zygote_reader)
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
        send(self.zygote_conn, {"argv": argv, "env": env, "cwd": cwd})
        return int(receive(self.zygote_reader)["pid"])

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
        if self.spare:
            self._retire(self.spare, now=True)
            self.spare = None
        self._reap(wait=True)


def _import_runner() -> None:
    """Import papermill and render a tiny notebook once, so that the first run is fast."""
    import nbformat
    import papermill  # noqa: F401

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


def acquire_lock(path: Path, timeout: float) -> int | None:
    """Lock ``path`` exclusively within ``timeout`` seconds; the open descriptor, or None.

    A server holds it for its life (one server per socket); closing the descriptor
    releases it, so a caller that gets it knows the server is done.
    """
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


def serve(path: Path, idle: float) -> None:
    """Serve runs on the socket ``path`` until idle for ``idle`` seconds, stopped or broken."""
    _Server(path, idle).serve()
