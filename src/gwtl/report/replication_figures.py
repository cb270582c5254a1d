"""The replication report's figures and plot tables (``notebooks/report.ipynb``, stage ``figures``).

:func:`make_figures` reads the pipeline's outputs
(:func:`gwtl.report.inputs.load_inputs`), makes the tables of
:mod:`gwtl.report.summaries` the figures show, draws them with :mod:`gwtl.report.figures`
(:func:`draw_figures`) and writes them as PNG to ``reports/figures/`` and the
plot tables for ``dvc plots`` to ``reports/plots/`` (:func:`write_figures`):

``nse_by_well.csv``
    ``well`` and one column per model scored (``tl``, ``it``, ``arx``, ``svr``,
    ``rf``, ``persistence``; climatology left out): test NSE at the first
    lead, sorted by TL NSE.
``test_hydrograph.csv``
    ``month`` (``YYYY-MM``), ``year`` (decimal year), ``observed``, ``tl``,
    ``it``: the basin-mean departure of the level from each well's training
    mean (m) over the test period at the first lead, averaged over the
    ``wells`` (count) with an observation, a TL and an IT forecast that month.

Figures by file stem: ``well_map``, ``nse_by_well``, ``nse_boxplots``,
``test_hydrographs``, ``observed_vs_forecast``, ``development_time``,
``nse_vs_cost`` (first and largest lead), ``it_budget`` (when smaller IT
budgets were scored), ``tl_gap_vs_basin_correlation``, ``pretrain`` and
``library_vs_tl`` (when the library was run).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from gwtl.pipeline.atomic import atomic_file
from gwtl.report.figures import (cost_figure, gap_figure, hydrograph_figure, it_budget_figure, library_figure, nse_box_figure,
                      nse_dot_figure, nse_vs_cost_figure, pretrain_figure, scatter_figure, well_map_figure)
from gwtl.report.inputs import Inputs, load_inputs
from gwtl.report.model_names import budget_of
from gwtl.report.summaries import (basin_hydrograph, cost_accuracy, development_cost, forecast_anomalies, gap_correlation,
                        library_comparison, metric_by_well, pretrain_seconds)

DPI = 120


def _save(fig: Figure, path: Path) -> Path:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return path


def draw_figures(inputs: Inputs, nse: pd.DataFrame, anomalies: pd.DataFrame) -> dict[str, Figure]:
    """All report figures by file stem.

    ``nse`` is :func:`gwtl.report.summaries.metric_by_well` of the report's lead and
    ``anomalies`` :func:`gwtl.report.summaries.forecast_anomalies`, which the plot
    tables of :func:`write_figures` use too.
    """
    lead = inputs.lead
    trials = int(inputs.params["it_lstm"]["trials"])
    listed = inputs.listed
    nse = nse.reindex([w for w in listed if w in nse.index] + [w for w in nse.index if w not in listed])
    all_leads = sorted(int(h) for h in inputs.results["lead"].unique())
    cost_leads = sorted({all_leads[0], all_leads[-1]})
    return {
        "well_map": well_map_figure(inputs.wells, nse["tl"], lead=lead, basin=inputs.params["basin"]["name"]),
        "nse_by_well": nse_dot_figure(nse, lead=lead),
        "nse_boxplots": nse_box_figure(inputs.results),
        "test_hydrographs": hydrograph_figure(inputs.predictions, nse, lead=lead),
        "observed_vs_forecast": scatter_figure(anomalies, nse, lead=lead),
        "development_time": cost_figure(development_cost(inputs.cost),
                                        pretrain_seconds(inputs.cost, inputs.metrics)),
        "nse_vs_cost": nse_vs_cost_figure({h: cost_accuracy(inputs.results, inputs.cost, lead=h) for h in cost_leads},
                                          trials=trials),
        **({"it_budget": it_budget_figure(inputs.results, trials)}
           if any(budget_of(m) is not None for m in inputs.results["model"].unique()) else {}),
        "tl_gap_vs_basin_correlation": gap_figure(nse, inputs.wells, gap_correlation(nse, inputs.wells), lead=lead),
        "pretrain": pretrain_figure(inputs.history, inputs.basin, inputs.config, lead=lead),
        **({"library_vs_tl": library_figure(library_comparison(nse), lead=lead)} if "tl_library" in nse.columns
           else {}),
    }


def write_figures(inputs: Inputs, *, out="reports/figures", plots="reports/plots") -> list[Path]:
    """Draw every report figure to ``out`` (PNG) and the plot tables to ``plots`` (CSV).

    Returns the paths written, figures first.
    """
    out, plots = Path(out), Path(plots)
    nse, anomalies = metric_by_well(inputs.results, lead=inputs.lead), forecast_anomalies(inputs)
    written = []
    for name, fig in draw_figures(inputs, nse, anomalies).items():
        written.append(_save(fig, out / f"{name}.png"))
    shown = nse.drop(columns=["climatology"], errors="ignore").sort_values("tl", ascending=False)
    written.append(_write_csv(shown.reset_index(), plots / "nse_by_well.csv"))
    written.append(_write_csv(basin_hydrograph(anomalies), plots / "test_hydrograph.csv"))
    return written


def make_figures(params: dict, *, processed="data/processed", models="models",
                 results="reports/results.csv", cost="reports/cost.csv", metrics="metrics.json",
                 comparison="reports/comparison.csv", out="reports/figures", plots="reports/plots") -> list[Path]:
    """Read the pipeline's outputs and write all figures and plot tables (see :func:`write_figures`).

    Missing inputs raise FileNotFoundError naming them before anything is drawn.
    """
    inputs = load_inputs(params, processed=processed, models=models, results=results, cost=cost,
                         metrics=metrics, comparison=comparison)
    return write_figures(inputs, out=out, plots=plots)
