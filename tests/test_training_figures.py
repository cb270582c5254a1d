"""Figures of the training stages' reports (gwtl.report.training_figures)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from gwtl.report import training_figures as tf


def test_tfn_evp_figure_sorts_the_wells_and_colours_them_by_status():
    diagnostics = pd.DataFrame({"well": ["1", "2", "3"], "evp": [70.0, 20.0, np.nan],
                                "status": ["ok", "not_converged", "failed"]})
    fig = tf.tfn_evp_figure(diagnostics)
    bars = fig.axes[0].patches
    assert [b.get_height() for b in bars] == [20.0, 70.0, 0.0]
    assert [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars] == ["#ff7f0e", "#1f77b4", "#d62728"]


def test_history_figure_draws_each_member():
    history = pd.DataFrame({"member": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "train_loss": [1.0, 0.5, 1.1, 0.6],
                            "val_loss": [1.2, 0.7, 1.3, 0.8]})
    fig = tf.history_figure(history, "x")
    assert len(fig.axes[0].lines) == 4
