"""Stage commands run the code of the checkout they run in (gwtl.pipeline.checkout_src), as in a queued DVC experiment."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gwtl.pipeline import checkout_src

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def test_the_project_folder_runs_its_own_code(tmp_path):
    assert checkout_src.imports_elsewhere(SRC.parent) is None  # the installed gwtl is this checkout's
    assert checkout_src.imports_elsewhere(tmp_path) is None  # not a checkout: nothing to do


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the project's code whose gwtl, when imported, leaves a file saying so."""
    shutil.copytree(SRC / "gwtl", tmp_path / "src" / "gwtl", ignore=shutil.ignore_patterns("__pycache__"))
    init = tmp_path / "src" / "gwtl" / "__init__.py"
    init.write_text(init.read_text() + "\nimport pathlib as _p\n_p.Path('imported-the-copy').touch()\n")
    return tmp_path


def env_without_pythonpath() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", checkout_src.MARK)}


def test_a_copy_is_seen_as_another_checkout(copy):
    assert checkout_src.imports_elsewhere(copy) == (copy / "src").resolve()


def test_the_command_line_reruns_on_the_copys_code(copy):
    done = subprocess.run([sys.executable, "-m", "gwtl", "check-params", "absent.yaml"], cwd=copy,
                          env=env_without_pythonpath(), capture_output=True, text=True)
    assert done.returncode == 1 and "absent.yaml" in done.stderr
    assert (copy / "imported-the-copy").exists()


def test_a_stage_notebook_and_its_kernel_run_the_copys_code(copy):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import gwtl\nprint('kernel gwtl from', gwtl.__file__)")]
    nbformat.write(nb, copy / "probe.ipynb")
    done = subprocess.run([sys.executable, "-m", "gwtl.pipeline.notebook", "probe.ipynb", "out.ipynb"], cwd=copy,
                          env=env_without_pythonpath(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = "".join(out.get("text", "") for cell in nbformat.read(copy / "out.ipynb", 4).cells
                      for out in cell.get("outputs", []))
    assert f"kernel gwtl from {(copy / 'src' / 'gwtl' / '__init__.py').resolve()}" in printed
