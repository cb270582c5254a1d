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
