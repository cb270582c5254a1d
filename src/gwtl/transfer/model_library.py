"""A library of pre-trained models: basin, clusters of wells and other basins; each well picks the closest.

One model pre-trained on the basin signal may not serve a large or diverse
basin. The library holds several pre-trained models (*members*) and each well
is fine-tuned from the member whose pre-training signal it follows most
closely:

``basin``
    the basin model of the ``pretrain`` stage (``models/pretrain``).
``cluster_<n>``
    one model per group of wells. The listed wells are grouped into
    ``library.clusters`` clusters by :func:`cluster_wells`; a cluster's signal
    is the mean of its wells' standardized anomalies (training mean and
    standard deviation, as :mod:`gwtl.data.prepare` builds the basin signal). Its
    model is tuned and trained by :func:`gwtl.transfer.pretrain.run_pretrain`, the
    code of the ``pretrain`` stage, with ``library.trials`` trials over
    ``pretrain.search``, from the source of ``pretrain.source``: the cluster's
    signal (``basin``) or the cluster's wells pooled (``wells``). The basin
    member is whatever ``models/pretrain`` holds, so the library holds models
    of either source.
``external_<name>``
    the pre-trained model of another basin: a folder of ``library.external``
    holding another project's ``models/pretrain`` (cross-basin transfer). Its
    inputs are matched by role (:func:`gwtl.transfer.pretrain.align_features`).

Only the training period decides anything: the clustering uses training-month
anomalies only, and so does the choice of member (:func:`closeness`).

Clustering rule
    Correlation of the wells' standardized anomalies over the training months
    (pairwise-complete months, at least :data:`MIN_MONTHS` of them; a pair with
    fewer counts as uncorrelated), distance ``1 - r``, agglomerative clustering
    with average linkage (deterministic). Average linkage splits off single
    outlying wells first, so the tree is cut at the smallest number of
    clusters that holds ``library.clusters`` clusters of at least
    :data:`MIN_WELLS` wells (:func:`cut_tree`). Then each cluster of fewer than
    :data:`MIN_WELLS` wells is merged into the large cluster whose wells it is
    most correlated with on average (the average-linkage nearest large
    cluster; :func:`merge_small`). Clusters are numbered by size, largest first
    (ties: the one holding the earlier well of ``basin.wells``).

Choice of member (:func:`closeness`)
    Per well, the Pearson correlation over the training months between the
    well's standardized anomaly and each member's signal; the well is
    fine-tuned from the member with the highest correlation (ties: the
    earlier member, the basin model first). A signal that contains the well
    itself (the basin signal, the well's own cluster) is taken without the
    well (leave-one-out, as ``corr_basin`` of ``wells.csv``), so a well does
    not pick a member for correlating with itself. An external member's
    signal is the observed series of its ``predictions.csv`` (its basin
    signal, lead 1) over the months both basins have.

External models and DVC
    A folder outside the project cannot be listed in ``dvc.yaml`` through
    params (DVC 3.67 cannot interpolate a list into ``deps``). The ``library``
    stage therefore copies each external folder into
    ``models/library/external_<name>/`` (an output of the stage, so
    ``finetune_library`` depends on exactly what was used) and records the
    SHA-256 of its ``model.pt`` in ``members.csv``; the stage reruns when
    ``library.external`` changes. When an external model is rebuilt in place,
    rerun ``dvc repro -f library`` (or add its absolute path to the stage's
    ``deps``: DVC 3.67 tracks absolute paths outside the repository).

Outputs
-------
``models/library/`` (written to a temporary sibling and renamed into place)
    ``cluster_<n>/``  as ``models/pretrain/`` (``model.pt``, ``config.json``,
                      ``trials.csv``, ``history.csv``, ``predictions.csv`` with
                      ``well`` = ``cluster_<n>``, ``cost.json``).
    ``external_<name>/`` copies of the external folders' files.
    ``clusters.csv``  ``well, cluster``.
    ``members.csv``   ``name, kind`` (basin, cluster, external), ``path`` (the
                      member's folder), ``wells`` (space-separated; empty for
                      external), ``source`` (the external folder as given),
                      ``sha256`` (of ``model.pt``).
    ``signals.csv``   ``month`` and one column per member: its pre-training
                      signal (the external ones from their ``predictions.csv``).
``models/tl_library/`` (:func:`run_finetune_library`)
    ``<well>/``       as ``models/finetune/<well>/``, forecasts named ``tl_library``.
    ``choices.csv``   ``well, member, correlation`` (of the chosen member) and
                      one column ``r_<member>`` per member.
"""

from __future__ import annotations

import copy
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering

from gwtl.data.basin_signal import anomalies, basin_signal, leave_one_out_correlation, training_stats
from gwtl.data.predictions import read_predictions, write_predictions
from gwtl.data.processed import Processed, as_processed
from gwtl.data.samples import period, well_samples
from gwtl.params import as_params
from gwtl.pipeline.atomic import atomic_folder, sha256
from gwtl.pipeline.parallel import map_in_processes
from gwtl.transfer.finetune import finetune_wells
from gwtl.transfer.pretrain import align_features, load_pretrained, run_pretrain

MIN_WELLS = 3  # smallest cluster kept; smaller ones merge into the nearest
MIN_MONTHS = 24  # training months two wells need in common for their correlation to count


# ----------------------------------------------------------------------------- clusters


def standardized(levels: pd.DataFrame, train: list[str]) -> pd.DataFrame:
    """Anomalies of every well standardized with its training mean and standard deviation (all months)."""
    return anomalies(levels, training_stats(levels, train))


def training_rows(frame: pd.DataFrame | pd.Series, train: list[str]):
    """The rows of ``frame`` in the training period."""
    lo, hi = period(train)
    return frame.loc[lo:hi]


def correlation_matrix(z: pd.DataFrame, train: list[str]) -> pd.DataFrame:
    """Pearson correlation between wells over the training months (pairwise complete; too few months -> 0)."""
    corr = training_rows(z, train).corr(min_periods=MIN_MONTHS)
    return corr.fillna(0.0)


def merge_small(labels: np.ndarray, corr: np.ndarray, min_wells: int = MIN_WELLS) -> np.ndarray:
    """Merge every cluster of fewer than ``min_wells`` wells into its nearest large cluster.

    Each small cluster joins the cluster of at least ``min_wells`` wells with
    the highest mean correlation between their wells (average linkage; ties:
    the lower label). Small clusters never join each other, so the number of
    large clusters does not change; with no large cluster all wells form one.
    """
    labels = np.asarray(labels).copy()
    names, sizes = np.unique(labels, return_counts=True)
    large = names[sizes >= min_wells]
    if len(large) == 0:
        return np.zeros_like(labels)
    merged = labels.copy()
    for small in names[sizes < min_wells]:
        inside = labels == small
        links = [corr[np.ix_(inside, labels == other)].mean() for other in large]
        merged[inside] = large[int(np.argmax(links))]
    return merged


def cut_tree(distance: np.ndarray, n_clusters: int, min_wells: int = MIN_WELLS) -> np.ndarray:
    """Labels of the average-linkage tree cut where it first holds ``n_clusters`` clusters of ``min_wells``.

    The tree is cut into ``k = 2, 3, ...`` clusters until
    ``n_clusters`` of them have at least ``min_wells`` wells (average linkage
    splits off single outlying wells first, so the plain cut at ``n_clusters``
    would leave one big cluster and outliers). If no cut reaches that, the cut
    with the most such clusters is taken (the first of them).
    """
    n = len(distance)
    best, best_big = np.zeros(n, dtype=int), 1 if n >= min_wells else 0
    for k in range(2, n + 1):
        labels = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(distance)
        big = int((np.bincount(labels) >= min_wells).sum())
        if big > best_big:
            best, best_big = labels, big
        if big >= n_clusters:
            break
    return best


def cluster_wells(levels: pd.DataFrame, train: list[str], n_clusters: int) -> pd.Series:
    """Cluster number of every well (column of ``levels``) from training-period data only.

    Parameters
    ----------
    levels : DataFrame
        Monthly levels, one column per well (``data/processed/levels.csv``).
    train : pair of "YYYY-MM"
        The training period; no other month is read.
    n_clusters : int
        Clusters of at least :data:`MIN_WELLS` wells asked for
        (``library.clusters``); see :func:`cut_tree` and :func:`merge_small`.
        Fewer result when the wells do not allow that many (one cluster of
        all wells when there are fewer than ``2 * MIN_WELLS``).

    Returns
    -------
    Series
        Index the wells in column order, values ``0 .. k-1`` numbered by size.
    """
    wells = list(levels.columns)
    if n_clusters < 1:
        raise ValueError(f"library.clusters is {n_clusters}; it must be at least 1")
    if n_clusters == 1 or len(wells) < 2:
        return pd.Series(0, index=pd.Index(wells, name="well"), name="cluster")
    corr = correlation_matrix(standardized(levels, train), train).loc[wells, wells].to_numpy()
    distance = np.clip(1.0 - corr, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    labels = merge_small(cut_tree(distance, n_clusters), corr)
    names, first, sizes = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-sizes[i], first[i]))
    number = {names[i]: n for n, i in enumerate(order)}
    return pd.Series([number[x] for x in labels], index=pd.Index(wells, name="well"), name="cluster")


def cluster_processed(data: Processed, z: pd.DataFrame, wells: list[str]) -> Processed:
    """``data`` whose basin signal is the signal of ``wells`` only (for :func:`run_pretrain`).

    ``z`` holds the wells' standardized anomalies (:func:`standardized`).
    """
    signal = basin_signal(z[list(wells)])
    return replace(data, basin=signal)


# ----------------------------------------------------------------------------- members


@dataclass
class External:
    """An external pre-trained model folder of ``library.external``."""

    name: str
    source: Path


def external_name(folder: str | Path) -> str:
    """A member name for an external folder: the project's folder name for ``<project>/models/pretrain``."""
    path = Path(folder).resolve()
    name = path.parent.parent.name if path.name == "pretrain" and path.parent.name == "models" else path.name
    return "external_" + (re.sub(r"[^A-Za-z0-9_-]+", "_", name) or "model")


def check_externals(params: dict, data: Processed) -> list[External]:
    """The external folders of ``library.external``, checked before any training.

    Each must hold ``model.pt`` (checked with params.yaml) and
    ``predictions.csv`` of a pre-trained model whose inputs match this basin's
    by role and whose leads, target and mode are those of params.yaml
    (:func:`gwtl.transfer.pretrain.align_features`).
    """
    found = []
    for folder in params["library"]["external"]:
        path = Path(folder)
        if not (path / "predictions.csv").exists():
            raise FileNotFoundError(f"library.external: {path / 'predictions.csv'} not found; name the "
                                    "models/pretrain folder of another project whose pretrain stage has run")
        _, info = load_pretrained(path)
        samples = well_samples(params, data, "basin", info["window"])
        align_features(info, samples, params, path)
        found.append(External(external_name(path), path))
    names = [e.name for e in found]
    if len(set(names)) != len(names):
        raise ValueError(f"library.external: two folders give the same member name ({names}); "
                         "the folder names of the projects must differ")
    return found


def external_signal(folder: str | Path) -> pd.Series:
    """The pre-training signal of a pre-trained model folder: observed series of its predictions, lead 1."""
    table = read_predictions(Path(folder) / "predictions.csv")
    first = table[table["lead"] == table["lead"].min()].dropna(subset=["observed"])
    return first.groupby("month")["observed"].first().rename(None)


def _copy_external(external: External, to: Path) -> None:
    to.mkdir(parents=True)
    for item in sorted(external.source.iterdir()):
        if item.is_file():
            shutil.copy2(item, to / item.name)


@dataclass
class Library:
    """What :func:`build_library` wrote."""

    out: Path
    clusters: pd.Series
    members: pd.DataFrame
    signals: pd.DataFrame


def library_params(params: dict) -> dict:
    """``params`` with ``pretrain.trials`` set to ``library.trials`` (cluster models' search)."""
    out = copy.deepcopy(params)
    out["pretrain"]["trials"] = params["library"]["trials"]
    return out


def _pretrain_cluster(task: tuple[dict, Processed, list[str], Path]) -> dict:
    """Pre-train one cluster's model (in a worker process) from its signal or its pooled wells; its cost."""
    params, data, wells, out = task
    return run_pretrain(params, data, out, log=None, wells=wells).cost


def build_library(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
                  out: str | Path = "models/library", pretrain: str | Path = "models/pretrain",
                  log=print) -> Library:
    """Cluster the wells, pre-train one model per cluster, copy the external models; write ``out``.

    Parameters
    ----------
    params : dict or path
        Uses ``basin.wells``, ``split``, ``forecast``, ``train``,
        ``pretrain.search``/``seed`` and ``library``.
    processed : path or Processed
        The prepared data.
    out : path
        The library folder (see the module docstring).
    pretrain : path
        The basin model (``models/pretrain``), a member of the library.
    log : callable or None
        Receives progress lines.
    """
    params = as_params(params)
    data = as_processed(processed)
    out, pretrain = Path(out), Path(pretrain)
    externals = check_externals(params, data)
    load_pretrained(pretrain)  # the basin member must exist
    wells = data.listed_wells(params)
    train = params["split"]["train"]
    clusters = cluster_wells(data.levels[wells], train, params["library"]["clusters"])
    z = standardized(data.levels[wells], train)
    rows = [{"name": "basin", "kind": "basin", "path": str(pretrain), "wells": " ".join(wells), "source": "",
             "sha256": sha256(pretrain / "model.pt")}]
    signals = {"basin": basin_signal(z)["basin"]}
    groups = {f"cluster_{n}": list(clusters.index[clusters == n]) for n in sorted(clusters.unique())}
    with atomic_folder(out) as tmp:
        tasks = [(library_params(params), cluster_processed(data, z, members), members, tmp / name)
                 for name, members in groups.items()]
        for (name, members), cost in zip(groups.items(), map_in_processes(_pretrain_cluster, tasks)):
            if log is not None:
                log(f"{name}: {len(members)} wells, {cost['trials']} trials, {cost['cpu_s']:.0f} s CPU")
            table = read_predictions(tmp / name / "predictions.csv").assign(well=name)
            write_predictions(table, tmp / name / "predictions.csv")
            rows.append({"name": name, "kind": "cluster", "path": str(out / name), "wells": " ".join(members),
                         "source": "", "sha256": sha256(tmp / name / "model.pt")})
            signals[name] = basin_signal(z[members])["basin"]
        for external in externals:
            _copy_external(external, tmp / external.name)
            rows.append({"name": external.name, "kind": "external", "path": str(out / external.name), "wells": "",
                         "source": str(external.source), "sha256": sha256(tmp / external.name / "model.pt")})
            signals[external.name] = external_signal(tmp / external.name).reindex(z.index)
        members = pd.DataFrame(rows, columns=["name", "kind", "path", "wells", "source", "sha256"])
        signal_table = pd.DataFrame(signals, index=z.index)
        clusters.reset_index().to_csv(tmp / "clusters.csv", index=False)
        members.to_csv(tmp / "members.csv", index=False)
        signal_table.to_csv(tmp / "signals.csv", float_format="%.6g", date_format="%Y-%m-%d")
    return Library(out, clusters, members, signal_table)


def read_library(folder: str | Path = "models/library") -> Library:
    """Read a library written by :func:`build_library`."""
    folder = Path(folder)
    for name in ("clusters.csv", "members.csv", "signals.csv"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} not found; run `dvc repro library` first")
    clusters = pd.read_csv(folder / "clusters.csv", dtype={"well": str}).set_index("well")["cluster"]
    members = pd.read_csv(folder / "members.csv", dtype=str, keep_default_na=False)
    signals = pd.read_csv(folder / "signals.csv", parse_dates=["month"], index_col="month")
    return Library(folder, clusters, members, signals)


# ----------------------------------------------------------------------------- choice and fine-tuning


def closeness(z: pd.DataFrame, library: Library, train: list[str], wells: list[str] | None = None) -> pd.DataFrame:
    """Correlation over the training months of each well (rows) with each member's signal (columns).

    ``z`` holds the standardized anomalies of at least every well of the
    library's members; rows are ``wells`` (default: all columns of ``z``). A
    member whose signal contains the well (its ``wells``) is taken without it:
    the mean of its other wells with a value that month.
    """
    z = training_rows(z, train)
    wells = list(z.columns) if wells is None else [str(w) for w in wells]
    out = {}
    for member in library.members.itertuples():
        signal = training_rows(library.signals[member.name], train).reindex(z.index)
        inside = member.wells.split()
        missing = [w for w in inside if w not in z.columns]
        if missing:
            raise ValueError(f"library member {member.name} holds wells {missing[:5]} that the prepared data "
                             "lacks; rerun `dvc repro library`")
        without = leave_one_out_correlation(z[inside], train)
        out[member.name] = {well: without[well] if well in inside else z[well].corr(signal) for well in wells}
    table = pd.DataFrame(out)
    table.index.name = "well"
    return table


def choose_members(corr: pd.DataFrame) -> pd.DataFrame:
    """``well, member, correlation`` and ``r_<member>`` columns: the closest member of each well."""
    filled = corr.fillna(-np.inf)
    chosen = filled.columns[np.argmax(filled.to_numpy(), axis=1)]  # first maximum: earlier member wins ties
    table = pd.DataFrame({"well": corr.index, "member": chosen,
                          "correlation": [corr.at[w, m] for w, m in zip(corr.index, chosen)]})
    return pd.concat([table, corr.add_prefix("r_").reset_index(drop=True)], axis=1)


def library_choices(params: dict, data: Processed, library: Library) -> pd.DataFrame:
    """The member each well of ``basin.wells`` is fine-tuned from (see :func:`choose_members`)."""
    wells = data.listed_wells(params)
    # A member's well that the prepared data lacks is named by closeness (the library is stale).
    members = [w for m in library.members["wells"] for w in m.split() if w in data.levels.columns]
    needed = list(dict.fromkeys(wells + members))
    z = standardized(data.levels[needed], params["split"]["train"])
    return choose_members(closeness(z, library, params["split"]["train"], wells))


@dataclass
class LibraryFinetune:
    """What :func:`run_finetune_library` wrote."""

    out: Path
    choices: pd.DataFrame
    predictions: pd.DataFrame
    cost: pd.DataFrame


def run_finetune_library(params: dict | str | Path, processed: str | Path | Processed = "data/processed",
                         library: str | Path = "models/library", out: str | Path = "models/tl_library",
                         log=print) -> LibraryFinetune:
    """Fine-tune every well from its closest library member; write ``out`` (see the module docstring).

    Each well runs :func:`gwtl.transfer.finetune.run_finetune` with the chosen member's
    folder, so fine-tuning is exactly that of the TL-LSTM (``finetune.*``),
    only the starting model differs; forecasts are named ``tl_library``. Wells
    run side by side in worker processes (:mod:`gwtl.pipeline.parallel`), as do the
    cluster models in :func:`build_library`.
    """
    params = as_params(params)
    data = as_processed(processed)
    lib = read_library(library)
    for member in lib.members.itertuples():
        if not (Path(member.path) / "model.pt").exists():
            raise FileNotFoundError(f"library member {member.name}: {member.path}/model.pt not found; "
                                    "run `dvc repro library` (and pretrain) first")
    choices = library_choices(params, data, lib)
    paths = dict(zip(lib.members["name"], lib.members["path"]))
    out = Path(out)
    if log is not None:
        for row in choices.itertuples():
            log(f"well {row.well}: from {row.member} (r = {row.correlation:.3f})")
    with atomic_folder(out) as tmp:
        predictions, cost = finetune_wells(params, data, {row.well: paths[row.member] for row in choices.itertuples()},
                                           tmp, model="tl_library", log=log)
        choices.to_csv(tmp / "choices.csv", index=False, float_format="%.4f")
    cost.insert(1, "member", choices.set_index("well").loc[cost["well"], "member"].to_numpy())
    return LibraryFinetune(out, choices, predictions, cost)
