"""Run a parameterized notebook with papermill and render it to HTML, in one process.

Usage (as a DVC stage command)::

    python -m gwtl.notebook notebooks/finetune.ipynb reports/finetune/310854.ipynb -p well 310854

writes the executed notebook and ``reports/finetune/310854.html`` beside it.
Cell output (stdout, stderr) is streamed to the terminal so that ``dvc repro`` shows
progress. Both files are written to temporary names first and moved into place only
when the run succeeded.

Runs go through a warm kernel of :mod:`gwtl.kernel_pool` when one matches this
interpreter, folder and environment (saving ~5 s of start-up per run), and start a
fresh kernel otherwise; ``GWTL_WARM_KERNELS=0`` always starts a fresh one.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import TextIO

from gwtl import kernel_pool


def _value(text: str):
    """Parse a ``-p`` value as YAML (numbers, lists) and fall back to the string."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


@functools.cache
def _html_exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter()


def render_html(notebook: Path, html: Path) -> None:
    """Export an executed notebook to standalone HTML (code cells hidden by input prompt)."""
    import nbformat

    body, _ = _html_exporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(html)


def run_notebook(source: Path, output: Path, parameters: dict, log_output: bool = True, *,
                 km=None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Execute ``source`` into ``output`` and write ``output`` with suffix ``.html``.

    Parameters
    ----------
    log_output
        Stream cell stdout/stderr, as it comes, to ``stdout``/``stderr`` (default
        ``sys.stdout``/``sys.stderr``).
    km
        Kernel manager of a kernel that is already running (see :mod:`gwtl.kernel_pool`);
        it is left running. None starts a fresh kernel and shuts it down afterwards.
    """
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
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
        # Keep the failed notebook for reading, under a name no stage declares.
        if tmp.exists():
            tmp.replace(output.with_name(output.stem + ".failed.ipynb"))
        raise
    render_html(tmp, output.with_suffix(".html"))
    tmp.replace(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="notebook under notebooks/")
    parser.add_argument("output", type=Path, help="executed notebook under reports/")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="notebook parameter (value parsed as YAML)")
    parser.add_argument("--quiet", action="store_true", help="do not stream cell output")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"notebook {args.source} not found")
    params = {name: _value(value) for name, value in args.p}
    if not kernel_pool.run_warm(args.source, args.output, params, log_output=not args.quiet):
        run_notebook(args.source, args.output, params, log_output=not args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
