"""The prepared data set (gwtl.data.processed): reading it and the one check of which wells it holds."""

import pandas as pd
import pytest

from gwtl.data.processed import listed_flags, load_processed, require_wells

from synthetic import WELLS, synthetic_processed, tiny_params, write_folder


def test_requested_wells_come_back_as_strings_in_the_order_asked():
    data = synthetic_processed()
    assert data.require_wells([WELLS[2], str(WELLS[0])]) == [str(WELLS[2]), str(WELLS[0])]
    assert data.listed_wells(tiny_params()) == [str(w) for w in WELLS]


def test_missing_wells_are_named_with_where_they_were_looked_for_and_the_fix(tmp_path):
    data = load_processed(write_folder(synthetic_processed(), tmp_path / "processed"))
    with pytest.raises(ValueError, match=r"well 123456 is not in the prepared data \(.*processed/levels.csv\); "
                                         r"list them in basin.wells of params.yaml and rerun `dvc repro prepare`"):
        data.require_wells([WELLS[0], 123456])
    with pytest.raises(ValueError, match="wells 1, 2 are not in"):
        data.listed_wells(tiny_params([1, WELLS[0], 2]))
    with pytest.raises(ValueError, match="well 7 is not in"):
        data.series(7)


def test_no_wells_is_an_error_that_names_basin_wells():
    with pytest.raises(ValueError, match="basin.wells of params.yaml is empty.*dvc repro prepare"):
        synthetic_processed().listed_wells(tiny_params([]))
    with pytest.raises(ValueError, match="basin.wells of params.yaml is empty"):
        require_wells([], ["1"], "wells.csv")


def test_missing_forcings_are_named():
    data = synthetic_processed()
    assert list(data.require_forcings(["precipitation"]).columns) == ["precipitation"]
    with pytest.raises(ValueError, match=r"forcings \['snow'\] of forecast.forcings.*dvc repro prepare"):
        data.require_forcings(["precipitation", "snow"])


def test_the_listed_column_reads_as_booleans_whether_bool_or_text():
    column = pd.Series([True, False, "true", "False", "1", "0", "yes"])
    assert listed_flags(column).tolist() == [True, False, True, False, True, False, True]
