"""Training: masked loss, determinism, early stopping, which rows train, fine-tuning only the head."""

import numpy as np
import pandas as pd
import pytest
import torch

from gwtl.data.samples import make_samples
from gwtl.models.lstm import LSTMForecaster, set_trainable
from gwtl.models.train import fit, fit_members, masked_mse, predict, set_threads, split_rows

from synthetic import synthetic_processed

SPLIT = {"train": ["1990-01", "2010-12"], "validation": ["2011-01", "2015-12"], "test": ["2016-01", "2021-12"]}
FIT = dict(lr=0.01, batch=32, max_epochs=8, patience=3)


@pytest.fixture(autouse=True)
def one_thread():
    set_threads(1)  # several threads only slow these tiny models down


@pytest.fixture(scope="module")
def samples():
    data = synthetic_processed()
    return make_samples(data.series(900001), data.forcings, window=6, leads=[1, 2, 3],
                        mode="observed-forcing", target="change", train=SPLIT["train"])


def new_model(samples, seed=0, layers=1, dropout=0.2):
    torch.manual_seed(seed)
    return LSTMForecaster(samples.x.shape[2], 8, layers, dropout, len(samples.leads), samples.leads)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_masked_mse_ignores_missing_targets():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.5, float("nan")], [float("nan"), 0.0]])
    mask = torch.isfinite(target).float()
    loss = masked_mse(pred, torch.nan_to_num(target), mask)
    assert loss.item() == pytest.approx((0.5**2 + 4.0**2) / 2)


def test_rows_without_targets_do_not_train(samples):
    (x, y), val = split_rows(samples, SPLIT)
    y = y.copy()
    y[:10] = np.nan            # ten rows without any target
    y[10:20, 1] = np.nan       # and some single missing leads
    x_other = x.copy()
    x_other[:10] = 100.0       # inputs of target-less rows must not matter
    a, b = new_model(samples), new_model(samples)
    fit(a, (x, y), val, seed=0, **FIT)
    fit(b, (x_other, y), val, seed=0, **FIT)
    assert same(weights(a), weights(b))
    assert all(torch.isfinite(p).all() for p in a.parameters())


def test_same_seed_same_weights_other_seed_other_weights(samples):
    train, val = split_rows(samples, SPLIT)
    runs = []
    for seed in (0, 0, 1):
        m = new_model(samples, seed)
        fit(m, train, val, seed=seed, **FIT)
        runs.append(weights(m))
    assert same(runs[0], runs[1])
    assert not same(runs[0], runs[2])


def test_early_stopping_keeps_the_best_epoch(samples):
    train, val = split_rows(samples, SPLIT)
    m = new_model(samples, dropout=0.0)
    history = fit(m, train, val, seed=0, lr=0.05, batch=32, max_epochs=30, patience=2)
    assert history.epochs <= 30 and history.best_epoch == int(np.argmin(history.val_loss)) + 1
    pred = torch.as_tensor(predict(m, val[0]), dtype=torch.float32)
    y = torch.as_tensor(val[1])
    again = masked_mse(pred, torch.nan_to_num(y), torch.isfinite(y).float()).item()
    assert again == pytest.approx(history.best_val, rel=1e-4)
    assert list(history.to_frame().columns) == ["epoch", "train_loss", "val_loss"]


def test_split_rows_keep_later_periods_out(samples):
    (x, y), (xv, yv) = split_rows(samples, SPLIT)
    train_rows = samples.within(SPLIT["train"])
    assert len(x) == train_rows.sum() > 200
    last_input = samples.issue[train_rows] + pd.DateOffset(months=3)
    assert last_input.max() <= pd.Timestamp("2010-12-01")
    val_rows = samples.in_period(SPLIT["validation"]).any(axis=1)
    months = samples.target_months()[val_rows]
    kept = np.isfinite(yv)
    assert len(xv) == val_rows.sum() and kept.sum() > 150
    assert (months[kept] >= np.datetime64("2011-01-01")).all() and (months[kept] <= np.datetime64("2015-12-01")).all()


@pytest.mark.parametrize("parts", [["head"], ["lstm", "head"]])
def test_fine_tuning_changes_only_the_trained_parts(samples, parts):
    train, val = split_rows(samples, SPLIT)
    base = new_model(samples, layers=2)
    fit(base, train, val, seed=0, **FIT)
    before = weights(base)
    members, histories = fit_members([base, base], parts, train, val, seeds=[0, 1], **FIT)
    assert weights(base).keys() == before.keys() and same(weights(base), before)  # the base is untouched
    for member in members:
        after = weights(member)
        for name in after:
            changed = not torch.equal(after[name], before[name])
            assert changed == (name.split(".")[0] in parts), name
    assert not same(weights(members[0]), weights(members[1]))
    again, _ = fit_members([base, base], parts, train, val, seeds=[0, 1], **FIT)
    assert same(weights(again[0]), weights(members[0]))
    assert [len(h.val_loss) for h in histories] == [h.epochs for h in histories]


def test_a_head_trained_in_a_batch_equals_the_head_trained_alone(samples):
    """Stacked heads: a member's result depends on its base, data and seed only, not on its batch mates."""
    train, val = split_rows(samples, SPLIT)
    bases = [new_model(samples, layers=1, dropout=0.3, seed=s) for s in (0, 1, 2)]
    batch, batch_hist = fit_members(bases, ["head"], train, val, seeds=[5, 6, 7], **FIT)
    alone, alone_hist = fit_members(bases[1:2], ["head"], train, val, seeds=[6], **FIT)
    pair, _ = fit_members(bases[:2], ["head"], train, val, seeds=[9, 6], **FIT)  # another batch mate and seed
    for other in (alone[0], pair[1]):
        for name, value in weights(batch[1]).items():
            torch.testing.assert_close(weights(other)[name], value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alone_hist[0].val_loss, batch_hist[1].val_loss, rtol=1e-5)
    assert alone_hist[0].best_epoch == batch_hist[1].best_epoch
    assert not same(weights(batch[0]), weights(batch[1]))


def test_fit_with_frozen_lstm_changes_only_the_head(samples):
    train, val = split_rows(samples, SPLIT)
    m = new_model(samples, layers=2, dropout=0.3)
    before = weights(m)
    fit(set_trainable(m, ["head"]), train, val, seed=0, **FIT)
    after = weights(m)
    assert all(torch.equal(after[k], before[k]) for k in after if k.startswith("lstm."))
    assert not torch.equal(after["head.weight"], before["head.weight"])
