"""Tables and text of the forecast report (gwtl.report.forecast_text)."""

import pandas as pd
import pytest

from gwtl.report import forecast_text as go
from synthetic_results import WELLS, synthetic_outlook


def test_forecast_change_and_summary_use_the_latest_issue_month():
    outlook = synthetic_outlook()
    change = go.forecast_change(outlook, lead=1)
    assert change.to_dict() == pytest.approx({"1": -0.30, "2": 0.10, "3": -0.05})  # well 4 issued a year earlier
    assert go.forecast_change(outlook, model="it", lead=2)["2"] == pytest.approx(0.21)
    issues = go.issue_months(outlook)
    assert issues.to_dict("list") == {"issue": ["Dec 2021", "Dec 2020"], "wells": [3, 1], "well ids": ["1, 2, 3", "4"]}
    summary = go.outlook_summary(outlook)
    assert list(summary.index) == [1, 2, 3]
    assert summary.loc[1, "target month"] == "Jan 2022"
    assert summary.loc[1, "median change over wells (m)"] == pytest.approx(-0.05)
    assert summary["wells forecast to fall"].tolist() == [2, 1, 1]
    # lead 1: well 1 falls 0.30 with an 80 % interval of +-0.1 (all below); well 3's 0.05 fall is not sure
    assert summary["80 % interval all below the level at issue"].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="no forecast of model 'svr'"):
        go.forecast_change(outlook, model="svr")


def test_largest_falls_orders_by_the_lead1_fall():
    outlook = synthetic_outlook()
    falls = go.largest_falls(outlook, n=1, names=pd.Series({1: "A", 3: "C"}))
    assert falls["well"].tolist() == ["1"] and falls["name"].tolist() == ["A"]
    falls = go.largest_falls(outlook, n=10)
    assert falls["well"].tolist() == ["1", "3"], "only wells forecast to fall, the largest fall first"
    assert list(falls.columns) == ["well", "level at issue (m a.s.l.)", "change lead 1 (m)", "change lead 2 (m)",
                                   "change lead 3 (m)", "lead 1: 80 % interval of the change (m)"]
    row = falls.iloc[0]
    assert row["change lead 3 (m)"] == pytest.approx(-0.5) and row["level at issue (m a.s.l.)"] == 285.3
    assert row["lead 1: 80 % interval of the change (m)"] == "-0.40 to -0.20"
    assert go.largest_falls(outlook, n=1, model="it")["change lead 1 (m)"].item() == pytest.approx(-0.29)
    assert go.largest_falls(outlook, n=3, latest_only=False)["well"].tolist() == ["4", "1", "3"]


def test_interval_table_is_one_row_per_lead_and_model():
    metrics = {"test": {f"lead{h}": {
        "coverage80": {"arx": 0.70 + h / 100, "tl": 0.80 + h / 100, "it": 0.75},
        "width80": {"arx": 0.3, "tl": 0.2 * h, "it": 0.25},
        "coverage95": {"arx": 0.9, "tl": 0.95, "it": 0.97},
        "width95": {"arx": 0.6, "tl": 0.5, "it": 0.55},
        "wis": {"arx": 0.05, "tl": 0.04, "it": 0.045},
        "nse_esp": {"arx": 0.6 / h, "tl": 0.7 / h, "it": 0.65 / h}} for h in (2, 1, 10)}}
    table = go.interval_table(metrics, levels=(80, 95))
    assert table.shape == (9, 6)
    assert list(table.columns) == ["coverage 80 % (nominal 0.80)", "width 80 % (m)", "coverage 95 % (nominal 0.95)",
                                   "width 95 % (m)", "WIS (m)", "NSE of the ESP median"]
    assert [lead for lead, _ in table.index] == [1, 1, 1, 2, 2, 2, 10, 10, 10]
    assert [m for _, m in table.index[:3]] == ["TL-LSTM", "IT-LSTM", "ARX (ridge)"]
    assert table.loc[(2, "TL-LSTM"), "coverage 80 % (nominal 0.80)"] == pytest.approx(0.82)
    assert table.loc[(2, "TL-LSTM"), "width 80 % (m)"] == pytest.approx(0.4)
    assert table.loc[(10, "ARX (ridge)"), "NSE of the ESP median"] == pytest.approx(0.06)
    assert table.equals(go.interval_table(metrics["test"], levels=(80, 95)))
    assert list(go.interval_table(metrics, levels=(80,)).columns) == [
        "coverage 80 % (nominal 0.80)", "width 80 % (m)", "WIS (m)", "NSE of the ESP median"]


def test_issue_text_names_the_latest_and_the_earlier_issue_months():
    text = go.issue_text(go.issue_months(synthetic_outlook()))
    assert text.startswith("Issued **Dec 2021** at 3 wells. Issued earlier")
    assert text.endswith("Dec 2020 at well(s) 4.")
    assert go.issue_text(go.issue_months(synthetic_outlook().query("well != 4"))) == "Issued **Dec 2021** at 3 wells."


def test_run_text_names_mode_leads_models_members_and_periods():
    params = {"forecast": {"mode": "observed-forcing", "leads": [1, 2, 3]},
              "split": {"train": ["2000-01", "2009-12"], "validation": ["2010-01", "2013-12"],
                        "test": ["2014-01", "2019-12"]},
              "outlook": {"models": ["tl", "arx"], "intervals": [80, 95]}}
    text = go.run_text(params, synthetic_outlook().assign(members=[20, 21] * 18))
    assert "mode `observed-forcing`, leads 1, 2, 3 months, TL-LSTM, ARX (ridge); ESP members per forecast: 20–21" in text
    assert "intervals 80 % and 95 %, calibrated on 2010-01–2013-12, tested on 2014-01–2019-12." in text


SCORES = pd.DataFrame({"well": [1, 2, 3, 3], "model": ["tl", "tl", "tl", "it"], "lead": 1,
                       "nse_esp": [0.9, 0.2, 0.5, 0.1], "coverage80": [0.8, 0.7, 0.9, 0.5], "n": 24})


def test_picked_wells_and_their_text():
    outlook = synthetic_outlook()
    change = go.forecast_change(outlook, lead=1)
    picks = go.picked_wells(SCORES, change, go.largest_falls(outlook))
    assert picks == {"largest TL fall at lead 1": "1", "median TL change at lead 1": "3",
                     "weakest TL skill at lead 1": "2"}
    no_falls = go.picked_wells(SCORES, change, go.largest_falls(outlook).iloc[:0])
    assert no_falls["largest TL fall at lead 1"] == "1", "the smallest change stands in"
    assert go.pick_text("why", "2", "B", SCORES) == (
        "**why: well 2** (B). Test, lead 1: NSE of the ESP median 0.20, 80 % interval held in 70% of 24 months.")


def test_well_names_and_styled_falls():
    assert go.well_names(WELLS.assign(name=["A  x", "B", "C", "D", "E"]))["1"] == "A x"
    html = go.styled_falls(go.largest_falls(synthetic_outlook())).to_html()
    assert "-0.300" in html and "285.30" in html


@pytest.mark.parametrize("held, how", [(0.95, "more often"), (0.70, "less often"), (0.81, "about as often")])
def test_coverage_text_says_how_often_the_intervals_held(held, how):
    table = pd.DataFrame({"coverage 80 % (nominal 0.80)": [held, held]},
                         index=pd.MultiIndex.from_tuples([(1, "TL-LSTM"), (2, "TL-LSTM")], names=["lead", "model"]))
    errors = pd.DataFrame({"validation": [0.1, 0.2], "test": [0.05, 0.1]}, index=[1, 2])
    text = go.coverage_text(table, SCORES, pd.DataFrame({"n": [47, 47]}), errors, [80])
    assert f"{how} than the 81.2% the rule gives with 47 validation months; per well 70%–90%." in text
    assert "lead 2: 0.200 on validation, 0.100 on test" in text


def test_coverage_text_of_adaptive_intervals_names_the_nominal_aim_not_the_validation_rule():
    table = pd.DataFrame({"coverage 80 % (nominal 0.80)": [0.81, 0.80]},
                         index=pd.MultiIndex.from_tuples([(1, "TL-LSTM"), (2, "TL-LSTM")], names=["lead", "model"]))
    errors = pd.DataFrame({"validation": [0.1, 0.2], "test": [0.05, 0.1]}, index=[1, 2])
    text = go.coverage_text(table, SCORES, pd.DataFrame({"n": [47, 47]}), errors, [80], "adaptive")
    assert "about as often than the 80.0% the adaptive rule aims at" in text
    assert "validation months" not in text.split("**How:**")[0] and "learned online" in text
    assert "wider than the test errors need" not in text
