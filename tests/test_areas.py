"""gwtl.pipeline.area_experiments without DVC: the -S overrides of ``gwtl basin --queue`` and the summary of ``gwtl areas``.

The summary is tested on real ``dvc exp show --json`` outputs (tests/data/exp_show_areas.json, trimmed)
and on synthetic ones; the queue against DVC itself in tests/test_basin_queue.py.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gwtl.pipeline.area_experiments import (AreasError, area_rows, areas_csv, areas_text, check_sets, exp_show, hydra_value, parse_sets,
                        queue_overrides, used_names)
from gwtl.sources.station_choice import BasinChoice, basin_params_text

ROOT = Path(__file__).resolve().parents[1]
SHOWS = json.loads((ROOT / "tests" / "data" / "exp_show_areas.json").read_text(encoding="utf-8"))
DEFAULT_TEXT = (ROOT / "params.yaml").read_text(encoding="utf-8")
MIRROR = "/mirror/ehyd"


def choice(wells=(310177, 310201, 310219), rain=(112078, 112086), gauges=(211870,), name="Grazer Feld",
           data_source=MIRROR) -> BasinChoice:
    """A choice with every listed station kept and one left out of each table."""
    def table(kept):
        return pd.DataFrame({"hzb": [*kept, 1], "kept": [True] * len(kept) + [False],
                             "name": [f"S{h}" for h in [*kept, 1]], "river": "Mur"})
    return BasinChoice(area=380, name=name, wells=table(wells), rain=table(rain), gauges=table(gauges),
                       source=f"mirror {data_source}", settings={}, data_source=data_source)


def params() -> dict:
    return yaml.safe_load(DEFAULT_TEXT)


def by_name(rows: list[dict]) -> dict:
    return {row["experiment"]: row for row in rows}


# --------------------------------------------------------------------------- -S overrides


@pytest.mark.parametrize("value", ["Grazer Feld", "Müllendorf-Süd", 'a "quoted" name', "it's", "C:\\a\\b\\",
                                   "back\\\"slash", "", "/abs/path with space", 380, 0.001, True,
                                   [310177, 310201], ["precipitation", "discharge_211870"]])
def test_hydra_values_read_back_as_dvc_reads_them(value):
    text = f"basin.name={hydra_value(value)}"
    assert parse_sets([text]) == {"basin.name": (text, value)}


def test_overrides_are_the_values_basin_writes_into_params_yaml():
    picked = choice()
    overrides, result, notes = queue_overrides(picked, params(), ROOT, [])
    written = yaml.safe_load(basin_params_text(DEFAULT_TEXT, picked))
    read = {key: value for key, (_, value) in parse_sets(overrides).items()}
    assert read.pop("data.source") == MIRROR
    assert {key: written[key.split(".")[0]][key.split(".")[1]] for key in read} == read
    assert set(read) == {f"basin.{k}" for k in written["basin"]} | {"forecast.forcings"}
    assert result == {**written, "data": {**written["data"], "source": MIRROR}}
    assert len(notes) == 1 and notes[0].startswith(f"data.source: auto -> {MIRROR}")
    assert overrides[0] == 'basin.name="Grazer Feld"'


def test_user_settings_replace_the_basins_and_come_last():
    sets = ["basin.wells=[310177]", "train.max_epochs=5", "finetune.lr=1e-3"]
    overrides, result, _ = queue_overrides(choice(), params(), ROOT, sets)
    assert [o for o in overrides if o.startswith("basin.wells=")] == ["basin.wells=[310177]"]
    assert overrides[-2:] == sets[1:]
    assert result["basin"]["wells"] == [310177] and result["train"]["max_epochs"] == 5
    assert result["finetune"]["lr"] == 0.001


def test_source_already_absolute_is_not_repeated():
    given = params()
    given["data"]["source"] = MIRROR
    overrides, _, notes = queue_overrides(choice(), given, ROOT, [])
    assert not any(o.startswith("data.source") for o in overrides) and notes == []


def test_downloaded_choice_queues_download():
    overrides, result, _ = queue_overrides(choice(data_source="download"), params(), ROOT, [])
    assert 'data.source="download"' in overrides and result["data"]["source"] == "download"


def test_paths_outside_the_project_become_absolute(tmp_path):
    root = tmp_path / "project"
    other = tmp_path / "other" / "models" / "pretrain"
    other.mkdir(parents=True)
    (other / "model.pt").write_bytes(b"")
    (root / "models" / "pretrain").mkdir(parents=True)
    (root / "models" / "pretrain" / "model.pt").write_bytes(b"")
    given = params()
    given["library"]["external"] = ["../other/models/pretrain"]
    given["finetune"]["pretrained"] = "models/pretrain"  # inside the project: stays as it is
    cwd = Path.cwd()
    try:  # params.validate reads library.external relative to the working directory, the project root
        import os
        os.chdir(root)
        overrides, result, notes = queue_overrides(choice(), given, root, [])
    finally:
        os.chdir(cwd)
    assert result["library"]["external"] == [str(other)]
    assert f'library.external=["{other}"]' in overrides
    assert result["finetune"]["pretrained"] == "models/pretrain"
    assert not any(o.startswith("finetune.pretrained") for o in overrides)
    assert any(n.startswith("library.external: ['../other/models/pretrain'] -> ") for n in notes)


@pytest.mark.parametrize("sets, message", [
    (["train.max_epoch=5"], "-S train.max_epoch=5: params.yaml has no key train.max_epoch; the keys of train: "
                            "max_epochs, patience"),
    (["trains.max_epochs=5"], "-S trains.max_epochs=5: params.yaml has no section trains"),
    (["+train.extra=1"], "-S +train.extra=1: only existing keys of params.yaml can be set"),
    (["~train.patience"], "-S ~train.patience: only existing keys of params.yaml can be set"),
    (["train.max_epochs"], "-S train.max_epochs: not KEY=VALUE"),
])
def test_bad_settings_are_named(sets, message):
    with pytest.raises(AreasError, match="^" + message.replace("+", r"\+").replace("[", r"\[")):
        check_sets(params(), sets)


def test_invalid_values_fail_before_anything_is_queued():
    check_sets(params(), ["train.max_epochs=-3"])  # the key exists; the value is checked with the choice
    with pytest.raises(AreasError, match="nothing was queued:\nparams.yaml: train.max_epochs: -3"):
        queue_overrides(choice(), params(), ROOT, ["train.max_epochs=-3"])


# --------------------------------------------------------------------------- summary of real outputs


def test_queued_experiment_is_listed_with_its_basin():
    rows = by_name(area_rows(SHOWS["queued"]))
    assert list(rows) == ["workspace", "master", "area-380"]
    queued = rows["area-380"]
    assert (queued["state"], queued["basin.name"], queued["basin.area"], queued["wells"]) == \
        ("queued", "Grazer Feld", 380, 3)
    assert not any(key.startswith("test.") for key in queued)
    assert rows["master"]["state"] == "done" and rows["master"]["basin.area"] == 390
    assert rows["master"]["test.lead2.nse_mean.tl"] == 0.7727
    assert used_names(SHOWS["queued"]) == {"area-380"}


def test_failed_experiment_shows_its_state_not_the_baselines_metrics():
    rows = by_name(area_rows(SHOWS["failed"]))
    failed = rows["area-380"]
    assert failed["state"] == "failed" and failed["note"] == "Experiment run failed"
    assert not any(key.startswith("test.") for key in failed)  # DVC shows the baseline's metrics.json
    master = rows["master"]
    assert master["test.lead1.nse_mean.tl"] == 0.8393 and master["test.lead1.nse_mean.it"] == 0.8341
    assert master["test.lead1.nse_mean.tl_minus_it"] == 0.0052
    assert master["test.lead3.nse_median.tl_minus_it"] == -0.0025
    text = areas_text(list(rows.values()))
    assert "area-380    735e1a2  failed  Grazer Feld             380      3" in text
    assert "area-380: Experiment run failed" in text
    assert "area-380          -        -           -          -          -             -" in text


def test_finished_experiment_of_the_queue():
    rows = by_name(area_rows(SHOWS["done"]))
    done = rows["p1"]
    assert done["state"] == "done" and done["basin.name"] == "Grazer Feld" and done["wells"] == 3
    assert done["test.lead1.nse_mean.tl"] == 0.8 and done["test.lead1.nse_mean.tl_minus_it"] == 0.1
    assert rows["workspace"]["state"] == "no metrics"
    assert "No such file or directory" in rows["workspace"]["note"]


# --------------------------------------------------------------------------- summary of synthetic outputs


def _entry(rev, name, basin=None, test=None, error=None, experiments=None, leads=(1, 2)):
    params = {"basin": basin, "forecast": {"leads": list(leads)}} if basin else {}
    return {"rev": rev, "name": name, "error": error, "experiments": experiments,
            "data": {"rev": rev, "params": {"params.yaml": {"data": params}},
                     "metrics": {"metrics.json": {"data": {"test": test}}} if test else {}}}


def _scores(tl, it, lead="lead1"):
    return {lead: {"nse_mean": {"tl": tl, "it": it, "arx": 0.1}, "nse_median": {"tl": tl + 0.01, "it": it}}}


SYNTHETIC = [
    _entry("workspace", None, {"name": "Leibnitzer Feld", "area": 390, "wells": [1, 2, 3]}, _scores(0.9, 0.85)),
    _entry("a" * 40, "main", {"name": "Leibnitzer Feld", "area": 390, "wells": [1, 2, 3]}, _scores(0.9, 0.85),
           experiments=[
               {"name": "area-380", "executor": None,
                "revs": [_entry("b" * 40, "area-380", {"name": "Grazer Feld", "area": 380, "wells": [4, 5]},
                                {**_scores(0.7, 0.75), **_scores(0.6, 0.6, "lead2")})]},
               {"name": "area-12", "executor": {"state": "running"},
                "revs": [_entry("c" * 40, "area-12", {"name": "Fernes Gebiet", "area": 12, "wells": [6]},
                                _scores(0.9, 0.85))]},
           ]),
    _entry("d" * 40, "old", error={"msg": "unable to read: 'dvc.yaml'", "type": "YAMLSyntaxError"}),
]


def test_synthetic_rows():
    rows = by_name(area_rows(SYNTHETIC))
    assert list(rows) == ["workspace", "main", "area-380", "area-12", "old"]
    assert rows["area-380"]["test.lead1.nse_mean.tl_minus_it"] == -0.05
    assert rows["area-380"]["test.lead1.nse_median.tl_minus_it"] == -0.04
    assert rows["area-380"]["test.lead2.nse_mean.tl_minus_it"] == 0.0
    assert rows["area-12"]["state"] == "running" and "test.lead1.nse_mean.tl" not in rows["area-12"]
    assert rows["old"]["state"] == "no metrics" and rows["old"]["note"] == "unable to read: 'dvc.yaml'"
    assert rows["old"]["basin.name"] is None and rows["old"]["wells"] is None


def test_csv_has_one_row_per_experiment_and_every_leads_columns():
    table = list(csv.reader(io.StringIO(areas_csv(area_rows(SYNTHETIC)))))
    header = table[0]
    assert header[:6] == ["experiment", "rev", "state", "basin.name", "basin.area", "wells"]
    assert header[6:12] == [f"test.lead1.{s}.{m}" for s in ("nse_mean", "nse_median")
                            for m in ("tl", "it", "tl_minus_it")]
    assert header[-1] == "note" and len(header) == 6 + 12 + 1
    rows = {row[0]: dict(zip(header, row)) for row in table[1:]}
    assert list(rows) == ["workspace", "main", "area-380", "area-12", "old"]
    assert rows["area-380"]["test.lead1.nse_mean.tl"] == "0.7000"
    assert rows["area-380"]["test.lead2.nse_mean.tl_minus_it"] == "0.0000"
    assert rows["main"]["test.lead2.nse_mean.tl"] == ""  # the baseline has no lead 2 score
    assert rows["area-12"]["state"] == "running" and rows["area-12"]["test.lead1.nse_mean.tl"] == ""
    assert rows["workspace"]["rev"] == "" and rows["main"]["rev"] == "aaaaaaa"


def test_text_tables():
    text = areas_text(area_rows(SYNTHETIC))
    assert text.splitlines()[0].split() == ["experiment", "rev", "state", "basin.name", "basin.area", "wells"]
    assert "Test NSE at lead 1 (mean and median over the wells):" in text
    assert "Test NSE at lead 2 (mean and median over the wells):" in text
    assert "area-380     0.7000   0.7500     -0.0500     0.7100     0.7500       -0.0400" in text
    assert "old: unable to read: 'dvc.yaml'" in text


def test_summary_does_not_change_its_input():
    before = copy.deepcopy(SYNTHETIC)
    area_rows(SYNTHETIC)
    assert SYNTHETIC == before


def test_listing_without_dvc_on_path_names_dvc_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr("gwtl.pipeline.area_experiments.shutil.which", lambda tool: None)
    with pytest.raises(AreasError, match=r"runs `dvc exp show`, but `dvc` is not on PATH; activate the project's"):
        exp_show(tmp_path)
