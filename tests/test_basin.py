"""gwtl basin: choosing wells, rain stations and gauges of an area, and writing params.yaml as text.

A tiny fake area 999 "Testfeld" (synthetic eHYD files, catalogs in eHYD's format)
is served from a mirror folder and by the local eHYD-like server; the default
basin is checked once against the real mirror.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ehyd_files import write_ehyd, write_gauge, write_rain, write_well
from ehyd_server import EhydServer

import gwtl.sources.fetch as fetch_module
from gwtl.data.prepare import prepare
from gwtl.params import load_params
from gwtl.pipeline.cli import main
from gwtl.sources.catalog import area_wells, catalog_path, read_catalog
from gwtl.sources.fetch import FetchError, fetch, open_source
from gwtl.sources.station_choice import (BasinError, _area_well_status, _check_request, _Files, _no_gauge,
                                         _too_few_rain_stations, _too_few_wells, basin_params_text, choose_basin,
                                         write_basin)

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("GWTL_EHYD_MIRROR", ROOT.parent / "shared" / "data" / "ehyd"))
DEFAULT_TEXT = (ROOT / "params.yaml").read_text(encoding="utf-8")

# Fake area 999: (lon, lat) in WGS84; wells at lat 46.80, lon 15.50 .. 15.52.
WELLS = {900001: (15.50, 46.80), 900002: (15.51, 46.80), 900003: (15.52, 46.80),
         900004: (15.51, 46.81),   # coverage 60/72
         900005: (15.50, 46.81)}   # in the catalog, no file anywhere
OTHER_AREA_WELL = {900006: (15.50, 46.79)}  # area 998
RAIN = {800001: (15.50, 46.82),   # 2.2 km, full
        800002: (15.50, 46.84),   # 4.4 km, 2 years missing
        800003: (15.50, 47.10),   # 33 km: out of any radius used here
        800004: (15.54, 46.80)}   # 1.5 km, no file
GAUGES = {700001: ("Bach", 50.0, (15.51, 46.79)),       # 1.1 km, small
          700002: ("Fluss", 5000.0, (15.52, 46.75)),     # 5.6 km, trunk river
          700003: ("Strom", 90000.0, (15.50, 46.60)),    # 22 km: out of radius
          700004: ("Fluss", 6000.0, (15.52, 46.81))}     # 1.1 km, water level file only
FAKE_BASIN = {"wells": [900001, 900002, 900003], "rain_stations": [800001], "gauges": [700002]}


def fake_params(source: str = "download", server: EhydServer | None = None) -> dict:
    params = yaml.safe_load(DEFAULT_TEXT)
    params["data"].update(source=source, timeout_s=2, retries=1,
                          url="http://127.0.0.1:9/unused?{kind}{hzb}{n}",
                          catalog_url="http://127.0.0.1:9/unused?{kind}")
    if server is not None:
        params["data"].update(url=server.url, catalog_url=server.catalog_url)
    params["prepare"].update(start="2000-01", end="2005-12")
    params["split"] = {"train": ["2000-01", "2003-12"], "validation": ["2004-01", "2004-12"],
                       "test": ["2005-01", "2005-12"]}
    return params


def fake_params_text() -> str:
    """The default params.yaml with the fake area's period (text edits only)."""
    text = DEFAULT_TEXT
    for old, new in [('end: "2021-12"', 'end: "2005-12"'), ('start: "1990-01"', 'start: "2000-01"'),
                     ('train: ["1990-01", "2010-12"]', 'train: ["2000-01", "2003-12"]'),
                     ('validation: ["2011-01", "2015-12"]', 'validation: ["2004-01", "2004-12"]'),
                     ('test: ["2016-01", "2021-12"]', 'test: ["2005-01", "2005-12"]'),
                     ("window: [6, 12, 18]", "window: [6, 12]")]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _lambert(points: dict) -> dict:
    from pyproj import Transformer

    to_lambert = Transformer.from_crs("EPSG:4326", "EPSG:31287", always_xy=True)
    return {h: to_lambert.transform(*p) for h, p in points.items()}


def _num(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def write_catalogs(folder: Path) -> None:
    """Catalogs of the fake area in eHYD's format (ISO-8859-1, ';', decimal comma)."""
    (folder / "catalog").mkdir(parents=True, exist_ok=True)
    gw = ["dbmsnr;hzbnr01;mstnam02;gwgeb03;code03;gokmua05;xrkko09;yhkko10"]
    for hzb, (x, y) in _lambert({**WELLS, **OTHER_AREA_WELL}).items():
        area, name = (998, "998 Nachbarfeld") if hzb in OTHER_AREA_WELL else (999, "999 Testfeld")
        gw.append(f"1;{hzb};Brunnen {hzb};{area};{name};300;{_num(x)};{_num(y)}")
    gw.append(f"2;100001;Fernbrunnen;12;012 Fernes Gebiet;500;{_num(400000)};{_num(450000)}")
    nlv = ["dbmsnr;hzbnr01;mstnam02;gew03;mpmua04;egarea05;xrkko08;yhkko09"]
    for hzb, (x, y) in _lambert(RAIN).items():
        nlv.append(f"1;{hzb};Regen {hzb};Bach;350;0;{_num(x)};{_num(y)}")
    owf = ["dbmsnr;hzbnr01;mstnam02;gew03;mpua04;egarea05;xrkko08;yhkko09"]
    for hzb, (x, y) in _lambert({h: p for h, (_, _, p) in GAUGES.items()}).items():
        river, area, _ = GAUGES[hzb]
        owf.append(f"1;{hzb};Pegel {hzb};{river};280;{_num(area)};{_num(x)};{_num(y)}")
    for kind, rows in (("gw", gw), ("nlv", nlv), ("owf", owf)):
        (folder / "catalog" / f"messstellen_{kind}.csv").write_bytes(("\n".join(rows) + "\n").encode("iso-8859-1"))


def build_fake_area(folder: Path) -> Path:
    """A mirror folder with the fake area's catalogs and files (see the module constants)."""
    write_catalogs(folder)
    months = pd.date_range("1999-01-01", "2006-12-01", freq="MS")
    days = pd.date_range("1999-12-01", "2006-01-31", freq="D")
    rng = np.random.default_rng(0)
    for i, (hzb, (lon, lat)) in enumerate({**WELLS, **OTHER_AREA_WELL}.items()):
        if hzb == 900005:
            continue
        levels = pd.Series(300 + np.sin(np.arange(len(months)) / 2) + 0.1 * rng.standard_normal(len(months)),
                           index=months)
        if hzb == 900004:
            levels[(levels.index >= "2001-01-01") & (levels.index < "2002-01-01")] = np.nan
        write_well(folder, hzb, levels, area=998 if hzb in OTHER_AREA_WELL else 999, lon=lon, lat=lat)
    for hzb, (lon, lat) in RAIN.items():
        if hzb == 800004:
            continue
        rain = pd.Series(np.round(rng.gamma(0.5, 3.0, len(days)), 1), index=days)
        if hzb == 800002:
            rain[(rain.index >= "2001-01-01") & (rain.index < "2003-01-01")] = np.nan
        write_rain(folder, hzb, rain, lon=lon, lat=lat)
    for hzb, (_, area, _) in GAUGES.items():
        flow = pd.Series(area / 100 * (1 + rng.random(len(days))), index=days)
        if hzb == 700004:  # water level only, no discharge
            write_ehyd(folder / "owf" / f"W-Tagesmittel-{hzb}.csv", flow, hzb=hzb, kind="owf")
        else:
            write_gauge(folder, hzb, flow)
    return folder


@pytest.fixture
def fake_mirror(fake_area, tmp_path) -> Path:
    return Path(shutil.copytree(fake_area, tmp_path / "fake"))


@pytest.fixture(scope="module")
def fake_choice(fake_area):
    return choose_basin(fake_params(str(fake_area)), 999)


@pytest.fixture
def fake_server(fake_area):
    server = EhydServer(fake_area).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(fetch_module, "BACKOFF_S", 0.01)


def assert_fake_choice(choice) -> None:
    assert choice.basin == {"name": "Testfeld", "area": 999, **FAKE_BASIN}
    assert choice.forcings == ["precipitation", "discharge_700002"]
    wells = choice.wells.set_index("hzb")
    assert sorted(wells.index) == sorted(WELLS)  # not the well of area 998
    assert wells.loc[900004, "reason"] == "coverage 0.833 < 0.95"
    assert wells.loc[900005, "reason"].startswith("no Grundwasserstand-Monatsmittel file")
    assert np.isnan(wells.loc[900005, "coverage"])
    rain = choice.rain.set_index("hzb")
    assert list(choice.rain["hzb"]) == [800004, 800001, 800002]  # nearest first, 800003 out of radius
    assert rain.loc[800002, "coverage"] == pytest.approx(48 / 72)
    assert rain.loc[800002, "reason"].startswith("coverage 0.667 < 0.95")
    assert rain.loc[800004, "reason"].startswith("no N-Tagessummen file")
    assert rain.loc[800001, "distance_km"] == pytest.approx(2.22, abs=0.02)
    assert rain.loc[800001, "near_well"] == 900001
    gauges = choice.gauges.set_index("hzb")
    assert sorted(gauges.index) == [700001, 700002, 700004]
    assert gauges.loc[700002, "reason"].startswith("kept: main gauge, largest catchment (5000 km²)")
    assert gauges.loc[700001, "reason"].startswith("candidate: passes")
    assert gauges.loc[700004, "reason"].startswith("no Q-Tagesmittel file")  # larger catchment, but no Q
    assert gauges.loc[700002, "river"] == "Fluss" and gauges.loc[700001, "catchment_km2"] == 50


# --------------------------------------------------------------------------- choice


def test_choice_from_a_mirror(fake_choice, fake_area):
    choice = fake_choice
    assert_fake_choice(choice)
    assert choice.source == f"mirror {fake_area}" and not choice.notes
    reason = choice.wells.set_index("hzb").at[900005, "reason"]
    assert "no Grundwasserstand-Monatsmittel-900005.csv in the mirror" in reason


def test_choice_by_download(fake_server):
    choice = choose_basin(fake_params("download", fake_server), 999)
    assert_fake_choice(choice)
    assert choice.source.startswith("download http://127.0.0.1")
    assert "eHYD offers no Q-Tagesmittel file for it, only W-Tagesmittel-700004.csv" in \
        choice.gauges.set_index("hzb").at[700004, "reason"]
    assert fake_server.hits("id=800003&") == 0 and fake_server.hits("id=700003&") == 0  # outside the radii
    assert fake_server.hits("id=900006&") == 0  # another area


def test_auto_downloads_an_area_the_mirror_lacks(fake_server, tmp_path, monkeypatch):
    only_catalogs = tmp_path / "mirror"
    write_catalogs(only_catalogs)
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(only_catalogs))
    choice = choose_basin(fake_params("auto", fake_server), 999)
    assert_fake_choice(choice)
    assert choice.source.startswith("download http://127.0.0.1")
    (note,) = choice.notes
    assert "holds no well file of area 999" in note and "data.source: download" in note


def test_the_chosen_basin_passes_fetch_and_prepare(fake_area, tmp_path):
    params = fake_params(str(fake_area))
    choice = choose_basin(params, 999)
    params["basin"] = choice.basin
    fetch(params, tmp_path / "raw")
    meta = prepare(params, tmp_path / "raw", tmp_path / "processed")
    assert meta["counts"]["wells_listed"] == 3 and meta["counts"]["wells_area"] == 4


def test_chosen_gauges(fake_area):
    choice = choose_basin(fake_params(str(fake_area)), 999, gauges=[700001, 700002])
    assert choice.basin["gauges"] == [700001, 700002]
    assert choice.forcings == ["precipitation", "discharge_700001", "discharge_700002"]
    with pytest.raises(BasinError, match=r"--gauge 700004: not among .* \(700002, 700001\)"):
        choose_basin(fake_params(str(fake_area)), 999, gauges=[700004])


@pytest.mark.parametrize("area, kwargs, message", [
    (997, {}, r"area 997: no well .* nearby numbers: 998 Nachbarfeld \(1 wells\), 999 Testfeld \(5 wells\)"),
    (999, {"min_wells": 4}, r"area 999 Testfeld: 3 of 5 wells pass .* prepare.min_wells = 4\. Best wells: 9000"),
    (999, {"radius_rain_km": 1.0}, r"0 precipitation station\(s\) within 1 km .* candidates: none; the nearest "
                                   r"stations beyond it: 800004 Regen 800004 \(1\.5 km\).*larger --radius-rain"),
    (999, {"radius_gauge_km": 1.5, "remove": "owf/Q-Tagesmittel-700001.csv"},
     r"no discharge gauge within 1.5 km .* candidates: 700001 \(no Q-Tagesmittel.*700004 \(no Q-Tagesmittel.*"
     r"beyond it: 700002 Pegel 700002 \(5\.6 km\).*larger --radius-gauge"),
])
def test_clear_errors(fake_mirror, area, kwargs, message):
    params = fake_params(str(fake_mirror))
    if "min_wells" in kwargs:
        params["prepare"]["min_wells"] = kwargs.pop("min_wells")
    if "remove" in kwargs:
        (fake_mirror / kwargs.pop("remove")).unlink()
    with pytest.raises(BasinError, match=message):
        choose_basin(params, area, **kwargs)


def test_csv_format_is_refused(fake_mirror):
    params = fake_params(str(fake_mirror))
    params["data"]["format"] = "csv"
    with pytest.raises(BasinError, match="data.format is 'csv'.*basin section of params.yaml yourself"):
        choose_basin(params, 999)


# --------------------------------------------------------------------------- steps of choose_basin

PREP = {"start": "2000-01", "end": "2005-12", "min_coverage": 0.95, "min_wells": 4, "min_rain_stations": 2}


@pytest.fixture(scope="module")
def fake_catalogs(fake_area) -> dict:
    return {kind: read_catalog(catalog_path(fake_area, kind), kind) for kind in ("gw", "nlv", "owf")}


@pytest.fixture(scope="module")
def fake_kept(fake_catalogs) -> pd.DataFrame:
    """The catalog rows of the fake area's three kept wells."""
    wells = area_wells(fake_catalogs["gw"], 999)
    return wells[wells["hzb"].isin(FAKE_BASIN["wells"])]


def test_check_request():
    assert _check_request(fake_params(), 10.0, 8.0) is None
    with pytest.raises(BasinError, match=r"^radii must be positive, got --radius-rain 0 --radius-gauge 8\.0$"):
        _check_request(fake_params(), 0, 8.0)
    with pytest.raises(BasinError, match=r"got --radius-rain 10\.0 --radius-gauge -1$"):
        _check_request(fake_params(), 10.0, -1)
    params = fake_params()
    params["data"]["format"] = "csv"
    with pytest.raises(BasinError, match=r"^data\.format is 'csv': `gwtl basin` chooses stations from the eHYD"):
        _check_request(params, 10.0, 8.0)


def test_too_few_wells_message():
    wells = pd.DataFrame({"hzb": [1, 2, 3], "coverage": [0.5, np.nan, 1.0],
                          "reason": ["coverage 0.500 < 0.95", "no file", "kept"], "kept": [False, False, True]})
    assert str(_too_few_wells(999, "Testfeld", wells, PREP)) == (
        "area 999 Testfeld: 1 of 3 wells pass (coverage >= 0.95 over 2000-01..2005-12), fewer than "
        "prepare.min_wells = 4. Best wells: 3 (coverage 1.000), 1 (coverage 0.500 < 0.95), 2 (no file). "
        "Lower prepare.min_coverage, move prepare.start/end, or choose another area.")
    many = pd.DataFrame({"hzb": range(10), "coverage": np.linspace(0.1, 0.9, 10), "reason": "low", "kept": False})
    message = str(_too_few_wells(999, "Testfeld", many, PREP))
    assert message.count("(low)") == 8 and "Best wells: 9 (low), 8 (low)" in message  # the best 8, best first


def test_too_few_rain_stations_message(fake_catalogs, fake_kept):
    rain = pd.DataFrame({"hzb": [800004, 800001], "reason": ["no N-Tagessummen file: gone", "kept"],
                         "kept": [False, True]})
    assert str(_too_few_rain_stations(999, "Testfeld", rain, fake_catalogs["nlv"], fake_kept, 3.0, PREP)) == (
        "area 999 Testfeld: 1 precipitation station(s) within 3 km of a kept well have daily sums with coverage "
        ">= 0.95 (prepare.min_rain_stations = 2); candidates: 800004 (no N-Tagessummen file: gone), 800001 (kept); "
        "the nearest stations beyond it: 800002 Regen 800002 (4.4 km), 800003 Regen 800003 (33.4 km). "
        "Try a larger --radius-rain.")
    none = str(_too_few_rain_stations(999, "Testfeld", rain.iloc[:0], fake_catalogs["nlv"], fake_kept, 0.5, PREP))
    assert "0 precipitation station(s) within 0.5 km" in none and "candidates: none; the nearest" in none


def test_no_gauge_message(fake_catalogs, fake_kept):
    gauges = pd.DataFrame({"hzb": [700004], "reason": ["no Q-Tagesmittel file: only W"], "kept": [False]})
    assert str(_no_gauge(999, "Testfeld", gauges, fake_catalogs["owf"], fake_kept, 1.2, PREP)) == (
        "area 999 Testfeld: no discharge gauge within 1.2 km of a kept well has a Q-Tagesmittel file with coverage "
        ">= 0.95; candidates: 700004 (no Q-Tagesmittel file: only W); the nearest stations beyond it: "
        "700002 Pegel 700002 (5.6 km), 700003 Pegel 700003 (22.2 km). Try a larger --radius-gauge.")
    everything = str(_no_gauge(999, "Testfeld", gauges.iloc[:0], fake_catalogs["owf"], fake_kept, 100, PREP))
    assert everything.endswith("candidates: none. Try a larger --radius-gauge.")  # nothing beyond 100 km


def well_status(params: dict, setting: str, folder: Path, catalogs: dict):
    """:func:`_area_well_status` of the fake area read from ``setting``: (status, notes, files)."""
    folder.mkdir()
    files = _Files(open_source(params, setting), folder)
    months = pd.date_range("2000-01-01", "2005-12-01", freq="MS")
    status, notes = _area_well_status(files, area_wells(catalogs["gw"], 999), params, months,
                                      setting=setting, area=999, name="Testfeld")
    return status, notes, files


def kept_wells(status) -> list[bool]:
    return [reason == "kept" for _, reason in status]


def test_area_wells_are_read_from_a_mirror_that_holds_them(fake_area, fake_catalogs, tmp_path, monkeypatch):
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(fake_area))
    for i, setting in enumerate([str(fake_area), "auto"]):
        status, notes, files = well_status(fake_params(setting), setting, tmp_path / f"files{i}", fake_catalogs)
        assert kept_wells(status) == [True, True, True, False, False] and notes == []
        assert files.source.mode == "mirror"
        assert status[4][1] == f"no Grundwasserstand-Monatsmittel file: no Grundwasserstand-Monatsmittel-900005.csv " \
                               f"in the mirror {fake_area}"


def test_auto_gives_up_a_mirror_without_the_area_for_ehyd(fake_catalogs, fake_server, tmp_path, monkeypatch):
    only_catalogs = tmp_path / "mirror"
    write_catalogs(only_catalogs)
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(only_catalogs))
    status, notes, files = well_status(fake_params("auto", fake_server), "auto", tmp_path / "files", fake_catalogs)
    assert kept_wells(status) == [True, True, True, False, False] and files.source.mode == "download"
    assert fake_server.hits("id=900001&") == 1
    assert notes == [f"the mirror {only_catalogs} holds no well file of area 999, so the files were downloaded "
                     "from eHYD; before `dvc repro`, set data.source: download in params.yaml (with data.source: "
                     "auto the fetch stage would use the mirror)."]


def test_a_mirror_named_in_params_is_never_given_up(fake_catalogs, fake_server, tmp_path):
    only_catalogs = tmp_path / "mirror"
    write_catalogs(only_catalogs)
    status, notes, files = well_status(fake_params(str(only_catalogs), fake_server), str(only_catalogs),
                                       tmp_path / "files", fake_catalogs)
    assert not any(kept_wells(status)) and notes == [] and files.source.mode == "mirror"
    assert all(reason.startswith("no Grundwasserstand-Monatsmittel file: ") for _, reason in status)
    assert fake_server.hits("id=") == 0


def test_a_failed_download_instead_of_the_mirror_names_the_mirror(fake_catalogs, tmp_path, monkeypatch):
    only_catalogs = tmp_path / "mirror"
    write_catalogs(only_catalogs)
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(only_catalogs))
    with pytest.raises(FetchError, match=rf"^the mirror {only_catalogs} holds no well file of area 999 Testfeld, "
                                         r"so gwtl tried to download them from eHYD: http://127\.0\.0\.1:9/"):
        well_status(fake_params("auto"), "auto", tmp_path / "files", fake_catalogs)


# --------------------------------------------------------------------------- params.yaml text


def test_params_text_changes_only_the_basin_and_forcings(fake_choice):
    choice = fake_choice
    text = fake_params_text()
    new = basin_params_text(text, choice)
    old_lines, new_lines = text.splitlines(), new.splitlines()
    changed = [line for line in new_lines if line not in old_lines]
    assert changed == ["  name: Testfeld",
                       "  area: 999                # eHYD porous-aquifer area number (gwgeb03)",
                       "  wells: [900001, 900002, 900003]",
                       "  rain_stations: [800001]",
                       "  gauges: [700002]         # Fluss at Pegel 700002",
                       "  forcings: [precipitation, discharge_700002]"]
    gone = [line for line in old_lines if line not in new_lines]
    assert gone[:2] == ["  name: Leibnitzer Feld", "  area: 390                # eHYD porous-aquifer area number (gwgeb03)"]
    assert len(new_lines) == len(old_lines) - 6  # the 7 wells lines became one
    comments = [line.strip() for line in old_lines if line.strip().startswith("#")]
    assert comments == [line.strip() for line in new_lines if line.strip().startswith("#")]
    params = yaml.safe_load(new)
    assert params["basin"] == {"name": "Testfeld", "area": 999, **FAKE_BASIN}
    assert params["forecast"]["forcings"] == ["precipitation", "discharge_700002"]
    assert {k: v for k, v in params.items() if k not in ("basin", "forecast")} == \
        {k: v for k, v in yaml.safe_load(text).items() if k not in ("basin", "forecast")}


def test_names_that_need_quotes_and_long_lists(fake_choice):
    choice = copy.deepcopy(fake_choice)
    choice.name = "Feld: Süd # 2"
    extra = pd.DataFrame({"hzb": range(910000, 910021), "name": "x", "coverage": 1.0, "kept": True,
                          "reason": "kept"})
    choice.wells = pd.concat([choice.wells, extra], ignore_index=True)
    new = basin_params_text(fake_params_text(), choice)
    assert '  name: "Feld: Süd # 2"' in new.splitlines()
    assert yaml.safe_load(new)["basin"]["name"] == "Feld: Süd # 2"
    assert len(yaml.safe_load(new)["basin"]["wells"]) == 24
    assert "          910017, 910018, 910019, 910020]" in new.splitlines()  # 10 a line, aligned


def test_flow_style_basin_is_refused(fake_choice):
    choice = fake_choice
    text = fake_params_text()
    start, end = text.index("basin:\n"), text.index("\nprepare:")
    flow = "basin: {name: X, area: 1, wells: [1], rain_stations: [2], gauges: [3]}\n"
    with pytest.raises(BasinError, match="the section basin: is written on one line"):
        basin_params_text(text[:start] + flow + text[end:], choice)


# --------------------------------------------------------------------------- command


def test_command_writes_params(fake_area, tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(fake_params_text(), encoding="utf-8")
    args = ["basin", "999", "--params", str(path), "--source", str(fake_area)]
    assert main([*args, "--dry-run"]) == 0
    assert path.read_text(encoding="utf-8") == fake_params_text()
    out = capsys.readouterr().out
    assert "Wells of area 999: 3 of 5 kept" in out and "--dry-run: " in out
    assert "900004  Brunnen 900004" in out and "coverage 0.833 < 0.95" in out
    assert main(args) == 0
    params = load_params(path)
    assert params["basin"] == {"name": "Testfeld", "area": 999, **FAKE_BASIN}
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]  # no temporary file left
    assert main([*args, "--radius-gauge", "1"]) == 1
    assert "gwtl basin: error: area 999 Testfeld: no discharge gauge" in capsys.readouterr().err
    assert load_params(path)["basin"] == params["basin"]  # unchanged after the error


def test_python_dash_m(fake_area, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(fake_params_text(), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gwtl", "basin", "997", "--params", str(path),
                           "--source", str(fake_area)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "area 997: no well of the eHYD groundwater catalog" in done.stderr


# --------------------------------------------------------------------------- real mirror


@pytest.mark.skipif(not MIRROR.exists() and os.environ.get("CI") != "true",
                    reason=f"no eHYD mirror at {MIRROR}; set GWTL_EHYD_MIRROR")
def test_default_basin_on_the_real_mirror():
    params = yaml.safe_load(DEFAULT_TEXT)
    choice = choose_basin(params, 390, radius_rain_km=10, radius_gauge_km=8, source=str(MIRROR))
    assert len(choice.basin["wells"]) == 63 and choice.basin["wells"] == params["basin"]["wells"]
    assert choice.basin["rain_stations"] == [112300, 112318, 112383, 112516, 112664, 112748]
    assert choice.basin["gauges"] == [211466]
    assert choice.name == "Leibnitzer Feld" == params["basin"]["name"]
    assert choice.wells.set_index("hzb").at[325423, "reason"] == "coverage 0.943 < 0.95"
    assert choice.gauges.set_index("hzb").at[211870, "reason"].startswith("candidate")
    assert basin_params_text(DEFAULT_TEXT, choice) == DEFAULT_TEXT  # the default is reproduced to the byte


def test_write_basin_is_atomic_and_keeps_the_mode(fake_choice, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(fake_params_text(), encoding="utf-8")
    path.chmod(0o640)
    text = write_basin(path, fake_choice)
    assert path.read_text(encoding="utf-8") == text and (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]


def test_a_well_with_implausible_values_is_left_out_with_the_rule(fake_mirror):
    levels = pd.Series(300 + np.sin(np.arange(96) / 2), index=pd.date_range("1999-01-01", periods=96, freq="MS"))
    levels.iloc[40] = -9999.0  # a sentinel of a logger, not a level
    write_well(fake_mirror, 900002, levels, area=999, lon=15.51, lat=46.80)
    params = fake_params(str(fake_mirror))
    params["prepare"]["min_wells"] = 2  # the fake area has three good wells; this leaves two
    choice = choose_basin(params, 999)
    reason = choice.wells.set_index("hzb").at[900002, "reason"]
    assert reason.startswith("implausible values (rules of gwtl.sources.plausible):") and "-9999" in reason
    assert 900002 not in choice.basin["wells"]
