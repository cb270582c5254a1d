"""Execute a parameterized notebook with papermill and render it to HTML.

The one code path of a notebook run, shared by a cold run (:mod:`gwtl.pipeline.notebook` starts
a fresh kernel) and a warm one (:mod:`gwtl.pipeline.kernel_pool` passes a kernel it forked).
papermill and nbconvert are imported on first use: a caller whose notebook runs in a
warm kernel never needs them.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from gwtl.pipeline.atomic import write_text


@functools.cache
def _html_exporter():
    from nbconvert import HTMLExporter

    # A report for a reader: text, tables and figures; the code stays in the executed notebook.
    return HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)


def render_html(notebook: Path, html: Path) -> None:
    """Export an executed notebook to standalone HTML without its code (the ``.ipynb`` keeps it)."""
    import nbformat

    body, _ = _html_exporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    write_text(html, body)


def run_notebook(source: Path, output: Path, parameters: dict[str, Any], log_output: bool = True, *,
                 km: Any = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Execute ``source`` into ``output`` and write ``output`` with suffix ``.html``.

    Both are moved into place only when the run succeeded; a failed run is kept as
    ``<output stem>.failed.ipynb``, a name no stage declares.

    Parameters
    ----------
    log_output
        Stream cell stdout/stderr, as it comes, to ``stdout``/``stderr`` (default
        ``sys.stdout``/``sys.stderr``).
    km
        Kernel manager of a kernel that is already running (see :mod:`gwtl.pipeline.kernel_pool`);
        it is left running. None starts a fresh kernel and shuts it down afterwards.
    """
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    # papermill writes the notebook as it runs, under an .ipynb name it can check
    tmp = output.with_name(output.stem + ".tmp.ipynb")
    streams = {}
    if log_output:
        streams = {"stdout_file": stdout or sys.stdout, "stderr_file": stderr or sys.stderr}
    try:
        pm.execute_notebook(
            str(source),
            str(tmp),
            parameters=parameters,
            progress_bar=False,
            cwd=os.getcwd(),
            kernel_name="python3",
            language="python",
            km=km,
            **streams,
        )
    except BaseException:
        if tmp.exists():
            tmp.replace(output.with_name(output.stem + ".failed.ipynb"))
        raise
    render_html(tmp, output.with_suffix(".html"))
    tmp.replace(output)
