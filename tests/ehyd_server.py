"""Test helpers: a tiny eHYD mirror built from tests/data/ehyd and a local server answering like eHYD.

``build_mirror(folder)`` lays out a mirror with the real extracts and catalogs:

- gw 336545 (real extract), 310854 (the extract relabelled), 325415 listed in the
  catalog but without a file; all three lie in area 390. A decoy product
  ``Grundwasserstand-Einzelmessungen-336545.csv`` makes the monthly file of
  336545 product number 3 on the server.
- nlv 112300, owf 211466 (real extracts).

``EhydServer(folder)`` serves such a folder on 127.0.0.1 like eHYD does::

    /eHYD/MessstellenExtraData/{kind}?id={hzb}&file={n}   n = 2, 3, ...: the station's
        products in name order, with ``Content-Disposition: attachment; filename=...``;
        beyond the last product (or for an unknown station) 200 without that header.
    /eHYD/AreaSelection/download?cat={kind}&reg=10       a ZIP bundle holding
        ``messstellen_{kind}.csv`` (or the bare CSV with ``catalog_zip=False``).

Faults for one file name: ``server.fail(name, "drop")`` sends half the body and
closes the connection; ``"hang"`` sends half the body and then stalls.
"""

from __future__ import annotations

import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATA = Path(__file__).parent / "data" / "ehyd"
GW_FILE = "Grundwasserstand-Monatsmittel-{}.csv"
RELABELLED = {310854: 336545}  # mirror well -> extract it is made from
BASIN = {"name": "test basin", "area": 390, "wells": [336545, 310854],
         "rain_stations": [112300], "gauges": [211466]}


def build_mirror(folder: Path) -> Path:
    """Write the tiny test mirror into ``folder`` (created) and return it."""
    for kind in ("catalog", "gw", "nlv", "owf"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for source in (DATA / kind).iterdir():
            (folder / kind / source.name).write_bytes(source.read_bytes())
    for hzb, original in RELABELLED.items():
        raw = (DATA / "gw" / GW_FILE.format(original)).read_bytes()
        line = b"HZB-Nummer:                ;"
        assert raw.count(line + str(original).encode()) == 1
        (folder / "gw" / GW_FILE.format(hzb)).write_bytes(
            raw.replace(line + str(original).encode(), line + str(hzb).encode()))
    (folder / "gw" / "Grundwasserstand-Einzelmessungen-336545.csv").write_bytes(b"decoy product\n")
    return folder


def fetch_params(server: EhydServer | None = None, source: str = "download", **data) -> dict:
    """``data`` and ``basin`` parameters for :func:`gwtl.sources.fetch.fetch` on the test mirror."""
    settings = {"source": source, "url": "http://127.0.0.1:9/unused?{kind}{hzb}{n}",
                "catalog_url": "http://127.0.0.1:9/unused?{kind}", "timeout_s": 2, "retries": 2}
    if server is not None:
        settings.update(url=server.url, catalog_url=server.catalog_url)
    settings.update(data)
    return {"data": settings, "basin": {k: (list(v) if isinstance(v, list) else v) for k, v in BASIN.items()}}


class EhydServer:
    """A local HTTP server that answers like eHYD for the files of a mirror folder."""

    def __init__(self, root: Path, catalog_zip: bool = True, hang_s: float = 10.0):
        self.root = Path(root)
        self.catalog_zip = catalog_zip
        self.hang_s = hang_s
        self.requests: list[str] = []
        self.faults: dict[str, list] = {}
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------
    def fail(self, name: str, mode: str, times: int | None = None) -> None:
        """Make requests for file ``name`` fail with ``mode`` ("drop" or "hang"), ``times`` times or always."""
        assert mode in ("drop", "hang")
        self.faults[name] = [mode, times]

    def start(self) -> EhydServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server.requests.append(self.path)
                server._answer(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + "/eHYD/MessstellenExtraData/{kind}?id={hzb}&file={n}"

    @property
    def catalog_url(self) -> str:
        return self.base + "/eHYD/AreaSelection/download?cat={kind}&reg=10"

    def hits(self, name_part: str) -> int:
        """Number of requests whose path contains ``name_part``."""
        return sum(name_part in path for path in self.requests)

    # -- answers -----------------------------------------------------------
    def products(self, kind: str, hzb: str) -> list[Path]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if p.stem.endswith(f"-{hzb}") and not p.name.startswith("Stammdaten"))

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlparse(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/eHYD/MessstellenExtraData/"):
            kind = url.path.rsplit("/", 1)[1]
            products = self.products(kind, query.get("id", ""))
            n = int(query.get("file", "0"))
            if 2 <= n < 2 + len(products):
                path = products[n - 2]
                self._send(handler, path.name, path.read_bytes())
            else:
                self._send(handler, None, b"")
        elif url.path == "/eHYD/AreaSelection/download":
            name = f"messstellen_{query.get('cat', '')}.csv"
            path = self.root / "catalog" / name
            if not path.is_file():
                handler.send_error(404)
                return
            if self.catalog_zip:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w") as bundle:
                    bundle.writestr(f"ehyd_messstellen_all/{name}", path.read_bytes())
                self._send(handler, "ehyd.zip", buffer.getvalue(), fault_name=name)
            else:
                self._send(handler, name, path.read_bytes())
        else:
            handler.send_error(404)

    def _send(self, handler, filename: str | None, body: bytes, fault_name: str | None = None) -> None:
        fault = self.faults.get(fault_name or filename or "")
        mode = None
        if fault is not None and fault[1] != 0:
            mode = fault[0]
            if fault[1] is not None:
                fault[1] -= 1
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        if filename:
            handler.send_header("Content-Disposition", f"attachment; filename={filename}")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if mode is None:
            handler.wfile.write(body)
            return
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        if mode == "hang":
            self._stop.wait(self.hang_s)
        handler.close_connection = True
