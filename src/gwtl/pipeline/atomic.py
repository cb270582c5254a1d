"""Write output files and folders so that they are never half written, and fingerprint what was written.

Every stage writes through this module: :func:`atomic_file` (or
:func:`write_text`) for a single file, :func:`atomic_folder` for a folder.
:func:`sha256` is the one file digest the outputs record (the fetch manifest,
the library's members).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; when the block succeeds it replaces ``out``.

    On any error the temporary folder is removed and ``out`` stays as it was.
    A process killed outright (SIGKILL) cannot remove it: the next write of
    ``out`` removes such a leftover first.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_file(out: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``out``; when the block succeeds it replaces ``out``.

    The temporary file takes the permissions ``out`` had (or the process's
    default for a new file). On any error it is removed and ``out`` stays as
    it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if out.exists():
            shutil.copymode(out, tmp)
        else:
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(out: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``out`` atomically; return ``out``."""
    with atomic_file(out) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return Path(out)


def sha256(path: str | Path) -> str:
    """SHA-256 of a file (hex), read in blocks of 64 KiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
