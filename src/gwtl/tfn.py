"""Transfer-function noise (TFN) models with pastas: the hydrogeologists' baseline.

One pastas model per well (model name ``tfn`` in the predictions table),
calibrated on the training period (``split.train``) only, forecasting the same
rows as every other model: those of :func:`gwtl.dataset.make_samples` with a
window of one month (the rows of persistence and climatology, a superset of the
rows of every longer window), same issue months, target months, leads and
``valid`` mask, so the evaluation scores it on the same months.

The model
    ``h(t) = d + sum_k (theta_k * x_k)(t) + r(t)``: a constant, one linear
    response ``theta_k`` per forcing of ``forecast.forcings``, and an AR(1)
    noise model on the residual ``r`` (pastas ``ArNoiseModel``, decay
    parameter ``alpha`` in days) that weights the residuals in calibration and
    carries the last residual into the forecast.
Time step
    pastas simulates on a regular time step and assumes that a stress value at
    time ``t`` is the flux over the step ending at ``t``. Months differ in
    length, so a monthly step ("MS") is not a fixed step for the convolution;
    the model runs daily (``freq="D"``) instead. Each month's forcing is
    spread over its days (precipitation: the monthly sum divided by the days
    of the month, mm/d; discharge: the monthly mean on every day), stamped at
    the end of each day. A monthly mean level is compared with the simulation
    at the middle day of its month (``month start + days // 2``).
Stresses
    Each forcing minus its training-period mean (months without a value enter
    as that mean, as in the LSTM input, where they are 0). The constant is then
    the level at mean forcing, and a forcing "unknown" after the issue month
    is the training mean, exactly what the LSTMs see in ``operational`` mode.
    Before the first month pastas' warm-up fills the stresses with the same
    mean (0).
Response functions (``tfn.recharge``, ``tfn.river``)
    eHYD provides no evaporation or temperature, so the recharge cannot be
    modelled as precipitation minus evaporation (pastas ``RechargeModel``
    needs an evaporation series). Precipitation is a plain ``StressModel``:
    the constant absorbs the mean evapotranspiration (recharge = gain x
    precipitation + constant), while its seasonal cycle (high summer ET at high
    summer rain) is not modelled and is left to the noise model; this is why a
    TFN here is weaker than with evaporation data. The default response is
    ``Gamma`` (gain, shape n, scale a): percolation through the unsaturated
    zone delays and spreads the recharge pulse, and the gamma shape can give
    both a delayed peak (n > 1) and an immediate decaying response (n <= 1).
    The discharge gauges (the Mur, hydraulically connected to the shallow
    alluvial aquifer) act on the heads through the river stage, whose change
    propagates through the aquifer as a diffusive response that is strongest
    at once and decays: an ``Exponential`` response (gain, time scale) is the
    pastas choice for surface-water levels, parsimonious and well posed. The
    stage-discharge relation is not linear; the gain is a linearisation
    around the mean discharge. ``Hantush`` (a leaky-aquifer response to a
    river) is allowed as an alternative; a forcing not named
    ``precipitation`` gets the ``tfn.river`` response.
Calibration
    ``LeastSquares`` (scipy ``least_squares``) on the observed, not
    interpolated levels of the training period, with the stresses cut at the
    end of the training period: no level or forcing after it reaches the fit.
Forecasts
    Issued at month ``t`` (its level observed): the simulation at the target
    month ``t+h`` plus the noise-model forecast from the residual at ``t``,
    ``r(t) * exp(-dt / alpha)`` (``dt`` the days between the two middle days;
    this is pastas' ``ArNoiseModel.get_correction``). ``observed-forcing``
    mode: the simulation with the stresses up to the target's middle day
    (a causal convolution never reads later ones). ``operational`` mode: the
    stresses after the last day of the issue month are set to their training
    mean (0), which pastas' own ``pastas.forecast`` would do by re-simulating
    with a stress forecast; here the same arithmetic is done without
    re-simulating, by removing the contribution of those days (the model is
    linear), see :func:`forecast_levels`. The level of no month after ``t`` is
    used; the parameters come from the training period only (for issue months
    inside the training period the forecasts are in-sample, as for every
    other model).
Failures
    A fit that raises, gives non-finite parameters or reports no success is
    never dropped silently: ``diagnostics.csv`` has one row per well with
    pastas' diagnostics (``status``: ``ok``, ``not_converged`` (forecasts are
    still made, flagged) or ``failed`` (no forecast rows for the well); the
    solver's success flag, message and function evaluations, EVP and R² over
    the training period, the noise ``alpha``, the optimal parameters, those at
    a bound, and pastas' warnings).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_folder, write_text
from .clock import Clock
from .dataset import Samples, period, well_samples
from .parallel import map_in_processes
from .predictions import COLUMNS, prediction_table, write_predictions
from .processed import Processed, as_processed, load_checked

MODEL = "tfn"
FREQ = "D"
DIAGNOSTICS = ["well", "status", "success", "message", "nfev", "evp", "rsq", "noise_alpha", "n_obs",
               "parameters", "at_bounds", "warnings", "error"]
COST = ["well", "model", "wall_s", "cpu_s", "trials"]


@dataclass
class TfnResult:
    """What :func:`run_tfn` wrote: predictions, one diagnostics row and one cost row per well, the config."""

    out: Path
    predictions: pd.DataFrame
    diagnostics: pd.DataFrame
    cost: pd.DataFrame
    config: dict


# ----------------------------------------------------------------------------- time axis


def days_of(months: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Daily stamps of ``months``: each day stamped at its end (pastas' convention for a flux)."""
    first, last = months[0], months[-1] + pd.offsets.MonthBegin(1)
    return pd.date_range(first + pd.Timedelta("1D"), last, freq=FREQ)


def middle_day(months: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The day a monthly mean level is compared with: month start + days in month // 2."""
    return months + pd.to_timedelta(months.days_in_month // 2, unit="D")


def daily_stress(values: pd.Series, train: tuple[pd.Timestamp, pd.Timestamp], months: pd.DatetimeIndex,
                 per_day: bool) -> pd.Series:
    """A monthly forcing as a daily stress minus its training mean, 0 where missing.

    ``months`` may reach past the forcing's last month (those months are 0,
    the training mean). ``per_day`` spreads a monthly sum over the days of its
    month; otherwise each day gets the monthly mean.
    """
    mean = float(values.loc[train[0] : train[1]].mean())
    monthly = (values.reindex(months) - mean).fillna(0.0)
    days = days_of(months)
    month_of_day = (days - pd.Timedelta("1D")).to_period("M").to_timestamp()
    daily = monthly.reindex(month_of_day).to_numpy()
    if per_day:
        daily = daily / month_of_day.days_in_month.to_numpy()
    return pd.Series(daily, index=days, name=values.name)


# ----------------------------------------------------------------------------- fit


def _pastas():
    """pastas, imported lazily and without tqdm's notebook-widget warning (pastas imports ``tqdm.auto``; no
    progress bar is used here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import pastas
    return pastas


def response_of(forcing: str, params: dict) -> str:
    """The response function of a forcing: ``tfn.recharge`` for precipitation, ``tfn.river`` for any other."""
    return params["tfn"]["recharge"] if forcing == "precipitation" else params["tfn"]["river"]


def _rfunc(name: str):
    ps = _pastas()
    return {"gamma": ps.Gamma, "exponential": ps.Exponential, "hantush": ps.Hantush}[name]()


STRESS_SETTINGS = {"fill_before": 0.0, "fill_after": 0.0, "fill_nan": 0.0, "sample_up": "divide",
                   "sample_down": "mean"}


@dataclass
class Fitted:
    """A calibrated pastas model and the daily stresses over the whole period (plus the lead months)."""

    ml: object
    stresses: dict[str, pd.Series]
    maxtmax: float


def fit_well(level: pd.Series, forcings: pd.DataFrame, params: dict, filled: pd.Series | None = None) -> Fitted:
    """Calibrate the pastas model of one well on the training period (see the module docstring)."""
    ps = _pastas()
    train = period(params["split"]["train"])
    horizon = max(params["forecast"]["leads"])
    months = pd.date_range(level.index[0], periods=len(level) + horizon, freq="MS")
    stresses = {name: daily_stress(forcings[name], train, months, per_day=name == "precipitation")
                for name in params["forecast"]["forcings"]}
    seen = level.notna() if filled is None else level.notna() & ~np.asarray(filled, bool)
    obs = level[seen].loc[train[0] : train[1]]
    obs.index = middle_day(pd.DatetimeIndex(obs.index))
    if len(obs) < 24:
        raise ValueError(f"only {len(obs)} observed training months (at least 24 needed)")
    end = days_of(pd.DatetimeIndex([train[1]]))[-1]  # last day of the training period
    ml = ps.Model(obs, name=str(level.name))
    for name, stress in stresses.items():
        ps.StressModel(model=ml, stress=stress.loc[:end], rfunc=_rfunc(response_of(name, params)), name=name,
                       settings=dict(STRESS_SETTINGS))
    ps.ArNoiseModel(ml)
    tmin, tmax = days_of(pd.DatetimeIndex([train[0]]))[0], end
    ml.solve(tmin=tmin, tmax=tmax, freq=FREQ, report=False)
    warmup = ml.settings["warmup"] / pd.Timedelta("1D")
    maxtmax = (ml.settings["tmax"] - ml.settings["tmin"]) / pd.Timedelta("1D") + warmup
    return Fitted(ml, stresses, maxtmax)


def contributions(fitted: Fitted) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per stress: its daily contribution over the whole period and its daily block response.

    The same convolution as pastas' ``StressModel.simulate`` (block response
    with the fitted parameters, the stress zero before its first day), over the
    stresses of the whole period instead of the training period.
    """
    from scipy.signal import fftconvolve

    ml, out = fitted.ml, {}
    for name, stress in fitted.stresses.items():
        sm = ml.stressmodels[name]
        block = np.asarray(sm.rfunc.block(ml.get_parameters(name), 1.0, maxtmax=fitted.maxtmax), dtype=float)
        x = stress.to_numpy(dtype=float)
        out[name] = (fftconvolve(x, block, "full")[: len(x)], block)
    return out


def forecast_levels(fitted: Fitted, samples: Samples, mode: str) -> np.ndarray:
    """Levels forecast for every sample and lead, shape (n, n_leads); see the module docstring.

    ``operational``: the contribution of every stress day after the issue
    month, ``sum_s b(tau - s) x(s)`` for ``s`` after the issue month's last day,
    is removed from the simulation at the target day ``tau`` (setting those
    stress days to their training mean, 0).
    """
    ml = fitted.ml
    days = next(iter(fitted.stresses.values())).index
    parts = contributions(fitted)
    sim = ml.get_parameters("constant") + sum(c for c, _ in parts.values())
    sim = np.asarray(sim, dtype=float).ravel()
    issue = pd.DatetimeIndex(samples.issue)
    at_issue = days.get_indexer(middle_day(issue))
    last_known = days.get_indexer(issue + pd.offsets.MonthBegin(1))  # stamp of the issue month's last day
    if (at_issue < 0).any() or (last_known < 0).any():
        raise ValueError("issue months outside the daily stresses")
    residual = samples.base - sim[at_issue]
    alpha = float(ml.get_parameters("noise")[0])
    forecast = np.empty(samples.y.shape)
    for j, h in enumerate(samples.leads):
        target_month = issue + pd.DateOffset(months=h)
        at_target = days.get_indexer(middle_day(pd.DatetimeIndex(target_month)))
        if (at_target < 0).any():
            raise ValueError(f"target months of lead {h} outside the daily stresses")
        level = sim[at_target].copy()
        if mode == "operational":
            for name, (_, block) in parts.items():
                x = fitted.stresses[name].to_numpy(dtype=float)
                for i, (k, tau) in enumerate(zip(last_known, at_target)):
                    s = np.arange(k + 1, tau + 1)
                    lag = tau - s
                    use = lag < len(block)
                    level[i] -= float(np.dot(block[lag[use]], x[s[use]]))
        dt = (at_target - at_issue).astype(float)
        forecast[:, j] = level + residual * np.exp(-dt / alpha)
    return forecast


# ----------------------------------------------------------------------------- diagnostics


def _at_bounds(ml) -> list[str]:
    p = ml.parameters
    hit = []
    for name, row in p.iterrows():
        if not row["vary"]:
            continue
        for bound in ("pmin", "pmax"):
            b = row[bound]
            if pd.notna(b) and abs(row["optimal"] - b) <= 1e-6 * max(1.0, abs(b)):
                hit.append(f"{name}={bound}")
    return hit


def diagnostics_row(well: str, fitted: Fitted | None, error: str, caught: list[str]) -> dict:
    """One row of ``diagnostics.csv`` (columns :data:`DIAGNOSTICS`)."""
    row = dict.fromkeys(DIAGNOSTICS, "")
    row.update(well=well, warnings=" | ".join(dict.fromkeys(caught)), error=error)
    if fitted is None:
        row.update(status="failed", success=False)
        return row
    ml = fitted.ml
    result = ml.solver.result
    optimal = ml.parameters["optimal"]
    success = bool(getattr(result, "success", False))
    finite = bool(np.isfinite(optimal.to_numpy(dtype=float)).all())
    row.update(
        status="ok" if success and finite else ("not_converged" if finite else "failed"),
        success=success,
        message=str(getattr(result, "message", "")),
        nfev=int(getattr(result, "nfev", 0)),
        evp=round(float(ml.stats.evp()), 4),
        rsq=round(float(ml.stats.rsq()), 4),
        noise_alpha=round(float(ml.get_parameters("noise")[0]), 4),
        n_obs=int(ml.observations().size),
        parameters=json.dumps({k: float(f"{v:.6g}") for k, v in optimal.items()}),
        at_bounds=" ".join(_at_bounds(ml)),
    )
    if not finite:
        row["error"] = "non-finite optimal parameters"
    return row


# ----------------------------------------------------------------------------- one well


@contextmanager
def _captured() -> Iterator[list[str]]:
    """Collect pastas' log warnings and Python warnings (not deprecation notices) instead of printing them."""
    caught: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.getMessage())

    logger = logging.getLogger("pastas")
    handler, propagate = Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
                warnings.filterwarnings("ignore", category=category)  # API notices, not about the fit
            yield caught
        caught.extend(str(w.message) for w in found)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def run_well(well: str, processed: Processed, params: dict) -> tuple[pd.DataFrame, dict, dict]:
    """Fit and forecast one well: its predictions (empty if the fit failed), diagnostics row and cost row."""
    well = str(well)
    clock = Clock()
    level, filled = processed.series(well), processed.filled(well)
    samples = well_samples(params, processed, well, 1)
    fitted, forecast, error = None, None, ""
    with _captured() as caught:
        try:
            fitted = fit_well(level, processed.forcings, params, filled)
            forecast = forecast_levels(fitted, samples, params["forecast"]["mode"])
        except Exception as err:  # one bad well is reported, not raised (see diagnostics)
            error = f"{type(err).__name__}: {err}"
    row = diagnostics_row(well, fitted, error, caught)
    if forecast is None:  # the fit or the forecast raised: no forecasts, whatever the solver reported
        row["status"] = "failed"
    table = (pd.DataFrame(columns=COLUMNS) if row["status"] == "failed"
             else prediction_table(samples, forecast, model=MODEL, well=well, split=params["split"]))
    cost = {"well": well, "model": MODEL, **clock.read(), "trials": 1}
    return table, row, cost


def _run_task(task: tuple) -> tuple:
    well, processed, params = task
    return run_well(well, processed, params)


# ----------------------------------------------------------------------------- stage


def run_tfn(params: dict, processed: str | Path = "data/processed", out: str | Path = "models/tfn",
            wells: list | None = None, n_jobs: int | None = None) -> TfnResult:
    """Fit and forecast the TFN model of every well; write ``out`` atomically.

    Writes ``predictions.csv`` (model ``tfn``), ``diagnostics.csv`` (one row
    per well, :data:`DIAGNOSTICS`), ``cost.csv`` (``well, model, wall_s,
    cpu_s, trials``, as the baselines' cost file) and ``config.json``. A well
    whose fit failed has no predictions and ``status = failed`` in
    ``diagnostics.csv``; it does not stop the other wells. Results do not
    depend on ``n_jobs`` (wells in parallel processes, default all cores).
    """
    ps = _pastas()
    data, wells = load_checked(params, processed, wells)
    results = list(map_in_processes(_run_task, [(w, data, params) for w in wells], n_jobs))
    frames = [r[0] for r in results if len(r[0])]
    table = pd.concat(frames, ignore_index=True) if frames else results[0][0]
    diagnostics = pd.DataFrame([r[1] for r in results], columns=DIAGNOSTICS)
    cost = pd.DataFrame([r[2] for r in results], columns=COST)
    config = {
        "model": MODEL,
        "pastas": ps.__version__,
        "responses": {name: response_of(name, params) for name in params["forecast"]["forcings"]},
        "stress": "forcing minus its training mean, spread over the days of its month; missing months 0",
        "noise_model": "ArNoiseModel",
        "solver": "LeastSquares",
        "freq": FREQ,
        "observation_day": "month start + days in month // 2",
        "calibration": params["split"]["train"],
        "mode": params["forecast"]["mode"],
        "operational": "stresses after the issue month set to their training mean",
        "failed": diagnostics.loc[diagnostics["status"] == "failed", "well"].tolist(),
        "not_converged": diagnostics.loc[diagnostics["status"] == "not_converged", "well"].tolist(),
    }
    with atomic_folder(out) as tmp:
        write_predictions(table, tmp / "predictions.csv")
        write_text(tmp / "diagnostics.csv", diagnostics.to_csv(index=False))
        write_text(tmp / "cost.csv", cost.to_csv(index=False))
        write_text(tmp / "config.json", json.dumps(config, indent=1) + "\n")
    return TfnResult(Path(out), table, diagnostics, cost, config)


def fit_summary(diagnostics: pd.DataFrame) -> str:
    """One Markdown paragraph: how many fits converged, did not or failed, and the parameters at a bound."""
    counts = diagnostics["status"].value_counts()
    bounds = diagnostics["at_bounds"].fillna("").str.split().explode().dropna()
    bounds = bounds[bounds != ""].value_counts()
    text = (f"{len(diagnostics)} wells: {counts.get('ok', 0)} fits converged, "
            f"{counts.get('not_converged', 0)} did not (they forecast and are flagged), "
            f"{counts.get('failed', 0)} failed (no forecasts; listed below with pastas' message).")
    if len(bounds):
        text += " Parameters at a bound: " + ", ".join(f"`{name}` in {n} wells" for name, n in bounds.items()) + "."
    return text


def fitted_model(well: str, processed: str | Path | Processed, params: dict):
    """The calibrated pastas model of one well (for pastas' own plots, :func:`gwtl.training_figures.tfn_figure`)."""
    data = as_processed(processed)
    with _captured():
        return fit_well(data.series(well), data.forcings, params, data.filled(well)).ml
