"""Scores and paired statistics: metrics, comparisons of two models, the evaluate stage."""
