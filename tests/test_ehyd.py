"""read_ehyd on real extracts of eHYD files (header bytes and a few dozen value lines kept as served)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ehyd_files import write_well

from gwtl.sources.ehyd import EhydFormatError, area_well_files, data_path, file_area, read_ehyd

GW = "gw/Grundwasserstand-Monatsmittel-336545.csv"
NLV = "nlv/N-Tagessummen-112300.csv"
OWF = "owf/Q-Tagesmittel-211466.csv"


def test_monthly_groundwater_file(ehyd_data):
    series = read_ehyd(ehyd_data / GW)
    meta = series.meta
    assert meta["name"] == "Untergralla, Bl 38002"
    assert meta["hzb"] == 336545
    assert meta["area"] == 390
    assert meta["unit"] == "m ü.A."
    assert meta["elevation"] == pytest.approx(276.34)
    # Newest coordinates (2003: 15 34 04 / 46 48 50 Bessel), shifted to WGS84 (about 3.6" west).
    assert meta["lon"] == pytest.approx(15.566779, abs=2e-6)
    assert meta["lat"] == pytest.approx(46.813525, abs=2e-6)
    values = series.values
    assert values.dtype == float and len(values) == 49
    assert values.index[0] == pd.Timestamp("2011-05-01") and values.iloc[0] == pytest.approx(271.50)
    assert values[pd.Timestamp("2012-08-01")] == pytest.approx(271.62)  # decimal comma
    assert np.isnan(values[pd.Timestamp("2012-09-01")])  # 'Lücke' mid-series
    assert values[pd.Timestamp("2012-10-01")] == pytest.approx(271.69)
    assert np.isnan(values[pd.Timestamp("2022-01-01")])  # closing gap
    assert int(values.isna().sum()) == 2


def test_daily_precipitation_file(ehyd_data):
    series = read_ehyd(ehyd_data / NLV)
    meta = series.meta
    assert (meta["name"], meta["hzb"], meta["area"], meta["unit"]) == ("Kitzeck im Sausal", 112300, None, "mm")
    assert meta["elevation"] == pytest.approx(485.0)
    assert meta["lon"] == pytest.approx(15.448185, abs=2e-6)
    assert meta["lat"] == pytest.approx(46.79269, abs=2e-6)
    values = series.values
    assert len(values) == 36
    assert values[pd.Timestamp("1971-01-02 07:00")] == pytest.approx(6.4)  # stamped 07:00
    assert values.index[-1] == pd.Timestamp("2022-01-01 07:00") and np.isnan(values.iloc[-1])
    assert int(values.isna().sum()) == 1


def test_daily_discharge_file(ehyd_data):
    series = read_ehyd(ehyd_data / OWF)
    meta = series.meta
    assert (meta["name"], meta["hzb"], meta["unit"]) == ("Spielfeld", 211466, "m³/s")
    assert meta["area"] is None and meta["lon"] is None and meta["lat"] is None
    values = series.values
    assert values[pd.Timestamp("1968-01-01")] == pytest.approx(56.6)
    assert values[pd.Timestamp("1968-01-17")] == pytest.approx(107.0)  # no decimal part
    assert np.isnan(values[pd.Timestamp("2022-01-01")])


def _write(tmp_path, raw: bytes):
    path = tmp_path / "Grundwasserstand-Monatsmittel-336545.csv"
    path.write_bytes(raw)
    return path


def test_missing_werte_line_is_an_error(ehyd_data, tmp_path):
    raw = (ehyd_data / GW).read_bytes()
    path = _write(tmp_path, raw[: raw.index(b"Werte:")])
    with pytest.raises(EhydFormatError, match=r"336545\.csv: no 'Werte:' line"):
        read_ehyd(path)


def test_non_numeric_value_is_an_error(ehyd_data, tmp_path):
    raw = (ehyd_data / GW).read_bytes().replace(b"271,62", b"27x,62")
    path = _write(tmp_path, raw)
    with pytest.raises(EhydFormatError, match=r"line \d+: value '27x,62' is neither a finite number"):
        read_ehyd(path)


def test_utf8_reencoded_file_is_an_error(ehyd_data, tmp_path):
    raw = (ehyd_data / GW).read_bytes().decode("iso-8859-1").encode("utf-8")
    path = _write(tmp_path, raw)
    with pytest.raises(EhydFormatError, match="UTF-8"):
        read_ehyd(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ehyd(tmp_path / "N-Tagessummen-999999.csv")


def test_file_names_of_an_ehyd_folder(ehyd_data):
    assert data_path(ehyd_data, "gw", 336545) == ehyd_data / GW
    assert data_path(ehyd_data, "nlv", 112300) == ehyd_data / NLV
    assert data_path(ehyd_data, "owf", 211466) == ehyd_data / OWF


def test_area_from_the_header_only(ehyd_data, tmp_path):
    assert file_area(ehyd_data / GW) == 390
    assert file_area(ehyd_data / NLV) is None  # no porous-aquifer area in a precipitation file
    levels = pd.Series(250.0, index=pd.date_range("2000-01-01", periods=3, freq="MS"))
    for hzb, area in ((300002, 390), (300001, 390), (380001, 380)):
        write_well(tmp_path, hzb, levels, area=area)
    assert area_well_files(tmp_path, 390) == [300001, 300002]
    assert area_well_files(tmp_path, 999) == []
