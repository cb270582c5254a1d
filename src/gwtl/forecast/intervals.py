"""Prediction intervals calibrated on validation hindcasts, and how well they hold on test.

Method: conformalized quantile regression (CQR; Romano, Patterson & Candès,
2019) with the ESP ensemble as the quantile estimate. For a central interval
of ``L`` % the ESP quantiles ``(100-L)/2`` and ``(100+L)/2`` % of a forecast
form a band ``[lo, hi]``; it holds the uncertainty of the unknown forcings
(none in ``operational`` mode, where ``lo = hi =`` the forecast) but not the
model's own error. On the validation hindcasts of each well, model and lead
the conformity score of a target month is ``s = max(lo - y, y - hi)`` (how
far the observation ``y`` lies outside the band, negative inside), and ``q``
is the ``ceil((n + 1) L / 100)``-th smallest of the ``n`` scores. The interval
is ``[lo - q, hi + q]``, widened where needed to contain the median forecast.
Under exchangeable months it covers a new month with probability at least
``L`` %; validation and test years are not exchangeable (a wet or dry spell,
a trend), which is why coverage is measured on the test period
(:func:`score_table`). With fewer than ``L / (100 - L)`` validation months
``q`` is the largest score and the guarantee is void; ``calibrate`` records
``n`` for each interval.

Adaptive conformal inference (``outlook.calibration: adaptive``; Gibbs &
Candès 2021, :func:`adaptive`). Validation and test years are not
exchangeable: a dry year makes larger errors at every well at once, and a
fixed ``q`` then under-covers that whole year. From the first month of the
test period on, each interval is instead issued with a level that learns
online from the intervals already judged: for lead ``h``, the outcome of a
forecast issued at ``s`` is known at ``s + h``. Per model, lead and level one
miss rate ``alpha_t`` is shared by the basin's wells (their errors move
together); it starts at ``1 - L / 100`` and, each month ``t``, after the
outcomes of the forecasts whose target month is ``t`` are known,

    alpha <- alpha + gamma * ((1 - L / 100) - share of those forecasts not covered)

(``gamma`` is ``outlook.aci_gamma``). A forecast issued at ``t`` takes ``q``
as the ``ceil((n + 1) (1 - alpha_t))``-th smallest of its well's ``n`` scores
observed by ``t`` (the validation months and the test months already
observed; rank clipped to ``1..n``). No outcome after the issue month enters.
Before the test period (the calibration months) the split-conformal ``q``
above is kept.

Coverage per calendar year and season of the target month
(:func:`coverage_by`) shows whether an interval holds in every year, not only
on average.

Scores (``score_table``, ``summary``): ``coverage<L>`` (share of target months
inside), ``width<L>`` (mean width, m), ``wis`` (weighted interval score of the
median and all intervals, Bracher et al. 2021: a proper score that
approximates the CRPS, in m; lower is better) and ``nse_esp``, the NSE of the
median forecast of the same procedure: the skill a forecast issued at the time
really has, to set beside the observed-forcing NSE of the evaluate stage.
When the damped-anomaly persistence (``damped_persistence``, :mod:`gwtl.models.baselines`)
is among the models, ``skill_esp_vs_damped_persistence`` is every other model's
skill against it (:func:`skill_against`): per well ``1 - MSE_model / MSE_damped``
of the issued medians over the months both forecast, then the mean over wells.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gwtl.evaluation.metrics import SKILL_REFERENCE as REFERENCE, nse, skill

KEYS = ["well", "model", "lead"]


def band_quantiles(level: float) -> tuple[float, float]:
    """The lower and upper quantile (0..1) of a central ``level`` % interval."""
    if not 0 < level < 100:
        raise ValueError(f"an interval level must lie between 0 and 100 %, got {level!r}")
    tail = (100 - level) / 200
    return tail, 1 - tail


def _rank(n: int, level: float) -> int:
    """The rank ``k`` (1-based) of ``q`` among ``n`` scores: ``ceil((n + 1) level / 100)``, at most ``n``."""
    return min(math.ceil((n + 1) * level / 100), n)


def conformal_quantile(scores, level: float) -> float:
    """The ``ceil((n + 1) level / 100)``-th smallest score (the largest when there are too few)."""
    scores = np.sort(np.asarray(scores, dtype=float))
    if len(scores) == 0:
        raise ValueError("no validation score to calibrate an interval on")
    return float(scores[_rank(len(scores), level) - 1])


def expected_coverage(n: int, level: float) -> float:
    """The coverage the rule gives under exchangeable months with ``n`` calibration months: ``k / (n + 1)``."""
    return _rank(n, level) / (n + 1)


def error_by_split(table: pd.DataFrame, model: str, splits=("validation", "test")) -> pd.DataFrame:
    """Mean absolute error of the median forecast (m) per lead (rows) and split (columns) of one model.

    When the test errors are smaller than the validation errors the intervals
    were calibrated on, they cover test months more often than nominal.
    """
    rows = table[(table["model"] == model) & table["split"].isin(splits) & table["observed"].notna()]
    error = (rows["observed"] - rows["median"]).abs()
    return error.groupby([rows["lead"], rows["split"]]).mean().unstack("split")[list(splits)]


def calibrate(table: pd.DataFrame, levels, split: str = "validation") -> pd.DataFrame:
    """``q`` of every well, model, lead and level from the rows of ``split`` with an observation.

    ``table`` has the columns of a hindcast (:func:`gwtl.forecast.outlook.hindcast_table`):
    ``observed`` and the ESP bands ``esp_lo<L>``, ``esp_hi<L>`` per level.

    Raises
    ------
    ValueError
        Naming the well, model and lead that has no observed month in ``split``.
    """
    rows = table[(table["split"] == split) & table["observed"].notna()]
    groups = dict(iter(rows.groupby(KEYS, sort=True)))
    out = []
    for key in table[KEYS].drop_duplicates().sort_values(KEYS).itertuples(index=False):
        part = groups.get(tuple(key))
        if part is None:
            raise ValueError(f"well {key[0]}, model {key[1]}, lead {key[2]}: no observed {split} month to calibrate "
                             "its intervals on; check split in params.yaml or drop the well from basin.wells")
        for level in levels:
            s = np.maximum(part[f"esp_lo{level}"] - part["observed"], part["observed"] - part[f"esp_hi{level}"])
            out.append({"well": key[0], "model": key[1], "lead": key[2], "level": level,
                        "q": conformal_quantile(s, level), "n": len(part),
                        "guaranteed": len(part) >= level / (100 - level)})
    return pd.DataFrame(out, columns=[*KEYS, "level", "q", "n", "guaranteed"])


def apply(table: pd.DataFrame, calibration: pd.DataFrame, levels) -> pd.DataFrame:
    """``table`` with ``lower<L>`` and ``upper<L>``: the ESP band widened by ``q``, always holding the median."""
    out = table.copy()
    for level in levels:
        q = calibration[calibration["level"] == level].set_index(KEYS)["q"]
        shift = q.reindex(pd.MultiIndex.from_frame(out[KEYS])).to_numpy()
        if np.isnan(shift).any():
            raise ValueError(f"no calibration for some well, model and lead of the {level} % interval")
        out[f"lower{level}"] = np.minimum(out[f"esp_lo{level}"] - shift, out["median"])
        out[f"upper{level}"] = np.maximum(out[f"esp_hi{level}"] + shift, out["median"])
    return out


CALIBRATION = ("split", "adaptive")  # outlook.calibration


def conformity_scores(table: pd.DataFrame, level: int) -> np.ndarray:
    """``max(lo - y, y - hi)`` of every row: how far the observation lies outside the ESP band (NaN if unobserved)."""
    return np.maximum(table[f"esp_lo{level}"] - table["observed"], table["observed"] - table[f"esp_hi{level}"]).to_numpy()


def _online_q(months: np.ndarray, values: np.ndarray, issue: np.datetime64, miss: float, well: str) -> float:
    """The conformal ``q`` at miss rate ``miss`` from a well's scores whose target month is at most ``issue``."""
    known = np.sort(values[months <= issue])
    if len(known) == 0:
        raise ValueError(f"well {well}: no observed score before {pd.Timestamp(issue):%Y-%m} to issue an adaptive "
                         "interval from; check split in params.yaml")
    rank = min(max(math.ceil((len(known) + 1) * (1 - miss)), 1), len(known))
    return float(known[rank - 1])


def adaptive(table: pd.DataFrame, levels, gamma: float, start) -> pd.DataFrame:
    """``table`` (with ``lower<L>``/``upper<L>`` from :func:`apply`) with adaptive intervals from ``start`` on.

    Adaptive conformal inference (module docstring): the rows whose target
    month is at or after ``start`` (a month, e.g. the first of the test
    period) get intervals from a miss rate updated online per model, lead and
    level over the wells; the other rows keep theirs. Only scores and outcomes
    with a target month at or before a row's issue month enter its interval.
    """
    if not 0 <= gamma < 1:
        raise ValueError(f"the adaptive step gamma must lie in [0, 1), got {gamma!r}")
    out = table.reset_index(drop=True)
    month = out["month"].to_numpy(dtype="datetime64[ns]")
    issue = out["issue"].to_numpy(dtype="datetime64[ns]")
    obs, med = out["observed"].to_numpy(dtype=float), out["median"].to_numpy(dtype=float)
    well = out["well"].astype(str).to_numpy()
    online = month >= pd.Timestamp(start).to_datetime64()
    for level in levels:
        score, nominal = conformity_scores(out, level), 1 - level / 100
        lo, hi = out[f"esp_lo{level}"].to_numpy(dtype=float), out[f"esp_hi{level}"].to_numpy(dtype=float)
        lower, upper = out[f"lower{level}"].to_numpy(dtype=float).copy(), out[f"upper{level}"].to_numpy(dtype=float).copy()
        for _, group in out.groupby(["model", "lead"], sort=True):
            rows = group.index.to_numpy()
            seen = rows[~np.isnan(obs[rows])]
            scores = {w: (month[seen[well[seen] == w]], score[seen[well[seen] == w]]) for w in np.unique(well[rows])}
            rows = rows[online[rows]]
            miss = nominal
            for t in np.unique(np.r_[issue[rows], month[rows]]):
                judged = rows[(month[rows] == t) & ~np.isnan(obs[rows])]  # outcomes known at t
                if len(judged):
                    missed = (obs[judged] < lower[judged]) | (obs[judged] > upper[judged])
                    miss += gamma * (nominal - float(missed.mean()))
                for r in rows[issue[rows] == t]:
                    q = _online_q(*scores[well[r]], t, miss, well[r])
                    lower[r], upper[r] = min(lo[r] - q, med[r]), max(hi[r] + q, med[r])
        out[f"lower{level}"], out[f"upper{level}"] = lower, upper
    return out.set_index(table.index)


SEASONS = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM", 6: "JJA", 7: "JJA", 8: "JJA",
           9: "SON", 10: "SON", 11: "SON"}


def coverage_by(table: pd.DataFrame, levels, by: str = "year", split: str = "test") -> pd.DataFrame:
    """Coverage per model, lead and calendar ``year`` or ``season`` (DJF, MAM, JJA, SON) of the target month.

    Over the observed target months of ``split`` of all wells: columns
    ``model, lead, <by>, coverage<L>..., n``.
    """
    if by not in ("year", "season"):
        raise ValueError(f"coverage by {by!r}: use year or season")
    rows = table[(table["split"] == split) & table["observed"].notna()]
    months = pd.DatetimeIndex(rows["month"])
    key = months.year if by == "year" else months.month.map(SEASONS)
    scores = _row_scores(rows, levels).assign(model=rows["model"], lead=rows["lead"], **{by: np.asarray(key)})
    grouped = scores.groupby(["model", "lead", by], sort=True)
    out = grouped[[f"covered{level}" for level in levels]].mean()
    out.columns = [f"coverage{level}" for level in levels]
    return out.assign(n=grouped.size()).reset_index()


def interval_score(obs, lower, upper, level: float) -> np.ndarray:
    """Interval score of a central ``level`` % interval (Gneiting & Raftery 2007), per row; lower is better."""
    alpha = 1 - level / 100
    obs, lower, upper = (np.asarray(v, dtype=float) for v in (obs, lower, upper))
    return (upper - lower) + 2 / alpha * np.clip(lower - obs, 0, None) + 2 / alpha * np.clip(obs - upper, 0, None)


def weighted_interval_score(table: pd.DataFrame, levels) -> np.ndarray:
    """WIS of the median and the intervals of ``levels`` per row (Bracher et al. 2021), in m."""
    total = 0.5 * np.abs(table["observed"].to_numpy() - table["median"].to_numpy())
    for level in levels:
        alpha = 1 - level / 100
        total = total + alpha / 2 * interval_score(table["observed"], table[f"lower{level}"],
                                                   table[f"upper{level}"], level)
    return total / (len(levels) + 0.5)


def _row_scores(rows: pd.DataFrame, levels) -> pd.DataFrame:
    obs = rows["observed"].to_numpy()
    out = {}
    for level in levels:
        out[f"covered{level}"] = (rows[f"lower{level}"].to_numpy() <= obs) & (obs <= rows[f"upper{level}"].to_numpy())
        out[f"width{level}"] = rows[f"upper{level}"].to_numpy() - rows[f"lower{level}"].to_numpy()
    out["wis"] = weighted_interval_score(rows, levels)
    return pd.DataFrame(out, index=rows.index)


def score_table(table: pd.DataFrame, levels, split: str = "test") -> pd.DataFrame:
    """Per well, model and lead over the observed target months of ``split``: coverage, width, WIS, NSE, ``n``."""
    rows = table[(table["split"] == split) & table["observed"].notna()]
    rows = rows.join(_row_scores(rows, levels))
    out = []
    for key, group in rows.groupby(KEYS, sort=True):
        entry = dict(zip(KEYS, key))
        for level in levels:
            entry[f"coverage{level}"] = float(group[f"covered{level}"].mean())
            entry[f"width{level}"] = float(group[f"width{level}"].mean())
        entry["wis"] = float(group["wis"].mean())
        entry["nse_esp"] = nse(group["observed"], group["median"])
        entry["n"] = len(group)
        out.append(entry)
    return pd.DataFrame(out)


def skill_against(table: pd.DataFrame, split: str = "test", reference: str = REFERENCE) -> pd.DataFrame:
    """Per well, model (other than ``reference``) and lead: ``1 - MSE_model / MSE_reference`` of the medians.

    Over the observed target months of ``split`` that both forecast; columns
    ``well, model, lead, skill, n``; empty when ``reference`` is absent.
    """
    rows = table[(table["split"] == split) & table["observed"].notna()]
    if reference not in set(rows["model"]):
        return pd.DataFrame(columns=[*KEYS, "skill", "n"])
    ref = rows[rows["model"] == reference][["well", "lead", "month", "median"]].rename(columns={"median": "ref"})
    both = rows[rows["model"] != reference].merge(ref, on=["well", "lead", "month"])
    both = both.assign(e=(both["median"] - both["observed"]) ** 2, r=(both["ref"] - both["observed"]) ** 2)
    sums = both.groupby(KEYS, sort=True).agg(e=("e", "sum"), r=("r", "sum"), n=("e", "size")).reset_index()
    return sums[KEYS].assign(skill=skill(sums["e"].to_numpy(), sums["r"].to_numpy()), n=sums["n"])


def summary(table: pd.DataFrame, levels, split: str = "test") -> dict:
    """``{split: {"lead<h>": {"coverage80": {model: ...}, ...}}}`` for ``metrics.json``.

    Coverage, width and WIS are over all observed target months of all wells
    (coverage is the share of test months covered); ``nse_esp`` is the mean
    over wells of each well's NSE. With target months in ``table``,
    ``coverage<L>_by_year`` and ``coverage<L>_by_season`` give the coverage
    per calendar year (``{model: {"2018": ...}}``) and season (``DJF``, ...)
    of the target month (:func:`coverage_by`).
    """
    rows = table[(table["split"] == split) & table["observed"].notna()]
    rows = rows.join(_row_scores(rows, levels))
    per_well = score_table(table, levels, split)
    skills = skill_against(table, split)
    out: dict = {}
    for lead, part in rows.groupby("lead", sort=True):
        entry: dict = {}
        for level in levels:
            entry[f"coverage{level}"] = part.groupby("model")[f"covered{level}"].mean()
            entry[f"width{level}"] = part.groupby("model")[f"width{level}"].mean()
        entry["wis"] = part.groupby("model")["wis"].mean()
        entry["nse_esp"] = per_well[per_well["lead"] == lead].groupby("model")["nse_esp"].mean()
        if len(skills):
            entry[f"skill_esp_vs_{REFERENCE}"] = skills[skills["lead"] == lead].groupby("model")["skill"].mean()
        out[f"lead{int(lead)}"] = {k: {m: round(float(v), 4) for m, v in s.items()} for k, s in entry.items()}
        if "month" in rows.columns:  # coverage per calendar year and season of the target month
            for by in ("year", "season"):
                groups = coverage_by(part, levels, by, split)
                for level in levels:
                    out[f"lead{int(lead)}"][f"coverage{level}_by_{by}"] = {
                        m: {str(k): round(float(v), 4) for k, v in zip(g[by], g[f"coverage{level}"])}
                        for m, g in groups.groupby("model")}
    return {split: out}
