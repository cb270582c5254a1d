"""The ``fetch`` stage: obtain raw eHYD files into ``data/raw``.

``data/raw`` gets the layout of the offline mirror::

    catalog/messstellen_{gw,nlv,owf}.csv
    gw/Grundwasserstand-Monatsmittel-<id>.csv   every well of basin.area
    nlv/N-Tagessummen-<id>.csv                  basin.rain_stations
    owf/Q-Tagesmittel-<id>.csv                  basin.gauges
    owf/W-Tagesmittel-<id>.csv                  basin.gauges: the river stage, when eHYD has it
    fetch.json                                  what was fetched, from where, what was missing

Files come from a mirror folder (a copy of eHYD files) or from eHYD over HTTP.
eHYD serves the products of a station as ``...?id=<id>&file=2``, ``file=3``, ...;
the product behind a number varies by station, so the downloader reads each
response's ``Content-Disposition`` file name and stops at the first response
without one. Every value is checked by the rules of :mod:`gwtl.sources.plausible`.
A gauge's water level (:data:`gwtl.sources.ehyd.STAGE`) is fetched the same way but is
optional: a gauge without one is listed in ``missing`` and the fetch goes on.
Everything is built in a temporary sibling folder and swapped in at the end
(:func:`gwtl.pipeline.atomic.atomic_folder`), so a failed fetch leaves the previous
``data/raw`` as it was, and the leftover of a killed one is removed by the next.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from functools import partial
from pathlib import Path

import pandas as pd

from gwtl.pipeline.atomic import atomic_file, atomic_folder, sha256, write_text
from gwtl.sources import csv_source
from gwtl.sources import plausible
from gwtl.sources.catalog import KIND_NAMES, CatalogError, area_wells, catalog_path, read_catalog
from gwtl.sources.ehyd import PRODUCTS, STAGE, EhydFormatError, data_path, read_ehyd, stage_path

PARAM_KEYS = {"gw": "basin.wells", "nlv": "basin.rain_stations", "owf": "basin.gauges"}
PLAUSIBILITY = {"gw": "level", "nlv": "precipitation", "owf": "discharge",  # rules of gwtl.sources.plausible
                STAGE: "other"}  # a stage (cm above the gauge datum) may be negative: finite values only
MIRROR_ENV = "GWTL_EHYD_MIRROR"
DEFAULT_MIRROR = Path("..") / "shared" / "data" / "ehyd"
BACKOFF_S = 0.5      # wait before retry k is BACKOFF_S * 2**(k-1)
MAX_FILE_NUMBER = 40  # never ask a station for more products than this
CHUNK = 1 << 16


class FetchError(RuntimeError):
    """Raw data that cannot be fetched; the message names the station/file and the fix."""


class _Unavailable(Exception):
    """The source has no file of the wanted product for a station (the reason is the message)."""


Unavailable = _Unavailable  # public name, raised by ``open_source(...).get``


class _Unusable(Exception):
    """A file of the source that cannot be used: unreadable, or holding implausible values.

    The message says why, ``fix`` what to do about the file.
    """

    def __init__(self, why: str, fix: str):
        super().__init__(why)
        self.fix = fix


Unusable = _Unusable  # public name, raised by ``open_source(...).get`` for an unreadable file


class _Truncated(Exception):
    """A download ended before its Content-Length."""


def resolve_source(setting: str) -> tuple[str, Path | None]:
    """Turn ``data.source`` into ``("mirror", folder)`` or ``("download", None)``.

    ``"auto"`` uses the folder named by the environment variable
    ``GWTL_EHYD_MIRROR`` if it is set, else ``../shared/data/ehyd`` (relative to
    the current directory) if it exists, else downloads. Any other value than
    ``"auto"`` or ``"download"`` is a mirror folder.
    """
    if not isinstance(setting, str) or not setting:
        raise FetchError(f"params.yaml: data.source: {setting!r}; use auto, download or a mirror folder.")
    if setting == "download":
        return "download", None
    if setting == "auto":
        env = os.environ.get(MIRROR_ENV, "")
        if env:
            if not Path(env).is_dir():
                raise FetchError(f"environment variable {MIRROR_ENV}={env!r} names no folder; "
                                 "point it to an eHYD mirror or unset it.")
            return "mirror", Path(env)
        if DEFAULT_MIRROR.is_dir():
            return "mirror", DEFAULT_MIRROR
        return "download", None
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise FetchError(f"params.yaml: data.source: mirror folder {setting!r} not found; "
                         "use auto, download or the path of an eHYD mirror folder.")
    return "mirror", folder


class _Mirror:
    """Files copied from an offline mirror with the layout of ``data/raw``."""

    mode = "mirror"
    fix = "replace the file in the mirror by a fresh eHYD export, or set data.source: download in params.yaml"

    def __init__(self, root: Path):
        self.root = root
        self.location = str(root)

    def path(self, kind: str, hzb: int, product: str | None = None) -> Path:
        return stage_path(self.root, hzb) if product == STAGE else data_path(self.root, kind, hzb)

    def catalog(self, kind: str, target: Path) -> str:
        source = catalog_path(self.root, kind)
        if not source.is_file():
            raise FetchError(f"mirror {self.root} has no {source.relative_to(self.root)}; "
                             "is data.source an eHYD mirror folder?")
        _copy(source, target)
        return str(source)

    def get(self, kind: str, hzb: int, target: Path, product: str | None = None) -> str:
        source = self.path(kind, hzb, product)
        if not source.is_file():
            raise _Unavailable(f"no {source.name} in the mirror {self.root}")
        try:
            _copy(source, target)
        except PermissionError as err:
            raise _Unusable(f"{err.filename or source} cannot be read (permission denied)",
                            "make the file readable (chmod a+r)") from None
        return str(source)


def open_source(params: dict, source: str | None = None) -> _Mirror | _Http:
    """The source of raw eHYD files named by ``data.source`` (or ``source``), as :func:`fetch` uses it.

    Parameters
    ----------
    params : dict
        Parameters as from :func:`gwtl.params.load_params`; uses ``data``.
    source : str, optional
        Overrides ``params["data"]["source"]``: ``"auto"``, ``"download"`` or a mirror folder.

    Returns
    -------
    object
        With ``mode`` ("mirror" or "download"), ``location`` (mirror folder or URL
        pattern), ``catalog(kind, target) -> origin`` and ``get(kind, hzb, target)
        -> origin``, which write one catalog or one data file (the product of
        :data:`gwtl.sources.ehyd.PRODUCTS`) to ``target`` atomically. ``get`` raises
        :class:`Unavailable` when the source has no such file for the station
        (``get(..., product=STAGE)`` asks for a gauge's water level instead),
        :class:`Unusable` when the mirror's file cannot be read;
        both raise :class:`FetchError` on failed downloads or a mirror without catalogs.
    """
    data = params["data"]
    mode, mirror = resolve_source(data["source"] if source is None else source)
    return _Mirror(mirror) if mode == "mirror" else _Http(data)


def _copy(source: Path, target: Path) -> None:
    with atomic_file(target) as part:
        shutil.copyfile(source, part)


class _Http:
    """Files downloaded from eHYD (or any server that answers the same way)."""

    mode = "download"
    fix = "run the fetch stage again (dvc repro -f fetch), or use a mirror (data.source in params.yaml)"

    def __init__(self, data: dict):
        self.url = data["url"]
        self.catalog_url = data["catalog_url"]
        self.timeout = float(data["timeout_s"])
        self.retries = int(data["retries"])
        self.location = self.url

    def _request(self, url: str, action):
        """Open ``url`` and return ``action(response)``; retry network failures."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    return action(response)
            except urllib.error.HTTPError as err:
                if err.code < 500 and err.code != 429:
                    raise FetchError(f"{url}: HTTP {err.code} {err.reason}; check data.url and "
                                     "data.catalog_url in params.yaml.") from None
                last = err
            except (_Truncated, http.client.HTTPException, OSError) as err:
                last = err
        raise FetchError(f"{url}: failed {self.retries + 1} times, last with: {last or 'no answer'}; "
                         "check the network, raise data.timeout_s/data.retries, or use a mirror "
                         "(data.source).")

    def _save(self, response, target: Path) -> None:
        """Stream the body to ``target`` via a temporary file; never leave a partial file."""
        expected = response.headers.get("Content-Length")
        with atomic_file(target) as part:
            size = 0
            with open(part, "wb") as fh:
                while chunk := response.read(CHUNK):
                    fh.write(chunk)
                    size += len(chunk)
            if expected is not None and size != int(expected):
                raise _Truncated(f"got {size} of {expected} bytes")

    def catalog(self, kind: str, target: Path) -> str:
        url = self.catalog_url.format(kind=kind)
        download = target.with_name(target.name + ".download")
        try:
            self._request(url, lambda response: self._save(response, download))
            if zipfile.is_zipfile(download):  # eHYD serves a bundle that holds the catalog
                with zipfile.ZipFile(download) as bundle:
                    names = [n for n in bundle.namelist() if Path(n).name == target.name]
                    if not names:
                        raise FetchError(f"{url}: the ZIP file holds no {target.name}; "
                                         "check data.catalog_url in params.yaml.")
                    with atomic_file(target) as part, bundle.open(names[0]) as src, open(part, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            else:
                os.replace(download, target)
        finally:
            download.unlink(missing_ok=True)
        return url

    def get(self, kind: str, hzb: int, target: Path, product: str | None = None) -> str:
        wanted = product or PRODUCTS[kind]
        prefix = wanted + "-"

        def save_if_wanted(response) -> str | None:
            name = response.headers.get_filename()
            if name and name.startswith(prefix):
                self._save(response, target)
            return name

        offered = []
        for n in range(2, MAX_FILE_NUMBER + 1):
            url = self.url.format(kind=kind, hzb=hzb, n=n)
            name = self._request(url, save_if_wanted)
            if not name:
                break
            if name.startswith(prefix):
                return url
            offered.append(name)
        if not offered:
            raise _Unavailable(f"eHYD does not know this station: "
                               f"{self.url.format(kind=kind, hzb=hzb, n=2)} names no file")
        raise _Unavailable(f"eHYD offers no {wanted} file for it, only {', '.join(offered)}")


def _check_listed(catalogs: dict[str, pd.DataFrame], basin: dict) -> None:
    """Refuse listed ids that the catalogs do not know, and listed wells of another area."""
    ids = {"gw": basin["wells"], "nlv": basin["rain_stations"], "owf": basin["gauges"]}
    problems = []
    for kind, listed in ids.items():
        unknown = sorted(set(listed) - set(catalogs[kind]["hzb"]))
        if unknown:
            problems.append(f"{PARAM_KEYS[kind]}: {KIND_NAMES[kind]} station(s) {unknown} are not in the "
                            f"eHYD catalog messstellen_{kind}.csv; check {PARAM_KEYS[kind]} in params.yaml.")
    gw = catalogs["gw"].set_index("hzb")
    area = int(basin["area"])
    elsewhere = [f"{h} (area {gw.at[h, 'area_name']})" for h in basin["wells"]
                 if h in gw.index and gw.at[h, "area"] != area]
    if elsewhere:
        problems.append(f"basin.wells: well(s) {', '.join(elsewhere)} lie outside basin.area {area}; "
                        "remove them from basin.wells or change basin.area in params.yaml.")
    if area_wells(catalogs["gw"], area).empty:
        problems.append(f"basin.area: no well of the eHYD groundwater catalog lies in area {area}; "
                        "check basin.area in params.yaml (the catalog's gwgeb03 column).")
    if problems:
        raise FetchError("\n".join(problems))


def _check_mirror(mirror: _Mirror, plan: list[tuple[str, int, bool]]) -> None:
    """Refuse listed ids whose file the mirror lacks, before copying anything."""
    problems = []
    for kind in PRODUCTS:
        lacking = [h for k, h, listed in plan if k == kind and listed and not mirror.path(k, h).is_file()]
        if lacking:
            problems.append(f"{PARAM_KEYS[kind]}: the mirror {mirror.root} has no {PRODUCTS[kind]} file for "
                            f"{KIND_NAMES[kind]} station(s) {lacking}; remove them from {PARAM_KEYS[kind]} "
                            "in params.yaml or set data.source: download.")
    if problems:
        raise FetchError("\n".join(problems))


def implausible(series, kind: str, product: str | None = None) -> list[str]:
    """What in the values of an eHYD station of ``kind`` (or its ``product``) breaks the rules of
    :mod:`gwtl.sources.plausible` (none: [])."""
    return plausible.problems(series.values, PLAUSIBILITY[product or kind], daily=kind != "gw")


def _validated(path: Path, kind: str, hzb: int, origin: str, fix: str, product: str | None = None) -> dict:
    """Parse a fetched file with :func:`read_ehyd` and describe it; ``fix`` says what to do if it is corrupt."""
    try:
        if path.stat().st_size:  # read_ehyd refuses an empty file
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":  # a value cut short would still parse, as a wrong number
                    raise EhydFormatError(f"{path}: does not end with a line break, so it is truncated")
        series = read_ehyd(path)
    except EhydFormatError as err:
        raise FetchError(f"{KIND_NAMES[kind]} station {hzb}: the file from {origin} is corrupt: "
                         f"{str(err).rstrip('.')}; {fix}.") from None
    if series.meta["hzb"] != hzb:
        raise FetchError(f"{origin}: holds station {series.meta['hzb']}, not {hzb}; "
                         "the source is mislabelled, fetch from another source.")
    found = implausible(series, kind, product)
    if found:
        raise _Unusable(f"the file from {origin} holds {'; and '.join(found)} (rules of gwtl.sources.plausible)",
                        f"correct these values at the source ({fix})")
    values = series.values.dropna()
    return {
        "values": int(values.size),
        "first": values.index.min().strftime("%Y-%m-%d") if values.size else None,
        "last": values.index.max().strftime("%Y-%m-%d") if values.size else None,
    }


def _fetch_into(build: Path, source, basin: dict) -> dict:
    catalogs, catalog_origin = {}, {}
    (build / "catalog").mkdir()
    for kind in PRODUCTS:
        target = catalog_path(build, kind)
        catalog_origin[kind] = source.catalog(kind, target)
        try:
            catalogs[kind] = read_catalog(target, kind)
        except CatalogError as err:
            raise FetchError(f"catalog {kind} from {catalog_origin[kind]}: {err}") from None
    _check_listed(catalogs, basin)

    area = int(basin["area"])
    in_area = area_wells(catalogs["gw"], area)
    listed = set(basin["wells"])
    plan = ([("gw", h, True) for h in basin["wells"]]
            + [("nlv", h, True) for h in basin["rain_stations"]]
            + [("owf", h, True) for h in basin["gauges"]]
            + [("gw", int(h), False) for h in in_area["hzb"] if h not in listed])
    if isinstance(source, _Mirror):
        _check_mirror(source, plan)

    names = {kind: cat.set_index("hzb")["name"] for kind, cat in catalogs.items()}
    files, missing = [], []
    for kind in PRODUCTS:
        (build / kind).mkdir()
    for kind, hzb, is_listed in plan:
        target = data_path(build, kind, hzb)
        entry = {"kind": kind, "hzb": hzb, "name": str(names[kind][hzb]), "listed": is_listed}
        try:
            origin = source.get(kind, hzb, target)
            described = _validated(target, kind, hzb, origin, source.fix)
        except _Unavailable as why:
            if is_listed:
                raise FetchError(f"{PARAM_KEYS[kind]}: {KIND_NAMES[kind]} station {hzb}: {why}; "
                                 f"check {PARAM_KEYS[kind]} in params.yaml.") from None
            missing.append({**entry, "reason": str(why)})
            continue
        except _Unusable as why:
            if is_listed:
                raise FetchError(f"{KIND_NAMES[kind]} station {hzb}: {why}; {why.fix}, or remove the station "
                                 f"from {PARAM_KEYS[kind]} in params.yaml.") from None
            target.unlink(missing_ok=True)
            missing.append({**entry, "reason": str(why)})
            continue
        files.append({**entry, "file": f"{kind}/{target.name}", "origin": origin, **described})
    stages = _fetch_stages(build, source, basin, names["owf"], files, missing)
    counts = {kind: sum(f["kind"] == kind and f.get("product") != STAGE for f in files) for kind in PRODUCTS}
    return {
        "source": source.mode,
        "location": source.location,
        "area": area,
        "area_name": str(in_area["area_name"].iloc[0]),
        "catalogs": catalog_origin,
        "counts": {**counts, "stage": stages, "missing": len(missing)},
        "files": files,
        "missing": missing,
    }


def _fetch_stages(build: Path, source, basin: dict, names: pd.Series, files: list, missing: list) -> int:
    """Fetch the water level (:data:`gwtl.sources.ehyd.STAGE`) of every listed gauge that has one; return how many.

    Optional, unlike the discharge: a gauge whose source has no such file, or
    whose file is unusable, goes to ``missing`` (with ``product``) and the
    fetch goes on; a corrupt or mislabelled file still fails.
    """
    done = 0
    for hzb in basin["gauges"]:
        target = stage_path(build, hzb)
        entry = {"kind": "owf", "product": STAGE, "hzb": hzb, "name": str(names[hzb]), "listed": True}
        try:
            origin = source.get("owf", hzb, target, product=STAGE)
            described = _validated(target, "owf", hzb, origin, source.fix, product=STAGE)
        except (_Unavailable, _Unusable) as why:
            target.unlink(missing_ok=True)
            missing.append({**entry, "reason": f"{why}; the TFN uses the gauge's discharge instead"})
            continue
        files.append({**entry, "file": f"owf/{target.name}", "origin": origin, **described})
        done += 1
    return done


def _fetch_csv(build: Path, folder: Path, basin: dict) -> dict:
    """Check and copy the files of the CSV layout (:func:`gwtl.sources.csv_source.fetch_into`)."""
    try:
        return csv_source.fetch_into(build, folder, basin)
    except csv_source.CsvLayoutError as err:
        raise FetchError(f"data.source: {err}") from None


def fetch(params: dict, dest: str | Path = "data/raw", source: str | None = None) -> dict:
    """Fetch the raw eHYD files of the basin into ``dest``.

    With ``data.format: csv`` the files of the CSV layout are checked and copied
    from the folder ``data.source`` into ``dest/csv`` instead
    (:func:`gwtl.sources.csv_source.fetch_into`, which describes its summary).

    Parameters
    ----------
    params : dict
        Parameters as from :func:`gwtl.params.load_params`; uses ``data`` and ``basin``.
    dest : str or Path
        Folder to (re)create, laid out like the eHYD mirror.
    source : str, optional
        Overrides ``params["data"]["source"]``: ``"auto"``, ``"download"`` or a mirror
        folder (with ``data.format: csv``: the folder of CSV files).

    Returns
    -------
    dict
        The content of ``dest/fetch.json`` plus ``dest``: ``source`` ("mirror" or
        "download"), ``location`` (mirror folder or URL pattern), ``area``,
        ``area_name``, ``catalogs`` (kind -> origin), ``counts`` (files per kind,
        ``stage`` (gauges' water-level files) and missing), ``files`` (kind, hzb,
        name, listed, file, origin, values, first, last; ``product`` for a
        water-level file) and ``missing`` (unlisted area wells that were not
        fetched: no monthly file, an unreadable file, or implausible values by
        the rules of :mod:`gwtl.sources.plausible`; and listed gauges without a usable
        water-level file, with ``product``; kind, hzb, name, listed, reason).

    Raises
    ------
    FetchError
        For listed ids that the catalogs or the source do not know, listed wells of
        another area, corrupt, unreadable or implausible files of listed stations and
        failed downloads. ``dest`` is then unchanged.
    """
    data, basin = params["data"], params["basin"]
    setting = data["source"] if source is None else source
    if data.get("format", "ehyd") == "csv":
        try:
            folder = csv_source.source_folder(setting)
        except csv_source.CsvLayoutError as err:
            raise FetchError(str(err)) from None
        fill = partial(_fetch_csv, folder=folder, basin=basin)
    else:
        mode, mirror = resolve_source(setting)
        fill = partial(_fetch_into, source=_Mirror(mirror) if mode == "mirror" else _Http(data), basin=basin)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise FetchError(f"{dest} exists and is not a folder; move it away and fetch again.")
    with atomic_folder(dest) as build:  # a killed fetch leaves a temporary sibling that the next one removes
        summary = fill(build)
        (build / "fetch.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return {**summary, "dest": str(dest)}


def source_manifest(params: dict) -> dict:
    """What the source of ``data.source`` holds now: the manifest the stage ``source`` writes.

    A local source (an eHYD mirror, or the folder of the CSV layout) is listed
    file by file with its SHA-256, so that ``dvc repro`` sees a changed file,
    fetches again, and reruns the later stages only when ``data/raw`` changed.
    For eHYD the mirror's ``catalog``, ``gw``, ``nlv`` and ``owf`` folders are
    listed whole. Downloads are not checked (that would mean downloading
    everything on every ``dvc repro``): the manifest names the URLs, and
    ``dvc repro -f fetch`` downloads again.

    Raises
    ------
    FetchError
        When the source cannot be found or a file of it cannot be read.
    """
    data = params["data"]
    if data.get("format", "ehyd") == "csv":
        try:
            folder = csv_source.source_folder(data["source"])
        except csv_source.CsvLayoutError as err:
            raise FetchError(str(err)) from None
        mode, files = "csv", [folder / name for name in csv_source.FILES if (folder / name).is_file()]
    else:
        mode, folder = resolve_source(data["source"])
        if mode == "download":
            return {"source": "download", "url": data["url"], "catalog_url": data["catalog_url"],
                    "checked": "not checked: `dvc repro -f fetch` downloads again"}
        files = sorted(p for kind in ("catalog", *PRODUCTS) for p in (folder / kind).glob("*") if p.is_file())
    try:
        hashes = {p.relative_to(folder).as_posix(): sha256(p) for p in files}
    except PermissionError as err:
        raise FetchError(f"{err.filename}: cannot be read (permission denied); make the file readable "
                         "(chmod a+r) or remove it from the source") from None
    return {"source": mode, "location": str(folder), "files": hashes}


def write_source_manifest(params: dict, out: str | Path = "data/source.json") -> dict:
    """Write :func:`source_manifest` to ``out`` (atomically; the same text while the source is unchanged)."""
    manifest = source_manifest(params)
    write_text(out, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def summary_table(summary: dict) -> pd.DataFrame:
    """Counts per kind of what :func:`fetch` obtained and from where.

    Columns: ``kind``, ``product``, ``source``, ``listed`` (listed ids fetched),
    ``unlisted`` (other area wells fetched), ``missing``, ``location``.
    """
    if summary["source"] == "csv":
        return csv_source.summary_table(summary)
    files = pd.DataFrame(summary["files"], columns=["kind", "product", "listed"]).astype({"listed": bool})
    missing = pd.DataFrame(summary["missing"], columns=["kind", "product"])
    for frame in (files, missing):
        frame["product"] = frame["product"].astype(object).fillna(frame["kind"].map(PRODUCTS))
    rows = []
    for kind, product in [*PRODUCTS.items(), ("owf", STAGE)]:
        mine = files[(files["kind"] == kind) & (files["product"] == product)]
        rows.append({"kind": kind, "product": product, "source": summary["source"],
                     "listed": int(mine["listed"].sum()), "unlisted": int((~mine["listed"]).sum()),
                     "missing": int(((missing["kind"] == kind) & (missing["product"] == product)).sum()),
                     "location": summary["location"]})
    return pd.DataFrame(rows)
