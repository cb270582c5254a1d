"""Does training many small models as one computation pay on this machine?

Measures, in one run and one process (one torch thread), models per second and
optimizer steps per second of three kinds of training, each at 1, 5 and 63 models
per batch, against today's training of the same models one at a time:

* ``tl_head``: fine-tuning the head on a frozen LSTM (the TL-LSTM's first phase).
  One at a time: :func:`gwtl.models.train.fit` with a frozen LSTM; together:
  :func:`gwtl.models.train.fit_members`, which stacks the heads of all members into one
  tensor (what the finetune stage uses).
* ``tl_lstm``: fine-tuning LSTM and head (the second phase of gradual unfreezing) of
  the chosen basin configuration. One at a time: :func:`gwtl.models.train.fit` with
  ``nn.LSTM``; together: :class:`StackedLSTM`, a candidate that holds the weights of
  K same-shaped models in stacked tensors and runs them with batched matrix
  products (``torch.func.vmap`` cannot batch ``nn.LSTM``).
* ``it_trial``: IT-LSTM trials of a small and of a large configuration, the same two
  ways.

Every model trains a fixed number of epochs (no early stopping), on synthetic
series of the size of a well's training period (``--rows`` rows), so both ways do
the same number of optimizer steps. Writes a JSON with the figures and the ratio
(together over one at a time) per kind and batch size.

Usage::

    python benchmarks/bench_batch.py --out bench_batch.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gwtl.models.lstm import LSTMForecaster, set_trainable
from gwtl.models.train import fit, fit_members, set_threads

LEADS = [1, 2, 3]
FEATURES = 3
CONFIGS = {  # kind -> (window, hidden, layers, batch, lr)
    "tl_head": (18, 64, 1, 64, 0.02),
    "tl_lstm": (18, 64, 1, 64, 0.001),
    "it_trial_small": (6, 16, 1, 64, 0.005),
    "it_trial_large": (18, 64, 2, 16, 0.005),
}


def data(rows: int, window: int, seed: int) -> tuple[tuple, tuple]:
    """Training and validation pairs ``(x, y)`` of a synthetic smooth series."""
    rng = np.random.default_rng(seed)
    steps = window + max(LEADS)
    x = rng.normal(size=(rows + 60, steps, FEATURES)).cumsum(axis=1).astype(np.float32) / steps
    y = x[:, -1, :1].repeat(len(LEADS), axis=1) + 0.1 * rng.normal(size=(rows + 60, len(LEADS)))
    return (x[:rows], y[:rows].astype(np.float32)), (x[rows:], y[rows:].astype(np.float32))


class StackedLSTM(torch.nn.Module):
    """K LSTM forecasters of one shape as stacked tensors (the candidate of this benchmark).

    Same layout as :class:`gwtl.models.lstm.LSTMForecaster` without dropout: lead ``h``
    reads the state of its target month through row ``h`` of the head.
    """

    def __init__(self, k: int, hidden: int, layers: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        scale = hidden ** -0.5
        sizes = [FEATURES] + [hidden] * (layers - 1)
        self.w_ih = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.empty(k, n, 4 * hidden).uniform_(-scale, scale)) for n in sizes])
        self.w_hh = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.empty(k, hidden, 4 * hidden).uniform_(-scale, scale)) for _ in sizes])
        self.bias = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(k, 1, 4 * hidden)) for _ in sizes])
        self.head = torch.nn.Parameter(torch.empty(k, len(LEADS), hidden).uniform_(-scale, scale))
        self.head_bias = torch.nn.Parameter(torch.zeros(k, 1, len(LEADS)))
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(k, batch, time, features) -> (k, batch, leads)."""
        k, b, steps, _ = x.shape
        seq = x
        for w_ih, w_hh, bias in zip(self.w_ih, self.w_hh, self.bias):
            gates_x = torch.matmul(seq, w_ih.unsqueeze(1)) + bias.unsqueeze(1)
            h = c = x.new_zeros(k, b, self.hidden)
            out = []
            for t in range(steps):
                i, f, g, o = (gates_x[:, :, t] + torch.bmm(h, w_hh)).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                out.append(h)
            seq = torch.stack(out, dim=2)
        states = seq[:, :, [h - max(LEADS) - 1 for h in LEADS]]  # (k, b, leads, hidden)
        return (states * self.head.unsqueeze(1)).sum(-1) + self.head_bias


def stacked_fit(k: int, hidden: int, layers: int, batch: int, lr: float, train: tuple, epochs: int) -> int:
    """Train K stacked models ``epochs`` epochs on ``train``; the number of optimizer steps."""
    model = StackedLSTM(k, hidden, layers, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    x, y = (torch.as_tensor(a) for a in train)
    gen, steps = torch.Generator().manual_seed(0), 0
    for _ in range(epochs):
        perm = torch.stack([torch.randperm(len(x), generator=gen) for _ in range(k)])
        for start in range(0, len(x), batch):
            idx = perm[:, start:start + batch]
            loss = ((model(x[idx]) - y[idx]) ** 2).mean(dim=(1, 2)).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
    return steps


def model_of(window: int, hidden: int, layers: int, seed: int) -> LSTMForecaster:
    torch.manual_seed(seed)
    return LSTMForecaster(FEATURES, hidden, layers, 0.0, len(LEADS), LEADS)


def timed(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(kind: str, k: int, rows: int, epochs: int) -> dict:
    window, hidden, layers, batch, lr = CONFIGS[kind]
    train, val = data(rows, window, seed=1)
    steps_per_model = epochs * -(-rows // batch)
    settings = {"batch": batch, "max_epochs": epochs, "patience": epochs + 1}
    if kind == "tl_head":
        bases = [model_of(window, hidden, layers, seed) for seed in range(k)]

        def alone():
            for j, base in enumerate(bases):
                fit(set_trainable(base, ["head"]), train, val, lr=lr, seed=j, **settings)

        def together():
            fit_members(bases, ["head"], train, val, seeds=list(range(k)), lr=lr, **settings)
    else:
        def alone():
            for j in range(k):
                fit(model_of(window, hidden, layers, j), train, val, lr=lr, seed=j, **settings)

        def together():
            stacked_fit(k, hidden, layers, batch, lr, train, epochs)
    one, many = timed(alone), timed(together)
    return {"kind": kind, "models": k, "config": dict(zip(("window", "hidden", "layers", "batch", "lr"),
                                                          CONFIGS[kind])),
            "steps_per_model": steps_per_model,
            "alone_cpu_s": round(one, 3), "together_cpu_s": round(many, 3),
            "alone_models_per_s": round(k / one, 2), "together_models_per_s": round(k / many, 2),
            "alone_steps_per_s": round(k * steps_per_model / one, 1),
            "together_steps_per_s": round(k * steps_per_model / many, 1),
            "speedup": round(one / many, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_batch.json"))
    parser.add_argument("--rows", type=int, default=230, help="training rows per model (a well: about 230)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 63])
    parser.add_argument("--kinds", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    set_threads(1)
    results = []
    for kind in args.kinds:
        measure(kind, 1, args.rows, 1)  # warm-up: first calls allocate and load kernels
        for k in args.sizes:
            row = measure(kind, k, args.rows, args.epochs)
            results.append(row)
            print(f"{kind:15s} {k:3d} models: alone {row['alone_steps_per_s']:8.1f} steps/s, together "
                  f"{row['together_steps_per_s']:8.1f} steps/s, together/alone x{row['speedup']}", flush=True)
    args.out.write_text(json.dumps({"threads": 1, "rows": args.rows, "epochs": args.epochs, "results": results},
                                   indent=2) + "\n")


if __name__ == "__main__":
    main()
