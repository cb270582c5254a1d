"""Loading what the replication report reads (gwtl.report.inputs)."""

import pandas as pd
import pytest

from gwtl.report import inputs as report_inputs


def test_flatten_metrics():
    assert report_inputs.flatten({"test": {"lead1": {"nse_median": {"tl": 0.9}}}, "n": 3}) == {
        "test.lead1.nse_median.tl": 0.9, "n": 3}


def test_listed_names_a_well_of_basin_wells_that_wells_csv_does_not_list():
    wells = pd.DataFrame({"hzb": ["1", "2", "3"], "listed": [True, True, False]})
    inputs = report_inputs.Inputs(params={"basin": {"wells": [2, 1]}}, wells=wells, results=None, cost=None,
                                  comparison=None, metrics={}, predictions=None, basin=None, history=None, config={})
    assert inputs.listed == ["2", "1"]
    inputs.params = {"basin": {"wells": [1, 3]}}
    with pytest.raises(ValueError, match=r"well 3 is not in the prepared data \(the wells listed in wells.csv\)"):
        inputs.listed


def test_require_columns_names_the_missing_ones():
    with pytest.raises(ValueError, match=r"x.csv: columns \['b'\] are missing"):
        report_inputs.require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "x.csv")


def test_load_library_choices(tmp_path):
    assert report_inputs.load_library_choices(tmp_path) is None
    (tmp_path / "tl_library").mkdir()
    (tmp_path / "tl_library" / "choices.csv").write_text("well,member,correlation\n007,basin,0.9\n")
    assert report_inputs.load_library_choices(tmp_path)["well"].tolist() == ["007"]
