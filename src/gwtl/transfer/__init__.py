"""Transfer learning and its reference: pre-training, fine-tuning, the IT-LSTM, the library of pre-trained models and the strategies."""
