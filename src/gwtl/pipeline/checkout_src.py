"""Stage commands run the code of the checkout they run in.

DVC runs a stage's command in the project folder, and a queued experiment
(``dvc exp run --queue``, ``gwtl basin AREA --queue``) in a temporary copy of the
project under ``.dvc/tmp/exps/``. The environment's ``gwtl``, however, is the
checkout that ``make setup`` installed (editable), so in such a copy a command would
import the installed checkout's code, which may have changed since the experiment
was queued: DVC would record the copy's ``src/gwtl`` as the stage's deps while
running other code. :func:`run_here` re-executes the command once with the folder's
``src`` first on ``PYTHONPATH`` when the two differ; the notebook kernels that the
command starts inherit it. In the project folder itself nothing changes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gwtl

MARK = "GWTL_CHECKOUT_SRC"  # set on the re-executed command: never re-execute twice


def checkout_src(folder: Path) -> Path | None:
    """``folder/src`` when it holds a gwtl package (a checkout of this project), else None."""
    src = folder / "src"
    return src.resolve() if (src / "gwtl" / "__init__.py").is_file() else None


def imports_elsewhere(folder: Path) -> Path | None:
    """The checkout's ``src`` of ``folder`` when the gwtl imported here is another one's, else None."""
    src = checkout_src(folder)
    if src is None or Path(gwtl.__file__).resolve().parent == src / "gwtl":
        return None
    return src


def run_here(module: str) -> None:
    """Re-execute ``python -m module ARGS`` on the code of the checkout in the working folder, if needed.

    Returns when the imported gwtl is that checkout's already, when the folder is
    not a checkout, or when this process is the re-executed one.
    """
    src = imports_elsewhere(Path.cwd())
    if src is None or os.environ.get(MARK):
        return
    path = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, MARK: str(src), "PYTHONPATH": path}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)
