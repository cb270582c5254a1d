"""The tables and text of the forecast report: the outlook of :mod:`gwtl.forecast.outlook` and how sure it is.

``outlook`` is ``reports/forecast.csv`` or :attr:`gwtl.forecast.outlook.ForecastResult.outlook`
(one row per well, model and lead: ``issue``, ``month``, ``level_at_issue``,
``median`` and the interval bounds ``lower<L>``/``upper<L>``). From it:
when the forecasts were issued (:func:`issue_months`), the forecast change of
level per well (:func:`forecast_change`), per lead over the wells
(:func:`outlook_summary`) and the largest falls (:func:`largest_falls`). The
tested coverage of the intervals (``metrics.json`` of the forecast stage,
:func:`gwtl.forecast.intervals.summary`) as a table is :func:`interval_table`. The
``*_text`` functions write the report's sentences from these numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwtl.forecast.intervals import expected_coverage
from gwtl.report.model_names import label, models_in, month_name


def outlook_rows(outlook: pd.DataFrame, model: str | None = None, latest_only: bool = False) -> pd.DataFrame:
    """``outlook`` (``reports/forecast.csv`` or :attr:`ForecastResult.outlook`) with typed columns.

    ``well`` as text, ``issue`` and ``month`` as dates, ``change`` = median
    minus the level at issue (m); only ``model``'s rows when given, only the
    wells issued at the latest issue month when ``latest_only``.
    """
    table = outlook.assign(well=outlook["well"].astype(str), issue=pd.to_datetime(outlook["issue"]),
                           month=pd.to_datetime(outlook["month"]))
    if "level_at_issue" in table.columns:
        table["change"] = table["median"] - table["level_at_issue"]
    if model is not None:
        table = table[table["model"] == model]
        if table.empty:
            raise ValueError(f"the outlook has no forecast of model {model!r} "
                             f"(models: {', '.join(map(str, outlook['model'].unique()))})")
    if latest_only:
        table = table[table["issue"] == table["issue"].max()]
    return table


def issue_months(outlook: pd.DataFrame) -> pd.DataFrame:
    """Per issue month of the outlook (latest first): ``issue`` (``Dec 2021``), ``wells`` (count) and their ids."""
    table = outlook_rows(outlook).drop_duplicates("well")
    groups = table.groupby("issue")["well"]
    return pd.DataFrame({"issue": [month_name(m) for m in groups.groups],
                         "wells": groups.size().to_numpy(),
                         "well ids": [", ".join(sorted(w)) for _, w in groups]}).iloc[::-1].reset_index(drop=True)


def forecast_change(outlook: pd.DataFrame, *, model: str = "tl", lead: int = 1,
                    latest_only: bool = True) -> pd.Series:
    """Forecast change of level per well at ``lead``: median minus level at issue (m), indexed by well.

    With ``latest_only`` (default) only the wells issued at the latest issue
    month, so that every change covers the same months.
    """
    rows = outlook_rows(outlook, model, latest_only)
    rows = rows[rows["lead"] == lead]
    return rows.set_index("well")["change"].rename(f"change_lead{lead}")


def outlook_summary(outlook: pd.DataFrame, *, model: str = "tl", level: int = 80,
                    latest_only: bool = True) -> pd.DataFrame:
    """Per lead of ``model``'s outlook: the target month, the median change over wells and how many fall.

    A well falls when its median is below its level at issue; the last two
    columns count the wells whose whole ``level`` % interval lies below
    (above) the level at issue, a fall (rise) the interval is sure of.
    """
    rows = outlook_rows(outlook, model, latest_only)
    out = []
    for lead, part in rows.groupby("lead", sort=True):
        falls = part["change"] < 0
        out.append({
            "lead (months)": int(lead),
            "target month": ", ".join(month_name(m) for m in sorted(part["month"].unique())),
            "wells": len(part),
            "median change over wells (m)": part["change"].median(),
            "wells forecast to fall": int(falls.sum()),
            "wells forecast to rise": int((part["change"] > 0).sum()),
            f"{level} % interval all below the level at issue":
                int((part[f"upper{level}"] < part["level_at_issue"]).sum()),
            f"{level} % interval all above it": int((part[f"lower{level}"] > part["level_at_issue"]).sum()),
        })
    return pd.DataFrame(out).set_index("lead (months)")


def largest_falls(outlook: pd.DataFrame, n: int = 10, model: str = "tl", *, level: int = 80,
                  names: pd.Series | None = None, latest_only: bool = True) -> pd.DataFrame:
    """The (up to) ``n`` wells with the largest forecast fall at the first lead, largest first.

    One row per well: the level at issue (m a.s.l.), the median change at every
    lead (m) and the ``level`` % interval of the change at the first lead.
    Only wells forecast to fall are listed. ``names`` (well id -> name) adds
    a ``name`` column.
    """
    rows = outlook_rows(outlook, model, latest_only)
    first = int(rows["lead"].min())
    change = rows.pivot_table(index="well", columns="lead", values="change", aggfunc="first")
    head = rows[rows["lead"] == first].set_index("well")
    table = pd.DataFrame({"level at issue (m a.s.l.)": head["level_at_issue"].round(2)})
    if names is not None:
        table.insert(0, "name", pd.Series(names).rename(index=str).reindex(table.index))
    for lead in change.columns:
        table[f"change lead {int(lead)} (m)"] = change[lead].round(3)
    table[f"lead {first}: {level} % interval of the change (m)"] = [
        f"{lo:+.2f} to {hi:+.2f}" for lo, hi in zip(head[f"lower{level}"] - head["level_at_issue"],
                                                    head[f"upper{level}"] - head["level_at_issue"])]
    order = change[first][change[first] < 0].sort_values().index[:n]
    return table.loc[order].rename_axis("well").reset_index()


INTERVAL_SCORES = {"wis": "WIS (m)", "nse_esp": "NSE of the ESP median",
                   "skill_esp_vs_damped_persistence": "skill vs damped persistence"}


def interval_table(metrics: dict, levels=(80, 95), split: str = "test") -> pd.DataFrame:
    """``metrics.json``'s interval scores (:func:`gwtl.forecast.intervals.summary`) as one row per lead and model.

    ``metrics`` is ``{split: {"lead<h>": {"coverage80": {model: v}, ...}}}``
    (or its ``split`` part). Columns: coverage (with the nominal level in the
    name) and mean width per level, WIS, the NSE of the ESP median and, when
    the metrics have it, the skill against the damped persistence; index
    ``lead`` and ``model`` (display name).
    """
    tree = metrics.get(split, metrics)
    rows = []
    for key in sorted(tree, key=lambda k: int(k.removeprefix("lead"))):
        entry = tree[key]
        models = models_in(m for key, scores in entry.items() if "_by_" not in key for m in scores)
        for model in models:
            row = {"lead": int(key.removeprefix("lead")), "model": label(model)}
            for level in levels:
                row[f"coverage {level} % (nominal {level / 100:.2f})"] = entry[f"coverage{level}"].get(model, np.nan)
                row[f"width {level} % (m)"] = entry[f"width{level}"].get(model, np.nan)
            for name, title in INTERVAL_SCORES.items():
                if name in entry or name in ("wis", "nse_esp"):
                    row[title] = entry.get(name, {}).get(model, np.nan)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["lead", "model"])


def coverage_table(coverage: pd.DataFrame, by: str = "year", level: int = 80, model: str = "tl") -> pd.DataFrame:
    """``model``'s ``level`` % coverage per year or season (rows) and lead (columns), from ``coverage.csv``."""
    rows = coverage[(coverage["by"] == by) & (coverage["model"] == model)]
    table = rows.pivot(index="group", columns="lead", values=f"coverage{level}")
    table.columns = [f"lead {int(c)}" for c in table.columns]
    if by == "season":
        table = table.reindex([s for s in ("DJF", "MAM", "JJA", "SON") if s in table.index])
    return table.rename_axis(by)


def goal_text(coverage: pd.DataFrame, level: int = 80, lo: float = 0.72, hi: float = 0.88, model: str = "tl") -> str:
    """Whether ``model``'s ``level`` % interval held within ``lo``-``hi`` in every test year at every lead."""
    years = coverage_table(coverage, "year", level, model)
    bad = [(year, lead, v) for year, row in years.iterrows() for lead, v in row.items() if not lo <= v <= hi]
    head = f"{label(model)}'s {level} % interval held within {lo:.2f}–{hi:.2f} of the months "
    if not bad:
        return head + "in every test year at every lead."
    return head + "in every test year at every lead: **no**, not in " + "; ".join(
        f"{year} at {lead} ({v:.2f})" for year, lead, v in bad) + "."


def well_names(wells: pd.DataFrame) -> pd.Series:
    """Each well's name with single spaces, by well id (text); ``wells`` is ``wells.csv``."""
    return wells.set_index(wells["hzb"].astype(str))["name"].str.split().str.join(" ")


def run_text(params: dict, outlook: pd.DataFrame) -> str:
    """This run's forecast mode, leads, models, ESP members, intervals and calibration and test periods."""
    fc, split = params["forecast"], params["split"]
    levels = params["outlook"]["intervals"]
    return (
        f"**This run:** mode `{fc['mode']}`, leads {', '.join(map(str, fc['leads']))} months, "
        f"{', '.join(label(m) for m in params['outlook']['models'])}; ESP members per forecast: "
        f"{'–'.join(str(n) for n in sorted({outlook['members'].min(), outlook['members'].max()}))} "
        f"(training years {'–'.join(split['train'])}); intervals {' and '.join(f'{L} %' for L in levels)}, "
        f"calibrated on {'–'.join(split['validation'])}, tested on {'–'.join(split['test'])}."
    )


def issue_text(issues: pd.DataFrame) -> str:
    """When the outlook was issued (:func:`issue_months`): the latest month, then any earlier ones."""
    text = f"Issued **{issues['issue'].iloc[0]}** at {issues['wells'].iloc[0]} wells."
    if len(issues) > 1:
        text += (" Issued earlier, where the data end earlier (the months forecast there have passed; left out of the "
                 "summary, the map and the table below): "
                 + "; ".join(f"{r['issue']} at well(s) {r['well ids']}" for _, r in issues.iloc[1:].iterrows()) + ".")
    return text


def styled_falls(falls: pd.DataFrame):
    """:func:`largest_falls` for display: changes signed to 3 decimals, levels to 2."""
    changes = [c for c in falls.columns if c.startswith("change")]
    return (falls.style.hide(axis="index").format("{:+.3f}", subset=changes)
            .format("{:.2f}", subset=["level at issue (m a.s.l.)"]))


def _tl_lead1(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.astype({"well": str}).query("model == 'tl' and lead == 1").set_index("well")


def picked_wells(scores: pd.DataFrame, change: pd.Series, falls: pd.DataFrame) -> dict[str, str]:
    """Three wells to show, by why: the largest TL fall, the median TL change and the weakest TL skill at lead 1.

    ``scores`` is ``models/forecast/scores.csv``, ``change``
    :func:`forecast_change` at lead 1 and ``falls`` :func:`largest_falls`
    (the smallest change stands in when no well falls).
    """
    ranked = change.sort_values()
    return {"largest TL fall at lead 1": falls["well"].iloc[0] if len(falls) else ranked.index[0],
            "median TL change at lead 1": ranked.index[len(ranked) // 2],
            "weakest TL skill at lead 1": _tl_lead1(scores)["nse_esp"].idxmin()}


def pick_text(why: str, well: str, name: str, scores: pd.DataFrame) -> str:
    """A picked well's heading: why it is shown, its TL test NSE of the ESP median and 80 % coverage at lead 1."""
    s = _tl_lead1(scores).loc[well]
    return (f"**{why}: well {well}** ({name}). Test, lead 1: NSE of the ESP median "
            f"{s['nse_esp']:.2f}, 80 % interval held in {s['coverage80']:.0%} of {int(s['n'])} months.")


def coverage_text(table: pd.DataFrame, scores: pd.DataFrame, calibration: pd.DataFrame, errors: pd.DataFrame,
                  levels, method: str = "split") -> str:
    """How often TL's intervals held on test against what the conformal rule gives, and why.

    ``table`` is :func:`interval_table`, ``scores`` and ``calibration`` those
    of the forecast stage, ``errors`` :func:`gwtl.forecast.intervals.error_by_split` of
    the TL hindcast, ``method`` ``outlook.calibration``. The intervals held
    more (less) often than the rule's coverage when every lead's coverage is
    above it by more than 0.01 (below the nominal level by more than 0.01).
    The rule's coverage is the split-conformal one of the validation months;
    the adaptive rule (:func:`gwtl.forecast.intervals.adaptive`) aims at the nominal level.
    """
    tl, n = table.xs(label("tl"), level="model"), int(calibration["n"].median())
    lines = []
    for L in levels:
        held, wells = tl[f"coverage {L} % (nominal {L / 100:.2f})"], scores.query("model == 'tl'")[f"coverage{L}"]
        aim = expected_coverage(n, L) if method == "split" else L / 100
        rule = (f"the rule gives with {n} validation months" if method == "split"
                else "the adaptive rule aims at")
        how = "more often" if held.min() > aim + 0.01 else "less often" if held.max() < L / 100 - 0.01 else "about as often"
        lines.append(f"- **{L} %:** held in {held.min():.1%}–{held.max():.1%} of the test months (over the leads), {how} "
                     f"than the {aim:.1%} {rule}; per well {wells.min():.0%}–{wells.max():.0%}.")
    errors_text = "; ".join(f"lead {lead}: {r['validation']:.3f} on validation, {r['test']:.3f} on test"
                            for lead, r in errors.iterrows())
    if method == "split":
        lines.append(f"- **Why:** the mean absolute error of the TL median (m) was {errors_text}. Intervals sized on "
                     "the validation errors are wider than the test errors need where those are smaller.")
    else:
        lines.append(f"- **How:** the mean absolute error of the TL median (m) was {errors_text}. The validation "
                     "months only start the intervals; over the test period each month's miss rate is learned online "
                     "from the intervals already judged, so the average holds even where the test errors differ from "
                     "validation's, while a year with errors unlike the months before it can still miss (below).")
    return "TL-LSTM's intervals on test:\n\n" + "\n".join(lines)
