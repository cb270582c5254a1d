"""Source notebooks are committed clean: no outputs, a `parameters` cell, a Python kernel."""

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_stage_notebook_exists():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    commands = [s.get("cmd") or s["do"]["cmd"] for s in stages.values()]
    used = {word for cmd in commands for word in cmd.split() if word.startswith("notebooks/")}
    assert used and used <= {f"notebooks/{p.name}" for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_parameterized(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.outputs or c.execution_count for c in code), f"{path.name} carries outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], f"{path.name}: the first code cell must be tagged parameters"
    assert nb.metadata["kernelspec"]["language"] == "python"
