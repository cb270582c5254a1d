"""The zygote of the warm kernel pool: a process that imports modules once and forks kernels.

:func:`start` runs :func:`serve` in a process of its own by the path of this file (not
as ``gwtl.pipeline.kernel_zygote``), so that nothing of ``gwtl`` is imported there and, through
the fork, in the kernels; this module imports the standard library only. A forked child
becomes what ``python -m ipykernel_launcher -f <file>`` would be: own session, the
kernel's working directory, environment, ``sys.argv``, ``sys.orig_argv`` and
``sys.path``, stdin on /dev/null, default signal handlers, the global generators of
random, numpy and torch reseeded from the OS, and loggers created at import writing to
the kernel's streams.

The pool's processes talk in JSON lines (:func:`send`, :func:`receive`): the server to
its callers and to the zygote.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import signal
import socket
import subprocess
import sys
from typing import Any, BinaryIO

_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # ipykernel's default


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    """Send ``message`` as one JSON line."""
    sock.sendall(json.dumps(message).encode() + b"\n")


def receive(reader: BinaryIO) -> dict[str, Any]:
    """The next JSON line from ``reader``; ConnectionError when the other side has closed."""
    line = reader.readline()
    if not line:
        raise ConnectionError("connection closed")
    return json.loads(line)


def start(modules: tuple[str, ...], env: dict[str, str]) -> tuple[subprocess.Popen, socket.socket]:
    """Start a zygote that imports ``modules``; return it and the socket to ask it for kernels.

    It answers ``{"ready": true, "threads": n}`` once its imports are done.
    """
    ours, theirs = socket.socketpair()
    boot = ("import runpy, sys\n"
            "runpy.run_path(sys.argv[1], run_name='gwtl_zygote')['serve']"
            "(int(sys.argv[2]), [m for m in sys.argv[3].split(',') if m])")
    try:
        process = subprocess.Popen([sys.executable, "-c", boot, __file__, str(theirs.fileno()),
                                    ",".join(modules)],
                                   pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, ours


def serve(fd: int, modules: list[str]) -> None:
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
            send(conn, message)
            request = receive(reader)
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
