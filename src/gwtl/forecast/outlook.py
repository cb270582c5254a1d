"""Stage logic: the next months at every well, with intervals calibrated on validation hindcasts.

For every well and every model of ``outlook.models`` (``tl``: the TL-LSTM of
``models/finetune``; ``it``: the IT-LSTM of ``models/it``; ``arx``: the ridge
ARX of ``models/baselines``, refit with its chosen penalty;
``damped_persistence``: the baseline of :mod:`gwtl.models.baselines` that reads no
forcing, refit on the training period, the reference of the skill scores), a forecast is
issued at every observed month from ``max(forecast.leads)`` months before the
validation period to the last month of the data, with the procedure a
forecaster could run at that month (:mod:`gwtl.forecast.esp`): levels and forcings up
to the issue month, scalers of the training period, and in
``observed-forcing`` mode one member per trace year of the training period
(ESP) in place of the unknown forcings ahead. The forecast is the median over
the ESP members (each member is the median of the model's ensemble, as in
training); the ESP quantiles are the band the intervals start from.
:mod:`gwtl.forecast.intervals` calibrates them on the validation hindcasts and scores
them on the test hindcasts. The forecasts issued at each well's last observed
month are the outlook.

Outputs
-------
``reports/forecast.csv``
    The outlook: ``well, model, mode, issue, month, lead, level_at_issue,
    median, lower<L>, upper<L>`` (per level of ``outlook.intervals``) and
    ``members`` (ESP years; 1 in operational mode). Levels in m a.s.l.
``models/forecast/hindcast.csv``
    Every forecast issued (validation, test and the outlook): the columns
    above without ``level_at_issue``, plus ``split``, ``observed`` and the ESP
    band ``esp_lo<L>, esp_hi<L>``.
``models/forecast/calibration.csv``
    ``well, model, lead, level, q, n, guaranteed`` (:func:`gwtl.forecast.intervals.calibrate`):
    the split-conformal ``q`` of the validation months.
``models/forecast/coverage.csv``
    Test coverage per model, lead and calendar year or season of the target
    month: ``model, lead, group, coverage<L>, n, by`` (``by``: year or season;
    :func:`gwtl.forecast.intervals.coverage_by`).
``models/forecast/scores.csv``
    Per well, model and lead on the test hindcasts: ``coverage<L>, width<L>,
    wis, nse_esp, n``.
``models/forecast/metrics.json``
    ``{"test": {"lead<h>": {"coverage80": {model: ...}, ...}}}`` with the
    coverage per year and season and, with ``damped_persistence`` among the
    models, ``skill_esp_vs_damped_persistence`` (:func:`gwtl.forecast.intervals.summary`);
    the evaluate stage adds it to ``metrics.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.predictions import prediction_table, write_predictions
from gwtl.data.processed import Processed, as_processed
from gwtl.data.samples import Samples, period, well_samples
from gwtl.forecast.esp import esp_inputs, forecast_samples
from gwtl.forecast.intervals import adaptive, apply, band_quantiles, calibrate, coverage_by, score_table, summary
from gwtl.models.baselines import arx_inputs, damped_persistence_fit, design
from gwtl.models.train import predict, set_threads
from gwtl.params import as_params
from gwtl.pipeline.atomic import atomic_folder
from gwtl.pipeline.parallel import map_in_processes
from gwtl.transfer.ensemble import load_members

FOLDERS = {"tl": "finetune", "it": "it"}  # LSTM models: folder under models/
COLUMNS = ["well", "model", "mode", "issue", "month", "lead", "split", "observed", "median"]


@dataclass
class Forecaster:
    """A model of one well ready to forecast.

    ``samples`` are issued from every observed month (:func:`gwtl.forecast.esp.forecast_samples`)
    with the model's window and features; ``scaled(x, rows)`` gives the scaled
    forecasts (m, n_leads) of inputs ``x`` (m, seq, features) that belong to the
    rows ``rows`` (m,) of ``samples``.
    """

    samples: Samples
    scaled: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _samples(params: dict, data: Processed, well: str, window: int) -> Samples:
    fc = params["forecast"]
    return forecast_samples(data.series(well), data.require_forcings(fc["forcings"]), window=window, leads=fc["leads"],
                            target=fc["target"], train=params["split"]["train"], filled=data.filled(well))


def lstm_forecaster(params: dict, data: Processed, well: str, folder: Path) -> Forecaster:
    """The median of the ensemble in ``folder`` (a well's ``models/finetune`` or ``models/it`` folder)."""
    members, info = load_members(folder)
    fc = params["forecast"]
    for key, value in (("leads", fc["leads"]), ("target", fc["target"]), ("mode", fc["mode"])):
        if info[key] != value:
            raise ValueError(f"{folder}/model.pt was trained with {key} {info[key]!r} but params.yaml gives "
                             f"{value!r}; rerun `dvc repro` so that the models match params.yaml")
    samples = _samples(params, data, well, info["window"])
    order = [samples.features.index(f) for f in info["features"]]
    samples = replace(samples, x=samples.x[:, :, order], features=list(info["features"]))
    return Forecaster(samples, lambda x, rows: np.median([predict(m, x) for m in members], axis=0))


def arx_forecaster(params: dict, data: Processed, well: str, chosen: list[dict]) -> Forecaster:
    """The ARX of the baselines stage: one ridge per lead, refit on the training rows with its chosen penalty."""
    from sklearn.linear_model import Ridge

    lags = params["baselines"]["arx_lags"]
    fitted = well_samples(params, data, well, lags)
    alpha = {entry["leads"][0]: entry["alpha"] for entry in chosen}
    missing = [h for h in fitted.leads if h not in alpha]
    if missing:
        raise ValueError(f"models/baselines/config.json has no ARX of well {well} for lead(s) {missing}; "
                         "rerun `dvc repro baselines`")
    ridges = [design(fitted, j, arx_inputs(fitted, j, params), params["split"], f"well {well}")
              .fit(Ridge(alpha=alpha[h])) for j, h in enumerate(fitted.leads)]
    samples = _samples(params, data, well, lags)

    def scaled(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        rows_samples = replace(samples, x=x, issue=samples.issue[rows])
        return np.column_stack([r.predict(arx_inputs(rows_samples, j, params)) for j, r in enumerate(ridges)])

    return Forecaster(samples, scaled)


def damped_forecaster(params: dict, data: Processed, well: str) -> Forecaster:
    """The damped-anomaly persistence of the baselines stage, refit on the training period; it reads no input ahead.

    Every ESP member of a sample is the same forecast: its band is the forecast itself.
    """
    level = data.series(well)
    fitted = damped_persistence_fit(level, well_samples(params, data, well, 1), params["split"]["train"])
    samples = _samples(params, data, well, 1)
    levels = fitted.forecast(samples)
    scale = samples.scaler
    scaled = (levels - samples.base[:, None] if samples.target == "change" else levels - scale.mean) / scale.std
    return Forecaster(samples, lambda x, rows: scaled[rows])


def _subset(samples: Samples, keep: np.ndarray) -> Samples:
    return replace(samples, x=samples.x[keep], y=samples.y[keep], issue=samples.issue[keep],
                   base=samples.base[keep], valid=samples.valid[keep])


def issue_start(params: dict) -> pd.Timestamp:
    """The first issue month forecast: the longest lead before the validation period (its first target)."""
    return period(params["split"]["validation"])[0] - pd.DateOffset(months=max(params["forecast"]["leads"]))


def model_forecasts(params: dict, data: Processed, well: str, model: str, forecaster: Forecaster) -> pd.DataFrame:
    """Every forecast of one model at one well from :func:`issue_start` on, with its ESP band per level."""
    mode = params["forecast"]["mode"]
    levels = params["outlook"]["intervals"]
    keep = np.flatnonzero(forecaster.samples.issue >= issue_start(params))
    samples = _subset(forecaster.samples, keep)
    forcings = data.require_forcings(params["forecast"]["forcings"])
    outlook = params["outlook"]
    ensemble = esp_inputs(samples, forcings, params["split"]["train"], mode, outlook["esp_conditioning"],
                          outlook["esp_min_autocorrelation"])
    forecast = replace(samples, base=samples.base[ensemble.sample]).to_level(
        forecaster.scaled(ensemble.x, keep[ensemble.sample]))  # (members, n_leads), levels
    groups = np.split(forecast, np.flatnonzero(np.diff(ensemble.sample)) + 1)  # rows are ordered by sample
    stats = {"median": np.stack([np.median(g, axis=0) for g in groups])}
    for level in levels:
        lo, hi = band_quantiles(level)
        stats[f"esp_lo{level}"] = np.stack([np.quantile(g, lo, axis=0) for g in groups])
        stats[f"esp_hi{level}"] = np.stack([np.quantile(g, hi, axis=0) for g in groups])
    stats["members"] = np.stack([np.full(len(samples.leads), len(g)) for g in groups])
    table = prediction_table(samples, stats["median"], model=model, well=well, split=params["split"])
    table = table.rename(columns={"forecast": "median"})
    for name, values in stats.items():
        table[name] = values.T[samples.valid.T]  # prediction_table's row order: lead by lead, valid rows
    table["mode"] = "esp" if mode == "observed-forcing" else "operational"
    return table[[*COLUMNS, *[c for c in stats if c != "median"]]]


def well_forecasts(params: dict, data: Processed, well: str, models: str | Path = "models") -> pd.DataFrame:
    """:func:`model_forecasts` of every model of ``outlook.models`` at ``well``."""
    set_threads(params["train"]["threads"])
    tables = []
    for model in params["outlook"]["models"]:
        if model == "arx":
            config = json.loads((Path(models) / "baselines" / "config.json").read_text())
            forecaster = arx_forecaster(params, data, well, config[well]["arx"])
        elif model == "damped_persistence":
            forecaster = damped_forecaster(params, data, well)
        else:
            forecaster = lstm_forecaster(params, data, well, Path(models) / FOLDERS[model] / well)
        tables.append(model_forecasts(params, data, well, model, forecaster))
    return pd.concat(tables, ignore_index=True)


def _well_task(task: tuple) -> pd.DataFrame:
    return well_forecasts(*task)


def check_models(params: dict, wells: list[str], models: str | Path = "models") -> None:
    """Every model the stage reads exists, before any forecast; the error names what is missing."""
    for model in params["outlook"]["models"]:
        if model == "damped_persistence":
            continue  # fitted here from the prepared data
        if model == "arx":
            path = Path(models) / "baselines" / "config.json"
            if not path.exists():
                raise FileNotFoundError(f"{path} not found: run `dvc repro baselines` first")
            config = json.loads(path.read_text())
            lacking = [w for w in wells if "arx" not in config.get(w, {})]
            if lacking:
                raise ValueError(f"{path} has no ARX for well(s) {', '.join(lacking[:5])}; rerun `dvc repro baselines`")
            continue
        lacking = [w for w in wells if not (Path(models) / FOLDERS[model] / w / "model.pt").exists()]
        if lacking:
            stage = "finetune" if model == "tl" else "it_lstm"
            raise FileNotFoundError(f"models/{FOLDERS[model]}/<well>/model.pt missing for well(s) "
                                    f"{', '.join(lacking[:5])}: run `dvc repro {stage}` first")


@dataclass
class ForecastResult:
    """What :func:`run_forecast` wrote: the folder ``out`` and the tables of its files (module docstring).

    ``outlook`` is ``reports/forecast.csv``; ``hindcast``, ``calibration``,
    ``scores``, ``metrics`` and ``coverage`` are the files of ``out``.
    """

    out: Path
    outlook: pd.DataFrame
    hindcast: pd.DataFrame
    calibration: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict
    coverage: pd.DataFrame


def outlook_table(hindcast: pd.DataFrame, data: Processed, levels) -> pd.DataFrame:
    """The forecasts issued at each well's last issue month, with the level observed then."""
    last = hindcast.groupby(["well", "model"])["issue"].transform("max")
    table = hindcast[hindcast["issue"] == last].copy()
    table["level_at_issue"] = [data.levels.at[issue, well] for well, issue in zip(table["well"], table["issue"])]
    bounds = [f"{side}{level}" for level in levels for side in ("lower", "upper")]
    return table[["well", "model", "mode", "issue", "month", "lead", "level_at_issue", "median", *bounds,
                  "members"]].reset_index(drop=True)


def issue_intervals(hindcast: pd.DataFrame, params: dict) -> pd.DataFrame:
    """The hindcast with the intervals of ``outlook.calibration``: split-conformal on validation, or adaptive.

    ``adaptive`` keeps the split-conformal intervals of the validation months
    and issues every later one (test and the outlook) by adaptive conformal
    inference with step ``outlook.aci_gamma`` (:func:`gwtl.forecast.intervals.adaptive`).
    """
    levels = params["outlook"]["intervals"]
    out = apply(hindcast, calibrate(hindcast, levels), levels)
    if params["outlook"]["calibration"] == "adaptive":
        start = period(params["split"]["test"])[0]
        out = adaptive(out, levels, params["outlook"]["aci_gamma"], start)
    return out


def run_forecast(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
                 models: str | Path = "models", out: str | Path = "models/forecast",
                 report: str | Path = "reports/forecast.csv", n_jobs: int | None = None, log=print) -> ForecastResult:
    """Forecast every well, calibrate the intervals on validation, score them on test; write the outputs.

    Wells run side by side in worker processes (:mod:`gwtl.pipeline.parallel`).
    """
    params = as_params(params)
    data = as_processed(processed)
    wells = data.listed_wells(params)
    check_models(params, wells, models)
    levels = params["outlook"]["intervals"]
    tables = []
    for well, table in zip(wells, map_in_processes(_well_task, [(params, data, w, models) for w in wells], n_jobs)):
        tables.append(table)
        if log is not None:
            log(f"{len(tables):3d}/{len(wells)} well {well}: {len(table)} forecasts")
    hindcast = pd.concat(tables, ignore_index=True)
    hindcast = issue_intervals(hindcast, params)
    calibration = calibrate(hindcast, levels)
    scores = score_table(hindcast, levels)
    metrics = summary(hindcast, levels)
    coverage = pd.concat([coverage_by(hindcast, levels, by).assign(by=by).rename(columns={by: "group"})
                          for by in ("year", "season")], ignore_index=True)
    outlook = outlook_table(hindcast, data, levels)
    with atomic_folder(out) as tmp:
        write_predictions(hindcast, tmp / "hindcast.csv")
        calibration.to_csv(tmp / "calibration.csv", index=False, float_format="%.5g")
        scores.to_csv(tmp / "scores.csv", index=False, float_format="%.5g")
        coverage.to_csv(tmp / "coverage.csv", index=False, float_format="%.5g")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_predictions(outlook, report)
    return ForecastResult(Path(out), outlook, hindcast, calibration, scores, metrics, coverage)
