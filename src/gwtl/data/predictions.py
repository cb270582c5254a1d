"""One table format for the forecasts of every model.

A predictions table has one row per sample and lead:

``well`` (HZB number, or ``basin``), ``model`` (``tl``, ``it``, ``arx``, ``svr``,
``rf``, ``persistence``, ``climatology``, ``pretrain``), ``lead`` (months),
``issue`` (month the forecast is issued, the last month with a known level),
``month`` (target month), ``split`` (``train``, ``validation``, ``test`` or
``none``), ``observed`` and ``forecast`` (m a.s.l.; ``observed`` is empty where
the level is missing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.samples import Samples
from gwtl.pipeline.atomic import atomic_file

COLUMNS = ["well", "model", "lead", "issue", "month", "split", "observed", "forecast"]
SPLITS = ("train", "validation", "test")


def prediction_table(
    samples: Samples, forecast: np.ndarray, *, model: str, well: int | str, split: dict
) -> pd.DataFrame:
    """Long table of forecasts in levels (``forecast`` has shape (n, n_leads)).

    ``split`` maps ``train``/``validation``/``test`` to ``["YYYY-MM", "YYYY-MM"]``;
    a row's split is the one its target month falls in. Leads without complete
    inputs up to their target month (``samples.valid``) get no row: no forecast
    could be issued for them.
    """
    forecast = np.asarray(forecast, dtype=float)
    if forecast.shape != samples.y.shape:
        raise ValueError(f"forecast shape {forecast.shape} differs from targets {samples.y.shape}")
    label = np.full(samples.y.shape, "none", dtype=object)
    for name in SPLITS:
        label[samples.in_period(split[name])] = name
    months = samples.target_months()
    observed = samples.observed_level()
    frames = []
    for j, lead in enumerate(samples.leads):
        frames.append(
            pd.DataFrame(
                {
                    "well": str(well),
                    "model": model,
                    "lead": lead,
                    "issue": samples.issue,
                    "month": months[:, j],
                    "split": label[:, j],
                    "observed": observed[:, j],
                    "forecast": forecast[:, j],
                }
            )[samples.valid[:, j]]
        )
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def write_predictions(table: pd.DataFrame, path: str | Path) -> None:
    """Write a predictions table atomically (never a half-written file)."""
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format="%.4f")


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a predictions table written by :func:`write_predictions`."""
    return pd.read_csv(path, parse_dates=["issue", "month"], dtype={"well": str})
