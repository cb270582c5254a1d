"""eHYD catalogs: columns, decimal comma, ISO-8859-1, coordinates, selections and errors."""

from __future__ import annotations

import numpy as np
import pytest

from gwtl.sources.catalog import CatalogError, area_wells, catalog_path, read_catalog, stations_near
from gwtl.sources.ehyd import read_ehyd


@pytest.fixture
def gw(ehyd_data):
    return read_catalog(catalog_path(ehyd_data, "gw"), "gw")


@pytest.fixture
def nlv(ehyd_data):
    return read_catalog(catalog_path(ehyd_data, "nlv"), "nlv")


def test_groundwater_catalog(gw):
    assert list(gw.columns) == ["hzb", "name", "area", "area_name", "elevation", "x", "y", "lon", "lat"]
    assert gw["hzb"].dtype == np.int64 and gw["area"].dtype == np.int64
    assert list(gw["hzb"]) == sorted(gw["hzb"])
    row = gw.set_index("hzb").loc[336545]
    assert row["name"] == "Untergralla, Bl 38002"
    assert (row["area"], row["area_name"]) == (390, "390 Leibnitzer Feld")
    assert (row["elevation"], row["x"], row["y"]) == (276.34, 570431.76, 326208.25)


def test_other_catalogs_decode_iso_8859_1(ehyd_data):
    nlv = read_catalog(catalog_path(ehyd_data, "nlv"), "nlv")
    owf = read_catalog(catalog_path(ehyd_data, "owf"), "owf")
    assert list(nlv.columns) == ["hzb", "name", "elevation", "x", "y", "lon", "lat"]
    assert list(owf.columns) == ["hzb", "name", "river", "elevation", "x", "y", "lon", "lat"]
    assert owf.set_index("hzb").loc[211441, "river"] == "Laßnitz"
    assert owf.set_index("hzb").loc[211466, "elevation"] == 244.22
    assert nlv.set_index("hzb").loc[112300, "elevation"] == 485.0


@pytest.mark.parametrize("kind, file", [("gw", "gw/Grundwasserstand-Monatsmittel-336545.csv"),
                                        ("nlv", "nlv/N-Tagessummen-112300.csv")])
def test_planar_coordinates_are_austria_lambert(ehyd_data, kind, file):
    """Catalog x/y read as EPSG:31287 land on the station's header coordinates.

    The headers give Bessel degrees rounded to whole seconds (up to ~18 m);
    reading x/y as ETRS89 Austria Lambert (EPSG:3416) would be ~75 m off.
    """
    meta = read_ehyd(ehyd_data / file).meta
    row = read_catalog(catalog_path(ehyd_data, kind), kind).set_index("hzb").loc[meta["hzb"]]
    dx = (row["lon"] - meta["lon"]) * 111_320 * np.cos(np.radians(meta["lat"]))
    dy = (row["lat"] - meta["lat"]) * 110_574
    assert np.hypot(dx, dy) < 20


def test_area_wells(gw, nlv):
    assert list(area_wells(gw, 390)["hzb"]) == [310854, 325415, 336545]
    assert list(area_wells(gw, 380)["hzb"]) == [325324]
    assert area_wells(gw, 999).empty
    with pytest.raises(ValueError, match="groundwater catalog"):
        area_wells(nlv, 390)


def test_stations_near(gw, nlv):
    well = gw.set_index("hzb").loc[336545]
    near = stations_near(nlv, well["lon"], well["lat"], 15)
    assert list(near["hzb"]) == [112318, 112300]  # nearest first; 109801 (Lower Austria) is far
    planar = np.hypot(near["x"] - well["x"], near["y"] - well["y"]) / 1000
    assert np.allclose(near["distance_km"], planar, rtol=0.005)
    assert list(stations_near(nlv, well["lon"], well["lat"], 9.25)["hzb"]) == [112318]  # 9.15 and 9.34 km
    assert stations_near(nlv, well["lon"], well["lat"], 0).empty


def test_missing_catalog_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="messstellen_gw.csv.*fetch"):
        read_catalog(catalog_path(tmp_path, "gw"), "gw")


def test_unknown_kind(ehyd_data):
    with pytest.raises(ValueError, match="unknown catalog kind 'wq'"):
        read_catalog(catalog_path(ehyd_data, "gw"), "wq")


def _corrupt(ehyd_data, tmp_path, change):
    text = catalog_path(ehyd_data, "gw").read_bytes().decode("iso-8859-1")
    changed = change(text)
    path = tmp_path / "messstellen_gw.csv"
    path.write_bytes(changed.encode("iso-8859-1") if isinstance(changed, str) else changed)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace(";", ","), "columns .* missing"),
    (lambda t: t.replace("570431,76", "57O431,76"), r"'xrkko09', data row 4: '57O431,76' is not a number"),
    (lambda t: t.replace(";336545;", ";33654a;"), "'hzbnr01'.*not a whole number"),
    (lambda t: t.replace(";325415;", ";336545;"), "336545 is listed twice"),
    (lambda t: t.split("\n")[0] + "\n", "no stations"),
    (lambda t: "", "not a ';'-separated"),
    (lambda t: t.encode("utf-8"), "UTF-8"),
])
def test_corrupt_catalog_is_an_error(ehyd_data, tmp_path, change, message):
    path = _corrupt(ehyd_data, tmp_path, change)
    with pytest.raises(CatalogError, match=message):
        read_catalog(path, "gw")
    assert str(path) in str(pytest.raises(CatalogError, read_catalog, path, "gw").value)


def test_wrong_kind_of_catalog_is_an_error(ehyd_data):
    with pytest.raises(CatalogError, match="messstellen_gw.csv"):
        read_catalog(catalog_path(ehyd_data, "nlv"), "gw")
