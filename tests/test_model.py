"""LSTMForecaster: shapes, per-lead readout, freezing parts by name."""

import pytest
import torch

from gwtl.models.lstm import LSTMForecaster, build_model, count_trainable, set_trainable


def model(layers=1, dropout=0.0, leads=(1, 2, 3)):
    torch.manual_seed(0)
    return LSTMForecaster(n_features=4, hidden=8, layers=layers, dropout=dropout, n_leads=len(leads), leads=list(leads))


def test_output_has_one_forecast_per_lead_and_named_parts():
    m = model()
    assert m(torch.randn(5, 9, 4)).shape == (5, 3)
    assert isinstance(m.lstm, torch.nn.LSTM) and m.lstm.batch_first
    assert isinstance(m.head, torch.nn.Linear) and m.head.weight.shape == (3, 8)
    assert isinstance(m.dropout, torch.nn.Dropout)
    assert build_model(m.config).config == m.config


def test_interlayer_dropout_only_with_several_layers():
    assert model(layers=1, dropout=0.3).lstm.dropout == 0.0
    assert model(layers=2, dropout=0.3).lstm.dropout == 0.3


def test_lead_reads_the_state_of_its_target_month():
    """Inputs after t+h cannot change the lead-h forecast; they do change the largest lead."""
    m = model(leads=(1, 3)).eval()
    x = torch.randn(2, 9, 4)
    later = x.clone()
    later[:, -2:, :] += 5.0  # months t+2 and t+3 (sequence ends at t+3)
    a, b = m(x), m(later)
    assert torch.equal(a[:, 0], b[:, 0])
    assert not torch.allclose(a[:, 1], b[:, 1])


def test_set_trainable_freezes_every_other_part():
    m = set_trainable(model(), ["head"])
    assert all(not p.requires_grad for p in m.lstm.parameters())
    assert all(p.requires_grad for p in m.head.parameters())
    assert count_trainable(m) == 3 * 8 + 3
    set_trainable(m, ["lstm", "head"])
    assert count_trainable(m) == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("parts", [["encoder"], [], ["head", "Head"]])
def test_set_trainable_rejects_unknown_parts(parts):
    with pytest.raises(ValueError, match="parts are \\['lstm', 'head'\\]"):
        set_trainable(model(), parts)


def test_frozen_parts_stay_in_eval_mode():
    m = set_trainable(model(layers=2, dropout=0.5), ["head"])
    m.train()
    assert not m.lstm.training and m.head.training and m.dropout.training
    x = torch.randn(4, 9, 4)
    assert torch.equal(m.encode(x), m.encode(x))  # no inter-layer dropout noise in the frozen LSTM
    set_trainable(m, ["lstm", "head"])
    m.train()
    assert m.lstm.training
