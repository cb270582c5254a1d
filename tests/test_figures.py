"""The figures stage on a tiny synthetic project tree (3 wells; TL, IT and ARX)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from gwtl import figures  # noqa: E402
from gwtl.params import validate  # noqa: E402
from synthetic_results import write_synthetic  # noqa: E402

PNGS = ["well_map", "nse_by_well", "nse_boxplots", "test_hydrographs", "observed_vs_forecast",
        "development_time", "tl_gap_vs_basin_correlation", "pretrain"]


def _kwargs(paths: dict) -> dict:
    return {k: paths[k] for k in ("processed", "models", "results", "cost", "metrics")}


def _params(paths: dict) -> dict:
    return validate(yaml.safe_load(paths["params"].read_text()))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    paths = write_synthetic(root, n_wells=3, baselines=("arx",))
    written = figures.make_figures(_params(paths), **_kwargs(paths), out=root / "figures", plots=root / "plots")
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
    assert list(table.columns) == ["well", "tl", "it", "arx"]
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
    with pytest.raises(FileNotFoundError) as error:
        figures.make_figures(_params(paths), **_kwargs(paths), out=tmp_path / "f", plots=tmp_path / "p")
    message = str(error.value)
    assert "it/900002/predictions.csv (stage it_lstm)" in message
    assert "cost.csv (stage evaluate)" in message
    assert not (tmp_path / "f").exists(), "nothing is drawn when an input is missing"


def test_development_cost_reads_long_and_wide_tables():
    long = pd.DataFrame({"well": ["1", "1", "2", "2", "basin"], "model": ["tl", "it", "tl", "it", "pretrain"],
                         "cpu_s": [9.0, 90, 8, 80, 500], "wall_s": [5.0, 50, 4, 40, 300]})
    wide = pd.DataFrame({"well": ["1", "2"], "tl_s": [5.0, 4], "it_s": [50.0, 40]})
    for table in (long, wide):
        cost = figures.development_cost(table)
        assert list(cost.columns) == ["tl", "it"]
        assert cost.loc["2"].tolist() == [4.0, 40.0]
    assert figures.pretrain_seconds(long, {}) == 300
    assert figures.pretrain_seconds(wide, {"cost.pretrain_s": 12.0}) == 12
    with pytest.raises(ValueError, match="time column"):
        figures.development_cost(long.drop(columns=["cpu_s", "wall_s"]))


def test_paired_comparison_and_gap_correlation():
    a = pd.Series([0.9, 0.8, 0.7, 0.6], index=list("abcd"))
    b = pd.Series([0.8, 0.85, 0.5, np.nan], index=list("abcd"))
    c = figures.paired_comparison(a, b)
    assert c["n"] == 3 and c["a_better"] == 2
    assert c["median_diff"] == pytest.approx(0.1)
    assert c["ci_low"] <= c["median_diff"] <= c["ci_high"]

    corr = np.linspace(0.2, 0.95, 12)
    nse = pd.DataFrame({"tl": 0.9 - (1 - corr) * 0.5, "it": np.full(12, 0.9)}, index=[str(i) for i in range(12)])
    wells = pd.DataFrame({"hzb": nse.index, "corr_basin": corr})
    stats = figures.gap_correlation(nse, wells)
    assert stats["spearman"] == pytest.approx(1.0)
    assert stats["p_spearman"] < 0.01
    weakest = figures.weakest_wells(nse, wells, n=2)
    assert list(weakest.index) == ["0", "1"]


def test_flatten_metrics():
    assert figures.flatten({"test": {"lead1": {"nse_median": {"tl": 0.9}}}, "n": 3}) == {
        "test.lead1.nse_median.tl": 0.9, "n": 3}


def test_report_notebook_is_clean_and_parameterized():
    nb = nbformat.read("notebooks/report.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("params_path", "processed", "models", "results", "cost", "metrics", "figures", "plots"):
        assert f"{name} = " in code[0].source
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_cost_of_synthetic_tree_skips_basin_totals(synthetic):
    _, paths, _ = synthetic
    table = pd.read_csv(paths["cost"], dtype={"well": str})
    cost = figures.development_cost(table)
    assert sorted(cost.index) == ["900001", "900002", "900003"]
    assert figures.pretrain_seconds(table, {}) == 1500.0
