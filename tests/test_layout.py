"""The package layout of src/gwtl: modules by role, and the layering between the roles.

Training and data code never reach for the reports: nothing under ``models/``,
``transfer/`` or ``data/`` imports ``report/`` (plotting and report prose live
there and nowhere else), so a change to a report cannot change a model.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gwtl"
ROLES = {"sources", "data", "models", "transfer", "forecast", "evaluation", "report", "pipeline"}
LOWER = ("models", "transfer", "data")


def gwtl_imports(source: str, module: str) -> set[str]:
    """Dotted names (below gwtl) of what gwtl module ``module`` (e.g. ``models.train``) imports from gwtl."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.partition(".")[2] for a in node.names if a.name.startswith("gwtl.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(module.split(".")[:-node.level] + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "gwtl":
                base = node.module.partition(".")[2]
            else:
                continue
            found |= {f"{base}.{a.name}" if base else a.name for a in node.names}
    return found


def test_every_module_lives_in_a_package_by_role():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "params.py"], f"modules outside the role packages: {top}"
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == ROLES


@pytest.mark.parametrize("role", LOWER)
def test_training_and_data_code_never_imports_the_reports(role):
    offenders = {}
    for path in sorted((PACKAGE / role).rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        offenders[str(path.relative_to(PACKAGE))] = sorted(
            name for name in gwtl_imports(path.read_text(encoding="utf-8"), module) if name.split(".")[0] == "report")
    offenders = {path: names for path, names in offenders.items() if names}
    assert not offenders, f"{role}/ must not import report/ (move the figure or text to report/): {offenders}"


def test_the_import_reader_sees_every_form():
    source = ("from gwtl.report import figures\nfrom ..report.summaries import table\nimport gwtl.report.inputs\n"
              "from .train import fit\nimport numpy\n\ndef f():\n    from gwtl import params\n")
    assert gwtl_imports(source, "models.tune") == {"report.figures", "report.summaries.table", "report.inputs",
                                                   "models.train.fit", "params"}
