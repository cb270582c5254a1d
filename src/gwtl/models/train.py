"""Training with masked MSE, mini-batches over whole tensors and early stopping.

Rows come from :func:`split_rows`: training rows lie wholly in the training
period (inputs and all targets), validation targets are those whose month lies
in the validation period. Test months never reach training, early stopping or
tuning.

Determinism: the seed fixes weight initialization (callers seed before building
a model), batch order and dropout. The CPU kernels used here are deterministic
(the tests check that the same seed gives the same weights), so the global
``torch.use_deterministic_algorithms`` switch is not needed.

Threads: these models are tiny, so one torch thread is fastest; with two
threads on the 2-core machine training took as long in wall time and twice the
CPU time, and when other processes compete for the cores OpenMP threads wait on
each other and training slowed down many times (``train.threads``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch._dynamo  # noqa: F401  (torch.optim imports it on first use; here it is not timed as training)

from gwtl.data.samples import Samples
from gwtl.models.lstm import LSTMForecaster, is_frozen, set_trainable

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class History:
    """Losses per epoch (masked MSE in scaled units) and the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def best_val(self) -> float:
        return self.val_loss[self.best_epoch - 1]

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``epoch`` (from 1), ``train_loss``, ``val_loss``."""
        return pd.DataFrame(
            {
                "epoch": np.arange(1, self.epochs + 1),
                "train_loss": self.train_loss,
                "val_loss": self.val_loss,
            }
        )


def set_threads(n: int) -> None:
    """Use ``n`` intra-op threads in torch (``train.threads`` in params.yaml)."""
    torch.set_num_threads(int(n))


def split_rows(samples: Samples, split: dict) -> tuple[Pair, Pair]:
    """Training and validation arrays ``(x, y)`` of ``samples``.

    Training rows: the whole input sequence and all targets lie in
    ``split["train"]`` (:meth:`Samples.within`). Validation: the targets whose
    month lies in ``split["validation"]`` (:meth:`Samples.in_period`); other
    targets are NaN and rows without any target are dropped. A validation row
    may carry forcings after the validation period in its input sequence, but
    :class:`LSTMForecaster` reads lead ``h`` at month ``t+h``, so no forecast
    of a validation month depends on a later month.
    """
    train_rows = samples.within(split["train"])
    val_mask = samples.in_period(split["validation"])
    val_rows = val_mask.any(axis=1)
    y_val = np.where(val_mask, samples.y, np.nan)[val_rows]
    return (samples.x[train_rows], samples.y[train_rows]), (samples.x[val_rows], y_val)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over entries where ``mask`` is true (``target`` holds 0 elsewhere)."""
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp(min=1)


def _tensors(pair: Pair, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in pair)
    mask = torch.isfinite(y)
    rows = mask.any(dim=1)
    if not bool(rows.any()):
        raise ValueError(f"no {name} sample has an observed target; check the split periods and the data")
    return x[rows], torch.nan_to_num(y[rows]), mask[rows].float()


def fit(
    model: torch.nn.Module,
    train: Pair,
    val: Pair,
    *,
    lr: float,
    batch: int,
    max_epochs: int,
    patience: int,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
    lstm_lr: float | None = None,
    to_beat: float = float("inf"),
) -> History:
    """Train ``model`` in place with Adam and early stopping; keep the best weights.

    Parameters
    ----------
    model : LSTMForecaster (or any module mapping x to (n, n_leads))
        Only weights with ``requires_grad`` train.
    train, val : (x, y)
        Inputs (n, time, features) and scaled targets (n, n_leads), NaN where
        missing; the loss ignores NaN targets and rows without any.
    lr, batch, max_epochs, patience : learning rate, batch size, epoch limit,
        epochs without a better validation loss before stopping.
    seed : int
        Seeds the batch order and dropout; same seed, same weights (CPU).
    on_epoch : callable, optional
        Called after every epoch with the epoch and the best validation loss so
        far (Optuna pruning raises from here to stop a poor trial).
    lstm_lr : float, optional
        Learning rate of the LSTM of an :class:`LSTMForecaster` when it
        trains (``lr`` then applies to the head); default ``lr``.
    to_beat : float
        The validation loss of the given weights when it is known (gradual
        unfreezing): an epoch is kept only when it does better, and when none
        does the given weights stay (``best_epoch`` 0).

    Notes
    -----
    When the LSTM of an :class:`LSTMForecaster` is frozen it runs in eval mode
    and its output cannot change, so it is computed once and only the head
    trains on it: the same result as running it every step, only faster.
    """
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    x_train, y_train, m_train = _tensors(train, "training")
    x_val, y_val, m_val = _tensors(val, "validation")
    step = model
    if isinstance(model, LSTMForecaster) and is_frozen(model, "lstm"):
        model.train()  # frozen LSTM stays in eval mode
        with torch.no_grad():
            x_train, x_val = model.encode(x_train), model.encode(x_val)
        step = model.decode
    groups = _param_groups(model, lr, lstm_lr)
    if not groups:
        raise ValueError("the model has no trainable weight; see set_trainable")
    optimizer = torch.optim.Adam(groups, lr=lr, fused=True)  # fused: fewer small ops per step
    history = History()
    best_loss, best_state, n = float(to_beat), copy.deepcopy(model.state_dict()), len(x_train)
    for epoch in range(1, max_epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=order)
        total = torch.zeros(())
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            loss = masked_mse(step(x_train[idx]), y_train[idx], m_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * m_train[idx].sum()
        model.eval()
        with torch.no_grad():
            val_loss = float(masked_mse(step(x_val), y_val, m_val))
        history.train_loss.append(float(total / m_train.sum()))
        history.val_loss.append(val_loss)
        if val_loss < best_loss:
            best_loss, history.best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - history.best_epoch >= patience:
            break
        if on_epoch is not None:
            on_epoch(epoch, best_loss)
    model.load_state_dict(best_state)
    model.eval()
    return history


def _param_groups(model: torch.nn.Module, lr: float, lstm_lr: float | None) -> list[dict]:
    """Adam parameter groups: the trainable LSTM weights at ``lstm_lr`` (when given), the rest at ``lr``."""
    lstm = getattr(model, "lstm", None) if lstm_lr is not None else None
    slow = [p for p in lstm.parameters() if p.requires_grad] if lstm is not None else []
    rest = [p for p in model.parameters() if p.requires_grad and all(p is not q for q in slow)]
    return [g for g in ({"params": rest, "lr": lr}, {"params": slow, "lr": lstm_lr}) if g["params"]]


def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Forecasts (n, n_leads) in scaled units, eval mode and no gradients."""
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy().astype(float)


def fit_members(
    models: list[LSTMForecaster],
    parts: list[str],
    train: Pair,
    val: Pair,
    *,
    seeds: list[int],
    lr: float,
    batch: int,
    max_epochs: int,
    patience: int,
    lstm_lr: float | None = None,
    gradual: bool = False,
) -> tuple[list[LSTMForecaster], list[History]]:
    """Fine-tune one member per seed, member ``i`` a copy of ``models[i]``, training only ``parts``.

    Each member is trained like :func:`fit` (Adam, masked MSE, batches of
    ``batch`` rows, early stopping on ``val``, best weights kept), the head at
    ``lr`` and the LSTM, when it trains, at ``lstm_lr`` (default ``lr``).

    When only the head trains, each frozen LSTM's states are computed once and
    all members train together as one stacked head: Adam updates every weight
    on its own gradient, and each member draws its batch order and dropout
    masks from a generator of its own seed, so a member's result depends only
    on its base, data and seed, never on which members train beside it (a
    member trained alone gets the same weights to float tolerance). This
    gives the members of :func:`fit` in distribution (not bit for bit: the
    random streams differ) about 2.5 times faster (``benchmarks/bench_batch.py``).

    ``gradual`` (gradual unfreezing, needs ``"lstm"`` in ``parts``): the heads
    train first as above until early stopping; then every part of ``parts``
    trains from there, with its own early stopping that keeps the head-only
    weights unless an epoch beats their validation loss. A member's history
    holds both phases, one after the other.
    """
    if len(models) != len(seeds):
        raise ValueError(f"{len(models)} base models for {len(seeds)} seeds; give one base per member")
    if gradual and "lstm" not in parts:
        raise ValueError(f"gradual unfreezing trains the LSTM after the head, but only {list(parts)} may train; "
                         "set finetune.trainable to [lstm, head] or finetune.gradual to false")
    settings = {"batch": batch, "max_epochs": max_epochs, "patience": patience}
    if list(parts) == ["head"] or gradual:
        members, histories = _fit_heads(models, train, val, seeds=seeds, lr=lr, **settings)
        if not gradual:
            return members, histories
        models = members
    else:
        histories = [History() for _ in models]
    out = []
    for j, (model, seed) in enumerate(zip(models, seeds)):
        member = set_trainable(copy.deepcopy(model), parts)
        first = histories[j]
        to_beat = first.best_val if first.epochs else float("inf")
        second = fit(member, train, val, lr=lr, lstm_lr=lstm_lr, seed=seed, to_beat=to_beat, **settings)
        histories[j] = History(first.train_loss + second.train_loss, first.val_loss + second.val_loss,
                               first.epochs + second.best_epoch if second.best_epoch else first.best_epoch)
        out.append(member)
    return out, histories


def _fit_heads(models, train, val, *, seeds, lr, batch, max_epochs, patience):
    """:func:`fit_members` for frozen LSTMs: all members' heads in one stacked tensor."""
    streams = [torch.Generator().manual_seed(seed) for seed in seeds]  # batch order and dropout, per member
    x_train, y_train, m_train = _tensors(train, "training")
    x_val, y_val, m_val = _tensors(val, "validation")
    with torch.no_grad():  # (k, n, leads, hidden): each member's frozen LSTM states
        s_train = torch.stack([m.eval().encode(x_train) for m in models])
        s_val = torch.stack([m.encode(x_val) for m in models])
    k, n, rate = len(seeds), len(x_train), models[0].dropout.p
    weight = torch.stack([m.head.weight.detach() for m in models]).clone().requires_grad_(True)
    bias = torch.stack([m.head.bias.detach() for m in models]).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, fused=True)
    rows = torch.arange(k)[:, None]

    def losses(states, target, mask, train_mode):
        if train_mode and rate > 0:
            keep = torch.stack([torch.rand(states.shape[1:], generator=g) for g in streams]) >= rate
            states = states * keep / (1 - rate)
        pred = (states * weight[:, None]).sum(dim=-1) + bias[:, None]  # (k, rows, leads)
        return ((pred - target) ** 2 * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp(min=1)

    histories = [History() for _ in seeds]
    best_loss = torch.full((k,), float("inf"))
    best_weight, best_bias = weight.detach().clone(), bias.detach().clone()
    active = torch.ones(k, dtype=torch.bool)
    for epoch in range(1, max_epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=g) for g in streams])  # (k, n)
        total = torch.zeros(k)
        for start in range(0, n, batch):
            idx = perms[:, start : start + batch]
            loss = losses(s_train[rows, idx], y_train[idx], m_train[idx], True)
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            total += loss.detach() * m_train[idx].sum(dim=(1, 2))
        with torch.no_grad():
            val_loss = losses(s_val, y_val.expand(k, -1, -1), m_val.expand(k, -1, -1), False)
        train_loss = total / m_train.sum()
        for j in torch.nonzero(active).flatten().tolist():
            histories[j].train_loss.append(float(train_loss[j]))
            histories[j].val_loss.append(float(val_loss[j]))
        better = active & (val_loss < best_loss)
        best_loss = torch.where(better, val_loss, best_loss)
        best_weight[better], best_bias[better] = weight.detach()[better], bias.detach()[better]
        for j in torch.nonzero(better).flatten().tolist():
            histories[j].best_epoch = epoch
        active &= torch.tensor([epoch - h.best_epoch < patience for h in histories])
        if not active.any():
            break
    members = []
    for j, model in enumerate(models):
        member = set_trainable(copy.deepcopy(model), ["head"])
        with torch.no_grad():
            member.head.weight.copy_(best_weight[j])
            member.head.bias.copy_(best_bias[j])
        member.eval()
        members.append(member)
    return members, histories
