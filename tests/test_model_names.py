"""Model names, report order and IT-LSTM trial budgets (gwtl.report.model_names)."""

import pandas as pd

from gwtl.report import model_names


def test_models_in_keeps_it_budgets_after_it():
    results = pd.DataFrame({"model": ["it_10", "arx", "tl", "it", "it_5", "pretrain", "zz"]})
    assert model_names.models_in(results) == ["tl", "it", "arx", "zz"]
    assert model_names.models_in(results, budgets=True) == ["tl", "it", "it_5", "it_10", "arx", "zz"]
    names = ["zz", "it_10", "arx", "tl", "it", "it_5", "pretrain", "arx"]
    assert model_names.models_in(pd.Index(names), budgets=True) == ["tl", "it", "it_5", "it_10", "arx", "zz"]
    assert model_names.models_in(n for n in reversed(names)) == ["tl", "it", "arx", "zz"]
    assert model_names.budget_of("it_10") == 10 and model_names.budget_of("it") is None
    assert model_names.budget_of("tl_library") is None
    assert model_names.label("it_10") == "IT-LSTM (10 trials)" and model_names.label("tl") == "TL-LSTM"
