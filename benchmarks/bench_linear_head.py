"""Benchmark a closed-form (ridge) head on the frozen pre-trained bases against the gradient-trained head.

The head of :class:`gwtl.models.lstm.LSTMForecaster` is linear in the frozen LSTM's states,
so head-only fine-tuning is a least-squares problem per lead. This script fits it in
closed form (ridge regression with an intercept on the training rows, the penalty
chosen per member and lead on the validation loss from a fixed grid) and compares it,
well by well and in one run, with today's head-only fine-tuning (``fit_members``: Adam,
dropout, early stopping on validation), both from the same 5 bases of
``models/pretrain`` and scored the same way (median of the members, NSE per split and
lead). IT-LSTM's scores, from ``models/it/<well>/predictions.csv``, are printed beside
them. CPU time is the process time of fitting and predicting one well's members; for
the gradient-trained head it is ``finetune_well``'s own clock, as in its ``cost.json``
(reading the bases from disk is not in it). Building the well's samples, the same for
both, is timed apart and left out of both.

Run it in an up-to-date project (``dvc repro`` done)::

    python benchmarks/bench_linear_head.py --out benchmarks/results/linear_head.json
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gwtl.data.predictions import prediction_table, read_predictions
from gwtl.data.processed import as_processed
from gwtl.data.samples import well_samples
from gwtl.evaluation.metrics import nse
from gwtl.models.train import _tensors, set_threads, split_rows
from gwtl.params import as_params
from gwtl.transfer.ensemble import ensemble_forecast
from gwtl.transfer.finetune import finetune_well
from gwtl.transfer.pretrain import align_features, load_bases
from results_json import show_and_save

#: Ridge penalties tried (on standardized targets and raw LSTM states in [-1, 1]).
PENALTIES = [10.0 ** k for k in range(-3, 4)]


def nse_by_well(table: pd.DataFrame, splits=("validation", "test")) -> pd.DataFrame:
    """NSE per well (rows), columns ``nse_<split>_lead<h>``, rounded to 3 decimals.

    A measurement outside the pipeline, so it scores the test period too
    (:func:`gwtl.transfer.ensemble.nse_by_well`, for the training stages' reports, does
    not); this is the computation that function made when the results in
    ``benchmarks/results/linear_head*.json`` were measured.
    """
    rows = {}
    for well, group in table.groupby("well", sort=False):
        part = group[group["split"].isin(splits)]
        rows[well] = {f"nse_{split}_lead{lead}": round(nse(g["observed"], g["forecast"]), 3)
                      for (split, lead), g in sorted(part.groupby(["split", "lead"]),
                                                     key=lambda item: (list(splits).index(item[0][0]), item[0][1]))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "well"
    return frame


def ridge_head(states: np.ndarray, target: np.ndarray, mask: np.ndarray, penalty: float):
    """Per lead ``j``: ridge regression with an intercept of ``target[:, j]`` on ``states[:, j, :]``.

    Rows where ``mask[:, j]`` is 0 are left out. Returns the head's weight
    (leads, hidden) and bias (leads,).
    """
    leads, hidden = states.shape[1], states.shape[2]
    weight, bias = np.zeros((leads, hidden)), np.zeros(leads)
    for j in range(leads):
        rows = mask[:, j] > 0
        x, y = states[rows, j, :], target[rows, j]
        x_mean, y_mean = x.mean(axis=0), y.mean()
        xc = x - x_mean
        weight[j] = np.linalg.solve(xc.T @ xc + penalty * np.eye(hidden), xc.T @ (y - y_mean))
        bias[j] = y_mean - x_mean @ weight[j]
    return weight, bias


def ridge_members(bases, train, val):
    """One member per base: its head fitted in closed form, the penalty with the lowest validation loss."""
    x_train, y_train, m_train = (t.numpy() for t in _tensors(train, "training"))
    x_val, y_val, m_val = (t.numpy() for t in _tensors(val, "validation"))
    members = []
    for base in bases:
        base = base.eval()
        with torch.no_grad():
            s_train = base.encode(torch.from_numpy(x_train)).numpy().astype(float)
            s_val = base.encode(torch.from_numpy(x_val)).numpy().astype(float)
        fits = [ridge_head(s_train, y_train, m_train, p) for p in PENALTIES]
        losses = [float(((((s_val * w).sum(-1) + b) - y_val) ** 2 * m_val).sum() / m_val.sum()) for w, b in fits]
        weight, bias = fits[int(np.argmin(losses))]
        member = copy.deepcopy(base)
        with torch.no_grad():
            member.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            member.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        members.append(member.eval())
    return members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    params = as_params(args.params)
    set_threads(params["train"]["threads"])
    data = as_processed("data/processed")
    bases, info = load_bases("models/pretrain")
    members = params["ensemble"]["members"]
    starts = [bases[i % len(bases)] for i in range(members)]
    head_params = copy.deepcopy(params)
    head_params["finetune"].update(trainable=["head"], gradual=False)
    tables = {"ridge": [], "sgd": [], "it": []}
    cpu = {"samples": [], "ridge": [], "sgd": []}
    for well in data.require_wells(params["basin"]["wells"]):
        start = time.process_time()
        samples = align_features(info, well_samples(params, data, well, info["window"]), params, "models/pretrain")
        pairs = split_rows(samples, params["split"])
        cpu["samples"].append(time.process_time() - start)
        start = time.process_time()
        fitted = ridge_members(starts, *pairs)
        tables["ridge"].append(prediction_table(samples, ensemble_forecast(samples, fitted), model="tl_ridge", well=well,
                                                split=params["split"]))
        cpu["ridge"].append(time.process_time() - start)
        done = finetune_well(head_params, data, well, "models/pretrain")
        cpu["sgd"].append(done.cost["cpu_s"] - cpu["samples"][-1])  # its own clock: samples again, not the bases' I/O
        tables["sgd"].append(done.table)
        tables["it"].append(read_predictions(Path("models/it") / well / "predictions.csv"))
    scores = {name: nse_by_well(pd.concat(parts)) for name, parts in tables.items()}
    report = {
        "wells": len(cpu["ridge"]),
        "penalties": PENALTIES,
        "mean_nse": {name: frame.mean().round(3).to_dict() for name, frame in scores.items()},
        "median_nse": {name: frame.median().round(3).to_dict() for name, frame in scores.items()},
        "ridge_minus_sgd_wins": {col: int((scores["ridge"][col] > scores["sgd"][col]).sum())
                                 for col in scores["ridge"].columns},
        "cpu_s_per_well": {name: round(float(np.mean(values)), 4) for name, values in cpu.items()},
        "sgd_over_ridge_cpu": round(float(np.mean(cpu["sgd"]) / np.mean(cpu["ridge"])), 1),
        "load_average": os.getloadavg(),
    }
    show_and_save(report, args.out)


if __name__ == "__main__":
    main()
