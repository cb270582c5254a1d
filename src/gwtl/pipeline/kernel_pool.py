"""Warm Jupyter kernels that take the start-up cost out of ``gwtl.pipeline.notebook``.

Every DVC stage runs ``python -m gwtl.pipeline.notebook ...`` as a process of its own; started cold,
each run pays 5-10 s for importing papermill and nbconvert and for a kernel that imports
torch, pandas and matplotlib. This module is the caller's side (:func:`run_warm`) and the
command line ``python -m gwtl.pipeline.kernel_pool serve|status|stop``. The first run finds no
server, starts one in the background (:mod:`gwtl.pipeline.kernel_server`) and runs cold; later runs
go to a kernel that the server forked from a zygote with third-party modules imported
(:mod:`gwtl.pipeline.kernel_zygote`), through the same code path as a cold run
(:func:`gwtl.pipeline.notebook_run.run_notebook`), with the cell output streamed back.

A warm kernel runs a notebook as a fresh one would: same interpreter, working directory,
umask, environment (``DVC_STAGE``, which DVC sets per stage, is set to the caller's value
before the notebook starts), kernel command line, empty namespace and execution count 1;
nothing from the project (``gwtl``) is imported in advance, and each kernel runs one
notebook only. A caller uses a server only if their :func:`gwtl.pipeline.kernel_server.identity`
(interpreter, folder, umask, installed packages, the pool's code) and environment match;
otherwise the server exits and the caller runs cold. Any failure of the pool falls back to
a cold run. ``GWTL_WARM_KERNELS=0`` disables the pool.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from gwtl.pipeline import kernel_server
from gwtl.pipeline.kernel_server import HANDSHAKE_SECONDS, IDLE_SECONDS
from gwtl.pipeline.kernel_zygote import receive, send


class NotebookFailed(RuntimeError):
    """A notebook run in a warm kernel raised an error (the message is papermill's)."""


def enabled() -> bool:
    """Whether runs may use the pool: POSIX, and ``GWTL_WARM_KERNELS`` (default 1) not 0 or less."""
    try:
        wanted = int(os.environ.get("GWTL_WARM_KERNELS", "1")) > 0
    except ValueError:
        wanted = True
    return os.name == "posix" and wanted


def run_warm(source: Path, output: Path, parameters: dict[str, Any],
             log_output: bool = True) -> bool:
    """Run a notebook in a warm kernel of the pool server, if one can be used.

    Parameters are those of :func:`gwtl.pipeline.notebook_run.run_notebook`. Returns True when the
    server ran the notebook and wrote its outputs, False when the caller must run it
    itself with a fresh kernel (pool disabled or unavailable; a server is then started
    for the next run). Cell output is written to ``sys.stdout``/``sys.stderr`` as it comes.

    Raises
    ------
    NotebookFailed
        If the notebook raised an error (its outputs are then handled as in a cold run).
    """
    path = kernel_server.socket_path() if enabled() else None
    if path is None:
        return False
    try:
        request = json.dumps({
            "op": "run", "identity": kernel_server.identity(), "env": dict(os.environ),
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
                reply = receive(reader)
                if not reply.get("accepted"):
                    if reply.get("exiting"):
                        start_server()  # one that matches this caller, for the next run
                    return False
                send(sock, {"go": True})  # from here on the run is the server's
                sock.settimeout(None)
            except (OSError, ValueError):  # busy or broken server
                return False
            reason = _follow_run(reader)
            if reason is None:
                return True
    print(f"gwtl.pipeline.notebook: warm kernel failed ({reason}); running with a fresh kernel",
          file=sys.stderr, flush=True)
    _wait_gone(reply.get("kernel_pid"), 5.0)
    return False


def _follow_run(reader: BinaryIO) -> str | None:
    """Write the run's streamed output; None when it succeeded, else why the pool failed."""
    try:
        while True:
            message = receive(reader)
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
    path = kernel_server.socket_path()
    if path is None:
        return None
    log = path.with_suffix(".log")
    if log.exists() and log.stat().st_size > 1_000_000:
        log.unlink()
    command = [sys.executable, "-m", "gwtl.pipeline.kernel_pool", "serve", "--idle", str(idle)]
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


def server_status() -> dict[str, Any] | None:
    """The server's pid, kernel pids and identity, or None if no server answers."""
    return _ask({"op": "status"})


def stop_server() -> bool:
    """Ask the server for this folder to exit; wait until it has reaped its kernels.

    Returns True if a server was running.
    """
    if _ask({"op": "stop"}) is None:
        return False
    path = kernel_server.socket_path()
    assert path is not None
    # the server holds the lock until it has reaped its kernels
    lock = kernel_server.acquire_lock(path.with_suffix(".lock"), timeout=30.0)
    if lock is None:
        raise TimeoutError(f"kernel pool server for {os.getcwd()} did not stop")
    os.close(lock)
    return True


def _ask(message: dict[str, Any]) -> dict[str, Any] | None:
    path = kernel_server.socket_path()
    if path is None:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(HANDSHAKE_SECONDS)
            sock.connect(str(path))
            send(sock, message)
            return receive(sock.makefile("rb"))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Warm kernel pool server for gwtl.pipeline.notebook")
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
    path = kernel_server.socket_path()
    if path is None:
        return 1
    if args.detach and os.fork():
        os._exit(0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    kernel_server.serve(path, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
