"""Forecast samples: which months are issued and scored (filled months, the last months, missing forcings)."""

import numpy as np
import pandas as pd
import pytest
import torch

from gwtl.data.predictions import prediction_table
from gwtl.data.samples import make_samples, well_samples
from gwtl.models.lstm import LSTMForecaster
from gwtl.models.train import predict

from synthetic import WELLS, synthetic_processed, tiny_params

SPLIT = {"train": ["1990-01", "2010-12"], "validation": ["2011-01", "2015-12"], "test": ["2016-01", "2021-12"]}
WELL = str(WELLS[0])


def samples_of(level, forcings, mode="observed-forcing", filled=None, window=6):
    return make_samples(level, forcings, window=window, leads=[1, 2, 3], mode=mode, target="change",
                        train=SPLIT["train"], filled=filled)


def scored_months(samples, lead):
    """Target months of ``lead`` that have an observed target (what training and scoring see)."""
    j = samples.leads.index(lead)
    months = pd.DatetimeIndex(samples.target_months()[:, j])
    return months[np.isfinite(samples.y[:, j])]


@pytest.mark.parametrize("mode", ["observed-forcing", "operational"])
def test_every_observed_test_month_is_a_target_at_every_lead(mode):
    """The last test months are forecast too: at lead h from the issue month t = month - h."""
    data = synthetic_processed()
    level = data.series(WELL)
    s = samples_of(level, data.forcings, mode)
    test = level.loc["2016-01-01":"2021-12-01"].dropna().index
    for lead in s.leads:
        issued = set(scored_months(s, lead))
        wanted = [m for m in test if not np.isnan(level.get(m - pd.DateOffset(months=lead), np.nan))]
        assert set(wanted) <= issued, (lead, sorted(set(wanted) - issued)[:3])
    assert pd.Timestamp("2021-12-01") in set(scored_months(s, 1))


def test_a_missing_forcing_removes_only_the_leads_that_read_it():
    data = synthetic_processed()
    level, forcings = data.series(WELL), data.forcings.copy()
    gap = pd.Timestamp("2018-06-01")
    forcings.loc[gap, "precipitation"] = np.nan
    s = samples_of(level, forcings)
    table = prediction_table(s, s.to_level(np.zeros(s.y.shape)), model="x", well=WELL, split=SPLIT)
    for lead in s.leads:
        rows = table[table.lead == lead]
        # a forecast for lead h whose inputs up to t+h include the gap does not exist ...
        issued = set(rows.issue)
        for issue in issued:
            assert not (issue < gap <= issue + pd.DateOffset(months=lead)) and issue != gap
        # ... but a month just before the gap is still a lead-1 target (today's rule dropped it with lead 3)
    lead1 = table[table.lead == 1]
    assert gap - pd.DateOffset(months=1) in set(lead1.month)
    assert len(table[table.lead == 1]) > len(table[table.lead == 3])


def test_inputs_after_a_leads_target_month_do_not_change_its_forecast():
    """The LSTM reads lead h at t+h, so zero-filled inputs after it cannot matter."""
    data = synthetic_processed()
    s = samples_of(data.series(WELL), data.forcings)
    torch.manual_seed(0)
    model = LSTMForecaster(s.x.shape[2], 8, 2, 0.0, 3, [1, 2, 3])
    before = predict(model, s.x)
    for j, lead in enumerate(s.leads):
        x = s.x.copy()
        x[:, s.window + lead:, 2:] = 100.0
        assert np.allclose(predict(model, x)[:, j], before[:, j], atol=1e-6)


def test_filled_months_are_never_issue_months_or_targets():
    data = synthetic_processed()
    level = data.series(WELL)
    month = pd.Timestamp("2017-03-01")
    assert not np.isnan(level[month])
    data.meta["interpolated"] = {WELL: ["2017-03"]}
    filled = data.filled(WELL)
    assert filled.sum() == 1 and filled[month]
    s = well_samples(tiny_params(), data, WELL, 6)
    assert month not in set(s.issue)
    for lead in s.leads:
        assert month not in set(scored_months(s, lead))
    # the filled level is still an input of later issue months
    later = list(s.issue).index(pd.Timestamp("2017-05-01"))
    level_col = s.features.index("level")
    assert s.x[later, s.window - 3, level_col] == pytest.approx(s.scaler.transform(level[month]), abs=1e-5)
    plain = well_samples(tiny_params(), synthetic_processed(), WELL, 6)
    assert month in set(plain.issue)


def test_filled_months_outside_the_data_are_refused():
    data = synthetic_processed()
    data.meta["interpolated"] = {WELL: ["2040-01"]}
    with pytest.raises(ValueError, match="2040-01.*dvc repro prepare"):
        data.filled(WELL)
