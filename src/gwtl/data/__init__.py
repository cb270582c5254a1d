"""The monthly data set: monthly rules, the basin signal, the prepare stage, reading data/processed, forecast samples and the predictions table."""
