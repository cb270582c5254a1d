"""The reports' figures; the figures stage on a tiny synthetic project tree (3 wells; TL, IT and ARX)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gwtl.params import validate  # noqa: E402
from gwtl.report import figures  # noqa: E402
from gwtl.report import replication_figures  # noqa: E402
from gwtl.report import inputs as report_inputs  # noqa: E402
from gwtl.report import forecast_text as go  # noqa: E402
from gwtl.report import summaries as gs  # noqa: E402
from synthetic_results import COST, LEVEL, WELLS, synthetic_outlook, write_synthetic  # noqa: E402

PNGS = ["well_map", "nse_by_well", "nse_boxplots", "test_hydrographs", "observed_vs_forecast",
        "development_time", "nse_vs_cost", "it_budget", "tl_gap_vs_basin_correlation", "pretrain",
        "library_vs_tl"]


def _kwargs(paths: dict) -> dict:
    return {k: paths[k] for k in ("processed", "models", "results", "cost", "metrics", "comparison")}


def _params(paths: dict) -> dict:
    return validate(yaml.safe_load(paths["params"].read_text()))


@pytest.fixture(scope="module")
def synthetic(synthetic_tree, tmp_path_factory):
    root, paths = tmp_path_factory.mktemp("drawn"), synthetic_tree  # the figures apart from the shared tree
    written = replication_figures.make_figures(_params(paths), **_kwargs(paths), out=root / "figures", plots=root / "plots")
    return root, paths, written


def test_make_figures_writes_every_png(synthetic):
    root, _, written = synthetic
    for name in PNGS:
        path = root / "figures" / f"{name}.png"
        assert path in written
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000, f"{name}.png looks empty"
    assert not list(root.rglob("*.tmp")), "a temporary file was left behind"


def test_nse_by_well_csv_holds_test_lead1_nse(synthetic):
    root, paths, _ = synthetic
    table = pd.read_csv(root / "plots" / "nse_by_well.csv", dtype={"well": str})
    assert list(table.columns) == ["well", "tl", "it", "arx", "tl_library"]
    assert len(table) == 3
    assert table["tl"].is_monotonic_decreasing
    results = pd.read_csv(paths["results"], dtype={"well": str})
    row = table.iloc[-1]
    expected = results.query("well == @row.well and model == 'it' and lead == 1 and split == 'test'")["nse"]
    assert row["it"] == pytest.approx(expected.item(), abs=1e-4)


def test_test_hydrograph_csv_is_the_basin_mean_anomaly(synthetic):
    root, paths, _ = synthetic
    table = pd.read_csv(root / "plots" / "test_hydrograph.csv")
    assert list(table.columns) == ["month", "year", "observed", "tl", "it", "wells"]
    params = _params(paths)
    assert table["month"].iloc[0] == params["split"]["test"][0]
    assert table["month"].iloc[-1] == params["split"]["test"][1]
    assert np.all(np.diff(table["year"]) > 0)
    # recompute one month by hand from the predictions and wells.csv
    wells = pd.read_csv(paths["processed"] / "wells.csv", dtype={"hzb": str}).set_index("hzb")
    month = pd.Timestamp(table["month"].iloc[5])
    values = []
    for well in wells.index[wells["listed"]]:
        pred = pd.read_csv(paths["models"] / "finetune" / well / "predictions.csv", parse_dates=["month"])
        hit = pred[(pred["lead"] == 1) & (pred["month"] == month)]
        if hit["observed"].notna().all():
            values.append(hit["observed"].item() - wells.at[well, "train_mean"])
    assert table["observed"].iloc[5] == pytest.approx(np.mean(values), abs=1e-3)


def test_missing_input_names_file_and_stage(tmp_path):
    paths = write_synthetic(tmp_path, n_wells=3, baselines=("arx",))
    (paths["models"] / "it" / "900002" / "predictions.csv").unlink()
    paths["cost"].unlink()
    paths["comparison"].unlink()
    with pytest.raises(FileNotFoundError) as error:
        replication_figures.make_figures(_params(paths), **_kwargs(paths), out=tmp_path / "f", plots=tmp_path / "p")
    message = str(error.value)
    assert "it/900002/predictions.csv (stage it_lstm)" in message
    assert "cost.csv (stage evaluate)" in message
    assert "comparison.csv (stage evaluate)" in message
    assert not (tmp_path / "f").exists(), "nothing is drawn when an input is missing"


def _results(nse: dict) -> pd.DataFrame:
    """results.csv rows of wells 1 and 2, lead 1: ``nse[model] = (validation, test)`` for both wells."""
    return pd.DataFrame([{"well": w, "model": m, "lead": 1, "split": split, "nse": v}
                         for m, scores in nse.items() for split, v in zip(("validation", "test"), scores)
                         for w in ("1", "2")])


def test_cost_accuracy_and_the_budget_that_reaches_tl():
    results = _results({"tl": (0.80, 0.85), "it": (0.82, 0.86), "it_5": (0.79, 0.84), "it_10": (0.81, 0.70),
                        "arx": (0.7, 0.75)})
    cost = pd.concat([COST, pd.DataFrame({"well": ["1", "2"], "model": "it_10", "wall_s": 1.0, "cpu_s": 40.0,
                                          "pretrain_cpu_s": 0.0, "total_cpu_s": 40.0})])
    table = gs.cost_accuracy(results, cost)
    assert list(table.index) == ["tl", "it", "it_5", "it_10", "arx"]
    assert table.loc["it_5", ["mean NSE validation", "mean NSE test", "CPU s per well", "trials"]].tolist() == [
        0.79, 0.84, 19.0, 5]
    assert table.loc["it", "x TL"] == pytest.approx(85 / 258.5)
    # chosen on validation: it_10 (0.81 >= 0.80) although its test NSE is the worst
    assert gs.smallest_budget_reaching(table) == "it_10"
    assert gs.smallest_budget_reaching(table.assign(**{"mean NSE validation": 0.5}).rename(
        index={"tl": "x"})) is None
    fig = figures.nse_vs_cost_figure({1: table}, trials=20)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    curve = ax.lines[0]  # IT's budget curve, cheapest first
    assert curve.get_xdata().tolist() == [19.0, 40.0, 85.0]
    assert curve.get_ydata().tolist() == [0.84, 0.70, 0.86]
    points = {tuple(c.get_offsets()[0]) for c in ax.collections}
    assert (258.5, 0.85) in points and (2.0, 0.75) in points
    budget = figures.it_budget_figure(results, 20).axes[0]
    lines = {line.get_label(): line for line in budget.lines}
    assert lines["IT-LSTM, validation"].get_xdata().tolist() == [5, 10, 20]
    assert lines["IT-LSTM, test"].get_ydata().tolist() == [0.84, 0.70, 0.86]
    assert list(lines["TL-LSTM, test"].get_ydata()) == [0.85, 0.85]


def test_report_notebook_is_clean_and_parameterized():
    nb = nbformat.read("notebooks/report.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("params_path", "processed", "models", "results", "cost", "metrics", "comparison", "figures",
                 "plots", "strategies", "strategy_results"):
        assert f"{name} = " in code[0].source
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_cost_of_synthetic_tree_skips_basin_totals(synthetic):
    _, paths, _ = synthetic
    table = pd.read_csv(paths["cost"], dtype={"well": str})
    cost = gs.development_cost(table)
    assert sorted(cost.index) == ["900001", "900002", "900003"]
    assert gs.pretrain_seconds(table, {}) == 2700.0
    inputs = report_inputs.load_inputs(_params(paths), **_kwargs(paths))
    assert set(inputs.comparison["a"] + "_vs_" + inputs.comparison["b"]) == {
        "tl_vs_it", "tl_vs_arx", "tl_library_vs_it", "tl_library_vs_tl"}
    assert inputs.metrics["cost.library_pretrain_cpu_s"] == 1800.0


def test_styled_tables_show_scores_counts_and_p_values_readably():
    table = pd.DataFrame({"wells": [63], "mean TL−IT": [6.514e-4], "Wilcoxon p": [1.663e-4]})
    html = figures.styled(table).to_html()
    assert "0.001" in html and ">63<" in html and "0.00017" in html and "e-0" not in html


def test_strategies_figure_marks_the_default_and_draws_one_panel_per_lead():
    from gwtl.report.figures import strategies_figure

    rows = []
    for name, source, ft, default in (("basin/head", "basin", "head", False), ("basin/gradual", "basin", "gradual", True),
                                      ("it", "", "", False)):
        row = {"strategy": name, "source": source, "finetune": ft, "default": default, "cpu_s_per_well": 1.0 + len(rows)}
        row.update({f"nse_mean_validation_lead{h}": 0.9 - 0.05 * h + 0.01 * len(rows) for h in (1, 2, 3)})
        rows.append(row)
    fig = strategies_figure(pd.DataFrame(rows), split="validation")
    axes = fig.get_axes()
    assert len(axes) == 3
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "basin/gradual (default)" in labels and "basin/head" in labels and "IT-LSTM" in labels
    assert axes[0].get_ylabel() == "mean NSE over wells, validation period"


# ---------------------------------------------------------------- the outlook of the forecast stage


def test_forecast_map_colours_listed_wells_by_change_centred_on_zero():
    change = go.forecast_change(synthetic_outlook(), lead=1)
    fig = figures.forecast_map_figure(WELLS, change, lead=1, basin="Test basin", issued="Dec 2021")
    ax = fig.axes[0]
    coloured = [c for c in ax.collections if c.get_array() is not None]
    assert len(coloured) == 1
    points = coloured[0]
    assert np.asarray(points.get_array()).tolist() == pytest.approx([-0.30, 0.10, -0.05])  # wells 1, 2, 3
    assert points.norm.vmin == pytest.approx(-points.norm.vmax) and points.norm.vmax == pytest.approx(0.30)
    red, _, blue, _ = points.cmap(points.norm(-0.30))
    assert red > blue, "a fall is drawn red"
    red, _, blue, _ = points.cmap(points.norm(0.10))
    assert blue > red, "a rise is drawn blue"
    colourbar = fig.axes[1]
    assert colourbar.get_ylabel() == "TL-LSTM forecast change of level, m (lead 1 month, issued Dec 2021)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["not modelled (1)", "forecast (3)", "no forecast issued Dec 2021 (1)"]
    assert [t.get_text() for t in ax.texts if t.get_text() != "5 km"] == ["1", "3"]  # the falls, largest first
    assert ax.get_aspect() == pytest.approx(1 / np.cos(np.deg2rad(WELLS["lat"].mean())))


def test_fan_chart_has_bands_medians_issue_line_and_month_names():
    months = pd.date_range("2018-01-01", "2021-12-01", freq="MS")
    observed = pd.Series(285.3 + 0.1 * np.sin(np.arange(len(months))), index=months)
    observed.iloc[-1] = LEVEL["1"]
    fig = figures.fan_chart_figure(observed, go.outlook_rows(synthetic_outlook()), well="1", months=24, name="A")
    ax = fig.axes[0]
    fig.draw_without_rendering()
    bands = {c.get_label(): c for c in ax.collections if c.get_label().endswith("interval")}
    assert set(bands) == {"80 % interval", "95 % interval"}
    assert bands["80 % interval"].get_alpha() > bands["95 % interval"].get_alpha(), "the 80 % band is darker"
    top = bands["95 % interval"].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(285.3 - 0.5 + 0.6)  # upper95 at lead 3
    lines = {line.get_label(): line for line in ax.lines}
    assert len(lines["observed"].get_xdata()) == 24
    median = lines["TL-LSTM median"]
    assert median.get_ydata()[0] == LEVEL["1"], "the median starts at the last observed level"
    assert list(median.get_ydata()[1:]) == pytest.approx([285.0, 284.9, 284.8])
    others = {c.get_label() for c in ax.collections} - set(bands)
    assert {"IT-LSTM median", "ARX (ridge) median"} <= others
    issue = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(issue) == 1
    assert pd.Timestamp(issue[0].get_xdata()[0]) == pd.Timestamp("2021-12-01")
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "Jan 2021" in ticks and "Jan 2022" in ticks
    assert ax.get_ylabel() == "groundwater level (m a.s.l.)"
    assert "Well 1 (A)" in ax.get_title() and "Dec 2021" in ax.get_title()
    # levels within a few cm are still written out in full, not as an offset (+1.285e3)
    flat = synthetic_outlook().query("well == 1").copy()
    columns = ["level_at_issue", "median", "lower80", "upper80", "lower95", "upper95"]
    flat[columns] = 1285.3 + (flat[columns] - 285.3) / 100
    axis = figures.fan_chart_figure(pd.Series(1285.3, index=months), go.outlook_rows(flat), well=1).axes[0]
    axis.figure.draw_without_rendering()
    assert axis.yaxis.get_major_formatter().get_offset() == ""
    assert all(t.get_text().startswith("1285.") for t in axis.get_yticklabels() if t.get_text())
    # a well whose data end early: its own issue month, nothing observed after it drawn
    stale = figures.fan_chart_figure(observed, go.outlook_rows(synthetic_outlook()), well=4, months=12)
    obs = {line.get_label(): line for line in stale.axes[0].lines}["observed"]
    assert pd.Timestamp(obs.get_xdata()[-1]) == pd.Timestamp("2020-12-01")


def test_coverage_figure_draws_each_level_and_lead_against_its_nominal_level():
    rng = np.random.default_rng(1)
    scores = pd.DataFrame([{"well": str(w), "model": m, "lead": h, "coverage80": rng.uniform(0.6, 1.0),
                            "coverage95": rng.uniform(0.85, 1.0)}
                           for w in range(8) for m in ("tl", "it", "arx") for h in (1, 2)])
    fig = figures.coverage_figure(scores, levels=(80, 95))
    axes = fig.axes
    assert len(axes) == 4  # 2 levels x 2 leads
    for ax, level in zip(axes, (80, 80, 95, 95)):
        nominal = [line for line in ax.lines if line.get_label() == "nominal level"]
        assert nominal[0].get_ydata()[0] == level / 100
        assert f"{level} % interval" in ax.get_title()
    assert axes[0].get_ylabel() == "share of test months inside the interval"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["TL-LSTM", "IT-LSTM", "ARX (ridge)"]
    dots = axes[2].collections[0]  # 95 %, lead 1, TL: one dot per well
    tl = scores.query("model == 'tl' and lead == 1")["coverage95"]
    assert sorted(dots.get_offsets()[:, 1]) == pytest.approx(sorted(tl))
    assert np.abs(dots.get_offsets()[:, 0] - 1).max() < 0.25, "the dots lie on the TL box"




# ---------------------------------------------------------------- the data report


def _prepared():
    months = pd.date_range("2000-01-01", periods=36, freq="MS")
    levels = pd.DataFrame({"1": np.linspace(300, 301, 36), "2": np.linspace(200, 199, 36)}, index=months)
    basin = pd.DataFrame({"basin": np.sin(np.arange(36)), "n_wells": 2}, index=months)
    wells = pd.DataFrame({"hzb": [1, 2, 3], "lon": [15.5, 15.6, 15.7], "lat": [46.8, 46.7, 46.9],
                          "listed": [True, True, False], "train_mean": [300.5, 199.5, np.nan],
                          "corr_basin": [0.8, 0.4, np.nan]})
    split = {"train": (months[0], months[23]), "test": (months[24], months[-1])}
    return levels, basin, wells, split


def test_data_report_figures():
    levels, basin, wells, split = _prepared()
    stations = pd.DataFrame({"hzb": [9], "name": ["R"], "lon": [15.55], "lat": [46.85]})
    ax = figures.station_map_figure(wells, stations, stations.iloc[:0], basin="B").axes[0]
    assert ax.get_title() == "B: wells, rain stations and gauges"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "well, listed (2)", "well, left out (1)", "rain station"]
    top, bottom, twin = figures.prepared_levels_figure(levels, basin, wells, split).axes
    assert top.get_title() == "2 listed wells" and len(top.lines) == 2
    assert [t.get_text() for t in top.texts] == ["train", "test"] and not bottom.texts
    forcings = pd.DataFrame({"precipitation": 60.0, "discharge": np.arange(36.0)}, index=levels.index)
    bars, line = figures.forcings_figure(forcings, {"precipitation": "rain", "discharge": "Mur"}, ["precipitation"],
                                         split).axes
    assert bars.get_title() == "precipitation: rain; 720 per year on average" and len(bars.patches) >= 36
    assert line.get_title() == "discharge: Mur" and len(line.lines) == 1
    ax = figures.basin_correlation_figure(wells).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "1"]
    assert ax.get_legend().get_texts()[0].get_text() == "median 0.60"


def test_captioned_shows_a_written_figure_and_its_caption(tmp_path):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1])
    path = replication_figures._save(fig, tmp_path / "f.png")
    image, caption = figures.captioned(path, "A caption.")
    assert image.data[:4] == b"\x89PNG" and caption.data == "*A caption.*"


def test_strategy_view_shows_one_split_with_the_default_marked():
    table = pd.DataFrame({"strategy": ["basin/head", "it"], "source": ["basin", ""], "finetune": ["head", ""],
                          "default": [True, False], "nse_mean_validation_lead1": [0.8, 0.85],
                          "wins_validation_lead1": pd.array([2, pd.NA], dtype="Int64"),
                          "nse_mean_test_lead1": [0.7, 0.75], "cpu_s_per_well": [2.0, 40.0], "it_over_tl": [20.0, 1.0]})
    view = figures.strategy_view(table, "validation")
    assert list(view.columns) == ["default", "NSE mean lead 1", "wins vs IT lead 1", "CPU s per well", "IT CPU / this"]
    assert view["default"].tolist() == ["yes", ""] and list(view.index) == ["basin/head", "it"]
    assert str(view["wins vs IT lead 1"].dtype) == "Int64"


def test_hydrograph_panels_share_one_time_axis_and_label_it_once_per_column():
    months = pd.date_range("2016-01", periods=24, freq="MS")
    wells = [f"w{i}" for i in range(5)]
    rows = [{"well": w, "lead": 1, "month": m, "model": model, "observed": 1.0 + i, "forecast": 1.1 + i}
            for i, w in enumerate(wells) for m in months[i:] for model in ("tl", "it")]
    nse = pd.DataFrame({"tl": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], "it": 0.5}, index=[*wells, "no_forecasts"])
    fig = figures.hydrograph_figure(pd.DataFrame(rows), nse, lead=1, ncols=3)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 6  # a well without forecasts keeps its (empty) panel
    assert len({ax.get_xlim() for ax in shown}) == 1  # well w4 starts 4 months later, same axis
    labelled = [ax.get_title().split()[0] for ax in shown if ax.xaxis.get_tick_params()["labelbottom"]]
    assert labelled == ["w3", "w4", "no_forecasts"]  # the last panel of each of the 3 columns
