"""Read ``params.yaml`` and refuse impossible settings before any heavy work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

KNOWN = {
    "data": {"format", "source", "url", "catalog_url", "timeout_s", "retries"},
    "basin": {"name", "area", "wells", "rain_stations", "gauges"},
    "prepare": {"start", "end", "min_coverage", "max_gap_months", "min_wells",
                "max_missing_days", "min_rain_stations"},
    "split": {"train", "validation", "test"},
    "forecast": {"leads", "mode", "forcings", "target"},
    "train": {"max_epochs", "patience", "threads"},
    "pretrain": {"source", "trials", "seed", "search"},
    "finetune": {"trainable", "lr", "lstm_lr", "gradual", "pretrained"},
    "ensemble": {"members"},
    "it_lstm": {"trials", "budgets"},
    "baselines": {"trials", "arx_lags"},
    "library": {"clusters", "trials", "external"},
    "strategies": {"sources", "finetune"},
    "evaluate": {"splits"},
    "outlook": {"models", "intervals"},
}
SEARCH_KEYS = {"window", "hidden", "layers", "dropout", "lr", "batch"}
FORMATS = ("ehyd", "csv")
SOURCES = ("basin", "wells")  # pretrain.source; gwtl.transfer.pretrain_samples
OUTLOOK_MODELS = ("tl", "it", "arx")  # outlook.models; gwtl.forecast
FEATURE_NAMES = {"level", "observed", "month_sin", "month_cos"}  # inputs made by gwtl.dataset


class ParamsError(ValueError):
    """A setting in params.yaml that cannot work; the message names it."""


def _fail(key: str, message: str) -> None:
    raise ParamsError(f"params.yaml: {key}: {message}")


def _month(key: str, value) -> pd.Timestamp:
    try:
        return pd.Timestamp(str(value))
    except ValueError:
        _fail(key, f"{value!r} is not a month like '1990-01'")


def validate(params: dict) -> dict:
    """Check ``params`` and return it unchanged, or raise :class:`ParamsError`."""
    for section, keys in params.items():
        if section not in KNOWN:
            _fail(section, f"unknown section; known sections are {sorted(KNOWN)}")
        if not isinstance(keys, dict):
            _fail(section, "must be a mapping of keys")
        for key in keys:
            if key not in KNOWN[section]:
                _fail(f"{section}.{key}", f"unknown key; known keys are {sorted(KNOWN[section])}")
    for section, keys in KNOWN.items():
        for key in keys:
            if key not in params.get(section, {}):
                _fail(f"{section}.{key}", "missing")

    fmt = params["data"]["format"]
    if fmt not in FORMATS:
        _fail("data.format", f"{fmt!r}: use ehyd (eHYD files) or csv (the CSV layout of the README)")
    if fmt == "csv":
        source = params["data"]["source"]
        if not isinstance(source, str) or not source.strip() or source in ("auto", "download"):
            _fail("data.source", f"{source!r}: with data.format: csv, name the folder that holds "
                  "wells.csv, levels.csv and forcings.csv (absolute or relative to the project root)")

    basin = params["basin"]
    for key in ("wells", "rain_stations", "gauges"):
        ids = basin[key]
        may_be_empty = fmt == "csv" and key != "wells"  # the CSV layout has no stations or gauges
        if (not isinstance(ids, list) or not (ids or may_be_empty)
                or not all(isinstance(i, int) for i in ids)):
            what = "a list of whole numbers" if may_be_empty else "a non-empty list of HZB numbers"
            if fmt == "csv" and key == "wells":
                what = "a non-empty list of well ids (whole numbers, column id of wells.csv)"
            _fail(f"basin.{key}", f"must be {what}, got {ids!r}")
        if len(set(ids)) != len(ids):
            _fail(f"basin.{key}", "lists an id twice")

    prep = params["prepare"]
    start, end = _month("prepare.start", prep["start"]), _month("prepare.end", prep["end"])
    if start >= end:
        _fail("prepare", f"start {prep['start']} is not before end {prep['end']}")
    if not 0 < prep["min_coverage"] <= 1:
        _fail("prepare.min_coverage", "must lie in (0, 1]")
    for key in ("max_gap_months", "max_missing_days"):
        if not isinstance(prep[key], int) or prep[key] < 0:
            _fail(f"prepare.{key}", "must be a whole number >= 0")
    for key in ("min_wells", "min_rain_stations"):
        if not isinstance(prep[key], int) or prep[key] < 1:
            _fail(f"prepare.{key}", "must be a whole number >= 1")

    bounds = {}
    for name in ("train", "validation", "test"):
        pair = params["split"][name]
        if not isinstance(pair, list) or len(pair) != 2:
            _fail(f"split.{name}", "must be [first month, last month]")
        lo, hi = _month(f"split.{name}", pair[0]), _month(f"split.{name}", pair[1])
        if lo > hi:
            _fail(f"split.{name}", f"starts after it ends ({pair[0]} > {pair[1]})")
        if lo < start or hi > end:
            _fail(f"split.{name}", f"{pair} lies outside prepare.start..end ({prep['start']}..{prep['end']})")
        bounds[name] = (lo, hi)
    if not bounds["train"][1] < bounds["validation"][0] or not bounds["validation"][1] < bounds["test"][0]:
        _fail("split", "periods must be in order train < validation < test and must not overlap")

    fc = params["forecast"]
    leads = fc["leads"]
    if not isinstance(leads, list) or not leads or not all(isinstance(h, int) and h >= 1 for h in leads):
        _fail("forecast.leads", f"must be a list of whole months >= 1, got {leads!r}")
    if sorted(set(leads)) != leads:
        _fail("forecast.leads", "must be increasing without repeats")
    if fc["mode"] not in ("observed-forcing", "operational"):
        _fail("forecast.mode", f"{fc['mode']!r}: use observed-forcing or operational")
    if fc["target"] not in ("change", "level"):
        _fail("forecast.target", f"{fc['target']!r}: use change or level")
    if fmt == "csv":  # names of columns of forcings.csv; prepare checks that they exist
        names = fc["forcings"]
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() == n and n for n in names):
            _fail("forecast.forcings", f"must be a list of column names of forcings.csv, got {names!r}")
        if len(set(names)) != len(names):
            _fail("forecast.forcings", "names a column twice")
        for name in names:
            if name in FEATURE_NAMES or name == "date":
                _fail("forecast.forcings", f"{name!r} is reserved; rename that column of forcings.csv")
    else:
        allowed = {"precipitation", *(f"discharge_{g}" for g in basin["gauges"])}
        for name in fc["forcings"]:
            if name not in allowed:
                _fail("forecast.forcings", f"{name!r} is not prepared; choose from {sorted(allowed)}")

    search = params["pretrain"]["search"]
    if set(search) != SEARCH_KEYS:
        _fail("pretrain.search", f"must have exactly the keys {sorted(SEARCH_KEYS)}")
    train_months = (bounds["train"][1].year - bounds["train"][0].year) * 12 + bounds["train"][1].month - bounds["train"][0].month + 1
    longest = max(search["window"]) + max(leads)
    if longest > train_months // 2:
        _fail("pretrain.search.window", f"window + lead ({longest} months) is too long for "
              f"a training period of {train_months} months; use windows under {train_months // 2 - max(leads)}")
    for key in ("window", "hidden", "layers", "batch"):
        if not search[key] or not all(isinstance(v, int) and v >= 1 for v in search[key]):
            _fail(f"pretrain.search.{key}", "must be a list of whole numbers >= 1")
    for key in ("dropout", "lr"):
        if len(search[key]) != 2 or search[key][0] > search[key][1]:
            _fail(f"pretrain.search.{key}", "must be a range [low, high]")
    if not (0 <= search["dropout"][0] and search["dropout"][1] < 1):
        _fail("pretrain.search.dropout", "must lie in [0, 1)")
    if search["lr"][0] <= 0:
        _fail("pretrain.search.lr", "must be positive")

    trainable = params["finetune"]["trainable"]
    parts = {"lstm", "head"}
    if not isinstance(trainable, list) or not trainable:
        _fail("finetune.trainable", "is empty: name at least one model part to train, e.g. [head]")
    for part in trainable:
        if part not in parts:
            _fail("finetune.trainable", f"{part!r} is not a model part; parts are {sorted(parts)}")
    if params["pretrain"]["source"] not in SOURCES:
        _fail("pretrain.source", f"{params['pretrain']['source']!r}: use basin (the basin-average signal) or "
              "wells (every well pooled)")
    for key, allowed in (("sources", (*SOURCES, "clusters")), ("finetune", ("head", "all", "gradual"))):
        chosen = params["strategies"][key]
        if (not isinstance(chosen, list) or not chosen or len(set(chosen)) != len(chosen)
                or any(c not in allowed for c in chosen)):
            _fail(f"strategies.{key}", f"must be a non-empty list without repeats of {list(allowed)}, got {chosen!r}")
    ft = params["finetune"]
    if not isinstance(ft["gradual"], bool):
        _fail("finetune.gradual", f"must be true or false, got {ft['gradual']!r}")
    if ft["gradual"] and "lstm" not in trainable:
        _fail("finetune.gradual", "gradual unfreezing trains the LSTM after the head: set finetune.trainable "
              "to [lstm, head], or finetune.gradual to false")
    for section, key in (("pretrain", "trials"), ("it_lstm", "trials"), ("baselines", "trials"),
                         ("library", "clusters"), ("library", "trials"),
                         ("ensemble", "members"), ("train", "max_epochs"),
                         ("train", "patience"), ("train", "threads"), ("baselines", "arx_lags")):
        value = params[section][key]
        if not isinstance(value, int) or value < 1:
            _fail(f"{section}.{key}", f"must be a whole number >= 1, got {value!r}")
    budgets, trials = params["it_lstm"]["budgets"], params["it_lstm"]["trials"]
    if (not isinstance(budgets, list) or not all(isinstance(k, int) and 1 <= k < trials for k in budgets)
            or sorted(set(budgets)) != budgets):
        _fail("it_lstm.budgets", f"must be an increasing list of trial budgets below it_lstm.trials ({trials}), "
              f"e.g. [5, 10], or []; got {budgets!r}")
    _check_library(params)
    for key in ("lr", "lstm_lr"):
        if not isinstance(ft[key], (int, float)) or isinstance(ft[key], bool) or ft[key] <= 0:
            _fail(f"finetune.{key}", f"must be a positive learning rate, got {ft[key]!r}")
    _check_outlook(params["outlook"])
    for split in params["evaluate"]["splits"]:
        if split not in ("train", "validation", "test"):
            _fail("evaluate.splits", f"{split!r}: use train, validation or test")
    return params


def _check_outlook(outlook: dict) -> None:
    """``outlook.models`` and ``outlook.intervals`` of the forecast stage."""
    models = outlook["models"]
    if (not isinstance(models, list) or not models or len(set(models)) != len(models)
            or any(m not in OUTLOOK_MODELS for m in models)):
        _fail("outlook.models", f"must be a non-empty list without repeats of {list(OUTLOOK_MODELS)}, got {models!r}")
    levels = outlook["intervals"]
    if (not isinstance(levels, list) or not levels or sorted(set(levels)) != levels
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 100 for v in levels)):
        _fail("outlook.intervals", f"must be an increasing list of whole percentages between 0 and 100, "
              f"e.g. [80, 95]; got {levels!r}")


def _check_library(params: dict) -> None:
    """``finetune.pretrained`` and ``library.external``: folders that hold a pre-trained model."""
    pretrained = params["finetune"]["pretrained"]
    if not isinstance(pretrained, str) or not pretrained.strip():
        _fail("finetune.pretrained", f"must be the folder of a pre-trained model (e.g. models/pretrain), "
              f"got {pretrained!r}")
    external = params["library"]["external"]
    if not isinstance(external, list) or not all(isinstance(e, str) and e.strip() for e in external):
        _fail("library.external", f"must be a list of folders (another project's models/pretrain), got {external!r}")
    if len(set(external)) != len(external):
        _fail("library.external", "names a folder twice")
    for folder in external:
        if not Path(folder).is_dir():
            _fail("library.external", f"folder {folder} not found (paths are relative to the project root); "
                  "name another project's models/pretrain folder, or remove it from the list")
        if not (Path(folder) / "model.pt").exists():
            _fail("library.external", f"{folder} holds no model.pt; run `dvc repro pretrain` in that project first")


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found; run from the project root")
    with open(path) as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: not a YAML mapping")
    return validate(params)
