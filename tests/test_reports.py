"""Rendered reports in a real headless browser: figures present and decodable, no code, no traceback."""

import re

import nbformat
import pytest
from report_check import CHROMIUM, report_problems

from gwtl.pipeline.notebook import main

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")]


@pytest.fixture
def report(tmp_path):
    """A report rendered by the notebook runner: a title, text and two figures."""
    source, out = tmp_path / "nb.ipynb", tmp_path / "reports" / "demo.ipynb"
    nb = nbformat.v4.new_notebook()
    figure = ("from matplotlib.figure import Figure\nfrom gwtl.report.figures import as_image\n"
              "fig = Figure(figsize=(3, 2)); fig.add_subplot().plot([0, {k}]); as_image(fig)")
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo report\n\nText a reader reads."),
                nbformat.v4.new_code_cell(figure.format(k=1)), nbformat.v4.new_code_cell(figure.format(k=2))]
    nbformat.write(nb, source)
    main([str(source), str(out), "--quiet"])
    return out.with_suffix(".html")


def test_a_rendered_report_reads_well(report):
    assert report_problems(report, min_images=2) == []


def test_a_missing_or_broken_figure_is_found(report):
    html = report.read_text()
    assert report_problems(report, min_images=3) == [f"{report.name}: 2 figure(s), expected at least 3"]
    first = re.search(r"<img[^>]*src=\"data:image/png;base64,([A-Za-z0-9+/]{40})", html).group(1)
    report.write_text(html.replace(first, "A" * 40, 1))  # garbles the start of the first PNG
    assert report_problems(report, min_images=2) == [f"{report.name}: figure 1 does not decode (UnidentifiedImageError)"]
    report.write_text(re.sub(r"(<img[^>]*src=\")data:image/png;base64,", r"\1figures/gone.png#", html, count=1))
    assert any("points to a missing file figures/gone.png" in p for p in report_problems(report))
