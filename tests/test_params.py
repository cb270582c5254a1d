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
        ("outlook.esp_conditioning", "analog", "outlook.esp_conditioning.*must be none .* or anomaly"),
        ("outlook.esp_min_autocorrelation", 1.5, "outlook.esp_min_autocorrelation.*from 0 to 1"),
        ("outlook.calibration", "cqr", "outlook.calibration.*split.*or adaptive"),
        ("outlook.aci_gamma", 1.0, "outlook.aci_gamma.*step size"),
        ("outlook.aci_gamma", -0.1, "outlook.aci_gamma"),
        ("tfn.recharge", "linear", "tfn.recharge.*gamma or exponential"),
        ("tfn.river", "fourparam", "tfn.river.*exponential, hantush or gamma"),
        ("tfn.river_input", "level", "tfn.river_input.*stage .* or discharge"),
        ("tfn.evaporation", [1.0, 2.0, 3.0], "tfn.evaporation.*3 values, not 12"),
        ("tfn.evaporation", [1.0] * 11 + [25.0], "tfn.evaporation"),
        ("tfn.evaporation", [1.0] * 11 + [-0.5], "tfn.evaporation"),
        ("tfn.accept_evp", 120, "tfn.accept_evp.*between 0 and 100"),
        ("tfn.accept_bounds", 0, "tfn.accept_bounds"),
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
        ("basin.rain_stations", [], r"basin.rain_stations: \[\] — must be a non-empty list of HZB numbers"),
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
        ({"basin__wells": []}, r"basin.wells: \[\] — must be a non-empty list of well ids"),
        ({"basin__wells": ["W1"]}, "basin.wells"),
        ({"basin__gauges": [1, 1]}, r"basin.gauges: \[1, 1\] — .*1 is listed twice"),
        ({"data__source": "auto"}, "data.source: 'auto' — with data.format: csv"),
        ({"forecast__forcings": ["level"]}, "'level' is reserved"),
        ({"forecast__forcings": ["rain", "rain"]}, "'rain' is named twice"),
        ({"forecast__forcings": [3]},
         r"forecast.forcings: \[3\] — must be a list of .*column names of forcings.csv.*3 is not text"),
    ],
)
def test_csv_format_refuses(changes, words):
    with pytest.raises(ParamsError, match=words):
        validate(csv_params(**changes))


def test_tl_and_it_share_one_ensemble_size_and_it_gets_the_pretraining_budget():
    assert "seeds" not in DEFAULT["finetune"] and "seeds" not in DEFAULT["it_lstm"]
    assert DEFAULT["it_lstm"]["trials"] == DEFAULT["pretrain"]["trials"]


# --------------------------------------------------------------------------- types and ranges


@pytest.mark.parametrize(
    "path, value, words",
    [
        # a quoted number was read as text: every well then lay outside the area
        ("basin.area", "390", r"basin.area: '390' — must be a whole number.*write the number without quotes"),
        ("basin.area", None, r"basin.area: null — must be a whole number.*null is not a whole number"),
        # years instead of months were read as nanosecond timestamps
        ("split.train", [1990, 2010], r"split.train: \[1990, 2010\] — must be \[first month, last month\], "
                                      r"each in quotes as 'YYYY-MM'.*1990 is not text"),
        ("prepare.min_coverage", "95%", r"prepare.min_coverage: '95%' — .*a number in \(0, 1\]"),
        ("data.timeout_s", -1, r"data.timeout_s: -1 — must be a number of seconds > 0"),
        ("data.retries", -1, r"data.retries: -1 — must be a whole number >= 0"),
        ("pretrain.search.window", [], r"pretrain.search.window: \[\] — must be a non-empty list.*the list is empty"),
        ("forecast.leads", [1, 200], r"forecast.leads: \[1, 200\] — must be an increasing list of whole months "
                                     r"from 1 to 24.*200 is more than 24"),
    ],
)
def test_wrong_types_and_ranges_name_the_key_the_value_and_what_is_allowed(path, value, words):
    with pytest.raises(ParamsError, match=words):
        validate(changed(path, value))


@pytest.mark.parametrize(
    "path, value, words",
    [
        ("prepare.start", 199001, r"prepare.start: 199001 — must be a month in quotes, 'YYYY-MM'"),
        ("prepare.end", "2021-12-31", r"prepare.end: '2021-12-31' — must be a month in quotes, 'YYYY-MM'"),
        ("prepare.min_coverage", True, r"prepare.min_coverage: true — .*a number in \(0, 1\]"),
        ("prepare.max_missing_days", 40, r"prepare.max_missing_days: 40 — must be a whole number of days from 0 "
                                         "to 31"),
        ("prepare.min_rain_stations", 7, r"prepare.min_rain_stations: 7 — must be at most the number of "
                                         r"basin.rain_stations \(6\)"),
        ("basin.wells", [310854, "310862"], r"basin.wells: \[310854, '310862'\] — .*position 2: '310862' is in "
                                            "quotes"),
        ("train.max_epochs", 2.5, r"train.max_epochs: 2.5 — must be a whole number >= 1"),
        ("seed", -1, r"seed: -1 — must be a whole number >= 0"),
        ("pretrain.search.dropout", [0.4, 0.1], r"pretrain.search.dropout: \[0.4, 0.1\] — must be a range \[low, "
                                                r"high\] with low <= high"),
        ("pretrain.search.lr", [0, 0.02], r"pretrain.search.lr: \[0, 0.02\] — .*0 < low"),
        ("pretrain.search.hidden", [16, 0], r"pretrain.search.hidden: \[16, 0\] — must be a non-empty list of "
                                            r"whole numbers >= 1.*position 2: 0 is less than 1"),
        ("finetune.lr", "0.02", r"finetune.lr: '0.02' — must be a positive learning rate.*without quotes"),
        ("forecast.leads", [1, 2, 12], r"forecast.leads: \[1, 2, 12\] — each lead must be shorter than the "
                                       r"validation and test periods"),
        ("evaluate.splits", [], r"evaluate.splits: \[\] — must be a non-empty list"),
        ("evaluate.splits", ["test", "holdout"], r"evaluate.splits: .*'holdout' is not one of these"),
        ("data.url", "https://ehyd.gv.at/{kind}?id={hzb}", r"data.url: .*placeholders \{kind\}, \{hzb\} and \{n\}"),
        ("data.catalog_url", "ftp://x/{kind}", r"data.catalog_url: 'ftp://x/\{kind\}' — must be an http\(s\) "
                                               "address"),
        ("outlook", None, r"outlook: null — must be a mapping with the keys models, intervals"),
    ],
)
def test_more_implausible_values_are_refused(path, value, words):
    params = changed(path, value)
    if path == "forecast.leads":  # leads of 12 months against validation and test periods of 12 months
        params["split"].update(validation=["2011-01", "2011-12"], test=["2012-01", "2012-12"])
    with pytest.raises(ParamsError, match=words):
        validate(params)


def test_every_problem_is_listed_and_typos_get_a_suggestion():
    params = copy.deepcopy(DEFAULT)
    params["prepare"]["min_coverge"] = 0.95
    params["pretrian"] = {"trials": 3}
    params["basin"]["area"] = "390"
    del params["train"]["patience"]
    with pytest.raises(ParamsError) as failed:
        validate(params)
    lines = str(failed.value).splitlines()
    assert lines[0] == "params.yaml: 4 settings cannot work:"
    assert any(line.startswith("params.yaml: prepare.min_coverge: unknown key (given 0.95); did you mean "
                               "prepare.min_coverage?") for line in lines)
    assert any(line.startswith("params.yaml: pretrian: unknown section (given {trials: 3}); did you mean pretrain?")
               for line in lines)
    assert any(line.startswith("params.yaml: basin.area: '390' — ") for line in lines)
    assert "params.yaml: train.patience: missing — must be a whole number >= 1" in lines


def test_validate_returns_the_same_dict():
    params = copy.deepcopy(DEFAULT)
    assert validate(params) is params and params == DEFAULT


def test_invalid_yaml_is_a_params_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("basin: [1,\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(path)


# --------------------------------------------------------------------------- gwtl check-params (stage params)


def test_check_params_writes_the_same_file_for_any_valid_params(tmp_path, capsys):
    from gwtl.pipeline.cli import main

    path, out = tmp_path / "params.yaml", tmp_path / "data" / "params.ok"
    path.write_text((ROOT / "params.yaml").read_text())
    assert main(["check-params", str(path), "--out", str(out)]) == 0
    first = out.read_bytes()
    params = copy.deepcopy(DEFAULT)
    params["prepare"]["min_coverage"] = 0.9
    path.write_text(yaml.safe_dump(params))
    assert main(["check-params", str(path), "--out", str(out)]) == 0
    assert out.read_bytes() == first  # stages after it see an unchanged dependency
    assert [p.name for p in out.parent.iterdir()] == ["params.ok"]


def test_check_params_refuses_naming_the_key_and_says_nothing_else_was_touched(tmp_path):
    import subprocess
    import sys

    path, out = tmp_path / "params.yaml", tmp_path / "data" / "params.ok"
    params = copy.deepcopy(DEFAULT)
    params["pretrian"] = {"trials": 3}
    path.write_text(yaml.safe_dump(params))
    out.parent.mkdir()
    out.write_text("params.yaml is valid\n")  # from an earlier valid run
    done = subprocess.run([sys.executable, "-m", "gwtl", "check-params", str(path), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "gwtl check-params: error: params.yaml: pretrian: unknown section" in done.stderr
    assert "Nothing else was run or changed" in done.stderr
    assert not out.exists()
