"""The prepared data set in ``data/processed/`` and how to read it.

Files (all CSV with a ``month`` column of first-of-month dates, ``YYYY-MM-DD``):

``levels.csv``
    One column per listed well (HZB number), monthly mean level in m a.s.l.;
    gaps of up to ``prepare.max_gap_months`` interpolated, longer gaps empty.
``basin.csv``
    ``basin``: the basin signal, the mean of the wells' standardized anomalies
    (each well's mean and standard deviation from the training period only);
    ``n_wells``: how many wells entered the mean that month.
``forcings.csv``
    ``precipitation`` (areal monthly sum, mm) and ``discharge_<HZB>`` (monthly
    mean discharge, m³/s) per gauge.
``wells.csv``
    Every well of the aquifer area: ``hzb, name, lon, lat, elevation,
    coverage, listed, reason`` and for listed wells ``train_mean, train_std,
    corr_basin``.
``meta.json``
    Basin name, period, split, the warnings raised while preparing and
    ``interpolated``: per well, the months (``YYYY-MM``) filled by
    interpolation (:meth:`Processed.filled`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass
class Processed:
    levels: pd.DataFrame
    basin: pd.DataFrame
    forcings: pd.DataFrame
    wells: pd.DataFrame
    meta: dict

    def series(self, well: int | str) -> pd.Series:
        """Monthly levels of one well (``"basin"`` for the basin signal)."""
        if str(well) == "basin":
            return self.basin["basin"].rename("basin")
        if str(well) not in self.levels.columns:
            raise KeyError(
                f"well {well} is not in the prepared data (wells: {', '.join(self.levels.columns[:5])}, ...); "
                "add it to basin.wells in params.yaml and rerun prepare"
            )
        return self.levels[str(well)].rename(str(well))

    def filled(self, well: int | str) -> pd.Series:
        """True at the months whose level of ``well`` ``prepare`` filled by interpolation.

        Such months are inputs but never issue months or targets
        (:func:`gwtl.dataset.make_samples`). All False for the basin signal.
        """
        months = pd.DatetimeIndex(pd.to_datetime(self.meta.get("interpolated", {}).get(str(well), []), format="%Y-%m"))
        unknown = months.difference(self.levels.index)
        if len(unknown):
            raise ValueError(f"meta.json lists interpolated months {list(unknown.strftime('%Y-%m'))} of well {well} "
                             "outside the prepared period; rerun `dvc repro prepare`")
        return pd.Series(self.levels.index.isin(months), index=self.levels.index, name=str(well))


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `dvc repro prepare` first")
    frame = pd.read_csv(path, parse_dates=["month"], index_col="month")
    frame.index.freq = "MS"
    return frame


def load_processed(folder: str | Path = "data/processed") -> Processed:
    """Read the prepared data set written by :func:`gwtl.prepare.write_processed`."""
    folder = Path(folder)
    wells = pd.read_csv(folder / "wells.csv")
    return Processed(
        levels=_read(folder / "levels.csv"),
        basin=_read(folder / "basin.csv"),
        forcings=_read(folder / "forcings.csv"),
        wells=wells,
        meta=json.loads((folder / "meta.json").read_text()),
    )
