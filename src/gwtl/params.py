"""Read ``params.yaml`` and refuse impossible settings before any heavy work.

The schema is declared once, below, as pydantic models: one per section of params.yaml,
each key with its type, range or allowed values (``Field(description=...)`` says what is
allowed, in words), unknown sections and keys refused (``extra="forbid"``) and types
strict, so that ``area: "390"`` or ``train: [1990, 2010]`` is refused instead of being
read as something else. Rules that tie keys together (the split inside prepare.start..end,
gradual unfreezing needs the LSTM, ...) are validators of the section, or of the whole
file, that they concern. :func:`validate` turns pydantic's errors into one
:class:`ParamsError` whose lines read ``params.yaml: <key>: <value given> — <what is allowed>``.
"""

from __future__ import annotations

import difflib
import math
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

FORMATS = ("ehyd", "csv")  # data.format
SOURCES = ("basin", "wells")  # pretrain.source; gwtl.transfer.pretrain.pretrain_samples
OUTLOOK_MODELS = ("tl", "it", "arx", "damped_persistence")  # outlook.models; gwtl.forecast.outlook
FEATURE_NAMES = {"level", "observed", "month_sin", "month_cos"}  # inputs made by gwtl.data.samples
MODEL_PARTS = ("lstm", "head")  # finetune.trainable
STRATEGY_SOURCES = (*SOURCES, "clusters", "scratch")  # strategies.sources
STRATEGY_FINETUNE = ("head", "all", "gradual")  # strategies.finetune
SPLITS = ("train", "validation", "test")
MAX_LEAD = 24  # months; forecast.leads
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ParamsError(ValueError):
    """A setting in params.yaml that cannot work; the message names it."""


# --------------------------------------------------------------------------- building blocks


def _show(value: Any, limit: int = 12) -> str:
    """``value`` as written in YAML (flow style, strings quoted); long lists shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        items = [_show(v) for v in value[:limit]]
        if len(value) > limit:
            items.append(f"... ({len(value)} items)")
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return f"{value} ({type(value).__name__})"


def _problems(*found: tuple[str, Any, str]) -> None:
    """Raise the rule violations ``(dotted key, value, what is allowed)`` as one pydantic error."""
    found = [f for f in found if f]
    if found:
        raise PydanticCustomError("params_rule", "{text}",
                                  {"text": "; ".join(f"{k}: {a}" for k, _, a in found), "problems": found})


def _no_repeats(what: str = "listed") -> AfterValidator:
    def check(values: list) -> list:
        seen, twice = set(), []
        for v in values:
            if v in seen and v not in twice:
                twice.append(v)
            seen.add(v)
        if twice:
            raise ValueError(", ".join(_show(v) for v in twice) + f" {'is' if len(twice) == 1 else 'are'} {what} twice")
        return values
    return AfterValidator(check)


def _increasing(values: list) -> list:
    for a, b in zip(values, values[1:]):
        if not a < b:
            raise ValueError(f"{_show(b)} comes after {_show(a)}")
    return values


def _url(*fields: str):
    def check(url: str) -> str:
        if not re.match(r"^https?://\S+$", url):
            raise ValueError("not an http:// or https:// address")
        try:
            named = {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}
        except ValueError as err:
            raise ValueError(f"its braces do not parse ({err})") from None
        if named != set(fields):
            raise ValueError("its placeholders are " + (", ".join("{" + n + "}" for n in sorted(named)) or "none"))
        return url
    return AfterValidator(check)


def _external_folders(folders: list[str]) -> list[str]:
    for folder in folders:
        if not Path(folder).is_dir():
            raise ValueError(f"folder {folder} not found (paths are relative to the project root); name another "
                             "project's models/pretrain folder, or remove it from the list")
        if not (Path(folder) / "model.pt").exists():
            raise ValueError(f"{folder} holds no model.pt; run `dvc repro pretrain` in that project first")
    return folders


def _names(names: list[str]) -> str:
    """``'a' is`` or ``'a', 'b' are``."""
    return ", ".join(map(repr, names)) + (" is" if len(names) == 1 else " are")


def _months(period: list[str]) -> int:
    """Months from the first to the last month of ``period``, both included."""
    (y0, m0), (y1, m1) = (map(int, month.split("-")) for month in period)
    return (y1 - y0) * 12 + m1 - m0 + 1


Whole = Annotated[int, Field(ge=1)]
Text = Annotated[str, Field(min_length=1)]
Month = Annotated[str, Field(pattern=MONTH.pattern)]
Period = Annotated[list[Month], Field(min_length=2, max_length=2)]
Ids = Annotated[list[int], _no_repeats()]

AT_LEAST_1 = "must be a whole number >= 1"
MONTH_TEXT = "must be a month in quotes, 'YYYY-MM', e.g. '1990-01'"
PERIOD_TEXT = "must be [first month, last month], each in quotes as 'YYYY-MM', e.g. ['1990-01', '2010-12']"
SEARCH_LIST = "must be a non-empty list of whole numbers >= 1"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --------------------------------------------------------------------------- the schema


class Data(_Section):
    format: Literal[FORMATS] = Field(description="must be ehyd (eHYD files) or csv (the CSV layout of the README)")
    source: Text = Field(description="must be auto, download or a mirror folder; with data.format: csv, the folder "
                                     "holding wells.csv, levels.csv and forcings.csv")
    url: Annotated[str, _url("kind", "hzb", "n")] = Field(
        description="must be an http(s) address with the placeholders {kind}, {hzb} and {n}, "
                    "e.g. https://ehyd.gv.at/eHYD/MessstellenExtraData/{kind}?id={hzb}&file={n}")
    catalog_url: Annotated[str, _url("kind")] = Field(
        description="must be an http(s) address with the placeholder {kind}, "
                    "e.g. https://ehyd.gv.at/eHYD/AreaSelection/download?cat={kind}&reg=10")
    timeout_s: float = Field(gt=0, allow_inf_nan=False, description="must be a number of seconds > 0, e.g. 30")
    retries: int = Field(ge=0, description="must be a whole number >= 0 (further attempts after a failed "
                                           "download), e.g. 3")

    @model_validator(mode="after")
    def _csv_folder(self):
        if self.format == "csv" and (self.source in ("auto", "download") or not self.source.strip()):
            _problems(("data.source", self.source, "with data.format: csv, name the folder that holds wells.csv, "
                       "levels.csv and forcings.csv (absolute or relative to the project root)"))
        return self


class Basin(_Section):
    name: Text = Field(description="must be the basin's name (text)")
    area: int = Field(ge=0, description="must be a whole number without quotes: the eHYD porous-aquifer area "
                                        "number (catalog column gwgeb03; with data.format: csv, the area column "
                                        "of wells.csv), e.g. 390")
    wells: Annotated[Ids, Field(min_length=1)] = Field(
        description="must be a non-empty list of well ids without repeats: HZB numbers (whole numbers; with "
                    "data.format: csv, the id column of wells.csv)")
    rain_stations: Ids = Field(description="must be a list of HZB numbers of precipitation stations without "
                                           "repeats, non-empty with data.format: ehyd")
    gauges: Ids = Field(description="must be a list of HZB numbers of discharge gauges without repeats, "
                                    "non-empty with data.format: ehyd")


class Prepare(_Section):
    start: Month = Field(description=MONTH_TEXT)
    end: Month = Field(description=MONTH_TEXT)
    min_coverage: float = Field(gt=0, le=1, description="must be the share of months with a value that a listed "
                                                        "well needs, a number in (0, 1], e.g. 0.95")
    max_gap_months: int = Field(ge=0, description="must be a whole number of months >= 0 (longer gaps are not "
                                                  "interpolated)")
    min_wells: int = Field(ge=1, description=AT_LEAST_1)
    max_missing_days: int = Field(ge=0, le=31, description="must be a whole number of days from 0 to 31")
    min_rain_stations: int = Field(ge=1, description="must be a whole number >= 1, at most the number of "
                                                     "basin.rain_stations")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.start < self.end:
            _problems(("prepare.end", self.end, f"must come after prepare.start ({self.start})"))
        return self


class Split(_Section):
    train: Period = Field(description=PERIOD_TEXT)
    validation: Period = Field(description=PERIOD_TEXT)
    test: Period = Field(description=PERIOD_TEXT)

    @model_validator(mode="after")
    def _ordered(self):
        found = [(f"split.{name}", period, f"starts after it ends ({period[0]} > {period[1]})")
                 for name, period in self if period[0] > period[1]]
        _problems(*found)
        for before, after in (("train", "validation"), ("validation", "test")):
            a, b = getattr(self, before), getattr(self, after)
            if not a[1] < b[0]:
                found.append((f"split.{after}", b, f"periods must be in order train < validation < test and must "
                              f"not overlap: split.{after} must start after split.{before} ends ({a[1]})"))
        _problems(*found)
        return self


class Forecast(_Section):
    leads: Annotated[list[Annotated[int, Field(ge=1, le=MAX_LEAD)]], Field(min_length=1),
                     AfterValidator(_increasing)] = Field(
        description=f"must be an increasing list of whole months from 1 to {MAX_LEAD}, each shorter than the "
                    "validation and test periods, e.g. [1, 2, 3]")
    mode: Literal["observed-forcing", "operational"] = Field(description="must be observed-forcing or operational")
    forcings: Annotated[list[Text], _no_repeats("named")] = Field(
        description="must be a list of forcing names without repeats: precipitation and discharge_<gauge> "
                    "(data.format: ehyd) or column names of forcings.csv (csv)")
    target: Literal["change", "level"] = Field(description="must be change (from the last observed level) or level")


class Train(_Section):
    max_epochs: int = Field(ge=1, description=AT_LEAST_1)
    patience: int = Field(ge=1, description=AT_LEAST_1)
    threads: int = Field(ge=1, description=AT_LEAST_1)


class Search(_Section):
    window: Annotated[list[Whole], Field(min_length=1)] = Field(
        description=f"{SEARCH_LIST}: input windows in months, e.g. [6, 12, 18]")
    hidden: Annotated[list[Whole], Field(min_length=1)] = Field(
        description=f"{SEARCH_LIST}: LSTM units, e.g. [16, 32, 64]")
    layers: Annotated[list[Whole], Field(min_length=1)] = Field(
        description=f"{SEARCH_LIST}: LSTM layers, e.g. [1, 2]")
    dropout: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = Field(
        description="must be a range [low, high] with 0 <= low <= high < 1, e.g. [0.0, 0.4]")
    lr: Annotated[list[Annotated[float, Field(gt=0, allow_inf_nan=False)]], Field(min_length=2, max_length=2)] = Field(
        description="must be a range [low, high] of learning rates with 0 < low <= high, e.g. [0.001, 0.02]")
    batch: Annotated[list[Whole], Field(min_length=1)] = Field(
        description=f"{SEARCH_LIST}: batch sizes, e.g. [16, 32, 64]")

    @model_validator(mode="after")
    def _ranges(self):
        _problems(*[(f"pretrain.search.{key}", pair, f"must be a range [low, high] with low <= high, "
                     f"e.g. [{min(pair)}, {max(pair)}]")
                    for key in ("dropout", "lr") if (pair := getattr(self, key))[0] > pair[1]])
        return self


class Pretrain(_Section):
    source: Literal[SOURCES] = Field(description="must be basin (the basin-average signal) or wells (every well "
                                                 "pooled)")
    trials: int = Field(ge=1, description=AT_LEAST_1)
    search: Search


class Finetune(_Section):
    trainable: Annotated[list[Literal[MODEL_PARTS]], Field(min_length=1), _no_repeats()] = Field(
        description=f"must be a non-empty list without repeats of the model parts {list(MODEL_PARTS)}: "
                    "name at least one part to train, e.g. [head] or [lstm, head]")
    lr: float = Field(gt=0, allow_inf_nan=False, description="must be a positive learning rate, e.g. 0.02")
    lstm_lr: float = Field(gt=0, allow_inf_nan=False, description="must be a positive learning rate, e.g. 0.001")
    gradual: bool = Field(description="must be true or false")
    pretrained: Annotated[str, Field(pattern=r"\S")] = Field(
        description="must be the folder of a pre-trained model, e.g. models/pretrain")

    @model_validator(mode="after")
    def _gradual_needs_lstm(self):
        if self.gradual and "lstm" not in self.trainable:
            _problems(("finetune.gradual", self.gradual, "gradual unfreezing trains the LSTM after the head: set "
                       "finetune.trainable to [lstm, head], or finetune.gradual to false"))
        return self


class Ensemble(_Section):
    members: int = Field(ge=1, description=AT_LEAST_1)


class ItLstm(_Section):
    trials: int = Field(ge=1, description=AT_LEAST_1)
    budgets: Annotated[list[Whole], AfterValidator(_increasing)] = Field(
        description="must be an increasing list of trial budgets below it_lstm.trials, e.g. [5, 10], or []")

    @model_validator(mode="after")
    def _below_trials(self):
        if any(k >= self.trials for k in self.budgets):
            _problems(("it_lstm.budgets", self.budgets, f"must be an increasing list of trial budgets below "
                       f"it_lstm.trials ({self.trials}), e.g. [5, 10], or []"))
        return self


class Baselines(_Section):
    trials: int = Field(ge=1, description=AT_LEAST_1)
    arx_lags: int = Field(ge=1, description=AT_LEAST_1)


MM_PER_DAY = Annotated[float, Field(ge=0, le=20)]
TFN_RIVER_INPUTS = ("stage", "discharge")  # tfn.river_input; gwtl.models.tfn.stress_plan


def _twelve_or_none(values: list[float]) -> list[float]:
    if len(values) not in (0, 12):
        raise ValueError(f"has {len(values)} values, not 12 (one per calendar month, January first) or none")
    return values


class Tfn(_Section):
    recharge: Literal["gamma", "exponential"] = Field(description="must be gamma or exponential")
    river: Literal["exponential", "hantush", "gamma"] = Field(description="must be exponential, hantush or gamma")
    river_input: Literal[TFN_RIVER_INPUTS] = Field(
        description="must be stage (each gauge's water level, stage_<gauge>) or discharge")
    evaporation: Annotated[list[MM_PER_DAY], AfterValidator(_twelve_or_none)] = Field(
        description="must be 12 numbers of mm/d between 0 and 20 (January to December), or [] for no evaporation")
    accept_evp: float = Field(ge=0, le=100, description="must be a percentage between 0 and 100")
    accept_bounds: float = Field(gt=0, le=1, description="must be a share above 0 and at most 1, e.g. 0.10")


class Library(_Section):
    clusters: int = Field(ge=1, description=AT_LEAST_1)
    trials: int = Field(ge=1, description=AT_LEAST_1)
    external: Annotated[list[Annotated[str, Field(pattern=r"\S")]], _no_repeats(),
                        AfterValidator(_external_folders)] = Field(
        description="must be a list of folders (another project's models/pretrain), "
                    "e.g. [../grazer-feld/models/pretrain], or []")


class Strategies(_Section):
    sources: Annotated[list[Literal[STRATEGY_SOURCES]], Field(min_length=1), _no_repeats()] = Field(
        description=f"must be a non-empty list without repeats of {list(STRATEGY_SOURCES)}")
    finetune: Annotated[list[Literal[STRATEGY_FINETUNE]], Field(min_length=1), _no_repeats()] = Field(
        description=f"must be a non-empty list without repeats of {list(STRATEGY_FINETUNE)}")
    it_fixed: bool = Field(description="must be true or false")


class Evaluate(_Section):
    splits: Annotated[list[Literal[SPLITS]], Field(min_length=1), _no_repeats()] = Field(
        description=f"must be a non-empty list without repeats of {list(SPLITS)}")


class Outlook(_Section):
    models: Annotated[list[Literal[OUTLOOK_MODELS]], Field(min_length=1), _no_repeats()] = Field(
        description=f"must be a non-empty list without repeats of {list(OUTLOOK_MODELS)}")
    intervals: Annotated[list[Annotated[int, Field(gt=0, lt=100)]], Field(min_length=1),
                         AfterValidator(_increasing)] = Field(
        description="must be an increasing list of whole percentages between 0 and 100, e.g. [80, 95]")
    esp_conditioning: Literal["none", "anomaly"] = Field(
        description="must be none (ESP traces of random past years) or anomaly (traces start from the issue "
                    "month's anomaly, see gwtl.forecast.esp)")
    esp_min_autocorrelation: float = Field(
        ge=0, le=1, allow_inf_nan=False,
        description="must be a number from 0 to 1: forcings whose training anomaly has at least this lag-1 "
                    "coefficient are conditioned, e.g. 0.3")
    calibration: Literal["split", "adaptive"] = Field(
        description="must be split (conformal on validation) or adaptive (adaptive conformal inference over "
                    "the test period, see gwtl.forecast.intervals)")
    aci_gamma: float = Field(ge=0, lt=1, allow_inf_nan=False,
                             description="must be a step size from 0 up to (not including) 1, e.g. 0.05")


class Params(_Section):
    """The whole of params.yaml."""

    seed: int = Field(ge=0, description="must be a whole number >= 0")
    data: Data
    basin: Basin
    prepare: Prepare
    split: Split
    forecast: Forecast
    train: Train
    pretrain: Pretrain
    finetune: Finetune
    ensemble: Ensemble
    it_lstm: ItLstm
    baselines: Baselines
    tfn: Tfn
    library: Library
    strategies: Strategies
    evaluate: Evaluate
    outlook: Outlook

    @model_validator(mode="after")
    def _across_sections(self):
        csv = self.data.format == "csv"
        found = []
        if not csv:
            found += [(f"basin.{key}", [], "must be a non-empty list of HZB numbers with data.format: ehyd")
                      for key in ("rain_stations", "gauges") if not getattr(self.basin, key)]
            if self.prepare.min_rain_stations > len(self.basin.rain_stations) > 0:
                found.append(("prepare.min_rain_stations", self.prepare.min_rain_stations,
                              f"must be at most the number of basin.rain_stations ({len(self.basin.rain_stations)}), "
                              "or no month has areal precipitation"))
        start, end = self.prepare.start, self.prepare.end
        found += [(f"split.{name}", period, f"lies outside prepare.start..end ({start}..{end})")
                  for name, period in self.split if period[0] < start or period[1] > end]

        leads = self.forecast.leads
        shortest = min(_months(self.split.validation), _months(self.split.test))
        if leads[-1] >= shortest:
            found.append(("forecast.leads", leads, f"each lead must be shorter than the validation and test "
                          f"periods; the shorter has {shortest} months"))
        forcings = self.forecast.forcings
        if csv:  # names of columns of forcings.csv; prepare checks that they exist
            spaced = [name for name in forcings if name.strip() != name]
            reserved = [name for name in forcings if name in FEATURE_NAMES or name == "date"]
            if spaced:
                found.append(("forecast.forcings", forcings, f"{_names(spaced)} not a column name: write "
                              "column names without leading or trailing spaces"))
            if reserved:
                found.append(("forecast.forcings", forcings, f"{_names(reserved)} reserved; rename "
                              f"{'that column' if len(reserved) == 1 else 'those columns'} of forcings.csv (reserved: {sorted(FEATURE_NAMES | {'date'})})"))
        else:
            allowed = ["precipitation", *(f"discharge_{g}" for g in self.basin.gauges)]
            if unknown := [name for name in forcings if name not in allowed]:
                found.append(("forecast.forcings", forcings, f"{_names(unknown)} not prepared; choose from "
                              f"{allowed} (discharge_<gauge> for each of basin.gauges)"))

        train_months = _months(self.split.train)
        longest = max(self.pretrain.search.window) + leads[-1]
        if longest > train_months // 2:
            found.append(("pretrain.search.window", self.pretrain.search.window,
                          f"window + lead ({longest} months) is too long for a training period of {train_months} "
                          f"months; use windows up to {train_months // 2 - leads[-1]}"))
        _problems(*found)
        return self


# --------------------------------------------------------------------------- errors in words


def _field(path: list[str]):
    """The pydantic field at ``path`` of :class:`Params` (None if there is none)."""
    model, field = Params, None
    for name in path:
        if model is None or name not in model.model_fields:
            return None
        field = model.model_fields[name]
        model = field.annotation if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) \
            else None
    return field


def _allowed(path: list[str]) -> str:
    field = _field(path)
    if field is None:
        return "see the comments of params.yaml"
    if field.description:
        return field.description
    keys = ", ".join(field.annotation.model_fields)
    return f"must be a mapping with the keys {keys}"


def _lookup(params: Any, path: list[str], default: Any) -> Any:
    node = params
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return default
        node = node[name]
    return node


def _is_number(text: Any) -> bool:
    try:
        return isinstance(text, str) and math.isfinite(float(text))
    except ValueError:
        return False


def _num(x: Any) -> Any:
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _why(error: dict) -> str:
    """What is wrong with the value of a pydantic ``error``, in a few words."""
    kind, value = error["type"], error["input"]
    ctx = {k: _num(v) for k, v in error.get("ctx", {}).items()}
    shown = _show(value)
    if kind in ("int_type", "float_type") and _is_number(value):
        if re.fullmatch(r"[-+]?\d+[eE][-+]?\d+", value.strip()):  # YAML 1.1 needs a dot: 1.0e-3
            return f"{shown} is read as text: write {float(value)!r} or {value.replace('e', '.0e').replace('E', '.0E')}"
        return f"{shown} is in quotes: write the number without quotes"
    if kind == "string_pattern_mismatch":
        return f"{shown} is not a month 'YYYY-MM'" if ctx.get("pattern") == MONTH.pattern else f"{shown} is blank"
    if kind == "value_error":
        return str(ctx["error"])
    phrases = {
        "int_type": "is not a whole number", "int_from_float": "is not a whole number",
        "float_type": "is not a number", "finite_number": "is not a finite number",
        "string_type": "is not text in quotes", "string_too_short": "is empty",
        "bool_type": "is not true or false", "list_type": "is not a list",
        "literal_error": "is not one of these", "model_type": "is not a mapping of keys",
        "greater_than_equal": f"is less than {ctx.get('ge')}", "greater_than": f"is not more than {ctx.get('gt')}",
        "less_than_equal": f"is more than {ctx.get('le')}", "less_than": f"is not less than {ctx.get('lt')}",
    }
    if kind in ("too_short", "too_long"):
        n = ctx.get("actual_length")
        return "the list is empty" if n == 0 else f"the list has {n} item{'s' if n != 1 else ''}"
    if kind in phrases:
        return f"{shown} {phrases[kind]}"
    return error["msg"]


def _unknown(path: list[str], value: Any) -> str:
    key = ".".join(path)
    *parent, name = path
    if parent:
        field = _field(parent)
        known = list(field.annotation.model_fields) if field is not None else []
        where = f"the keys of {'.'.join(parent)} are {', '.join(known)}"
        what = "unknown key"
    else:
        known, what = list(Params.model_fields), "unknown section"
        where = f"the sections are {', '.join(known)}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {'.'.join([*parent, close[0]])}? " if close else ""
    return f"params.yaml: {key}: {what} (given {_show(value)}); {hint}{where}"


def _messages(err: ValidationError, params: dict) -> list[str]:
    """One line per key of pydantic's ``err``: the key, the value given and what is allowed."""
    found: dict[str, str | tuple[Any, str, list[str]]] = {}  # key -> a whole line, or (value, allowed, reasons)
    for error in err.errors(include_url=False):
        path = []
        for part in error["loc"]:
            if not isinstance(part, str):
                break
            path.append(part)
        key, rest = ".".join(path), error["loc"][len(path):]
        if error["type"] == "params_rule":
            for rule_key, value, allowed in error["ctx"]["problems"]:
                entry = found.get(rule_key)
                found[rule_key] = (value, allowed if entry is None else f"{entry[1]}; {allowed}", [])
        elif error["type"] == "extra_forbidden":
            found[key] = _unknown(path, error["input"])
        elif error["type"] == "missing":
            found[key] = f"params.yaml: {key}: missing — {_allowed(path)}"
        else:
            why = _why(error)
            if rest and isinstance(rest[0], int):
                why = f"position {rest[0] + 1}: {why}"
            entry = found.setdefault(key, (_lookup(params, path, error["input"]), _allowed(path), []))
            if not isinstance(entry, str) and why not in entry[2]:
                entry[2].append(why)
    lines = []
    for key, entry in found.items():
        if isinstance(entry, str):
            lines.append(entry)
        else:
            value, allowed, reasons = entry
            lines.append(f"params.yaml: {key}: {_show(value)} — {allowed}"
                         + (f" ({'; '.join(reasons)})" if reasons else ""))
    return lines


def validate(params: dict) -> dict:
    """Check ``params`` and return it unchanged, or raise :class:`ParamsError`.

    Every problem found is named in the message, one line each; rules that tie keys
    together are checked once the keys they concern have valid values.
    """
    if not isinstance(params, dict):
        raise ParamsError(f"params.yaml: {_show(params)} — must be a mapping of the sections "
                          f"{', '.join(Params.model_fields)}")
    try:
        Params.model_validate(params)
    except ValidationError as err:
        lines = _messages(err, params)
        if len(lines) > 1:
            lines.insert(0, f"params.yaml: {len(lines)} settings cannot work:")
        raise ParamsError("\n".join(lines)) from None
    return params


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found; run from the project root")
    try:
        with open(path, encoding="utf-8") as fh:
            params = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: not a YAML mapping")
    return validate(params)


def as_params(params: dict | str | Path) -> dict:
    """The validated params: ``params`` itself (validated) or the params.yaml at that path."""
    return load_params(params) if isinstance(params, (str, Path)) else validate(params)
