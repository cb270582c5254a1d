"""The TL strategies' scores over wells for one split: the score columns of the strategies table.

The TL strategies (models ``<source>/<strategy>`` and the control
``it_fixed``, :mod:`gwtl.transfer.strategies`) and the IT-LSTM are scored together on
their own common months (:func:`gwtl.evaluation.evaluate.score_strategies`). Two stages read those scores, each
for its own period: the ``strategies`` stage the validation period
(``reports/strategies.csv``, where the default is chosen), the ``evaluate``
stage the test period (``reports/strategy_results.csv``, read by the report,
:func:`gwtl.report.inputs.load_strategies`). Both summarize them here, with one
rule: :func:`split_columns`.
"""

from __future__ import annotations

import pandas as pd

IT = "it"


def split_columns(scores: pd.DataFrame, split: str) -> pd.DataFrame:
    """Per model (rows, index ``strategy``) the mean and median NSE over wells and the wins against IT, for ``split``.

    Parameters
    ----------
    scores : DataFrame
        Per-well scores (``well, model, lead, split, nse``; the rows of
        :func:`gwtl.evaluation.evaluate.score_rows`) of the strategies and of the IT-LSTM
        (model ``it``), scored on the same months.
    split : str
        The period to summarize.

    Returns
    -------
    DataFrame
        Per lead ``h``: ``nse_mean_<split>_lead<h>``, ``nse_median_<split>_lead<h>``
        and ``wins_<split>_lead<h>`` (wells where the model's NSE beats IT's; NA
        for IT itself), in that order.
    """
    part = scores[scores["split"] == split]
    if not len(part):
        raise ValueError(f"no {split} scores to summarize (splits present: {sorted(set(scores['split']))})")
    nse = part.pivot_table(index=["model", "well"], columns="lead", values="nse", dropna=False)
    if IT not in nse.index.get_level_values("model"):
        raise ValueError(f"the IT-LSTM (model {IT!r}) is not among the scored models; the strategies are "
                         "compared with it")
    it_nse = nse.loc[IT]
    columns = {}
    for lead in nse.columns:
        by_model = nse[lead].groupby(level="model", sort=False)
        columns[f"nse_mean_{split}_lead{lead}"] = by_model.mean()
        columns[f"nse_median_{split}_lead{lead}"] = by_model.median()
        wins = {model: int((mine.droplevel("model") > it_nse[lead].reindex(mine.droplevel("model").index)).sum())
                for model, mine in by_model if model != IT}
        columns[f"wins_{split}_lead{lead}"] = pd.Series(wins, dtype="Int64")
    table = pd.DataFrame(columns)
    table.index.name = "strategy"
    wins = [c for c in table.columns if c.startswith("wins_")]
    table[wins] = table[wins].astype("Int64")
    return table
