"""Transfer-function noise (TFN) models with pastas: the hydrogeologists' baseline.

One pastas model per well (model name ``tfn`` in the predictions table),
calibrated on the training period (``split.train``) only, forecasting the same
rows as every other model: those of :func:`gwtl.data.samples.make_samples` with a
window of one month (the rows of persistence and climatology, a superset of the
rows of every longer window), same issue months, target months, leads and
``valid`` mask, so the evaluation scores it on the same months.

The model
    ``h(t) = d + (theta_R * R)(t) + sum_k (theta_k * x_k)(t) + r(t)``: a
    constant, the recharge ``R = P + f E`` (precipitation ``P`` minus ``-f``
    times the potential evaporation ``E``; pastas ``RechargeModel`` with a
    ``Linear`` recharge, ``f`` fitted in [-2, 0]) through the response
    ``theta_R``, one response ``theta_k`` per river input ``x_k`` (each
    gauge's stage), and an AR(1) noise model on the residual ``r`` (pastas
    ``ArNoiseModel``, decay parameter ``alpha`` in days) that weights the
    residuals in calibration and carries the last residual into the forecast.
    Which prepared column drives what: :func:`stress_plan`.
Time step
    pastas simulates on a regular time step and assumes that a stress value at
    time ``t`` is the flux over the step ending at ``t``. Months differ in
    length, so a monthly step ("MS") is not a fixed step for the convolution;
    the model runs daily (``freq="D"``) instead. Each month's forcing is
    spread over its days (precipitation: the monthly sum divided by the days
    of the month, mm/d; stage or discharge: the monthly mean on every day;
    evaporation: the climatology's mm/d of the calendar month), stamped at the
    end of each day. A monthly mean level is compared with the simulation at
    the middle day of its month (``month start + days // 2``).
Stresses
    Each forcing minus its training-period mean (months without a value enter
    as that mean, as in the LSTM input, where they are 0). The constant is then
    the level at mean forcing, and a forcing "unknown" after the issue month
    is the training mean, exactly what the LSTMs see in ``operational`` mode.
    Before the first month pastas' warm-up fills the stresses with the same
    mean (0). The recharge model is linear, so the means only shift the
    constant.
Evaporation (``tfn.evaporation``)
    eHYD has no evaporation or temperature. ``E`` is a climatology, the same
    every year: the grass reference evaporation of each calendar month (mm/d)
    by the FAO-56 Hargreaves equation (Allen et al. 1998, FAO Irrigation and
    Drainage Paper 56, eq. 52; extraterrestrial radiation at 46.8° N) from the
    ZAMG 1971-2000 normals of Graz-Universität (mean daily maximum, minimum and
    mean temperature of each month): 0.45, 0.83, 1.62, 2.71, 3.93, 4.54, 4.65,
    3.87, 2.57, 1.39, 0.64, 0.39 mm/d, 842 mm a year (``tests/test_tfn.py``
    recomputes them). Hargreaves overestimates Penman-Monteith in humid
    Austrian lowlands (Haslinger & Bartsch 2016, HESS 20, 1211), but only the
    seasonal shape of ``E`` matters here: its scale goes into ``f``. Without
    it (``tfn.evaporation: []``) precipitation is a plain ``StressModel`` and
    the recharge peaks in summer with the rain, while the levels are lowest
    then: on the Leibnitzer Feld that model explains a median 48 % of the
    training variance against 73 % with evaporation (README).
Response functions (``tfn.recharge``, ``tfn.river``)
    The default recharge response is ``Gamma`` (gain, shape n, scale a):
    percolation through the unsaturated zone and drainage of the aquifer delay
    and spread the recharge pulse, and the gamma shape can give both a delayed
    peak (n > 1) and an immediate decaying response (n <= 1); it beats the
    ``Exponential`` on training EVP and validation NSE (README). The river
    (the Mur, hydraulically connected to the shallow alluvial aquifer) acts on
    the heads through its stage, the physical boundary (``tfn.river_input:
    stage``; the column ``stage_<gauge>`` of the prepared forcings, in m
    a.s.l.), whose change propagates through the aquifer as a diffusive
    response that is strongest at once and decays: an ``Exponential`` response
    (gain, time scale) is the pastas choice for surface-water levels,
    parsimonious and well posed. A gauge without a stage (no water-level file,
    or the CSV layout) falls back to its discharge, whose gain is a
    linearisation of the stage-discharge relation, with a note in
    ``config.json`` and the report. ``Hantush`` (a leaky-aquifer response to a
    river) is allowed as an alternative; a forcing other than precipitation
    gets the ``tfn.river`` response.
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
    mean (0), except the evaporation climatology, which is known ahead;
    pastas' own ``pastas.forecast`` would do this by re-simulating with a
    stress forecast; here the same arithmetic is done without re-simulating,
    by removing the contribution of those days (the model is linear), see
    :func:`forecast_levels`. The level of no month after ``t`` is
    used; the parameters come from the training period only (for issue months
    inside the training period the forecasts are in-sample, as for every
    other model).
Failures
    A fit that raises, gives non-finite parameters or reports no success is
    never dropped silently: ``diagnostics.csv`` has one row per well with
    pastas' diagnostics (``status``: ``ok``, ``not_converged`` (forecasts are
    still made, flagged) or ``failed`` (no forecast rows for the well); the
    solver's success flag, message and function evaluations, EVP and R² over
    the training period, the noise ``alpha``, the mean delays of recharge and
    river, the river's gain, ``f``, the trend of the training residuals, the
    optimal parameters, those at a bound, and pastas' warnings).
Acceptance (``tfn.accept_evp``, ``tfn.accept_bounds``)
    The models are accepted when the median training EVP is at least
    ``accept_evp`` and fewer than ``accept_bounds`` of the fitted parameters
    sit at a bound (:func:`acceptance`, ``acceptance.json``); the wells that
    miss the rule on their own are listed with what was measured there.
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

from gwtl.data.predictions import COLUMNS, prediction_table, write_predictions
from gwtl.data.processed import Processed, as_processed, load_checked
from gwtl.data.samples import Samples, period, well_samples
from gwtl.pipeline.atomic import atomic_folder, write_text
from gwtl.pipeline.clock import Clock
from gwtl.pipeline.parallel import map_in_processes

MODEL = "tfn"
FREQ = "D"
DIAGNOSTICS = ["well", "status", "success", "message", "nfev", "evp", "rsq", "noise_alpha", "n_obs",
               "delay_recharge", "delay_river", "gain_river", "evap_factor", "resid_trend", "n_parameters",
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
    acceptance: Acceptance | None = None


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


RECHARGE = "recharge"  # name of the pastas RechargeModel
EVAPORATION = "evaporation"  # name of its evaporation stress (the climatology of tfn.evaporation)
KNOWN_AHEAD = (EVAPORATION,)  # stresses known after the issue month (a climatology): kept in operational mode


def stress_plan(params: dict, columns) -> tuple[dict[str, str], list[str]]:
    """Which prepared forcing drives which part of the TFN, and notes on every fallback.

    Returns ``{column: role}`` in the order of ``forecast.forcings`` and the
    notes. Roles: ``recharge`` (precipitation in a pastas ``RechargeModel``
    with the evaporation climatology ``tfn.evaporation``), ``precipitation``
    (precipitation alone, when ``tfn.evaporation`` is empty) and ``river``.
    A forcing ``discharge_<gauge>`` is replaced by the gauge's stage
    ``stage_<gauge>`` when ``tfn.river_input`` is ``stage`` and ``columns``
    (those of ``forcings.csv``) hold it; otherwise the discharge stays, with a
    note. Any other forcing gets the river's response, as before.
    """
    settings, plan, notes = params["tfn"], {}, []
    columns = set(columns)
    for name in params["forecast"]["forcings"]:
        if name == "precipitation":
            plan[name] = RECHARGE if settings["evaporation"] else "precipitation"
            continue
        if name.startswith("discharge_") and settings["river_input"] == "stage":
            gauge = name.removeprefix("discharge_")
            if f"stage_{gauge}" in columns:
                plan[f"stage_{gauge}"] = "river"
                continue
            notes.append(f"gauge {gauge}: the prepared forcings have no stage_{gauge} (no water-level file, or the "
                         f"CSV layout), so the TFN uses its discharge {name} instead")
        plan[name] = "river"
    if settings["evaporation"] and "precipitation" not in plan:
        notes.append("tfn.evaporation is set, but forecast.forcings has no precipitation: no recharge model")
    return plan, notes


def response_of(role: str, params: dict) -> str:
    """The response function of a role of :func:`stress_plan`: ``tfn.recharge`` for recharge or precipitation,
    ``tfn.river`` for a river."""
    return params["tfn"]["river"] if role == "river" else params["tfn"]["recharge"]


def _rfunc(name: str):
    ps = _pastas()
    return {"gamma": ps.Gamma, "exponential": ps.Exponential, "hantush": ps.Hantush}[name]()


STRESS_SETTINGS = {"fill_before": 0.0, "fill_after": 0.0, "fill_nan": 0.0, "sample_up": "divide",
                   "sample_down": "mean"}


def evaporation_stress(values: list[float], train: tuple[pd.Timestamp, pd.Timestamp],
                       months: pd.DatetimeIndex) -> pd.Series:
    """The daily evaporation climatology (mm/d of each calendar month) minus its mean over the training days."""
    days = days_of(months)
    month_of_day = (days - pd.Timedelta("1D")).month.to_numpy()
    daily = pd.Series(np.asarray(values, dtype=float)[month_of_day - 1], index=days, name=EVAPORATION)
    in_train = (days > train[0]) & (days <= train[1] + pd.offsets.MonthBegin(1))
    return daily - float(daily[in_train].mean())


@dataclass
class Fitted:
    """A calibrated pastas model and the daily stresses over the whole period (plus the lead months)."""

    ml: object
    stresses: dict[str, pd.Series]
    maxtmax: float
    plan: dict[str, str] | None = None


def fit_well(level: pd.Series, forcings: pd.DataFrame, params: dict, filled: pd.Series | None = None) -> Fitted:
    """Calibrate the pastas model of one well on the training period (see the module docstring)."""
    ps = _pastas()
    train = period(params["split"]["train"])
    horizon = max(params["forecast"]["leads"])
    months = pd.date_range(level.index[0], periods=len(level) + horizon, freq="MS")
    plan, _ = stress_plan(params, forcings.columns)
    stresses = {name: daily_stress(forcings[name], train, months, per_day=role != "river")
                for name, role in plan.items()}
    if RECHARGE in plan.values():
        stresses[EVAPORATION] = evaporation_stress(params["tfn"]["evaporation"], train, months)
    seen = level.notna() if filled is None else level.notna() & ~np.asarray(filled, bool)
    obs = level[seen].loc[train[0] : train[1]]
    obs.index = middle_day(pd.DatetimeIndex(obs.index))
    if len(obs) < 24:
        raise ValueError(f"only {len(obs)} observed training months (at least 24 needed)")
    end = days_of(pd.DatetimeIndex([train[1]]))[-1]  # last day of the training period
    ml = ps.Model(obs, name=str(level.name))
    for name, role in plan.items():
        rfunc = _rfunc(response_of(role, params))
        if role == RECHARGE:
            ps.RechargeModel(ml, prec=stresses[name].loc[:end], evap=stresses[EVAPORATION].loc[:end], rfunc=rfunc,
                             name=RECHARGE, recharge=ps.rch.Linear(),
                             settings=(dict(STRESS_SETTINGS), dict(STRESS_SETTINGS)))
        else:
            ps.StressModel(model=ml, stress=stresses[name].loc[:end], rfunc=rfunc, name=name,
                           settings=dict(STRESS_SETTINGS))
    ps.ArNoiseModel(ml)
    tmin, tmax = days_of(pd.DatetimeIndex([train[0]]))[0], end
    ml.solve(tmin=tmin, tmax=tmax, freq=FREQ, report=False)
    warmup = ml.settings["warmup"] / pd.Timedelta("1D")
    maxtmax = (ml.settings["tmax"] - ml.settings["tmin"]) / pd.Timedelta("1D") + warmup
    return Fitted(ml, stresses, maxtmax, plan)


def contributions(fitted: Fitted) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per stress: its daily contribution over the whole period and its daily block response.

    The same convolution as pastas' ``StressModel.simulate`` (block response
    with the fitted parameters, the stress zero before its first day), over the
    stresses of the whole period instead of the training period. The
    recharge model is linear (``R = P + f E``), so its contribution splits
    into one of precipitation (block ``b``) and one of evaporation (block
    ``f b``), keyed by the names of :attr:`Fitted.stresses`.
    """
    from scipy.signal import fftconvolve

    ml, out = fitted.ml, {}

    def part(name: str, block: np.ndarray) -> None:
        x = fitted.stresses[name].to_numpy(dtype=float)
        out[name] = (fftconvolve(x, block, "full")[: len(x)], block)

    for sm_name, sm in ml.stressmodels.items():
        p = np.asarray(ml.get_parameters(sm_name), dtype=float)
        block = np.asarray(sm.rfunc.block(p[: sm.rfunc.nparam], 1.0, maxtmax=fitted.maxtmax), dtype=float)
        if sm_name == RECHARGE:
            part("precipitation", block)
            part(EVAPORATION, p[-1] * block)
        else:
            part(sm_name, block)
    return out


def forecast_levels(fitted: Fitted, samples: Samples, mode: str) -> np.ndarray:
    """Levels forecast for every sample and lead, shape (n, n_leads); see the module docstring.

    ``operational``: the contribution of every stress day after the issue
    month, ``sum_s b(tau - s) x(s)`` for ``s`` after the issue month's last day,
    is removed from the simulation at the target day ``tau`` (setting those
    stress days to their training mean, 0), except for the evaporation
    climatology (:data:`KNOWN_AHEAD`), which is known ahead.
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
                if name in KNOWN_AHEAD:  # a climatology is known ahead
                    continue
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


def mean_delay(rfunc, p: np.ndarray) -> float:
    """Mean delay (days) of a response: the centre of mass of its impulse response.

    ``n a`` for a Gamma, ``a`` for an Exponential response; any other from its
    daily block response up to 99.99 % of the step response.
    """
    kind = type(rfunc).__name__
    if kind == "Gamma":
        return float(p[1] * p[2])
    if kind == "Exponential":
        return float(p[1])
    block = np.asarray(rfunc.block(p[: rfunc.nparam], 1.0, cutoff=0.9999), dtype=float)
    t = np.arange(len(block)) + 0.5
    return float((t * block).sum() / block.sum())


def _responses(fitted: Fitted) -> dict:
    """The measured response of a fit: mean delays of recharge and river, the river's gain, the evaporation
    factor ``f`` and the trend of the training residuals (m per decade)."""
    ml, out = fitted.ml, {}
    for name, role in (fitted.plan or {}).items():
        sm_name = RECHARGE if role == RECHARGE else name
        sm = ml.stressmodels[sm_name]
        p = np.asarray(ml.get_parameters(sm_name), dtype=float)
        if role == "river" and "delay_river" not in out:  # the first river of forecast.forcings
            out.update(delay_river=round(mean_delay(sm.rfunc, p), 2), gain_river=float(f"{p[0]:.6g}"))
        elif role != "river":
            out["delay_recharge"] = round(mean_delay(sm.rfunc, p), 2)
            if role == RECHARGE:
                out["evap_factor"] = round(float(p[-1]), 4) + 0.0  # + 0.0: no "-0" at the bound f = 0
    residuals = ml.residuals().dropna()
    if len(residuals) > 2:
        years = (residuals.index - residuals.index[0]) / pd.Timedelta("365.25D")
        out["resid_trend"] = round(float(np.polyfit(np.asarray(years, dtype=float), residuals.to_numpy(), 1)[0]) * 10,
                                   4)
    return out


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
        n_parameters=int(ml.parameters["vary"].sum()),
        parameters=json.dumps({k: float(f"{v:.6g}") for k, v in optimal.items()}),
        at_bounds=" ".join(_at_bounds(ml)),
    )
    if fitted.plan is not None and finite:
        row.update(_responses(fitted))
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
    plan, notes = stress_plan(params, data.forcings.columns)
    accepted = acceptance(diagnostics, params, data.wells)
    config = {
        "model": MODEL,
        "pastas": ps.__version__,
        "stresses": plan,
        "responses": {RECHARGE if role == RECHARGE else name: response_of(role, params) for name, role in plan.items()},
        "recharge_model": "Linear (R = P + f E)" if RECHARGE in plan.values() else None,
        "evaporation_mm_per_day": list(params["tfn"]["evaporation"]),
        "notes": notes,
        "stress": "forcing minus its training mean, spread over the days of its month; missing months 0",
        "noise_model": "ArNoiseModel",
        "solver": "LeastSquares",
        "freq": FREQ,
        "observation_day": "month start + days in month // 2",
        "calibration": params["split"]["train"],
        "mode": params["forecast"]["mode"],
        "operational": "stresses after the issue month set to their training mean (the evaporation climatology "
                       "is known ahead and kept)",
        "failed": diagnostics.loc[diagnostics["status"] == "failed", "well"].tolist(),
        "not_converged": diagnostics.loc[diagnostics["status"] == "not_converged", "well"].tolist(),
    }
    with atomic_folder(out) as tmp:
        write_predictions(table, tmp / "predictions.csv")
        write_text(tmp / "diagnostics.csv", diagnostics.to_csv(index=False))
        write_text(tmp / "cost.csv", cost.to_csv(index=False))
        write_text(tmp / "config.json", json.dumps(config, indent=1) + "\n")
        write_text(tmp / "acceptance.json", json.dumps(accepted.summary(), indent=1) + "\n")
    return TfnResult(Path(out), table, diagnostics, cost, config, accepted)


# ----------------------------------------------------------------------------- acceptance


def _bound_reason(hit: str) -> str:
    """A parameter at a bound (``name=pmin``) in words."""
    name, _, bound = hit.partition("=")
    stress, _, par = name.rpartition("_")
    if par == "A" and bound == "pmin":
        return f"no {stress} response (gain {name} at its lower bound)"
    if par == "f":
        return f"evaporation factor f at {'0: no evaporation effect' if bound == 'pmax' else 'its lower bound, -2'}"
    if par == "a" and bound == "pmax":
        return f"{stress} time scale {name} at its upper bound"
    return f"{name} at its {'lower' if bound == 'pmin' else 'upper'} bound"


@dataclass
class Acceptance:
    """The acceptance rule of ``tfn.accept_evp`` and ``tfn.accept_bounds`` applied to a stage's diagnostics.

    Attributes
    ----------
    median_evp : float
        Median training EVP (%) over the wells with a fit (failed fits count as 0).
    n_parameters, n_at_bounds : int
        Fitted (varying) parameters over all fits, and those at a bound.
    accepted : bool
        ``median_evp >= accept_evp`` and ``n_at_bounds / n_parameters < accept_bounds``.
    misses : DataFrame
        The wells that miss the rule on their own (EVP below ``accept_evp``, a
        parameter at a bound, or a failed fit), with what was measured there:
        ``well, evp, reason, at_bounds, delay_recharge, delay_river,
        gain_river, resid_trend, noise_alpha, corr_basin``.
    """

    accept_evp: float
    accept_bounds: float
    median_evp: float
    n_parameters: int
    n_at_bounds: int
    accepted: bool
    misses: pd.DataFrame

    @property
    def share_at_bounds(self) -> float:
        return self.n_at_bounds / self.n_parameters if self.n_parameters else float("nan")

    def text(self) -> str:
        """The verdict in one Markdown paragraph."""
        verdict = "**accepted**" if self.accepted else "**not accepted**"
        return (f"Acceptance rule (`tfn.accept_evp`, `tfn.accept_bounds`): median training EVP at least "
                f"{self.accept_evp:g} % and fewer than {self.accept_bounds:.0%} of the fitted parameters at a bound. "
                f"Median training EVP {self.median_evp:.1f} %, {self.n_at_bounds} of {self.n_parameters} parameters "
                f"({self.share_at_bounds:.1%}) at a bound: {verdict}. {len(self.misses)} wells miss the rule on "
                "their own (EVP below the threshold, a parameter at a bound, or a failed fit); they are listed below "
                "with what was measured there.")

    def summary(self) -> dict:
        """The content of ``acceptance.json``."""
        misses = self.misses.astype(object).where(self.misses.notna(), None)
        return {"accept_evp": self.accept_evp, "accept_bounds": self.accept_bounds,
                "median_evp": round(self.median_evp, 4), "n_parameters": self.n_parameters,
                "n_at_bounds": self.n_at_bounds, "share_at_bounds": round(self.share_at_bounds, 4),
                "accepted": self.accepted, "misses": misses.to_dict(orient="records")}


def acceptance(diagnostics: pd.DataFrame, params: dict, wells: pd.DataFrame | None = None) -> Acceptance:
    """Apply the acceptance rule (``tfn.accept_evp``, ``tfn.accept_bounds``) to ``diagnostics``.

    ``wells`` (``wells.csv``) adds each missing well's ``corr_basin``, the
    training correlation with the other wells' mean, to its measurements.
    """
    settings = params["tfn"]
    d = diagnostics.copy()
    d["evp"] = pd.to_numeric(d["evp"], errors="coerce")
    failed = d["status"] == "failed"
    hits = d["at_bounds"].fillna("").astype(str).str.split()
    n_params = int(pd.to_numeric(d.loc[~failed, "n_parameters"], errors="coerce").fillna(0).sum())
    n_hits = int(hits[~failed].map(len).sum())
    median = float(d["evp"].where(~failed, 0.0).fillna(0.0).median()) if len(d) else float("nan")
    corr = {}
    if wells is not None and "corr_basin" in wells:
        corr = dict(zip(wells["hzb"].astype(str), wells["corr_basin"]))
    rows = []
    for i, r in d.iterrows():
        low = pd.isna(r["evp"]) or r["evp"] < settings["accept_evp"]
        if not (failed[i] or low or hits[i]):
            continue
        reasons = []
        if failed[i]:
            reasons.append(f"fit failed: {r['error']}")
        elif low:
            reasons.append(f"EVP {r['evp']:.0f} % < {settings['accept_evp']:g} %")
        reasons += [_bound_reason(h) for h in hits[i]]
        row = {k: r.get(k) for k in ("well", "evp", "at_bounds", "delay_recharge", "delay_river", "gain_river",
                                      "resid_trend", "noise_alpha")}
        row["corr_basin"] = corr.get(str(r["well"]))
        row["reason"] = "; ".join(reasons)
        rows.append(row)
    columns = ["well", "evp", "reason", "at_bounds", "delay_recharge", "delay_river", "gain_river", "resid_trend",
               "noise_alpha", "corr_basin"]
    misses = pd.DataFrame(rows, columns=columns)
    share = n_hits / n_params if n_params else float("inf")
    accepted = bool(median >= settings["accept_evp"] and share < settings["accept_bounds"])
    return Acceptance(float(settings["accept_evp"]), float(settings["accept_bounds"]), median, n_params, n_hits,
                      accepted, misses)


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
    """The calibrated pastas model of one well (for pastas' own plots, :func:`gwtl.report.training_figures.tfn_figure`)."""
    data = as_processed(processed)
    with _captured():
        return fit_well(data.series(well), data.forcings, params, data.filled(well)).ml
