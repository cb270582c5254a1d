"""Every stage of dvc.yaml declares exactly the modules of src/gwtl its command imports.

A stage that runs a notebook (``python -m gwtl.pipeline.notebook notebooks/X.ipynb ...``)
depends on the gwtl modules the notebook's code cells import, closed over the
imports between modules (``from .x import``, ``from gwtl.x import``,
``from gwtl import x``, ``import gwtl.x``, at any depth of the module: a lazy
import inside a function counts). The notebook runner itself
(:mod:`gwtl.pipeline.notebook`) is the tool, not the stage's code, and is not a dep.
A stage that runs the command line (``python -m gwtl COMMAND``) depends on
:mod:`gwtl.pipeline.cli` with its module-level imports and on what the command's
handler ``_COMMAND`` of cli.py imports.
"""

from __future__ import annotations

import ast
import importlib
import json
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "gwtl"


def _module_path(name: str) -> Path:
    """The file of gwtl module ``name`` (dotted below gwtl, e.g. ``data.samples``)."""
    return PACKAGE / f"{name.replace('.', '/')}.py"


def _imported(tree: ast.AST, module: str) -> set[str]:
    """gwtl modules (dotted below gwtl) imported anywhere in ``tree``, the code of gwtl module ``module`` or a notebook's.

    Package ``__init__`` files hold docstrings only and are not counted.
    """
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name[len("gwtl."):] for alias in node.names if alias.name.startswith("gwtl.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level and module:  # from .x import y, from ..x import y, from . import x
                parts = module.split(".")[:-node.level]
                base = ".".join(parts + ([node.module] if node.module else []))
            elif node.level == 0 and node.module and (node.module == "gwtl" or node.module.startswith("gwtl.")):
                base = node.module[len("gwtl."):] if node.module != "gwtl" else ""
            else:
                continue
            for alias in node.names:  # from gwtl.data import samples: samples is a module when there is such a file
                child = f"{base}.{alias.name}" if base else alias.name
                found.add(child if _module_path(child).exists() else base)
    return {name for name in found if name and _module_path(name).exists()}


@cache
def _module_tree(name: str) -> ast.Module:
    path = _module_path(name)
    if not path.exists():
        raise AssertionError(f"gwtl.{name} is imported but {path.relative_to(ROOT)} does not exist")
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def closure(names: set[str]) -> set[str]:
    """``names`` and every gwtl module they import, transitively."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported(_module_tree(name), name) - seen)
    return seen


def code_trees(path: Path) -> Iterator[ast.Module]:
    """The parsed code cells of a notebook (IPython magics and shell lines skipped)."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            yield ast.parse(code, str(path))


def notebook_imports(path: Path) -> set[str]:
    """gwtl modules the code cells of a notebook import."""
    return set().union(*(_imported(tree, "") for tree in code_trees(path)))


def cli_imports(command: str) -> set[str]:
    """What ``python -m gwtl COMMAND`` imports: gwtl.pipeline.cli's module level and the handler of ``command``."""
    tree = _module_tree("pipeline.cli")
    handler = "_" + command.replace("-", "_")
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    if handler not in functions:
        raise AssertionError(f"python -m gwtl {command}: cli.py has no handler {handler}")
    top = ast.Module(body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))],
                     type_ignores=[])
    return {"pipeline.cli", *_imported(top, "pipeline.cli"), *_imported(functions[handler], "pipeline.cli")}


def stage_modules(cmd: str) -> set[str] | None:
    """The gwtl modules a stage's command runs (closed over imports), or None for another command."""
    words = shlex.split(cmd)
    if words[:3] == ["python", "-m", "gwtl.pipeline.notebook"]:
        return closure(notebook_imports(ROOT / words[3]))
    if words[:3] == ["python", "-m", "gwtl"]:  # cli itself is not closed over: its other commands' imports
        return {"pipeline.cli"} | closure(cli_imports(words[3]) - {"pipeline.cli"})
    return None


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_declares_exactly_the_modules_it_imports(stage):
    spec = STAGES[stage]
    modules = stage_modules(spec["cmd"])
    if modules is None:
        pytest.skip(f"stage {stage} runs neither a notebook nor the gwtl command line")
    wanted = {str(_module_path(name).relative_to(ROOT)) for name in modules}
    declared = {dep for dep in spec.get("deps", []) if str(dep).startswith("src/gwtl/")}
    missing, extra = sorted(wanted - declared), sorted(declared - wanted)
    assert not missing and not extra, (
        f"stage {stage} of dvc.yaml: deps lack {missing or 'nothing'} (imported by its command) "
        f"and list {extra or 'nothing'} that it does not import; make its src/gwtl deps exactly the imported modules")


def test_the_closure_follows_every_import_form(tmp_path):
    tree = ast.parse("from gwtl.data.samples import period\nfrom gwtl.params import load_params\nimport gwtl.evaluation.metrics\n"
                     "from gwtl.data import predictions\nfrom gwtl import __version__\n\ndef f():\n    from gwtl.models.lstm import PARTS\n")
    assert _imported(tree, "x") == {"data.samples", "params", "evaluation.metrics", "data.predictions", "models.lstm"}
    relative = ast.parse("from .samples import Samples\nfrom ..params import validate\nfrom . import processed\n")
    assert _imported(relative, "data.prepare") == {"data.samples", "params", "data.processed"}
    assert "data.processed" in closure({"data.samples"})


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_every_name_a_notebook_imports_from_gwtl_exists(notebook):
    """A notebook importing a name that moved fails here, not minutes into `dvc repro`."""
    lacking = []
    for tree in code_trees(ROOT / "notebooks" / notebook):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gwtl":
                module = importlib.import_module(node.module)
                lacking += [f"{node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and not _module_path(".".join(filter(None, [node.module.partition(".")[2], a.name]))).exists()]
    assert not lacking, f"notebooks/{notebook} imports {lacking}, which do not exist; fix its import cell"
