"""Baseline forecasters: persistence, damped persistence, climatology, ARX (ridge), SVR and Random Forest.

All baselines forecast the same wells, lead times and target as the LSTMs, from
the samples of :func:`gwtl.data.samples.make_samples` (same forecast mode, forcings,
scalers fit on the training period only). For lead ``h`` every baseline reads
what the LSTM's readout for lead ``h`` reads: the level up to the issue month
``t`` and, in ``observed-forcing`` mode, the forcings up to the target month
``t+h``, never after; in ``operational`` mode no forcing after ``t``. Hence
ARX, SVR and RF are one model per lead. The baselines:

``persistence``
    the level at the issue month, for every lead.
``climatology``
    the mean level of the target's calendar month over the training period.
``damped_persistence``
    the forecaster's reference that reads no forcing: the training mean of the
    target's calendar month plus ``phi_h`` times the anomaly at the issue month
    (level minus the training mean of its calendar month), one ``phi_h`` per
    well and lead, fitted by least squares without intercept on the training
    samples (issue month and target in the training period, both observed, no
    filled month; :func:`damped_persistence_fit`). It is the same in
    ``observed-forcing`` and ``operational`` mode, and the forecast stage can
    issue it as it is (:mod:`gwtl.forecast.outlook`); skill against it is what the
    forcings and the models' memory add to what the level alone tells.
``arx``
    ridge regression, one model per lead, on ``baselines.arx_lags`` monthly lags
    (issue month included) of the standardized level and of each forcing, plus
    the forcings of the months after the issue month up to the target month in
    ``observed-forcing`` mode (none in ``operational`` mode), plus the season
    (``month_sin``, ``month_cos``) of the issue month. A lagged level that is
    missing enters as 0 (the training mean), as in the LSTM input. The ridge
    penalty is chosen on validation from :data:`ARX_ALPHAS`.
``svr``
    scikit-learn SVR (RBF kernel), one model per lead, on the LSTM input
    sequence flattened up to the target month (:func:`ml_inputs`): level,
    observed flag and forcings of every window month, in ``observed-forcing``
    mode the forcings of the later months up to the target month, and the
    season of the issue month. Window and C, epsilon, gamma are tuned per lead.
``rf``
    scikit-learn Random Forest, one model per lead, on the same inputs as SVR.
    Window and n_estimators, max_depth, min_samples_leaf, max_features are
    tuned per lead.

SVR and RF are tuned with Optuna (TPE sampler seeded with :data:`SEED`,
``baselines.trials`` trials per study, one study per lead); a window is one of
``pretrain.search.window``. The ``trials`` of ``cost.csv`` count the fits over
all leads: ``baselines.trials`` per lead for SVR and RF, ``len(ARX_ALPHAS)``
per lead for ARX.

Every fitted model predicts ``forecast.target`` (change or level, in units of
the training standard deviation). Models are fit on the training rows
(``Samples.within(split.train)``: whole sequence and all targets in the training
period); hyperparameters minimise the mean squared error over the samples whose
target month lies in the validation period (for the change target this is the
level SSE, i.e. it maximises the validation NSE). Models are not refit on the
validation period, and the test period plays no part in fitting or choosing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwtl.data.predictions import prediction_table, write_predictions
from gwtl.data.processed import Processed, load_checked
from gwtl.data.samples import Samples, period, well_samples
from gwtl.pipeline.atomic import write_text
from gwtl.pipeline.clock import Clock
from gwtl.pipeline.parallel import map_in_processes

MODELS = ("persistence", "climatology", "damped_persistence", "arx", "svr", "rf")
ARX_ALPHAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
SEED = 0


@dataclass
class BaselineResult:
    """What :func:`run_baselines` wrote.

    Attributes
    ----------
    out : Path
        The folder of the three files.
    predictions : DataFrame
        Predictions table (:mod:`gwtl.data.predictions`) of every well and model.
    config : dict
        ``{well: {model: [{"leads": [h, ...], parameter: value, ...}]}}``, one
        entry per fitted model with its chosen hyperparameters and validation MSE.
    cost : DataFrame
        ``well, model, wall_s, cpu_s, trials``.
    """

    out: Path
    predictions: pd.DataFrame
    config: dict
    cost: pd.DataFrame


# ----------------------------------------------------------------------------- inputs


def window_inputs(samples: Samples, j: int, past: list[str], future: list[str]) -> np.ndarray:
    """Flat inputs (n, k) for the lead of index ``j``.

    ``past`` features over the window months (issue month included), ``future``
    features over the months after the issue month up to the target month.
    """
    idx = {name: i for i, name in enumerate(samples.features)}
    w, h = samples.window, samples.leads[j]
    parts = [samples.x[:, :w, [idx[f] for f in past]].reshape(len(samples), -1)]
    if future:
        parts.append(samples.x[:, w : w + h, [idx[f] for f in future]].reshape(len(samples), -1))
    return np.concatenate(parts, axis=1).astype(np.float64)


def issue_season(samples: Samples) -> np.ndarray:
    """``month_sin`` and ``month_cos`` of the issue month, shape (n, 2)."""
    idx = [samples.features.index(f) for f in ("month_sin", "month_cos")]
    return samples.x[:, samples.window - 1, idx].astype(np.float64)


def future_forcings(params: dict) -> list[str]:
    """Forcings known after the issue month: all in observed-forcing mode, none otherwise."""
    fc = params["forecast"]
    return list(fc["forcings"]) if fc["mode"] == "observed-forcing" else []


def arx_inputs(samples: Samples, j: int, params: dict) -> np.ndarray:
    """ARX regressors: lags of level and forcings, later forcings, issue-month season."""
    forcings = list(params["forecast"]["forcings"])
    lags = window_inputs(samples, j, ["level", *forcings], future_forcings(params))
    return np.concatenate([lags, issue_season(samples)], axis=1)


def ml_inputs(samples: Samples, j: int, params: dict) -> np.ndarray:
    """SVR/RF inputs: the LSTM sequence flattened, up to the target month of lead ``j``.

    Level, observed flag and forcings of every window month, forcings of later
    months, and the season of the issue month (the season of the other months
    follows from it).
    """
    forcings = list(params["forecast"]["forcings"])
    seq = window_inputs(samples, j, ["level", "observed", *forcings], future_forcings(params))
    return np.concatenate([seq, issue_season(samples)], axis=1)


@dataclass
class Design:
    """Inputs and scaled targets of the model of one lead over the samples of one well.

    Attributes
    ----------
    samples : Samples
    j : int
        Index of the lead the model forecasts.
    x : ndarray (n, k)
    y : ndarray (n,), NaN where the level is missing
    train : ndarray (n,)
        Fitting rows: whole sequence and all targets in the training period, target observed.
    validation : ndarray (n,)
        Rows scoring hyperparameters: target month in the validation period and observed.
    """

    samples: Samples
    j: int
    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    validation: np.ndarray

    def fit(self, estimator):
        return estimator.fit(self.x[self.train], self.y[self.train])

    def predict(self, estimator) -> np.ndarray:
        return np.asarray(estimator.predict(self.x), dtype=float).ravel()

    def validation_mse(self, scaled: np.ndarray) -> float:
        return float(np.mean((scaled - self.y)[self.validation] ** 2))


def design(samples: Samples, j: int, x: np.ndarray, split: dict, name: str = "series") -> Design:
    """A :class:`Design` of the lead of index ``j`` with the training and validation masks of ``split``."""
    y = samples.y[:, j].astype(np.float64)
    seen = ~np.isnan(y)
    train = samples.within(split["train"]) & seen
    validation = samples.in_period(split["validation"])[:, j] & seen
    if train.sum() < 10 or validation.sum() < 2:
        raise ValueError(
            f"{name}: only {train.sum()} training samples and {validation.sum()} validation targets "
            f"for lead {samples.leads[j]} with window {samples.window}; check split and forecast in params.yaml"
        )
    return Design(samples, j, x, y, train, validation)


# ----------------------------------------------------------------------------- models


def persistence_forecast(samples: Samples) -> np.ndarray:
    """Level at the issue month for every lead, shape (n, n_leads)."""
    return np.repeat(samples.base[:, None], len(samples.leads), axis=1)


def calendar_means(level: pd.Series, train: list[str]) -> pd.Series:
    """Mean training-period level of each calendar month (index 1..12); every month must have one."""
    lo, hi = period(train)
    values = level.loc[lo:hi].dropna()
    by_month = values.groupby(values.index.month).mean()
    missing = sorted(set(range(1, 13)) - set(by_month.index))
    if missing:
        raise ValueError(f"well {level.name}: no training-period level in calendar month(s) {missing}")
    return by_month


def climatology_forecast(level: pd.Series, samples: Samples, train: list[str]) -> np.ndarray:
    """Mean training-period level of each target's calendar month, shape (n, n_leads)."""
    months = pd.DatetimeIndex(samples.target_months().ravel()).month
    return calendar_means(level, train).reindex(months).to_numpy().reshape(samples.y.shape)


@dataclass(frozen=True)
class DampedPersistence:
    """The damped-anomaly persistence of one well: calendar-month means and one ``phi`` per lead."""

    means: pd.Series  # training mean level per calendar month (1..12)
    phi: dict[int, float]  # lead -> damping factor

    def forecast(self, samples: Samples) -> np.ndarray:
        """Levels (n, n_leads): the target month's mean plus ``phi_h`` times the issue month's anomaly."""
        anomaly = samples.base - self.means.reindex(samples.issue.month).to_numpy()
        target = self.means.reindex(pd.DatetimeIndex(samples.target_months().ravel()).month).to_numpy()
        phi = np.array([self.phi[h] for h in samples.leads])
        return target.reshape(samples.y.shape) + anomaly[:, None] * phi[None, :]


def damped_persistence_fit(level: pd.Series, samples: Samples, train: list[str]) -> DampedPersistence:
    """Fit ``phi_h`` per lead on the training rows of ``samples`` (their issue and target months in ``train``).

    ``phi_h = sum(a_t a_{t+h}) / sum(a_t^2)`` over the training samples with an
    observed target, ``a`` the anomaly from the training calendar-month means:
    least squares of the target-month anomaly on the issue-month anomaly,
    without intercept. Only training months enter.
    """
    means = calendar_means(level, train)
    anomaly = samples.base - means.reindex(samples.issue.month).to_numpy()
    months = pd.DatetimeIndex(samples.target_months().ravel()).month
    target = samples.observed_level() - means.reindex(months).to_numpy().reshape(samples.y.shape)
    rows = samples.within(train)
    phi = {}
    for j, h in enumerate(samples.leads):
        use = rows & ~np.isnan(target[:, j])
        if use.sum() < 10:
            raise ValueError(f"well {level.name}: only {use.sum()} training samples to fit the damped persistence "
                             f"of lead {h}; check split in params.yaml")
        a, b = anomaly[use], target[use, j]
        phi[h] = float(a @ b / (a @ a)) if a @ a > 0 else 0.0
    return DampedPersistence(means, phi)


def fit_arx(d: Design) -> tuple[np.ndarray, dict]:
    """Ridge fit on the training rows with the penalty of lowest validation MSE.

    Returns scaled forecasts (n,) and ``{"alpha", "validation_mse"}``.
    """
    from sklearn.linear_model import Ridge

    errors = [d.validation_mse(d.predict(d.fit(Ridge(alpha=a)))) for a in ARX_ALPHAS]
    best = int(np.argmin(errors))
    scaled = d.predict(d.fit(Ridge(alpha=ARX_ALPHAS[best])))
    return scaled, {"alpha": ARX_ALPHAS[best], "validation_mse": round(errors[best], 6)}


def _svr(trial):
    from sklearn.svm import SVR

    return SVR(
        kernel="rbf",
        C=trial.suggest_float("C", 1e-2, 1e3, log=True),
        epsilon=trial.suggest_float("epsilon", 1e-3, 0.3, log=True),
        gamma=trial.suggest_float("gamma", 1e-4, 1.0, log=True),
    )


def _rf(trial):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(
        n_estimators=trial.suggest_int("n_estimators", 20, 60, step=20),
        max_depth=trial.suggest_int("max_depth", 2, 16),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 20),
        max_features=trial.suggest_float("max_features", 0.1, 1.0),
        random_state=SEED,
        n_jobs=1,
    )


BUILDERS = {"svr": _svr, "rf": _rf}


def tune(model: str, designs: dict[int, Design], trials: int) -> tuple[Design, np.ndarray, dict]:
    """Optuna search (seeded TPE) of the window and hyperparameters of ``model``.

    ``designs`` maps each candidate window to its :class:`Design`. Returns the
    chosen design, the scaled forecasts (n,) of the chosen estimator
    fit on its training rows, and the chosen parameters with their validation MSE.
    """
    import optuna
    from optuna.trial import FixedTrial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    build = BUILDERS[model]
    windows = sorted(designs)

    def objective(trial) -> float:
        d = designs[trial.suggest_categorical("window", windows)]
        return d.validation_mse(d.predict(d.fit(build(trial))))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=trials)
    best = dict(study.best_params)
    fixed = FixedTrial(best)
    d = designs[fixed.suggest_categorical("window", windows)]
    scaled = d.predict(d.fit(build(fixed)))
    best["validation_mse"] = round(float(study.best_value), 6)
    return d, scaled, best


# ----------------------------------------------------------------------------- one well


def design_rows(d: Design, scaled: np.ndarray, *, model: str, well: str, split: dict) -> pd.DataFrame:
    """Prediction-table rows (levels) of the lead of ``d`` from its scaled forecasts."""
    forecast = np.full(d.samples.y.shape, np.nan)
    forecast[:, d.j] = scaled
    table = prediction_table(d.samples, d.samples.to_level(forecast), model=model, well=well, split=split)
    return table[table["lead"] == d.samples.leads[d.j]]


def run_well(well: str, processed: Processed, params: dict, models=MODELS) -> tuple[pd.DataFrame, dict, list[dict]]:
    """Fit and tune every baseline of one well.

    Returns the predictions table, ``{model: [{"leads": [...], parameter: value}]}``
    (one entry per fitted model) and cost rows.
    """
    well = str(well)
    level = processed.series(well)
    split = params["split"]
    trials = params["baselines"]["trials"]
    n_leads = len(params["forecast"]["leads"])
    name = f"well {well}"
    cache: dict[int, Samples] = {}

    def samples_for(window: int) -> Samples:
        if window not in cache:
            cache[window] = well_samples(params, processed, well, window)
        return cache[window]

    tables, config, cost = [], {}, []
    for model in models:
        clock = Clock()
        config[model], n_trials = [], 0
        if model in ("persistence", "climatology"):
            s = samples_for(1)
            fc = persistence_forecast(s) if model == "persistence" else climatology_forecast(level, s, split["train"])
            tables.append(prediction_table(s, fc, model=model, well=well, split=split))
        elif model == "damped_persistence":
            s = samples_for(1)
            fitted = damped_persistence_fit(level, s, split["train"])
            tables.append(prediction_table(s, fitted.forecast(s), model=model, well=well, split=split))
            config[model] = [{"leads": [h], "phi": round(phi, 6)} for h, phi in fitted.phi.items()]
        elif model == "arx":
            s = samples_for(params["baselines"]["arx_lags"])
            for j in range(n_leads):
                d = design(s, j, arx_inputs(s, j, params), split, name)
                scaled, chosen = fit_arx(d)
                tables.append(design_rows(d, scaled, model=model, well=well, split=split))
                config[model].append({"leads": [s.leads[j]], **chosen})
                n_trials += len(ARX_ALPHAS)
        elif model in BUILDERS:
            for j in range(n_leads):
                designs = {}
                for w in params["pretrain"]["search"]["window"]:
                    s = samples_for(w)
                    designs[w] = design(s, j, ml_inputs(s, j, params), split, name)
                d, scaled, chosen = tune(model, designs, trials)
                tables.append(design_rows(d, scaled, model=model, well=well, split=split))
                config[model].append({"leads": [d.samples.leads[j]], **chosen})
                n_trials += trials
        else:
            raise ValueError(f"unknown baseline {model!r}; baselines are {MODELS}")
        cost.append({"well": well, "model": model, **clock.read(), "trials": n_trials})
    return pd.concat(tables, ignore_index=True), config, cost


def _run_task(task: tuple) -> tuple:
    well, processed, params, models = task
    return run_well(well, processed, params, models)


# ----------------------------------------------------------------------------- stage


def run_baselines(
    params: dict,
    processed: str | Path = "data/processed",
    out: str | Path = "models/baselines",
    wells: list | None = None,
    models=MODELS,
    n_jobs: int | None = None,
) -> BaselineResult:
    """Fit, tune and predict every baseline for every well; write the results.

    Parameters
    ----------
    params : dict
        Loaded ``params.yaml``.
    processed : path
        Prepared data folder (:mod:`gwtl.data.processed`).
    out : path
        Folder for ``predictions.csv``, ``config.json`` and ``cost.csv``.
    wells : list, optional
        HZB numbers; default ``basin.wells``.
    models : sequence of str
        Which baselines (default all of :data:`MODELS`).
    n_jobs : int, optional
        Wells fitted in parallel processes (each single-threaded); default the
        number of available cores. Results do not depend on it.
    """
    data, wells = load_checked(params, processed, wells)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; baselines are {MODELS}")
    results = list(map_in_processes(_run_task, [(w, data, params, models) for w in wells], n_jobs))
    table = pd.concat([r[0] for r in results], ignore_index=True)
    config = {w: r[1] for w, r in zip(wells, results)}
    cost = pd.DataFrame([row for r in results for row in r[2]], columns=["well", "model", "wall_s", "cpu_s", "trials"])

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_predictions(table, out / "predictions.csv")
    write_text(out / "config.json", json.dumps(config, indent=1))
    write_text(out / "cost.csv", cost.to_csv(index=False))
    return BaselineResult(out, table, config, cost)


def config_summary(config: dict) -> pd.DataFrame:
    """Chosen hyperparameters as a long table: ``well, model, leads, parameter, value``."""
    rows = [
        {"well": well, "model": model, "leads": ",".join(map(str, fitted["leads"])), "parameter": key, "value": value}
        for well, by_model in config.items()
        for model, entries in by_model.items()
        for fitted in entries
        for key, value in fitted.items()
        if key != "leads"
    ]
    return pd.DataFrame(rows, columns=["well", "model", "leads", "parameter", "value"])
