"""Text and tables of the data report (gwtl.report.data_text)."""

import pandas as pd
from IPython.display import Markdown

from gwtl.report import data_text as dr

STATION = {"hzb": 1, "name": "R", "lon": 15.5, "lat": 46.8, "elevation": 300.0, "coverage": 0.9, "months_missing": 2}
META = {
    "basin": "Test basin", "format": "ehyd", "area": "GK100", "period": ["2000-01", "2019-12"],
    "counts": {"months": 240, "wells_area": 5, "wells_listed": 3, "wells_not_listed": 2, "rain_stations": 1,
               "gauges": 1, "forcings": 2, "months_interpolated": 4, "months_missing_levels": 7,
               "min_wells_in_basin": 2},
    "warnings": ["w1", "w2"], "split": {"train": ["2000-01", "2009-12"], "test": ["2010-01", "2019-12"]},
    "rain_stations": [STATION], "gauges": [{**STATION, "hzb": 2, "lon": None, "lat": None}],
    "forcings": [{"name": "precipitation", "description": "rain", "coverage": 1.0},
                 {"name": "discharge", "description": "Mur", "coverage": 0.99}],
    "interpolated": {"7": ["2001-03", "2001-04"]}, "settings": {"max_gap_months": 3},
}
WELLS = pd.DataFrame({"hzb": ["7", "8", "9"], "name": ["A", "B", "C"], "coverage": [1.0, 0.5, 0.9],
                      "listed": [True, False, True], "reason": ["listed", "coverage 0.50", "listed"],
                      "train_mean": [300.0, None, 310.0], "train_std": [0.1, None, 0.2], "corr_basin": [0.9, None, 0.5]})


def test_summary_text_gives_every_count():
    text = dr.summary_text(META)
    assert text.startswith("**Test basin** (eHYD porous-aquifer area GK100), months 2000-01 to 2019-12 (240 months).")
    assert "left out: 2. Rain stations: 1, gauges: 1, forcings: 2." in text and text.endswith("Warnings: 2.")
    assert "(CSV layout, area GK100)" in dr.summary_text({**META, "format": "csv"})


def test_split_periods_end_on_the_last_day_of_the_month():
    assert dr.split_periods(META)["test"] == (pd.Timestamp("2010-01-01"), pd.Timestamp("2019-12-31"))


def test_stations_forcings_and_warnings():
    assert len(dr.stations(META, "gauges")) == 1 and dr.stations(META, "gauges", located=True).empty
    assert dr.forcing_descriptions(META) == {"precipitation": "rain", "discharge": "Mur"}
    assert dr.summed_forcings(pd.DataFrame(columns=["precipitation", "discharge"])) == ["precipitation"]
    assert dr.warnings_text(META) == "* w1\n* w2"
    assert dr.warnings_text({"warnings": []}) == "No warnings."


def test_tables_of_wells_and_what_was_left_out():
    html = dr.coverage_table(WELLS).to_html()
    assert html.index(">A<") < html.index(">C<") < html.index(">B<"), "listed first, then by coverage"
    parts = dr.left_out_parts(META, WELLS)
    texts = [p.data for p in parts if isinstance(p, Markdown)]
    assert texts[0] == "**1 wells** of area GK100 are not in `basin.wells`:"
    assert texts[-1] == "**Interpolated months** (gaps of at most 3 months):"
    assert "2001-03, 2001-04" in parts[-1].to_html()
    bare = dr.left_out_parts({**META, "rain_stations": [], "gauges": [], "interpolated": {}}, WELLS)
    assert not any("Rain stations" in p.data for p in bare if isinstance(p, Markdown))
    assert bare[-1].data == "none"
