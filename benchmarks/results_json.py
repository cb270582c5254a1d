"""Print a benchmark's result as JSON and, when a path is given, write it there (benchmarks/results/)."""

from __future__ import annotations

import json
from pathlib import Path


def show_and_save(report: dict, out: Path | None) -> None:
    """Print ``report`` as indented JSON and write the same text to ``out`` unless it is None."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")
