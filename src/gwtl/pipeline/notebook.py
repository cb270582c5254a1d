"""Run a parameterized notebook with papermill and render it to HTML, in one process.

Usage (as a DVC stage command; ``-p NAME VALUE`` sets a variable of the notebook's cell
tagged ``parameters``)::

    python -m gwtl.pipeline.notebook notebooks/finetune.ipynb reports/finetune.ipynb -p out models/finetune

writes the executed notebook and ``reports/finetune.html`` beside it: the HTML is a
report for a reader (text, tables and figures) without the code, which the executed
notebook keeps. Cell output (stdout, stderr) is streamed to the terminal so that
``dvc repro`` shows progress. Each run starts a fresh Jupyter kernel. The executed
notebook is written to ``<output stem>.tmp.ipynb`` and both files are moved into place
only when the run succeeded; a failed run is kept as ``<output stem>.failed.ipynb``, a
name no stage declares. In a copy of the project (a queued DVC experiment) the command
runs that copy's code (:mod:`gwtl.pipeline.checkout_src`).

Refused before anything runs: a ``-p NAME`` that the notebook's cell tagged
``parameters`` does not assign (papermill would only warn, and the notebook would run
with its default), an output that is the source notebook itself, and an output that
is not an ``.ipynb`` file. When a stage's notebook fails under ``dvc repro``, the
error says that DVC removed the stage's previous outputs and how to get them back.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path
from typing import Any

from gwtl.pipeline import checkout_src
from gwtl.pipeline.atomic import write_text


def _value(text: str):
    """Parse a ``-p`` value as YAML (numbers, lists) and fall back to the string."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def notebook_parameters(source: Path) -> list[str] | None:
    """Names assigned in the cell of ``source`` tagged ``parameters`` (None if it has no such cell)."""
    cells = json.loads(source.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            names: list[str] = []
            for node in ast.walk(ast.parse(text)):
                targets = (node.targets if isinstance(node, ast.Assign)
                           else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name) and name.id not in names:
                            names.append(name.id)
            return names
    return None


def refusal(source: Path, output: Path, names: list[str]) -> str | None:
    """Why ``python -m gwtl.pipeline.notebook source output -p NAME ...`` must not run, or None."""
    if output.suffix != ".ipynb":
        return (f"output {output} is not an .ipynb file: the executed notebook is written there and its HTML "
                f"beside it ({output.with_suffix('.html')}); name the output like reports/<name>.ipynb")
    if output.resolve() == source.resolve() or (output.exists() and output.samefile(source)):
        return (f"output {output} is the source notebook {source}: running would overwrite it; "
                "write the executed notebook under reports/")
    if not names:
        return None
    try:
        known = notebook_parameters(source)
    except (ValueError, SyntaxError, KeyError) as err:
        return f"notebook {source}: cannot read its cell tagged parameters to check -p {names[0]} ({err})"
    unknown = [name for name in names if name not in (known or [])]
    if unknown:
        if known is None:
            return f"-p {unknown[0]}: notebook {source} has no cell tagged parameters, so it takes none"
        return (f"-p {unknown[0]}: notebook {source} has no parameter {unknown[0]!r}; its parameters "
                f"(the cell tagged parameters) are {', '.join(known)}")
    return None


def render_html(notebook: Path, html: Path) -> None:
    """Export an executed notebook to standalone HTML without its code or prompts."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    write_text(html, body)


def run_notebook(source: Path, output: Path, parameters: dict[str, Any], log_output: bool = True) -> None:
    """Execute ``source`` in a fresh kernel into ``output`` and write ``output`` with suffix ``.html``.

    Both are moved into place only when the run and the rendering succeeded; otherwise
    the executed notebook is kept as ``<output stem>.failed.ipynb``. ``log_output``
    streams cell stdout/stderr to ``sys.stdout``/``sys.stderr`` as it comes.
    """
    # imported here, not at the top: a command that checkout_src re-executes loads papermill once, after that
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    # papermill writes the notebook as it runs, under an .ipynb name it can check
    tmp = output.with_name(output.stem + ".tmp.ipynb")
    streams = {"stdout_file": sys.stdout, "stderr_file": sys.stderr} if log_output else {}
    try:
        pm.execute_notebook(str(source), str(tmp), parameters=parameters, progress_bar=False, cwd=os.getcwd(),
                            kernel_name="python3", language="python", **streams)
        render_html(tmp, output.with_suffix(".html"))
    except BaseException:
        if tmp.exists():
            tmp.replace(output.with_name(output.stem + ".failed.ipynb"))
        raise
    tmp.replace(output)


def restore_note(stage: str) -> str:
    """The line added to the error of a stage's failed notebook under ``dvc repro``."""
    return (f"DVC removed the previous outputs of stage '{stage}' before running it; "
            f"`dvc checkout {stage}` restores them from the DVC cache.")


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
    if problem := refusal(args.source, args.output, [name for name, _ in args.p]):
        parser.error(problem)
    params = {name: _value(value) for name, value in args.p}
    try:
        run_notebook(args.source, args.output, params, log_output=not args.quiet)
    except Exception as err:
        if stage := os.environ.get("DVC_STAGE"):  # set by DVC for the command of a stage
            err.add_note(restore_note(stage))
        raise
    return 0


if __name__ == "__main__":
    checkout_src.run_here("gwtl.pipeline.notebook")
    sys.exit(main())
