"""The per-job clock of a stage's cost records (``cost.json``, ``cost.csv``).

Every model stage measures the development cost of each well (or of the
pre-training) the same way: wall-clock seconds (``time.perf_counter``) and CPU
seconds of the process that does the work (``time.process_time``), rounded to
milliseconds.
"""

from __future__ import annotations

import time


class Clock:
    """Started when made; :meth:`read` gives the seconds since then."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict[str, float]:
        """``{"wall_s": .., "cpu_s": ..}``: wall-clock and CPU seconds since the clock was made, to 3 decimals."""
        return {"wall_s": round(time.perf_counter() - self.wall, 3), "cpu_s": round(time.process_time() - self.cpu, 3)}
