"""Forecasts beyond the data: ESP inputs, calibrated intervals and the outlook of the next months."""
