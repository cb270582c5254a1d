"""Many eHYD areas as DVC experiments: queue one experiment per area, then compare the areas' test skill.

``gwtl basin AREA --queue`` (see :mod:`gwtl.pipeline.cli`) chooses the basin as ``gwtl basin`` does and, instead of
rewriting params.yaml, queues ``dvc exp run --queue`` with the choice as ``-S`` overrides
(:func:`queue_overrides`, from :attr:`gwtl.sources.station_choice.BasinChoice.params_values`). ``dvc queue start -j N`` runs
the queue. A queued experiment runs in a copy of the project under ``.dvc/tmp/exps/``, so every path setting
that is relative to the project root and points outside it would name nothing there: ``data.source: auto``
(whose ``../shared/data/ehyd`` fallback is such a path), a relative mirror folder, ``library.external`` and
``finetune.pretrained`` outside the project. The overrides therefore give them as absolute paths (the mirror
the choice was read from, or ``download``). The queue's workers inherit the environment of
``dvc queue start``, not of ``dvc exp run --queue``, so ``GWTL_EHYD_MIRROR`` is not relied upon.

``gwtl areas`` (:func:`area_rows`, :func:`areas_text`, :func:`areas_csv`) reads ``dvc exp show --json``
and lists every experiment (workspace and baseline included, queued, running and failed ones with their
state) with its basin and the test NSE of TL and IT at each lead (``metrics.json`` keys
``test.lead<h>.nse_mean.tl`` etc.) and their difference.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gwtl.params import ParamsError, validate
from gwtl.pipeline.text_table import aligned

PARAMS_FILE = "params.yaml"
METRICS_FILE = "metrics.json"
STATS = ("nse_mean", "nse_median")
MODELS = ("tl", "it")
NAME_COLUMNS = ["experiment", "rev", "state", "basin.name", "basin.area", "wells"]
START_HINT = ("Start the queue with `dvc queue start -j 1` (one experiment at a time: each experiment's stages "
              "already use every core through gwtl.pipeline.parallel), follow it with `dvc queue status` and "
              "`dvc queue logs NAME`, and compare the areas with `gwtl areas` or `dvc exp show`.")


class AreasError(ValueError):
    """A queue or summary that cannot be made; the message names the problem and the fix."""


# --------------------------------------------------------------------------- dvc


def _dvc(args: list[str], root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True)


def require_on_path(tool: str, use: str) -> None:
    """Raise :class:`AreasError` unless ``tool`` is on PATH; the message says what ``use`` of it failed and the fix."""
    if shutil.which(tool) is None:
        fix = "install git" if tool == "git" else "activate the project's environment (source .venv/bin/activate)"
        raise AreasError(f"{use}, but `{tool}` is not on PATH; {fix}")


def exp_show(root: Path, all_commits: bool = False) -> list:
    """The parsed output of ``dvc exp show --json`` in ``root`` (``-A`` with ``all_commits``)."""
    require_on_path("dvc", "listing the experiments runs `dvc exp show`")
    done = _dvc(["exp", "show", "--json", *(["--all-commits"] if all_commits else [])], root)
    if done.returncode != 0:
        raise AreasError(f"`dvc exp show --json` failed in {root}: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout)


# --------------------------------------------------------------------------- queue


def check_project(root: Path) -> None:
    """Raise :class:`AreasError` unless ``root`` can queue DVC experiments.

    It needs ``git`` and ``dvc`` on PATH, a git repository with at least one commit
    (an experiment is a commit on top of it) and a DVC project (a ``.dvc`` folder).
    """
    for tool in ("git", "dvc"):
        require_on_path(tool, "--queue runs `dvc exp run --queue`")
    git = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True)
    if git.returncode != 0:
        raise AreasError(f"{root} is not inside a git repository, and a DVC experiment is a git commit; "
                         "run `git init`, `dvc init` and commit the project (git add -A && git commit -m start)")
    head = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=root, capture_output=True)
    if head.returncode != 0:
        raise AreasError(f"the git repository at {git.stdout.strip()} has no commit yet, and an experiment "
                         "is a commit on top of one; commit the project first (git add -A && git commit -m start)")
    if not (root / ".dvc").is_dir():
        raise AreasError(f"{root} is not a DVC project (no .dvc folder); run `dvc init` there and commit it")


def used_names(show: list) -> set[str]:
    """Names of the experiments in a ``dvc exp show --json`` output, queued, running and failed ones included."""
    names = set()
    for entry in show:
        for group in entry.get("experiments") or []:
            names.add(group.get("name"))
            names.update(rev.get("name") for rev in group.get("revs") or [])
    return names - {None}


def check_name(root: Path, name: str) -> None:
    """Raise :class:`AreasError` if ``name`` is taken by an experiment (any commit) or a queued task.

    ``dvc exp run --queue`` itself queues a second task of the same name without a word.
    """
    listed = _dvc(["exp", "list", "--all-commits", "--name-only"], root)
    taken = set(listed.stdout.split()) | used_names(exp_show(root))
    if name in taken:
        raise AreasError(f"an experiment or queued task named {name!r} exists already (dvc queue status, "
                         f"dvc exp list); choose another with --name, or remove it first "
                         f"(dvc exp remove {name}, or dvc queue remove {name})")


def parse_sets(sets: list[str]) -> dict[str, tuple[str, Any]]:
    """``-S KEY=VALUE`` texts by dotted key: ``(text, value)``, the value read as ``dvc exp run -S`` reads it.

    DVC reads ``-S`` with Hydra's override grammar (Hydra comes with DVC), so the same parser is used here.
    Adding (``+key``) or deleting (``~key``) keys is refused: params.yaml must keep its keys.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = {}
    for text in sets:
        try:
            override = parser.parse_override(text)
        except HydraException as err:
            raise AreasError(f"-S {text}: not KEY=VALUE as dvc exp run -S reads it ({err})") from None
        if override.is_add() or override.is_delete() or override.is_force_add():
            raise AreasError(f"-S {text}: only existing keys of {PARAMS_FILE} can be set (KEY=VALUE, "
                             "without + or ~)")
        parsed[override.key_or_group] = (text, override.value())
    return parsed


def _set(params: dict, dotted: str, value: Any, text: str) -> None:
    *path, key = dotted.split(".")
    section = params
    for i, part in enumerate(path):
        if not isinstance(section.get(part), dict):
            raise AreasError(f"-S {text}: {PARAMS_FILE} has no section {'.'.join(path[:i + 1])}; "
                             f"its sections: {', '.join(section)}")
        section = section[part]
    if key not in section:
        raise AreasError(f"-S {text}: {PARAMS_FILE} has no key {dotted}; the keys of "
                         f"{'.'.join(path) or 'the file'}: {', '.join(section)}")
    section[key] = value


def check_sets(params: dict, sets: list[str]) -> None:
    """Raise :class:`AreasError` if a ``-S`` text cannot be read or names no key of ``params``."""
    trial = copy.deepcopy(params)
    for dotted, (text, value) in parse_sets(sets).items():
        _set(trial, dotted, value, text)


def hydra_value(value: Any) -> str:
    """``value`` (str, int, float, bool or a list of them) written for ``dvc exp run -S`` (Hydra grammar)."""
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        # Hydra reads a backslash as an escape only in a run of them before a quote (or the closing quote)
        return '"' + re.sub(r'(\\*)("|$)', lambda m: 2 * m[1] + ("\\" + m[2] if m[2] else ""), value) + '"'
    return str(value)


def _outside(root: Path, path: str) -> bool:
    """Whether ``path`` is relative and, from ``root``, points outside it."""
    return not Path(path).is_absolute() and not (root / path).resolve().is_relative_to(root.resolve())


def portable_paths(params: dict, root: Path, data_source: str) -> tuple[dict[str, Any], list[str]]:
    """Path settings to give a queued experiment (which runs under ``.dvc/tmp/exps/``), with a note on each.

    ``data.source`` becomes ``data_source`` (the absolute mirror folder the basin was chosen from, or
    ``download``); ``library.external`` folders and ``finetune.pretrained`` relative to ``root`` but
    outside it become absolute.
    """
    values, notes = {}, []
    where = "a queued experiment runs in a copy of the project under .dvc/tmp/exps/"
    if params["data"]["source"] != data_source:
        values["data.source"] = data_source
        notes.append(f"data.source: {params['data']['source']} -> {data_source} (the files the basin was chosen "
                     f"from; {where}, where auto's ../shared/data/ehyd and relative folders name nothing)")
    external = params["library"]["external"]
    if any(_outside(root, folder) for folder in external):
        values["library.external"] = [str((root / f).resolve()) if _outside(root, f) else f for f in external]
        notes.append(f"library.external: {external} -> {values['library.external']} ({where})")
    pretrained = params["finetune"]["pretrained"]
    if _outside(root, pretrained):
        values["finetune.pretrained"] = str((root / pretrained).resolve())
        notes.append(f"finetune.pretrained: {pretrained} -> {values['finetune.pretrained']} ({where})")
    return values, notes


def queue_overrides(choice, params: dict, root: Path, sets: list[str]) -> tuple[list[str], dict, list[str]]:
    """The ``-S`` overrides of ``dvc exp run`` for ``choice`` (a :class:`gwtl.sources.station_choice.BasinChoice`), the
    experiment's params that result, and notes.

    The basin's values come first, then the portable paths (:func:`portable_paths`), then the user's
    ``sets``, each of which replaces an override of the same key (so ``-S basin.wells=[...]`` can narrow
    the choice). The params that result must pass :func:`gwtl.params.validate`.
    """
    paths, notes = portable_paths(params, root, choice.data_source)
    overrides, result = {}, copy.deepcopy(params)
    for dotted, value in {**choice.params_values, **paths}.items():
        overrides[dotted] = f"{dotted}={hydra_value(value)}"
        _set(result, dotted, value, overrides[dotted])
    for dotted, (text, value) in parse_sets(sets).items():
        overrides[dotted] = text
        _set(result, dotted, value, text)
    try:
        validate(result)
    except ParamsError as err:
        raise AreasError(f"with these -S values the experiment's {PARAMS_FILE} would not be valid, so nothing "
                         f"was queued:\n{err}") from None
    return list(overrides.values()), result, notes


def queue_basin(choice, params: dict, root: Path, name: str, sets: list[str]) -> str:
    """Queue ``dvc exp run`` of ``choice`` in ``root`` as experiment ``name``; return what was done."""
    overrides, result, notes = queue_overrides(choice, params, root, sets)
    command = ["dvc", "exp", "run", "--queue", "--name", name, *(a for o in overrides for a in ("-S", o))]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise AreasError(f"`dvc exp run --queue` failed: {done.stderr.strip() or done.stdout.strip()}")
    lines = [f"queued experiment {name} of area {choice.area} {choice.name} ({len(result['basin']['wells'])} wells); "
             f"{PARAMS_FILE} not changed:", "  " + shlex.join(command)]
    lines += [f"Note: {n}" for n in notes]
    return "\n".join([*lines, START_HINT])


# --------------------------------------------------------------------------- summary


def _lead(key: str) -> int | None:
    found = re.fullmatch(r"lead(\d+)", key)
    return int(found.group(1)) if found else None


def _row(experiment: str, entry: dict, state: str | None) -> dict:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get(PARAMS_FILE) or {}).get("data") or {}
    read = (data.get("metrics") or {}).get(METRICS_FILE) or {}
    error = entry.get("error") or read.get("error")
    if state in (None, "success"):
        metrics = read.get("data") or {}
        state = "done" if metrics else "no metrics"
    else:  # queued, running, failed: metrics.json is git-tracked, so DVC shows the baseline's
        metrics = {}
    basin = params.get("basin") or {}
    row = {"experiment": experiment, "rev": "" if experiment == "workspace" else str(entry.get("rev", ""))[:7],
           "state": state,
           "basin.name": basin.get("name"), "basin.area": basin.get("area"),
           "wells": len(basin["wells"]) if isinstance(basin.get("wells"), list) else None,
           "leads": sorted({*(params.get("forecast") or {}).get("leads", []),
                            *filter(None, map(_lead, metrics.get("test") or {}))}),
           "note": error.get("msg", "") if isinstance(error, dict) else ""}
    for lead, scores in (metrics.get("test") or {}).items():
        for stat in STATS:
            values = (scores or {}).get(stat) or {}
            for model in MODELS:
                row[f"test.{lead}.{stat}.{model}"] = values.get(model)
            if all(isinstance(values.get(m), (int, float)) for m in MODELS):
                row[f"test.{lead}.{stat}.tl_minus_it"] = round(values["tl"] - values["it"], 4)
    return row


def area_rows(show: list) -> list[dict]:
    """One row per experiment of a ``dvc exp show --json`` output, in its order (workspace, baseline, ...).

    Each row: ``experiment`` (workspace, the baseline's branch or short rev, or the experiment's name),
    ``rev``, ``state`` (done, queued, running, failed, or no metrics), the basin's ``basin.name``,
    ``basin.area`` and number of ``wells``, ``leads``, ``note`` (an error of DVC) and
    ``test.lead<h>.<nse_mean|nse_median>.<tl|it|tl_minus_it>`` where the metrics have them.
    """
    rows = []
    for entry in show:
        label = "workspace" if entry.get("rev") == "workspace" else entry.get("name") or entry["rev"][:7]
        rows.append(_row(label, entry, None))
        for group in entry.get("experiments") or []:
            state = (group.get("executor") or {}).get("state")
            for rev in group.get("revs") or []:
                rows.append(_row(group.get("name") or rev.get("name") or rev["rev"][:7], rev, state))
    return rows


def _columns(rows: list[dict]) -> list[str]:
    leads = sorted({lead for row in rows for lead in row["leads"]})
    return NAME_COLUMNS + [f"test.lead{lead}.{stat}.{what}" for lead in leads for stat in STATS
                           for what in (*MODELS, "tl_minus_it")] + ["note"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def areas_csv(rows: list[dict]) -> str:
    """The rows as CSV: the name columns, then every lead's TL, IT and TL-IT NSE mean and median, then note."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = _columns(rows)
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()


def areas_text(rows: list[dict]) -> str:
    """The rows for the terminal: one table of the experiments, then one table of test NSE per lead."""
    names = [[_cell(row[c]) or "-" for c in NAME_COLUMNS] for row in rows]
    lines = aligned(NAME_COLUMNS, names, right=lambda i: i >= 4)
    notes = [f"  {row['experiment']}: {row['note']}" for row in rows if row["note"]]
    if notes:
        lines += ["", "Notes (from dvc exp show):", *notes]
    for lead in sorted({lead for row in rows for lead in row["leads"]}):
        header = ["experiment", *(f"{label} {model}" for label in ("mean", "median")
                                  for model in ("TL", "IT", "TL-IT"))]
        body = [[row["experiment"], *(_cell(row.get(f"test.lead{lead}.{stat}.{what}")) or "-"
                                      for stat in STATS for what in (*MODELS, "tl_minus_it"))] for row in rows]
        lines += ["", f"Test NSE at lead {lead} (mean and median over the wells):",
                  *aligned(header, body, right=lambda i: i >= 1)]
    return "\n".join(lines)
