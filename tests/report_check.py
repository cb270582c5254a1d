"""Check a rendered HTML report as a reader's browser shows it (headless Chromium).

``report_problems(html, min_images)`` loads the page in Chromium (``--dump-dom``, so
the page's scripts have run), then lists what a reader would see as broken: fewer
figures than expected, an image that does not decode, a figure file that is not
there, code cells, or a Python traceback. Used by tests/test_reports.py and the
end-to-end pipeline test.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def rendered_dom(html: Path) -> str:
    """The page's DOM after Chromium loaded it."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           Path(html).resolve().as_uri()], capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium could not load {html}: {done.stderr[-2000:]}")
    return done.stdout


def report_problems(html: Path, min_images: int = 0) -> list[str]:
    """What is broken in the report ``html`` as Chromium renders it; empty when it reads well."""
    from PIL import Image

    dom = rendered_dom(html)
    found = []
    sources = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", dom)
    if len(sources) < min_images:
        found.append(f"{html.name}: {len(sources)} figure(s), expected at least {min_images}")
    for i, src in enumerate(sources):
        if src.startswith("data:image/"):
            try:
                image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
                image.load()
                if min(image.size) < 10:
                    found.append(f"{html.name}: figure {i + 1} is {image.size[0]}x{image.size[1]} pixels")
            except Exception as err:  # noqa: BLE001 - any decoding failure is a broken figure
                found.append(f"{html.name}: figure {i + 1} does not decode ({type(err).__name__})")
        elif not (html.parent / re.split(r"[#?]", src)[0]).is_file():
            found.append(f"{html.name}: figure {i + 1} points to a missing file {re.split(r'[#?]', src)[0]}")
    if re.search(r"class=\"[^\"]*\bjp-InputArea-editor\b", dom) or "In&nbsp;[" in dom:  # code, not the CSS
        found.append(f"{html.name}: shows code cells")
    if "Traceback (most recent call last)" in dom:
        found.append(f"{html.name}: shows a Python traceback")
    return found
