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
    mean discharge, m³/s) per gauge, and ``stage_<HZB>`` (monthly mean water
    level, m a.s.l.) per gauge whose water-level file eHYD has; a model reads
    only the columns it is given (``forecast.forcings`` for the LSTMs and
    baselines).
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gwtl.params import validate


def require_wells(wells: Iterable, available: Iterable, where: str) -> list[str]:
    """``wells`` as strings, in the order given, each one of the ``available`` wells of the prepared data.

    The one check of "is this well in the prepared data" for every stage.
    ``where`` names what was searched (e.g. ``data/processed/levels.csv``).

    Raises
    ------
    ValueError
        When ``wells`` is empty, or naming the wells ``where`` lacks; both say
        the fix: list the wells in ``basin.wells`` of params.yaml and rerun
        ``dvc repro prepare``.
    """
    wells = [str(w) for w in wells]
    if not wells:
        raise ValueError(f"no wells to model: basin.wells of params.yaml is empty (or none of them is in {where}); "
                         "list the wells there (`gwtl basin AREA` chooses them) and rerun `dvc repro prepare`")
    known = set(map(str, available))
    missing = [w for w in wells if w not in known]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise ValueError(f"{'well ' + shown + ' is' if len(missing) == 1 else 'wells ' + shown + ' are'} not in "
                         f"the prepared data ({where}); list them in basin.wells of params.yaml and rerun "
                         "`dvc repro prepare`, or choose wells it holds")
    return wells


def listed_flags(column: pd.Series) -> pd.Series:
    """The ``listed`` column of ``wells.csv`` as booleans, read as bool or as text (``True``, ``1``, ``yes``)."""
    return column.astype(str).str.lower().isin(["true", "1", "yes"])


@dataclass
class Processed:
    """The prepared data set (see the module docstring); ``folder`` is where it was read from, if anywhere."""

    levels: pd.DataFrame
    basin: pd.DataFrame
    forcings: pd.DataFrame
    wells: pd.DataFrame
    meta: dict
    folder: Path | None = None

    def require_wells(self, wells: Iterable) -> list[str]:
        """``wells`` as strings in order; a ValueError for any not in ``levels.csv`` (:func:`require_wells`)."""
        where = "levels.csv" if self.folder is None else str(Path(self.folder) / "levels.csv")
        return require_wells(wells, self.levels.columns, where)

    def listed_wells(self, params: dict) -> list[str]:
        """The wells of ``basin.wells`` of ``params`` as strings, each checked by :meth:`require_wells`."""
        return self.require_wells(params["basin"]["wells"])

    def require_forcings(self, names: Iterable[str]) -> pd.DataFrame:
        """The forcings ``names`` (``forecast.forcings``), in that order; a ValueError naming any it lacks."""
        names = list(names)
        missing = [f for f in names if f not in self.forcings.columns]
        if missing:
            where = "forcings.csv" if self.folder is None else str(Path(self.folder) / "forcings.csv")
            raise ValueError(f"forcings {missing} of forecast.forcings are not in the prepared data ({where}, which "
                             f"has {list(self.forcings.columns)}); rerun `dvc repro prepare`")
        return self.forcings[names]

    def series(self, well: int | str) -> pd.Series:
        """Monthly levels of one well (``"basin"`` for the basin signal); a ValueError when the data lack it."""
        if str(well) == "basin":
            return self.basin["basin"].rename("basin")
        return self.levels[self.require_wells([well])[0]].rename(str(well))

    def filled(self, well: int | str) -> pd.Series:
        """True at the months whose level of ``well`` ``prepare`` filled by interpolation.

        Such months are inputs but never issue months or targets
        (:func:`gwtl.data.samples.make_samples`). All False for the basin signal.
        """
        months = pd.DatetimeIndex(pd.to_datetime(self.meta.get("interpolated", {}).get(str(well), []), format="%Y-%m"))
        unknown = months.difference(self.levels.index)
        if len(unknown):
            raise ValueError(f"meta.json lists interpolated months {list(unknown.strftime('%Y-%m'))} of well {well} "
                             "outside the prepared period; rerun `dvc repro prepare`")
        return pd.Series(self.levels.index.isin(months), index=self.levels.index, name=str(well))


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["month"], index_col="month")
    frame.index.freq = "MS"
    return frame


FILES = ("levels.csv", "forcings.csv", "wells.csv", "basin.csv", "meta.json")


def load_processed(folder: str | Path = "data/processed") -> Processed:
    """Read the prepared data set written by :func:`gwtl.data.prepare.write_processed`.

    A FileNotFoundError names the first of :data:`FILES` that is missing.
    """
    folder = Path(folder)
    for name in FILES:
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} is missing; run `dvc repro prepare` first")
    return Processed(
        levels=_read(folder / "levels.csv"),
        basin=_read(folder / "basin.csv"),
        forcings=_read(folder / "forcings.csv"),
        wells=pd.read_csv(folder / "wells.csv"),
        meta=json.loads((folder / "meta.json").read_text()),
        folder=folder,
    )


def as_processed(processed: str | Path | Processed) -> Processed:
    """``processed`` itself when it is read already, else :func:`load_processed` of that folder."""
    return processed if isinstance(processed, Processed) else load_processed(processed)


def load_checked(params: dict, folder: str | Path, wells: Iterable | None = None) -> tuple[Processed, list[str]]:
    """Validate ``params``, read the prepared data and check the wells and forcings, before any fitting.

    Returns the data and ``wells`` (default ``basin.wells``) as strings; the
    errors name the setting or file and the fix.
    """
    validate(params)
    data = load_processed(folder)
    wells = data.listed_wells(params) if wells is None else data.require_wells(wells)
    data.require_forcings(params["forecast"]["forcings"])
    return data, wells
