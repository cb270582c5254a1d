"""The names the reports use: the models' report order, display names and IT-LSTM trial budgets, and months.

One home for how a model is called in every table and figure (``it_5`` ->
``IT-LSTM (5 trials)``), in which order models are listed, and how a month
is written for a reader (:func:`month_name`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

MODELS = ("tl", "it", "arx", "tfn", "svr", "rf", "damped_persistence", "persistence", "climatology")
LABELS = {
    "tl": "TL-LSTM", "it": "IT-LSTM", "arx": "ARX (ridge)", "svr": "SVR", "rf": "Random forest",
    "persistence": "Persistence", "climatology": "Climatology", "damped_persistence": "Damped persistence", "pretrain": "Pre-trained (basin)",
    "tl_library": "TL-LSTM (library)", "tfn": "TFN (pastas)",
    "basin/head": "Paper's TL (frozen LSTM, head fine-tuned)",
    "scratch/gradual": "Control: random initialisation, gradual schedule",
    "it_fixed": "Control: IT, pre-trained configuration, no search",
}


def month_name(month) -> str:
    """A month as a reader writes it: ``Dec 2021``."""
    return pd.Timestamp(month).strftime("%b %Y")


def budget_of(model: str) -> int | None:
    """The trial budget ``k`` of an IT-LSTM model ``it_<k>``; None for any other model."""
    head, _, k = model.partition("_")
    return int(k) if head == "it" and k.isdigit() else None


def label(model: str) -> str:
    """Display name of a model (``it_5`` -> ``IT-LSTM (5 trials)``)."""
    k = budget_of(model)
    return f"{LABELS['it']} ({k} trials)" if k is not None else LABELS.get(model, model)


def models_in(models: pd.DataFrame | Iterable[str], budgets: bool = False) -> list[str]:
    """The models named in ``models`` in report order (known models first, then others, sorted).

    ``models`` is a table with a ``model`` column (``results.csv``, predictions)
    or model names. The IT-LSTMs of smaller trial budgets (``it_<k>``) are left
    out unless ``budgets``; then they follow ``it``, smallest budget first.
    """
    names = models["model"] if isinstance(models, pd.DataFrame) else models
    present = [m for m in dict.fromkeys(names) if m != "pretrain"]
    its = sorted((m for m in present if budget_of(m) is not None), key=budget_of) if budgets else []
    known = [x for m in MODELS if m in present for x in ([m, *its] if m == "it" else [m])]
    return known + sorted(m for m in present if m not in MODELS and budget_of(m) is None)
