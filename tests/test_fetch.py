"""fetch: from a mirror folder and over HTTP from a local server that answers like eHYD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gwtl.sources.fetch as fetch_module
from ehyd_server import EhydServer, fetch_params
from gwtl.sources.fetch import FetchError, fetch, resolve_source, summary_table

EXPECTED = {
    "catalog/messstellen_gw.csv", "catalog/messstellen_nlv.csv", "catalog/messstellen_owf.csv",
    "gw/Grundwasserstand-Monatsmittel-336545.csv", "gw/Grundwasserstand-Monatsmittel-310854.csv",
    "nlv/N-Tagessummen-112300.csv", "owf/Q-Tagesmittel-211466.csv", "owf/W-Tagesmittel-211466.csv", "fetch.json",
}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(fetch_module, "BACKOFF_S", 0.01)


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def assert_same_as_mirror(dest: Path, mirror: Path) -> None:
    for name in EXPECTED - {"fetch.json"}:
        assert (dest / name).read_bytes() == (mirror / name).read_bytes(), name


@pytest.fixture
def previous(tmp_path) -> Path:
    """A data/raw from an earlier fetch, which a failed fetch must leave alone."""
    dest = tmp_path / "data" / "raw"
    (dest / "gw").mkdir(parents=True)
    (dest / "gw" / "old.csv").write_text("earlier fetch")
    return dest


def assert_untouched(previous: Path) -> None:
    assert files_in(previous) == {"gw/old.csv"}
    assert (previous / "gw" / "old.csv").read_text() == "earlier fetch"
    assert [p.name for p in previous.parent.iterdir()] == ["raw"]  # no temporary folders left


# -- mirror ------------------------------------------------------------------

def test_fetch_from_mirror(ehyd_mirror, tmp_path):
    dest = tmp_path / "data" / "raw"
    summary = fetch(fetch_params(), dest, source=str(ehyd_mirror))
    assert files_in(dest) == EXPECTED
    assert_same_as_mirror(dest, ehyd_mirror)
    assert summary["source"] == "mirror" and summary["location"] == str(ehyd_mirror)
    assert summary["counts"] == {"gw": 2, "nlv": 1, "owf": 1, "stage": 1, "missing": 1}
    assert summary["area_name"] == "390 Leibnitzer Feld"
    (missing,) = summary["missing"]
    assert (missing["kind"], missing["hzb"], missing["listed"]) == ("gw", 325415, False)
    assert "no Grundwasserstand-Monatsmittel-325415.csv in the mirror" in missing["reason"]
    well = next(f for f in summary["files"] if f["hzb"] == 336545)
    assert well["origin"] == str(ehyd_mirror / "gw" / "Grundwasserstand-Monatsmittel-336545.csv")
    assert (well["values"], well["first"], well["last"]) == (47, "2011-05-01", "2021-12-01")
    on_disk = json.loads((dest / "fetch.json").read_text(encoding="utf-8"))
    assert on_disk == {k: v for k, v in summary.items() if k != "dest"}
    table = summary_table(summary).set_index("kind")
    assert table.loc["gw", ["listed", "unlisted", "missing"]].tolist() == [2, 0, 1]
    assert table.set_index("product").loc[["Q-Tagesmittel", "W-Tagesmittel"], "listed"].tolist() == [1, 1]
    stage = next(f for f in summary["files"] if f.get("product") == "W-Tagesmittel")
    assert (stage["hzb"], stage["values"], stage["first"], stage["last"]) == (211466, 1096, "2004-01-01", "2006-12-31")


def test_a_gauge_without_a_stage_file_is_listed_missing_and_the_fetch_goes_on(ehyd_mirror, tmp_path):
    (ehyd_mirror / "owf" / "W-Tagesmittel-211466.csv").unlink()
    dest = tmp_path / "data" / "raw"
    summary = fetch(fetch_params(), dest, source=str(ehyd_mirror))
    assert files_in(dest) == EXPECTED - {"owf/W-Tagesmittel-211466.csv"}
    assert summary["counts"] == {"gw": 2, "nlv": 1, "owf": 1, "stage": 0, "missing": 2}
    stage = next(m for m in summary["missing"] if m.get("product") == "W-Tagesmittel")
    assert stage["hzb"] == 211466 and "no W-Tagesmittel-211466.csv in the mirror" in stage["reason"]
    assert "uses the gauge's discharge instead" in stage["reason"]


def test_fetch_replaces_previous_data(ehyd_mirror, previous):
    fetch(fetch_params(), previous, source=str(ehyd_mirror))
    assert files_in(previous) == EXPECTED
    assert [p.name for p in previous.parent.iterdir()] == ["raw"]


def test_auto_source(ehyd_mirror, tmp_path, monkeypatch):
    project = tmp_path / "work" / "project"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    monkeypatch.delenv(fetch_module.MIRROR_ENV, raising=False)
    assert resolve_source("auto") == ("download", None)
    shared = tmp_path / "work" / "shared" / "data"
    shared.mkdir(parents=True)
    ehyd_mirror.rename(shared / "ehyd")
    assert resolve_source("auto") == ("mirror", Path("../shared/data/ehyd"))
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(FetchError, match="GWTL_EHYD_MIRROR"):
        resolve_source("auto")
    monkeypatch.setenv(fetch_module.MIRROR_ENV, str(shared / "ehyd"))
    assert resolve_source("auto") == ("mirror", shared / "ehyd")
    summary = fetch(fetch_params(source="auto"))
    assert (summary["source"], summary["location"]) == ("mirror", str(shared / "ehyd"))
    assert files_in(project / "data" / "raw") == EXPECTED


def test_missing_mirror_folder(tmp_path):
    with pytest.raises(FetchError, match="data.source: mirror folder .*nowhere.* not found"):
        fetch(fetch_params(), tmp_path / "raw", source=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("key, ids, message", [
    ("wells", [336545, 999999], r"basin.wells: groundwater station\(s\) \[999999\] are not in the eHYD catalog"),
    ("wells", [336545, 325324], r"325324 \(area 380 Grazer Feld\) lie outside basin.area 390"),
    ("rain_stations", [112300, 123456], r"basin.rain_stations: precipitation station\(s\) \[123456\]"),
    ("gauges", [211441], r"basin.gauges: the mirror .* has no Q-Tagesmittel file .* \[211441\]"),
    ("wells", [336545, 325415], r"basin.wells: the mirror .* \[325415\]; remove them from basin.wells"),
])
def test_bad_listed_ids_fail_before_copying(ehyd_mirror, previous, key, ids, message):
    params = fetch_params()
    params["basin"][key] = ids
    with pytest.raises(FetchError, match=message) as err:
        fetch(params, previous, source=str(ehyd_mirror))
    assert "params.yaml" in str(err.value)
    assert_untouched(previous)


def test_unknown_area(ehyd_mirror, previous):
    params = fetch_params()
    params["basin"]["area"] = 391
    with pytest.raises(FetchError, match="no well of the eHYD groundwater catalog lies in area 391"):
        fetch(params, previous, source=str(ehyd_mirror))
    assert_untouched(previous)


def test_corrupt_mirror_file(ehyd_mirror, previous):
    path = ehyd_mirror / "nlv" / "N-Tagessummen-112300.csv"
    raw = path.read_bytes()
    assert raw.count(b";     6,4\n") == 1
    path.write_bytes(raw.replace(b";     6,4\n", b";     x\n"))
    with pytest.raises(FetchError, match=r"precipitation station 112300: the file from .*N-Tagessummen-112300.csv "
                                         r"is corrupt: .*line \d+: value 'x'"):
        fetch(fetch_params(), previous, source=str(ehyd_mirror))
    assert_untouched(previous)


def test_mislabelled_file(ehyd_mirror, tmp_path):
    monthly = ehyd_mirror / "gw" / "Grundwasserstand-Monatsmittel-{}.csv"
    Path(str(monthly).format(310854)).write_bytes(Path(str(monthly).format(336545)).read_bytes())
    with pytest.raises(FetchError, match="holds station 336545, not 310854"):
        fetch(fetch_params(), tmp_path / "raw", source=str(ehyd_mirror))


# -- plausibility, unreadable files, leftovers --------------------------------

GW_336545 = "gw/Grundwasserstand-Monatsmittel-336545.csv"


def edit(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, new))


@pytest.mark.parametrize(
    "name, old, new, words",
    [
        (GW_336545, b"271,62", b"1000000000", r"groundwater station 336545: the file from .*336545.csv holds levels "
                                              r"more than 20 interquartile ranges .* \(2012-08-01: 1e\+09\)"),
        (GW_336545, b"271,62", b"-9999", r"station 336545: .*levels more than .*2012-08-01: -9999"),
        (GW_336545, b"271,62", b"inf", r"station 336545: the file .* is corrupt: .*value 'inf' is neither a finite"),
        ("nlv/N-Tagessummen-112300.csv", b";     1,9\n", b";  -500,0\n",
         r"precipitation station 112300: .*negative precipitation \(1971-01-20: -500\)"),
        ("nlv/N-Tagessummen-112300.csv", b";     1,9\n", b";  900,0\n",
         r"more than 500 mm of precipitation in a day \(1971-01-20: 900\)"),
    ],
)
def test_implausible_values_of_a_listed_station_fail_naming_file_date_and_value(ehyd_mirror, previous, name, old,
                                                                                new, words):
    edit(ehyd_mirror / name, old, new)
    with pytest.raises(FetchError, match=words) as err:
        fetch(fetch_params(), previous, source=str(ehyd_mirror))
    assert "params.yaml" in str(err.value)  # says what to do
    assert_untouched(previous)


def test_an_unlisted_well_with_implausible_values_is_left_out_and_listed(ehyd_mirror, tmp_path):
    params = fetch_params()
    params["basin"]["wells"] = [336545]  # 310854 of the same area becomes an unlisted well
    edit(ehyd_mirror / "gw" / "Grundwasserstand-Monatsmittel-310854.csv", b"271,62", b"-9999")
    summary = fetch(params, tmp_path / "raw", source=str(ehyd_mirror))
    skipped = {m["hzb"]: m["reason"] for m in summary["missing"]}
    assert "levels more than 20 interquartile ranges" in skipped[310854] and "-9999" in skipped[310854]
    assert not (tmp_path / "raw" / "gw" / "Grundwasserstand-Monatsmittel-310854.csv").exists()


def test_an_unreadable_file_is_named(ehyd_mirror, tmp_path, monkeypatch):
    """A file without read permission (simulated: tests may run as root, who reads any file)."""
    copy = fetch_module._copy

    def guarded(source: Path, target: Path) -> None:
        if "310854" in source.name:
            raise PermissionError(13, "Permission denied", str(source))
        copy(source, target)

    monkeypatch.setattr(fetch_module, "_copy", guarded)
    with pytest.raises(FetchError, match=r"station 310854: .*310854.csv cannot be read \(permission denied\); "
                                         r"make the file readable"):
        fetch(fetch_params(), tmp_path / "raw", source=str(ehyd_mirror))
    params = fetch_params()
    params["basin"]["wells"] = [336545]  # 310854 becomes an unlisted well of the area
    summary = fetch(params, tmp_path / "raw", source=str(ehyd_mirror))
    assert "cannot be read" in {m["hzb"]: m["reason"] for m in summary["missing"]}[310854]


def test_the_leftover_of_a_killed_fetch_is_removed_by_the_next(ehyd_mirror, tmp_path):
    dest = tmp_path / "data" / "raw"
    leftover = tmp_path / "data" / ".raw.k1ll3d.tmp"
    (leftover / "gw").mkdir(parents=True)  # what a fetch killed in its kernel leaves behind
    fetch(fetch_params(), dest, source=str(ehyd_mirror))
    assert [p.name for p in dest.parent.iterdir()] == ["raw"]


# -- download ------------------------------------------------------------------

def test_download(ehyd_server, ehyd_mirror, tmp_path):
    dest = tmp_path / "data" / "raw"
    summary = fetch(fetch_params(ehyd_server), dest)
    assert files_in(dest) == EXPECTED
    assert_same_as_mirror(dest, ehyd_mirror)
    assert summary["source"] == "download"
    assert summary["counts"] == {"gw": 2, "nlv": 1, "owf": 1, "stage": 1, "missing": 1}
    well = next(f for f in summary["files"] if f["hzb"] == 336545)
    assert well["origin"].endswith("/gw?id=336545&file=3")  # file=2 is another product
    (missing,) = summary["missing"]
    assert missing["hzb"] == 325415 and "eHYD does not know this station" in missing["reason"]
    assert summary["catalogs"]["gw"] == ehyd_server.catalog_url.format(kind="gw")
    assert ehyd_server.hits("id=336545&file=4") == 0  # stops once the product is found
    stage = next(f for f in summary["files"] if f.get("product") == "W-Tagesmittel")
    assert stage["origin"].endswith("/owf?id=211466&file=3")  # the gauge's second product, named by the server


def test_download_plain_catalog(ehyd_mirror, tmp_path):
    server = EhydServer(ehyd_mirror, catalog_zip=False).start()
    try:
        fetch(fetch_params(server), tmp_path / "raw")
    finally:
        server.stop()
    assert_same_as_mirror(tmp_path / "raw", ehyd_mirror)


def test_unknown_station(ehyd_server, previous):
    params = fetch_params(ehyd_server)
    params["basin"]["gauges"] = [211441]  # in the catalog, but the server has no file for it
    with pytest.raises(FetchError, match=r"basin.gauges: surface-water station 211441: eHYD does not know "
                                         r"this station: .*owf\?id=211441&file=2 names no file"):
        fetch(params, previous)
    assert_untouched(previous)


def test_station_without_the_product(ehyd_server, ehyd_mirror, previous):
    (ehyd_mirror / "nlv" / "N-Tagessummen-112300.csv").rename(ehyd_mirror / "nlv" / "N-Monatssummen-112300.csv")
    with pytest.raises(FetchError, match="112300: eHYD offers no N-Tagessummen file for it, only "
                                         "N-Monatssummen-112300.csv"):
        fetch(fetch_params(ehyd_server), previous)
    assert_untouched(previous)


def test_dropped_connection_is_retried(ehyd_server, ehyd_mirror, tmp_path):
    ehyd_server.fail("N-Tagessummen-112300.csv", "drop", times=2)
    fetch(fetch_params(ehyd_server, retries=2), tmp_path / "raw")
    assert ehyd_server.hits("id=112300&file=2") == 3
    assert_same_as_mirror(tmp_path / "raw", ehyd_mirror)


@pytest.mark.parametrize("mode, name", [("drop", "Q-Tagesmittel-211466.csv"),
                                        ("hang", "Q-Tagesmittel-211466.csv"),
                                        ("drop", "messstellen_nlv.csv")])
def test_failing_download_leaves_nothing_half_written(ehyd_server, previous, mode, name):
    ehyd_server.fail(name, mode)
    with pytest.raises(FetchError, match=r"failed 3 times, last with: .*check the network") as err:
        fetch(fetch_params(ehyd_server, retries=2, timeout_s=0.3), previous)
    assert "127.0.0.1" in str(err.value)
    assert ehyd_server.hits("owf?id=211466&file=2" if name.startswith("Q") else "cat=nlv") == 3
    assert_untouched(previous)


# -- the source manifest (stage source) ----------------------------------------

def test_the_source_manifest_changes_exactly_when_a_source_file_does(ehyd_mirror, tmp_path):
    params = fetch_params(source=str(ehyd_mirror))
    out = tmp_path / "data" / "source.json"
    first = fetch_module.write_source_manifest(params, out)
    text = out.read_text()
    assert set(first["files"]) >= {"catalog/messstellen_gw.csv", GW_336545, "nlv/N-Tagessummen-112300.csv"}
    fetch_module.write_source_manifest(params, out)
    assert out.read_text() == text  # an unchanged source gives the same manifest: nothing downstream reruns
    edit(ehyd_mirror / GW_336545, b"271,62", b"271,63")
    changed = fetch_module.write_source_manifest(params, out)
    assert [k for k in first["files"] if first["files"][k] != changed["files"][k]] == [GW_336545]
    download = fetch_module.source_manifest(fetch_params(source="download"))
    assert download["source"] == "download" and "dvc repro -f fetch" in download["checked"]
    with pytest.raises(FetchError, match="mirror folder .* not found"):
        fetch_module.source_manifest(fetch_params(source=str(tmp_path / "nowhere")))
