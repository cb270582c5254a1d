"""Your own basin in the CSV layout: fetch and prepare write the same data/processed as for eHYD."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gwtl.data.monthly import PrepareError, month_index
from gwtl.data.prepare import prepare
from gwtl.data.processed import load_processed
from gwtl.data.samples import make_samples
from gwtl.params import validate
from gwtl.sources.csv_source import aggregation
from gwtl.sources.fetch import FetchError, fetch, summary_table

ROOT = Path(__file__).resolve().parents[1]
WELLS = [101, 102, 103, 104, 105]  # 105 has daily levels, the others monthly
DAILY_WELL = 105
DAYS = pd.date_range("1990-01-01", "2021-12-31", freq="D")
MONTHS = month_index("1990-01", "2021-12")


def csv_params(folder: Path) -> dict:
    """params.yaml with the CSV layout in ``folder``: 5 wells, no stations, rain and temperature."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(format="csv", source=str(folder))
    params["basin"].update(name="Synthetic Kumamoto", area=1, wells=list(WELLS), rain_stations=[], gauges=[])
    params["forecast"]["forcings"] = ["precipitation", "temperature"]
    return validate(params)


def daily_forcings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    doy = DAYS.day_of_year.to_numpy()
    rain = np.round(rng.gamma(0.6, 8.0, len(DAYS)) * (rng.random(len(DAYS)) < 0.4), 1)
    temperature = np.round(16 - 10 * np.cos(2 * np.pi * doy / 365.25) + rng.normal(0, 2, len(DAYS)), 1)
    return pd.DataFrame({"precipitation": rain, "temperature": temperature}, index=DAYS)


def monthly_level(seed: int, rain: pd.Series) -> pd.Series:
    """A level that rises with the last months' rain, plus noise, on the first of every month."""
    monthly_rain = rain.resample("MS").sum()
    recharge = monthly_rain.rolling(3, min_periods=1).mean() - monthly_rain.mean()
    rng = np.random.default_rng(seed)
    return (20 + seed + 0.01 * recharge + 0.05 * rng.standard_normal(len(recharge))).round(3)


def write_layout(folder: Path, forcings: pd.DataFrame | None = None) -> Path:
    """wells.csv, levels.csv (monthly wells, one daily well, one unlisted well, one well of area 2), forcings.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    forcings = daily_forcings() if forcings is None else forcings
    wells = pd.DataFrame({"id": [*WELLS, 106, 201],
                          "name": ["熊本 1", "Kikuyo", "Mashiki", "Ozu", "Kosa", "Ueki", "Aso"],
                          "lon": [130.70, 130.75, 130.80, 130.85, 130.72, 130.68, 131.05],
                          "lat": [32.80, 32.82, 32.78, 32.85, 32.70, 32.90, 32.95],
                          "elevation": [10.0, 40.0, 55.0, 90.0, None, 60.0, 480.0],
                          "area": [1, 1, 1, 1, 1, 1, 2]})
    wells.to_csv(folder / "wells.csv", index=False, encoding="utf-8")
    rows = []
    for i, well in enumerate([*WELLS, 106, 201]):
        level = monthly_level(i, forcings["precipitation"])
        if well == DAILY_WELL:
            daily = level.reindex(DAYS, method="ffill") + 0.01 * np.sin(np.arange(len(DAYS)))
            rows.append(pd.DataFrame({"id": well, "date": DAYS, "level": daily.round(3).to_numpy()}))
        else:
            rows.append(pd.DataFrame({"id": well, "date": level.index, "level": level.to_numpy()}))
    levels = pd.concat(rows, ignore_index=True)
    levels.to_csv(folder / "levels.csv", index=False, date_format="%Y-%m-%d")
    forcings.to_csv(folder / "forcings.csv", index_label="date", date_format="%Y-%m-%d")
    return folder


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return write_layout(tmp_path_factory.mktemp("kumamoto") / "csv")


@pytest.fixture(scope="module")
def prepared(layout, tmp_path_factory) -> tuple[dict, Path, dict, dict]:
    root = tmp_path_factory.mktemp("project")
    params = csv_params(layout)
    summary = fetch(params, root / "data" / "raw")
    meta = prepare(params, root / "data" / "raw", root / "data" / "processed")
    return params, root, summary, meta


def edited(layout: Path, tmp_path: Path, name: str, change) -> Path:
    """A copy of the layout whose file ``name`` is rewritten as ``change(text)``."""
    folder = tmp_path / "edited"
    folder.mkdir()
    for file in layout.iterdir():
        text = file.read_text(encoding="utf-8")
        (folder / file.name).write_text(change(text) if file.name == name else text, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- the happy path


def test_fetch_copies_the_files_unchanged(prepared, layout):
    params, root, summary, _ = prepared
    raw = root / "data" / "raw"
    for name in ("wells.csv", "levels.csv", "forcings.csv"):
        assert (raw / "csv" / name).read_bytes() == (layout / name).read_bytes()
    assert (raw / "fetch.json").exists()
    assert not [p for p in (root / "data").iterdir() if p.name.startswith(".")]  # no temp folder left
    files = pd.DataFrame(summary["files"])
    wells = files[files["kind"] == "well"].set_index("hzb")
    assert wells.loc[DAILY_WELL, "resolution"] == "daily" and wells.loc[101, "resolution"] == "monthly"
    assert wells.loc[101, "first"] == "1990-01-01" and wells.loc[101, "values"] == 384
    assert not wells.loc[106, "listed"] and wells.loc[103, "listed"]
    forcing = files[files["kind"] == "forcing"].set_index("name")
    assert forcing.loc["precipitation", "how"] == "sum" and forcing.loc["temperature", "how"] == "mean"
    table = summary_table(summary).set_index("kind")
    assert table.loc["well", "listed"] == 5 and table.loc["well", "unlisted"] == 2
    assert table.loc["forcing", "listed"] == 2


def test_prepared_data_load_and_make_samples(prepared, layout):
    params, root, _, meta = prepared
    data = load_processed(root / "data" / "processed")
    assert list(data.levels.columns) == [str(w) for w in WELLS]
    assert data.levels.index.equals(MONTHS) and data.basin.index.equals(MONTHS)
    assert list(data.forcings.columns) == ["precipitation", "temperature"]
    assert data.levels.notna().all().all() and data.forcings.notna().all().all()

    level = monthly_level(0, daily_forcings()["precipitation"])
    np.testing.assert_allclose(data.levels["101"], level.to_numpy())  # monthly well: the value as given
    daily = pd.read_csv(layout / "levels.csv", parse_dates=["date"]).query(f"id == {DAILY_WELL}")
    assert data.levels.loc["2005-07-01", str(DAILY_WELL)] == pytest.approx(
        daily[daily["date"].dt.strftime("%Y-%m") == "2005-07"]["level"].mean())  # daily well: monthly mean
    forcing = daily_forcings()
    assert data.forcings.loc["1995-02-01", "precipitation"] == pytest.approx(forcing.loc["1995-02", "precipitation"].sum())
    assert data.forcings.loc["1995-02-01", "temperature"] == pytest.approx(forcing.loc["1995-02", "temperature"].mean())

    wells = data.wells.set_index("hzb")
    assert sorted(wells.index) == [*WELLS, 106]  # 201 lies in area 2
    assert wells.loc[WELLS, "listed"].all() and not wells.loc[106, "listed"]
    assert wells.loc[106, "reason"] == "not listed: coverage 1.000 >= 0.95, but not in basin.wells"
    assert wells.loc[101, "name"] == "熊本 1" and wells.loc[102, "lon"] == pytest.approx(130.75)
    assert np.isnan(wells.loc[DAILY_WELL, "elevation"])
    assert wells.loc[WELLS, "corr_basin"].notna().all() and wells.loc[WELLS, "train_std"].gt(0).all()

    assert meta == data.meta
    assert meta["format"] == "csv" and meta["daily_levels"] == [DAILY_WELL]
    assert meta["rain_stations"] == [] and meta["gauges"] == []
    assert [(f["name"], f["how"], f["resolution"], f["named"]) for f in meta["forcings"]] == [
        ("precipitation", "sum", "daily", True), ("temperature", "mean", "daily", True)]
    assert meta["counts"]["wells_listed"] == 5 and meta["counts"]["wells_area"] == 6

    fc = params["forecast"]
    samples = make_samples(data.series(102), data.forcings[fc["forcings"]], window=12, leads=fc["leads"],
                           mode=fc["mode"], target=fc["target"], train=params["split"]["train"])
    assert samples.features[2:4] == ["precipitation", "temperature"]
    # issued from the 12th month to the last but one (whose lead-1 target is the last month)
    assert len(samples) == len(MONTHS) - 12 and not np.isnan(samples.x).any()
    assert samples.within(params["split"]["train"]).sum() > 200


def test_same_rules_as_ehyd(layout, tmp_path):
    """Missing days of a daily well and a rain month, a monthly gap, a split boundary: the eHYD rules."""
    forcings = daily_forcings()
    forcings.loc["2000-03-05":"2000-03-07", "precipitation"] = np.nan  # 3 days: kept, scaled
    forcings.loc["2001-05-01":"2001-05-06", "temperature"] = np.nan  # 6 days: month missing
    folder = write_layout(tmp_path / "csv", forcings)
    levels = pd.read_csv(folder / "levels.csv", dtype={"date": str})
    drop = ((levels["id"] == DAILY_WELL) & levels["date"].between("2003-04-01", "2003-04-06")
            | (levels["id"] == 101) & levels["date"].isin(["2010-12-01", "2011-01-01"]))
    levels[~drop].to_csv(folder / "levels.csv", index=False)  # days without a row are missing days

    params = csv_params(folder)
    fetch(params, tmp_path / "raw")
    meta = prepare(params, tmp_path / "raw", tmp_path / "out")
    data = load_processed(tmp_path / "out")
    march = forcings.loc["2000-03", "precipitation"]
    assert data.forcings.loc["2000-03-01", "precipitation"] == pytest.approx(march.mean() * 31)
    assert np.isnan(data.forcings.loc["2001-05-01", "temperature"])
    assert any(w.startswith("forcing temperature") and "2001-05" in w for w in meta["warnings"])
    assert meta["interpolated"][str(DAILY_WELL)] == ["2003-04"]  # 6 missing days, then filled from neighbours
    # 2010-12 is the last training month, 2011-01 the first validation month: never filled across
    assert data.levels.loc["2010-12-01":"2011-01-01", "101"].isna().all()


def test_monthly_forcings_are_used_as_given(layout, tmp_path):
    monthly = daily_forcings().resample("MS").agg({"precipitation": "sum", "temperature": "mean"})
    monthly["snow_sum"] = 1.0
    folder = write_layout(tmp_path / "csv", monthly)
    params = csv_params(folder)
    fetch(params, tmp_path / "raw")
    meta = prepare(params, tmp_path / "raw", tmp_path / "out")
    forcings = load_processed(tmp_path / "out").forcings
    assert list(forcings.columns) == ["precipitation", "temperature", "snow_sum"]  # every column, CSV names
    np.testing.assert_allclose(forcings["precipitation"], monthly["precipitation"])
    assert [f["how"] for f in meta["forcings"]] == ["as given"] * 3
    assert [f["named"] for f in meta["forcings"]] == [True, True, False]


def test_rules_of_the_layout():
    assert [aggregation(n) for n in ("precipitation", "Rain", "rainfall", "evaporation_sum", "temperature",
                                     "discharge")] == ["sum", "sum", "sum", "sum", "mean", "mean"]
    # daily or monthly: gwtl.data.monthly.is_daily (test_monthly.py)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "name, change, words",
    [
        ("wells.csv", lambda t: t.replace(",lat,", ",latitude,", 1), r"wells.csv: no column lat"),
        ("levels.csv", lambda t: t.replace("1995-03-01", "1995-13-01", 1), r"levels.csv: column date: 1 row\(s\) \(line \d+: '1995-13-01'\) are not dates YYYY-MM-DD"),
        ("levels.csv", lambda t: t + "999,2000-01-01,3.5\n", r"levels.csv: well id\(s\) 999 are not in wells.csv"),
        ("forcings.csv", lambda t: t.replace("\n1990-01-02,", "\n1990-01-02,x", 1), r"forcings.csv: column precipitation: 1 row\(s\) \(line 3: 'x"),
        ("forcings.csv", lambda t: t.replace("1990-01-02", "1990-01-01", 1), r"repeat a date"),
        ("wells.csv", lambda t: t.replace("\n102,", "\n101,", 1), r"well id\(s\) \[101\] appear in more than one row"),
        ("levels.csv", lambda t: re.sub(r"\n101,1995-03-01,[^\n]*", "\n101,1995-03-01,1000000000", t, count=1),
         r"levels.csv: well 101: levels more than 20 interquartile ranges .*\(1995-03-01: 1e\+09\); correct or delete"),
        ("levels.csv", lambda t: re.sub(r"\n102,1995-03-01,[^\n]*", "\n102,1995-03-01,-9999", t, count=1),
         r"levels.csv: well 102: levels more than .*\(1995-03-01: -9999\)"),
        ("forcings.csv", lambda t: re.sub(r"\n1990-01-02,[^,]*,", "\n1990-01-02,-500,", t, count=1),
         r"forcings.csv: column precipitation: negative precipitation \(1990-01-02: -500\)"),
        ("levels.csv", lambda t: t + "101,1995-03-15,20.5\n",
         r"levels.csv: well 101: most months hold one row, so the series is read as monthly, but 1 month\(s\) hold "
         r"several \(1995-03: 1995-03-01, 1995-03-15\); keep one row per month"),
    ],
)
def test_bad_files_fail_at_fetch_naming_file_and_line(layout, tmp_path, name, change, words):
    raw = tmp_path / "raw"
    fetch(csv_params(layout), raw)
    before = (raw / "fetch.json").read_bytes()
    with pytest.raises(FetchError, match=words):
        fetch(csv_params(edited(layout, tmp_path, name, change)), raw)
    assert (raw / "fetch.json").read_bytes() == before  # a failed fetch keeps data/raw


def test_listed_wells_must_be_in_the_files(layout, tmp_path):
    params = csv_params(layout)
    params["basin"]["wells"] = [*WELLS, 107]
    with pytest.raises(FetchError, match=r"basin.wells: well id\(s\) 107 are not in wells.csv"):
        fetch(params, tmp_path / "raw")
    params["basin"]["wells"] = [*WELLS, 201]
    folder = edited(layout, tmp_path, "levels.csv",
                    lambda t: "\n".join(line for line in t.splitlines() if not line.startswith("201,")) + "\n")
    with pytest.raises(FetchError, match=r"well id\(s\) 201 have no value in levels.csv"):
        fetch({**params, "data": {**params["data"], "source": str(folder)}}, tmp_path / "raw")


def test_missing_folder_is_named(tmp_path):
    params = csv_params(tmp_path)
    params["data"]["source"] = str(tmp_path / "nowhere")
    with pytest.raises(FetchError, match="CSV folder .*nowhere.* not found"):
        fetch(params, tmp_path / "raw")


def test_forcing_named_in_params_but_absent(prepared, tmp_path):
    params, root, _, _ = prepared
    params = copy.deepcopy(params)
    params["forecast"]["forcings"] = ["precipitation", "humidity"]
    with pytest.raises(PrepareError, match=r"forecast.forcings: humidity not a column of forcings.csv "
                                           r"\(its columns: precipitation, temperature\)"):
        prepare(params, root / "data" / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_named_forcing_with_low_coverage_fails(layout, tmp_path):
    forcings = daily_forcings()
    forcings.loc["1990-01-01":"1992-12-31", "temperature"] = np.nan  # 36 of 384 months
    params = csv_params(write_layout(tmp_path / "csv", forcings))
    fetch(params, tmp_path / "raw")
    with pytest.raises(PrepareError, match=r"forecast.forcings: forcing temperature .*coverage 0.906 < 0.95"):
        prepare(params, tmp_path / "raw", tmp_path / "out")
    params["forecast"]["forcings"] = ["precipitation"]  # not named: prepared, not checked
    prepare(params, tmp_path / "raw", tmp_path / "out")
    assert load_processed(tmp_path / "out").forcings["temperature"].isna().sum() == 36


def test_prepare_without_fetch_says_what_to_do(layout, tmp_path):
    with pytest.raises(PrepareError, match="run the fetch stage first"):
        prepare(csv_params(layout), tmp_path / "raw", tmp_path / "out")
