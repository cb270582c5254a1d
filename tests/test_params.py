"""params.yaml validation: impossible settings fail with a message naming the key."""

import copy
from pathlib import Path

import pytest
import yaml

from gwtl.params import ParamsError, load_params, validate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "params.yaml").read_text())


def changed(path: str, value):
    params = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[last] = value
    return params


def test_default_params_are_valid():
    assert validate(copy.deepcopy(DEFAULT)) == DEFAULT
    assert len(load_params(ROOT / "params.yaml")["basin"]["wells"]) == 63


@pytest.mark.parametrize(
    "path, value, words",
    [
        ("forecast.leads", [0, 1], "forecast.leads"),
        ("forecast.leads", [], "forecast.leads"),
        ("forecast.leads", [3, 1], "increasing"),
        ("forecast.mode", "clairvoyant", "forecast.mode"),
        ("forecast.target", "slope", "forecast.target"),
        ("forecast.forcings", ["temperature"], "temperature"),
        ("finetune.trainable", [], "empty"),
        ("finetune.trainable", ["encoder"], "encoder"),
        ("split.validation", ["2009-01", "2015-12"], "overlap"),
        ("split.test", ["2021-12", "2016-01"], "split.test"),
        ("split.train", ["1980-01", "2010-12"], "outside"),
        ("prepare.start", "2030-01", "prepare"),
        ("prepare.min_coverage", 1.5, "prepare.min_coverage"),
        ("pretrain.search.window", [6, 400], "too long"),
        ("pretrain.trials", 0, "pretrain.trials"),
        ("basin.wells", [], "basin.wells"),
        ("basin.wells", [310854, 310854], "twice"),
        ("split.train", ["1990-13", "2010-12"], "split.train"),
        ("ensemble.members", 0, "ensemble.members"),
        ("it_lstm.budgets", [5, 20], "it_lstm.budgets.*below it_lstm.trials"),
        ("it_lstm.budgets", [10, 5], "it_lstm.budgets"),
        ("it_lstm.budgets", 5, "it_lstm.budgets"),
        ("outlook.models", [], "outlook.models"),
        ("outlook.models", ["tl", "svr"], "outlook.models.*'arx'"),
        ("outlook.models", ["tl", "tl"], "without repeats"),
        ("outlook.intervals", [80, 100], "outlook.intervals.*between 0 and 100"),
        ("outlook.intervals", [95, 80], "increasing"),
        ("outlook.intervals", ["80%"], "outlook.intervals"),
    ],
)
def test_impossible_params_name_the_key(path, value, words):
    with pytest.raises(ParamsError, match=words):
        validate(changed(path, value))


def test_unknown_keys_are_refused():
    params = copy.deepcopy(DEFAULT)
    params["finetune"]["learning_rate"] = 0.1
    with pytest.raises(ParamsError, match="finetune.learning_rate: unknown key"):
        validate(params)
    params = copy.deepcopy(DEFAULT)
    params["model"] = {}
    with pytest.raises(ParamsError, match="model: unknown section"):
        validate(params)


def test_missing_key_is_named():
    params = copy.deepcopy(DEFAULT)
    del params["train"]["patience"]
    with pytest.raises(ParamsError, match="train.patience: missing"):
        validate(params)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")


def csv_params(**changes) -> dict:
    """The default params switched to the CSV layout: no rain stations or gauges, forcings by column name."""
    params = changed("data.format", "csv")
    params["data"]["source"] = "my_basin"
    params["basin"].update(rain_stations=[], gauges=[])
    params["forecast"]["forcings"] = ["precipitation", "temperature"]
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value
    return params


def test_default_format_is_ehyd():
    assert DEFAULT["data"]["format"] == "ehyd"


def test_csv_format_allows_empty_stations_and_any_forcing_names():
    params = csv_params()
    assert validate(copy.deepcopy(params)) == params
    assert validate(csv_params(forecast__forcings=["rain_sum", "temperature_max"]))


@pytest.mark.parametrize(
    "path, value, words",
    [
        ("basin.rain_stations", [], "basin.rain_stations: must be a non-empty list of HZB numbers"),
        ("basin.gauges", [], "basin.gauges"),
        ("data.format", "xlsx", "data.format: 'xlsx'"),
    ],
)
def test_ehyd_format_keeps_its_rules(path, value, words):
    with pytest.raises(ParamsError, match=words):
        validate(changed(path, value))


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"basin__wells": []}, "basin.wells: must be a non-empty list of well ids"),
        ({"basin__wells": ["W1"]}, "basin.wells"),
        ({"basin__gauges": [1, 1]}, "basin.gauges: lists an id twice"),
        ({"data__source": "auto"}, "data.source: 'auto': with data.format: csv"),
        ({"forecast__forcings": ["level"]}, "'level' is reserved"),
        ({"forecast__forcings": ["rain", "rain"]}, "names a column twice"),
        ({"forecast__forcings": [3]}, "forecast.forcings: must be a list of column names"),
    ],
)
def test_csv_format_refuses(changes, words):
    with pytest.raises(ParamsError, match=words):
        validate(csv_params(**changes))


def test_tl_and_it_share_one_ensemble_size_and_it_gets_the_pretraining_budget():
    assert "seeds" not in DEFAULT["finetune"] and "seeds" not in DEFAULT["it_lstm"]
    assert DEFAULT["it_lstm"]["trials"] == DEFAULT["pretrain"]["trials"]
