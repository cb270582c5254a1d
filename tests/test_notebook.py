"""The notebook runner: parameters reach the notebook; failures leave no output behind."""

import nbformat
import pytest

from gwtl.notebook import main


@pytest.fixture(autouse=True)
def cold_kernels(monkeypatch):
    """These tests run the cold path; tests/test_kernel_pool.py covers warm kernels."""
    monkeypatch.setenv("GWTL_WARM_KERNELS", "0")


def write_notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nname = 'a'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_parameters_are_injected_and_html_written(tmp_path):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "print('value', x * 2, name)")
    main([str(source), str(out), "-p", "x", "21", "-p", "name", "[1, 2]", "--quiet"])
    text = out.read_text()
    assert "value 42 [1, 2]" in text
    assert out.with_suffix(".html").read_text().count("value 42") >= 1
    assert not list(tmp_path.rglob("*.tmp*"))


def test_failure_leaves_no_declared_output(tmp_path):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "raise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom"):
        main([str(source), str(out), "--quiet"])
    assert not out.exists() and not out.with_suffix(".html").exists()
    assert (tmp_path / "reports" / "run.failed.ipynb").exists()


def test_cell_output_is_streamed(tmp_path, capsys):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "import sys\nprint('value', x * 2)\nprint('careful', file=sys.stderr)")
    main([str(source), str(out), "-p", "x", "21"])
    streamed = capsys.readouterr()
    assert "value 42" in streamed.out and "careful" in streamed.err
