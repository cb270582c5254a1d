"""Forecasters and how they train: the LSTM, training, the hyperparameter search, baselines and pastas TFN."""
