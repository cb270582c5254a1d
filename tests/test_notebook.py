"""The notebook runner: parameters reach the notebook; failures leave no output behind; the HTML has
no code; bad command lines (unknown -p, an output that is the source or not a notebook) are refused
before running."""

import nbformat
import pytest

from gwtl.pipeline import notebook
from gwtl.pipeline.notebook import main


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
    write_notebook(source, "print('half way')\nraise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom"):
        main([str(source), str(out), "--quiet"])
    assert not out.exists() and not out.with_suffix(".html").exists()
    assert "half way" in (tmp_path / "reports" / "run.failed.ipynb").read_text()
    assert not list(tmp_path.rglob("*.tmp*"))


def test_failed_rerun_leaves_the_previous_outputs_as_they_were(tmp_path):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    out.parent.mkdir()
    out.write_text("previous notebook")
    out.with_suffix(".html").write_text("previous report")
    write_notebook(source, "print('half way')\nraise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom"):
        main([str(source), str(out), "--quiet"])
    assert out.read_text() == "previous notebook" and out.with_suffix(".html").read_text() == "previous report"


def test_failed_rendering_leaves_no_declared_output(tmp_path, monkeypatch):
    def fail(notebook, html):
        raise RuntimeError("cannot render")
    monkeypatch.setattr(notebook, "render_html", fail)
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "print('done')")
    with pytest.raises(RuntimeError, match="cannot render"):
        main([str(source), str(out), "--quiet"])
    assert not out.exists() and not out.with_suffix(".html").exists()
    assert (tmp_path / "reports" / "run.failed.ipynb").exists()


def test_cell_output_is_streamed(tmp_path, capsys):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "import sys\nprint('value', x * 2)\nprint('careful', file=sys.stderr)")
    main([str(source), str(out), "-p", "x", "21"])
    streamed = capsys.readouterr()
    assert "value 42" in streamed.out and "careful" in streamed.err


# --------------------------------------------------------------------------- refused before running


@pytest.fixture
def nothing_runs(monkeypatch):
    """The notebook may not start: the checks come first."""
    def run(*args, **kwargs):
        raise AssertionError("the notebook was run")
    monkeypatch.setattr(notebook, "run_notebook", run)


def refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code not in (0, None)
    return capsys.readouterr().err


def test_unknown_parameter_is_refused_naming_the_notebooks_parameters(tmp_path, capsys, nothing_runs):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "print(x)")
    err = refused([str(source), str(out), "-p", "x", "2", "-p", "wel", "310862"], capsys)
    assert "-p wel" in err and f"notebook {source} has no parameter 'wel'" in err
    assert "its parameters (the cell tagged parameters) are x, name" in err
    assert not out.parent.exists()


def test_parameter_of_a_notebook_without_a_parameters_cell_is_refused(tmp_path, capsys, nothing_runs):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, source)
    err = refused([str(source), str(out), "-p", "x", "2"], capsys)
    assert "-p x" in err and "has no cell tagged parameters" in err


def test_output_that_is_the_source_notebook_is_refused(tmp_path, capsys, nothing_runs):
    source = tmp_path / "nb.ipynb"
    write_notebook(source, "print(x)")
    before = source.read_bytes()
    (tmp_path / "sub").mkdir()
    for output in (source, tmp_path / "sub" / ".." / "nb.ipynb"):
        err = refused([str(source), str(output)], capsys)
        assert f"output {output} is the source notebook {source}" in err and "overwrite" in err
    assert source.read_bytes() == before


@pytest.mark.parametrize("name", ["run.html", "run.txt", "run"])
def test_output_that_is_not_a_notebook_is_refused(tmp_path, capsys, nothing_runs, name):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / name
    write_notebook(source, "print(x)")
    out.parent.mkdir()
    out.write_text("<html>kept</html>")
    err = refused([str(source), str(out)], capsys)
    assert f"output {out} is not an .ipynb file" in err
    assert out.read_text() == "<html>kept</html>"


def test_notebook_parameters_are_the_names_assigned_in_the_tagged_cell(tmp_path):
    source = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("a = 1  # comment\nb: int = 2\nc, d = 3, 4\nimport os\n")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("e = 5"), cell]
    nbformat.write(nb, source)
    assert notebook.notebook_parameters(source) == ["a", "b", "c", "d"]


def test_failed_stage_says_how_to_restore_its_outputs(tmp_path, monkeypatch):
    """Under `dvc repro` (DVC_STAGE set), the error says that `dvc checkout <stage>` brings the outputs back."""
    monkeypatch.setenv("DVC_STAGE", "prepare")
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    write_notebook(source, "raise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom") as failed:
        main([str(source), str(out), "--quiet"])
    notes = getattr(failed.value, "__notes__", [])
    assert any("removed the previous outputs of stage 'prepare'" in n and "`dvc checkout prepare`" in n
               for n in notes), notes


def test_the_html_report_shows_text_tables_and_figures_but_no_code(tmp_path):
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "run.ipynb"
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    figure = ("from matplotlib.figure import Figure\nfrom gwtl.report.figures import as_image\n"
              "fig = Figure(figsize=(2, 2)); fig.add_subplot().plot([0, x]); as_image(fig)")
    nb.cells = [nbformat.v4.new_markdown_cell("# A title\n\nSome text."), params,
                nbformat.v4.new_code_cell("secret_variable_name = 41 + x\nprint('answer', secret_variable_name)"),
                nbformat.v4.new_code_cell(figure)]
    nbformat.write(nb, source)
    main([str(source), str(out), "--quiet"])
    html = out.with_suffix(".html").read_text()
    assert "A title" in html and "answer 42" in html and "data:image/png;base64," in html
    assert "secret_variable_name" not in html and "In&nbsp;[" not in html  # no code, no prompts
    assert "secret_variable_name" in out.read_text()  # the executed notebook keeps the code
