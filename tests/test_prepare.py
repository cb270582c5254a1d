"""The prepare stage on synthetic eHYD files (and once on tiny real extracts).

The monthly rules and the basin signal on their own: test_monthly.py, test_signal.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ehyd_files import write_gauge, write_rain, write_well

from gwtl.data.monthly import PrepareError, month_index
from gwtl.data.prepare import prepare
from gwtl.data.processed import load_processed
from gwtl.sources.ehyd import read_ehyd

REAL = Path(__file__).parent / "data" / "prepare"
WELLS = [300001, 300002, 300003, 300004]
RAIN, GAUGE = [100001, 100002], [200001]
TRAIN = ("2000-01", "2003-12")


def base_params() -> dict:
    return {
        "basin": {"name": "Synthetic Feld", "area": 390, "wells": list(WELLS),
                  "rain_stations": list(RAIN), "gauges": list(GAUGE)},
        "prepare": {"start": "2000-01", "end": "2005-12", "min_coverage": 0.95, "max_gap_months": 2,
                    "min_wells": 3, "max_missing_days": 5, "min_rain_stations": 1},
        "split": {"train": list(TRAIN), "validation": ["2004-01", "2004-12"],
                  "test": ["2005-01", "2005-12"]},
    }


def synthetic_levels(seed: int) -> pd.Series:
    """Monthly levels 1999-01..2006-12: a shared seasonal cycle and trend plus noise."""
    months = pd.date_range("1999-01-01", "2006-12-01", freq="MS")
    rng = np.random.default_rng(seed)
    t = np.arange(len(months))
    shared = 0.4 * np.sin(2 * np.pi * t / 12) + 0.003 * t
    return pd.Series(250 + seed + shared + 0.1 * rng.standard_normal(len(t)), index=months)


def daily(seed: int, scale: float = 3.0) -> pd.Series:
    days = pd.date_range("1999-12-01", "2006-01-31", freq="D")
    rng = np.random.default_rng(100 + seed)
    return pd.Series(np.round(rng.gamma(0.5, scale, len(days)), 1), index=days)


def make_raw(raw: Path, levels: dict | None = None, rain: dict | None = None, gauge: dict | None = None) -> Path:
    """Four listed wells, one unlisted well of the area, one well of another area, stations, a gauge."""
    levels = levels or {}
    for i, hzb in enumerate(WELLS):
        write_well(raw, hzb, levels.get(hzb, synthetic_levels(i)), lon=15.5 + i / 100, name=f"Brunnen {i}")
    sparse = synthetic_levels(9)
    sparse[sparse.index.year == 2002] = np.nan
    write_well(raw, 300009, sparse)  # area 390, not listed, coverage 60/72
    write_well(raw, 380001, synthetic_levels(8), area=380)
    for i, hzb in enumerate(RAIN):
        write_rain(raw, hzb, (rain or {}).get(hzb, daily(i)))
    for hzb in GAUGE:
        write_gauge(raw, hzb, (gauge or {}).get(hzb, 50 + daily(7, 10.0)))
    return raw


@pytest.fixture
def raw(tmp_path) -> Path:
    return make_raw(tmp_path / "raw")


# --------------------------------------------------------------------------- output


def test_output_is_readable_by_load_processed(raw, tmp_path):
    meta = prepare(base_params(), raw, tmp_path / "out")
    data = load_processed(tmp_path / "out")
    months = month_index("2000-01", "2005-12")
    assert list(data.levels.columns) == [str(w) for w in WELLS]
    assert data.levels.index.equals(months) and data.basin.index.equals(months)
    assert list(data.basin.columns) == ["basin", "n_wells"]
    assert list(data.forcings.columns) == ["precipitation", "discharge_200001"]
    assert data.forcings.notna().all().all()
    assert (data.basin["n_wells"] == 4).all()
    # levels are the file's values
    expected = synthetic_levels(0).loc["2000":"2005"].round(2)
    np.testing.assert_allclose(data.levels["300001"].to_numpy(), expected.to_numpy())
    wells = data.wells.set_index("hzb")
    assert sorted(wells.index) == [*WELLS, 300009]  # the well of area 380 is not part of the area
    assert wells["listed"].dtype == bool and wells.loc[WELLS, "listed"].all()
    assert wells.loc[300009, "reason"] == "not listed: coverage 0.833 < 0.95"
    assert np.isnan(wells.loc[300009, "corr_basin"])
    assert wells.loc[WELLS, "corr_basin"].gt(0.5).all()
    assert abs(wells.loc[300002, "lon"] - 15.51) < 1e-3 and wells.loc[300002, "name"] == "Brunnen 1"
    for key in ("basin", "area", "period", "split", "warnings", "counts"):
        assert key in data.meta
    assert data.meta == meta
    assert meta["counts"]["wells_listed"] == 4 and meta["counts"]["wells_not_listed"] == 1
    assert any("300009" in w or "not in basin.wells" in w for w in meta["warnings"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_a_failed_run_keeps_the_previous_output(raw, tmp_path):
    out = tmp_path / "out"
    prepare(base_params(), raw, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    params = base_params()
    params["basin"]["wells"] = [*WELLS, 399999]
    with pytest.raises(PrepareError):
        prepare(params, raw, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    params = base_params()
    params["basin"]["wells"] = WELLS[:3]
    prepare(params, raw, out)
    assert list(load_processed(out).levels.columns) == [str(w) for w in WELLS[:3]]


# --------------------------------------------------------------------------- checks


def test_low_coverage_fails_naming_each_well(tmp_path):
    a, b = synthetic_levels(0), synthetic_levels(1)
    a[(a.index >= "2001-01-01") & (a.index < "2001-07-01")] = np.nan  # 66/72 = 0.917
    b[(b.index >= "2002-01-01") & (b.index < "2003-01-01")] = np.nan  # 60/72 = 0.833
    raw = make_raw(tmp_path / "raw", levels={300001: a, 300002: b})
    with pytest.raises(PrepareError) as err:
        prepare(base_params(), raw, tmp_path / "out")
    text = str(err.value)
    assert "300001" in text and "0.917" in text and "300002" in text and "0.833" in text
    assert "300003" not in text
    assert "basin.wells" in text and "prepare.min_coverage" in text
    assert not (tmp_path / "out").exists()
    params = base_params()
    params["prepare"]["min_coverage"] = 0.8
    prepare(params, raw, tmp_path / "out")  # lowering the threshold is the documented fix


def test_listed_ids_without_file_are_named(raw, tmp_path):
    params = base_params()
    params["basin"]["wells"] = [*WELLS, 399998, 399999]
    params["basin"]["gauges"] = [299999]
    with pytest.raises(PrepareError, match=r"basin.wells: no file for 399998, 399999") as err:
        prepare(params, raw, tmp_path / "out")
    assert "basin.gauges: no file for 299999" in str(err.value)


def test_series_without_data_in_the_period_fails(tmp_path):
    old = synthetic_levels(2).loc[:"1999-12"]
    raw = make_raw(tmp_path / "raw", levels={300003: old})
    with pytest.raises(PrepareError, match=r"well 300003 .*no value in 2000-01..2005-12; its values cover 1999-01..1999-12"):
        prepare(base_params(), raw, tmp_path / "out")


def test_too_few_wells_fails(raw, tmp_path):
    params = base_params()
    params["prepare"]["min_wells"] = 5
    with pytest.raises(PrepareError, match="fewer than prepare.min_wells = 5"):
        prepare(params, raw, tmp_path / "out")


@pytest.mark.parametrize("kind", ["rain", "gauge"])
def test_station_with_long_gaps_fails_naming_it(tmp_path, kind):
    series = daily(0) if kind == "rain" else 50 + daily(7, 10.0)
    series[(series.index >= "2003-03-01") & (series.index < "2003-07-01")] = np.nan  # 4 months: 68/72
    hzb, key = (100002, "basin.rain_stations") if kind == "rain" else (200001, "basin.gauges")
    raw = make_raw(tmp_path / "raw", **{kind: {hzb: series}})
    with pytest.raises(PrepareError, match=rf"{key}: .* {hzb} .*coverage 0.944 < 0.95"):
        prepare(base_params(), raw, tmp_path / "out")


# --------------------------------------------------------------------------- rules


def test_gaps_in_levels_through_prepare(tmp_path):
    a = synthetic_levels(0)
    a[["2001-05-01", "2001-06-01"]] = np.nan
    a[["2002-02-01", "2002-03-01", "2002-04-01"]] = np.nan
    params = base_params()
    params["prepare"]["min_coverage"] = 0.9
    meta = prepare(params, make_raw(tmp_path / "raw", levels={300001: a}), tmp_path / "out")
    level = load_processed(tmp_path / "out").levels["300001"]
    step = (a["2001-07-01"] - a["2001-04-01"]) / 3
    np.testing.assert_allclose(level[["2001-05-01", "2001-06-01"]],
                               [a["2001-04-01"] + step, a["2001-04-01"] + 2 * step], atol=0.01)
    assert level["2002-02-01":"2002-04-01"].isna().all()
    assert meta["interpolated"] == {"300001": ["2001-05", "2001-06"]}


def test_areal_precipitation_needs_min_rain_stations(tmp_path):
    one = daily(0)
    one[(one.index >= "2001-01-01") & (one.index < "2001-02-01")] = np.nan
    params = base_params()
    raw = make_raw(tmp_path / "raw", rain={100001: one})
    prepare(params, raw, tmp_path / "a")
    forcings = load_processed(tmp_path / "a").forcings
    jan = daily(1)["2001-01"].sum()
    np.testing.assert_allclose(forcings.loc["2001-01-01", "precipitation"], jan, rtol=1e-9)
    params["prepare"]["min_rain_stations"] = 2
    meta = prepare(params, raw, tmp_path / "b")
    assert np.isnan(load_processed(tmp_path / "b").forcings.loc["2001-01-01", "precipitation"])
    assert any(w.startswith("precipitation: 1 months") for w in meta["warnings"])


# --------------------------------------------------------------------------- leakage


def test_later_periods_do_not_change_training(tmp_path):
    """Validation and test values of a well leave the training basin signal and statistics alone."""
    a = synthetic_levels(0)
    a["2003-12-01"] = np.nan  # last training month: its neighbour is in the validation period
    b = a.copy()
    b[b.index >= "2004-01-01"] += 5.0 + np.random.default_rng(1).standard_normal((b.index >= "2004-01-01").sum())
    params = base_params()
    prepare(params, make_raw(tmp_path / "raw_a", levels={300001: a}), tmp_path / "a")
    prepare(params, make_raw(tmp_path / "raw_b", levels={300001: b}), tmp_path / "b")
    pa, pb = load_processed(tmp_path / "a"), load_processed(tmp_path / "b")
    train = slice(pd.Timestamp(TRAIN[0]), pd.Timestamp(TRAIN[1]))
    pd.testing.assert_frame_equal(pa.basin.loc[train], pb.basin.loc[train])
    pd.testing.assert_frame_equal(pa.levels.loc[train], pb.levels.loc[train])
    cols = ["train_mean", "train_std", "corr_basin"]
    pd.testing.assert_frame_equal(pa.wells[cols], pb.wells[cols])
    assert not np.allclose(pa.basin.loc["2005"], pb.basin.loc["2005"])  # the change did arrive
    # the statistics are the training-period mean and std of the levels
    stats = pa.wells.set_index("hzb").rename(index=str).loc[pa.levels.columns]
    in_train = pa.levels.loc[train]
    np.testing.assert_allclose(stats["train_mean"], in_train.mean(), rtol=1e-12)
    np.testing.assert_allclose(stats["train_std"], in_train.std(), rtol=1e-12)
    z = (pa.levels - stats["train_mean"]) / stats["train_std"]
    np.testing.assert_allclose(pa.basin["basin"], z.mean(axis=1), rtol=1e-9)


# --------------------------------------------------------------------------- real extract


def real_extract_params() -> dict:
    """Params of the real extract: three wells of area 390, one rain station, Spielfeld, 2005-H1."""
    params = base_params()
    params["basin"].update(wells=[310854, 310862, 336545], rain_stations=[112300], gauges=[211466])
    params["prepare"].update(start="2005-01", end="2005-06")
    params["split"] = {"train": ["2005-01", "2005-03"], "validation": ["2005-04", "2005-04"],
                       "test": ["2005-05", "2005-06"]}
    return params


def test_real_extract(tmp_path):
    """Three real wells of the Leibnitzer Feld, one of the Grazer Feld, a rain station, Spielfeld (2005-H1)."""
    params = real_extract_params()
    raw = shutil.copytree(REAL, tmp_path / "raw")
    meta = prepare(params, raw, tmp_path / "out")
    data = load_processed(tmp_path / "out")
    assert sorted(data.wells["hzb"]) == [310854, 310862, 336545]  # 310177 lies in area 380
    assert data.levels.notna().all().all()
    wells = data.wells.set_index("hzb")
    assert wells.loc[310854, "name"].startswith("Badendorf")
    assert 15.5 < wells.loc[310854, "lon"] < 15.7 and 46.8 < wells.loc[310854, "lat"] < 46.9
    rain = read_ehyd(raw / "nlv" / "N-Tagessummen-112300.csv").values
    feb = rain[(rain.index >= "2005-02-01") & (rain.index < "2005-03-01")].sum()
    assert data.forcings.loc["2005-02-01", "precipitation"] == pytest.approx(feb)
    q = read_ehyd(raw / "owf" / "Q-Tagesmittel-211466.csv").values
    assert data.forcings.loc["2005-03-01", "discharge_211466"] == pytest.approx(q["2005-03"].mean())
    assert meta["gauges"][0]["name"] == "Spielfeld"
    # the river stage: cm above the gauge datum (244.22 m a.s.l. since 1976) -> monthly mean in m a.s.l.
    w = read_ehyd(raw / "owf" / "W-Tagesmittel-211466.csv").values
    assert data.forcings.loc["2005-03-01", "stage_211466"] == pytest.approx(244.22 + w["2005-03"].mean() / 100)
    assert data.forcings["stage_211466"].between(244, 250).all()
    assert "stage_211466" in [f["name"] for f in meta["forcings"]] and meta["counts"]["stages"] == 1


def test_a_change_of_the_gauge_datum_is_not_a_jump_of_the_river(tmp_path):
    """A new datum from 2005-03-01 on, 1 m higher, with the stage in cm 100 lower: the same water level."""
    params = real_extract_params()
    raw = shutil.copytree(REAL, tmp_path / "raw")
    prepare(params, raw, tmp_path / "before")
    path = raw / "owf" / "W-Tagesmittel-211466.csv"
    text = path.read_bytes().decode("iso-8859-1")
    text = text.replace("   21.11.2022              ;00244,07", "   01.03.2005              ;00245,22")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        stamp, _, value = line.partition(";")
        if stamp[2:3] == "." and pd.Timestamp(stamp[6:10] + stamp[3:5] + stamp[:2]) >= pd.Timestamp("2005-03-01"):
            lines[i] = f"{stamp};{int(value) - 100:6d}"
    path.write_bytes("\n".join(lines).encode("iso-8859-1"))
    assert read_ehyd(path).meta["datum"] == [("1976-01-01", 244.22), ("2005-03-01", 245.22)]
    prepare(params, raw, tmp_path / "after")
    before, after = (load_processed(tmp_path / n).forcings["stage_211466"] for n in ("before", "after"))
    pd.testing.assert_series_equal(before, after, rtol=1e-12)


def test_a_gauge_without_a_stage_file_has_no_stage_and_a_warning(tmp_path):
    params = real_extract_params()
    raw = shutil.copytree(REAL, tmp_path / "raw")
    (raw / "owf" / "W-Tagesmittel-211466.csv").unlink()
    meta = prepare(params, raw, tmp_path / "out")
    assert list(load_processed(tmp_path / "out").forcings.columns) == ["precipitation", "discharge_211466"]
    assert any("no W-Tagesmittel file for gauge(s) 211466" in w for w in meta["warnings"])
