"""Library of pre-trained models on a tiny synthetic basin of two groups of wells."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from gwtl.data.samples import well_samples
from gwtl.transfer.model_library import (build_library, choose_members, cluster_wells, library_choices, merge_small,
                          read_library, run_finetune_library)
from gwtl.data.predictions import COLUMNS, read_predictions
from gwtl.data.processed import Processed
from gwtl.models.lstm import build_model
from gwtl.models.train import set_threads
from gwtl.transfer.ensemble import load_members
from gwtl.transfer.finetune import run_finetune
from gwtl.transfer.pretrain import align_features, run_pretrain

from synthetic import GAUGE, synthetic_processed, tiny_params

GROUP_A = [900001, 900002, 900003]
GROUP_B = [900004, 900005, 900006]
WELLS = GROUP_A + GROUP_B
TRAIN_END = "2010-12-01"


@pytest.fixture(autouse=True)
def one_thread():
    set_threads(1)


def two_groups(seed: int = 0) -> Processed:
    """Wells of group A follow the rain-driven signal of ``synthetic_processed``; group B a slow cycle of its own."""
    data = synthetic_processed(seed, wells=WELLS)
    rng = np.random.default_rng(seed + 10)
    months = data.levels.index
    t = np.arange(len(months))
    cycle = np.sin(2 * np.pi * t / 53) + 0.5 * np.sin(2 * np.pi * t / 17 + 1)
    for k, well in enumerate(GROUP_B):
        level = 250 + 5 * k + (1 + 0.3 * k) * cycle + rng.normal(0, 0.08, len(months))
        level[rng.choice(len(months), 4, replace=False)] = np.nan
        data.levels[str(well)] = level
    train = data.levels.loc[:TRAIN_END]
    z = (data.levels - train.mean()) / train.std()
    data.basin = pd.DataFrame({"basin": z.mean(axis=1), "n_wells": z.notna().sum(axis=1)}, index=months)
    data.wells = data.wells.assign(train_mean=train.mean().to_numpy(), train_std=train.std().to_numpy())
    return data


def library_params(external=()) -> dict:
    params = tiny_params(WELLS)
    params["library"] = {"clusters": 2, "trials": 1, "external": [str(e) for e in external]}
    params["pretrain"]["trials"] = 1
    return params


def other_basin(tmp_path, gauge: int = 211870, forcings=None):
    """A pre-trained model of 'another basin': other levels, its discharge named after its own gauge."""
    other = synthetic_processed(seed=7)
    other.forcings = other.forcings.rename(columns={f"discharge_{GAUGE}": f"discharge_{gauge}"})
    params = tiny_params()
    params["basin"]["gauges"] = [gauge]
    params["forecast"]["forcings"] = forcings or ["precipitation", f"discharge_{gauge}"]
    folder = tmp_path / "g380" / "models" / "pretrain"
    run_pretrain(params, other, folder, log=None)
    return folder


def test_two_groups_give_two_clusters():
    data = two_groups()
    clusters = cluster_wells(data.levels, ["1990-01", "2010-12"], 2)
    a, b = clusters[[str(w) for w in GROUP_A]], clusters[[str(w) for w in GROUP_B]]
    assert a.nunique() == 1 and b.nunique() == 1 and a.iloc[0] != b.iloc[0]
    assert (cluster_wells(data.levels, ["1990-01", "2010-12"], 1) == 0).all()
    more = cluster_wells(data.levels, ["1990-01", "2010-12"], 7)  # as many as the wells allow
    assert more.equals(clusters)


def test_small_clusters_join_the_nearest_large_one():
    corr = np.array([[1.0, 0.9, 0.9, 0.1, 0.8],
                     [0.9, 1.0, 0.9, 0.1, 0.8],
                     [0.9, 0.9, 1.0, 0.1, 0.8],
                     [0.1, 0.1, 0.1, 1.0, 0.2],
                     [0.8, 0.8, 0.8, 0.2, 1.0]])
    merged = merge_small(np.array([0, 0, 0, 1, 2]), corr, min_wells=3)
    assert merged.tolist() == [0, 0, 0, 0, 0]  # the two singletons do not form a cluster together
    assert merge_small(np.array([0, 1, 2, 3, 4]), corr).tolist() == [0] * 5


@pytest.mark.slow
def test_clusters_and_choices_use_training_data_only(tmp_path):
    params, data = library_params(), two_groups()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    lib = build_library(params, data, tmp_path / "library", tmp_path / "pretrain", log=None)
    choices = library_choices(params, data, lib)

    changed = two_groups()
    later = changed.levels.index > TRAIN_END
    rng = np.random.default_rng(1)
    changed.levels.loc[later] = rng.normal(0, 3, changed.levels.loc[later].shape) + 100  # validation and test
    changed_lib = copy.deepcopy(lib)
    changed_lib.signals.loc[later] = -changed_lib.signals.loc[later]
    pd.testing.assert_series_equal(cluster_wells(changed.levels, params["split"]["train"], 2), lib.clusters)
    pd.testing.assert_frame_equal(library_choices(params, changed, changed_lib), choices)

    trained = two_groups()  # a training-period change does move the correlations, so the test can fail
    trained.levels.loc[:"2000-12-01", str(GROUP_B[0])] *= -1
    assert not library_choices(params, trained, lib).equals(choices)


@pytest.mark.slow
def test_wells_choose_their_own_cluster(tmp_path):
    params, data = library_params(), two_groups()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    lib = build_library(params, data, tmp_path / "library", tmp_path / "pretrain", log=None)
    choices = library_choices(params, data, lib).set_index("well")
    cluster_of = {w: f"cluster_{c}" for w, c in lib.clusters.items()}
    assert all(choices.loc[w, "member"] == cluster_of[w] for w in choices.index)
    assert list(choices.columns[:2]) == ["member", "correlation"]
    assert {f"r_{m}" for m in lib.members["name"]} <= set(choices.columns)


def test_choice_prefers_the_earlier_member_on_ties_and_skips_missing():
    corr = pd.DataFrame({"basin": [0.5, np.nan], "cluster_0": [0.5, 0.2]}, index=pd.Index(["1", "2"], name="well"))
    table = choose_members(corr)
    assert table["member"].tolist() == ["basin", "cluster_0"]


@pytest.mark.slow
def test_library_and_finetune_library_write_what_they_say(tmp_path):
    external = other_basin(tmp_path)
    params, data = library_params([external]), two_groups()
    run_pretrain(params, data, tmp_path / "pretrain", log=None)
    lib = build_library(params, data, tmp_path / "library", tmp_path / "pretrain", log=None)
    folder = tmp_path / "library"
    assert {p.name for p in folder.iterdir()} == {"cluster_0", "cluster_1", "external_g380", "clusters.csv",
                                                  "members.csv", "signals.csv"}
    assert {p.name for p in (folder / "cluster_0").iterdir()} == {"model.pt", "config.json", "trials.csv",
                                                                  "history.csv", "predictions.csv", "cost.json"}
    members = read_library(folder).members
    assert members["name"].tolist() == ["basin", "cluster_0", "cluster_1", "external_g380"]
    assert members["kind"].tolist() == ["basin", "cluster", "cluster", "external"]
    assert members.loc[3, "source"] == str(external) and len(members.loc[3, "sha256"]) == 64
    assert set(read_predictions(folder / "cluster_1" / "predictions.csv")["well"]) == {"cluster_1"}
    assert list(pd.read_csv(folder / "clusters.csv").columns) == ["well", "cluster"]
    assert list(lib.signals.columns) == members["name"].tolist()

    result = run_finetune_library(params, data, folder, tmp_path / "tl_library", log=None)
    out = tmp_path / "tl_library"
    assert {p.name for p in out.iterdir()} == {"choices.csv", *map(str, WELLS)}
    choices = pd.read_csv(out / "choices.csv", dtype={"well": str})
    assert choices["well"].tolist() == [str(w) for w in WELLS]
    assert [c for c in choices.columns if c.startswith("r_")] == [f"r_{m}" for m in members["name"]]
    table = read_predictions(out / str(WELLS[0]) / "predictions.csv")
    assert list(table.columns) == COLUMNS and set(table["model"]) == {"tl_library"}
    assert set(result.predictions["well"]) == {str(w) for w in WELLS}

    # the same code path as the TL stage: run_finetune from the chosen member gives the same forecasts
    well, member = choices.loc[0, "well"], choices.loc[0, "member"]
    path = members.set_index("name").loc[member, "path"]
    direct = run_finetune(params, well, data, pretrain=path, out=tmp_path / "direct").predictions
    assert np.allclose(direct["forecast"], table["forecast"], atol=1e-4)
    assert not list(tmp_path.glob(".*")) and not list(folder.glob(".*"))


def test_external_model_with_other_gauge_names_fine_tunes(tmp_path):
    external = other_basin(tmp_path)
    params, data = library_params(), two_groups()
    result = run_finetune(params, WELLS[0], data, pretrain=external, out=tmp_path / "tl")
    assert result.predictions["forecast"].notna().all()
    members, info = load_members(tmp_path / "tl")
    assert info["pretrained_features"][3] == "discharge_211870" and info["features"][3] == f"discharge_{GAUGE}"


def test_features_are_mapped_by_role_and_position():
    params, data = library_params(), two_groups()
    params["forecast"]["forcings"] = [f"discharge_{GAUGE}", "precipitation"]  # the local order differs
    samples = well_samples(params, data, str(WELLS[0]), 6)
    info = {"features": ["level", "observed", "precipitation", "discharge_1", "month_sin", "month_cos"],
            "leads": samples.leads, "target": samples.target, "mode": params["forecast"]["mode"],
            "config": {"n_features": 6}}
    aligned = align_features(info, samples, params, "elsewhere")
    assert aligned.features == ["level", "observed", "precipitation", f"discharge_{GAUGE}", "month_sin", "month_cos"]
    assert np.array_equal(aligned.x[:, :, 2], samples.x[:, :, 3])
    assert np.array_equal(aligned.x[:, :, 3], samples.x[:, :, 2])


def _fake_pretrained(folder, features, **changes):
    """A model.pt (and predictions.csv) of a pre-trained model reading ``features``."""
    folder.mkdir(parents=True)
    config = {"n_features": len(features), "hidden": 4, "layers": 1, "dropout": 0.0, "n_leads": 3, "leads": [1, 2, 3]}
    saved = {"config": config, "hyperparameters": {"window": 6, "batch": 64}, "features": features,
             "leads": [1, 2, 3], "window": 6, "target": "change", "mode": "observed-forcing",
             "state_dict": build_model(config).state_dict(), **changes}
    torch.save(saved, folder / "model.pt")
    pd.DataFrame(columns=COLUMNS).to_csv(folder / "predictions.csv", index=False)
    return folder


def test_external_models_that_do_not_fit_fail_clearly(tmp_path):
    data = two_groups()
    fewer = _fake_pretrained(tmp_path / "rain_only", ["level", "observed", "precipitation", "month_sin", "month_cos"])
    more = _fake_pretrained(tmp_path / "two_gauges", ["level", "observed", "precipitation", "discharge_1",
                                                      "discharge_2", "month_sin", "month_cos"])
    level = _fake_pretrained(tmp_path / "level", ["level", "observed", "precipitation", "discharge_1", "month_sin",
                                                  "month_cos"], target="level")
    for folder in (fewer, more):
        with pytest.raises(ValueError, match=f"{folder}.*inputs by role"):
            build_library(library_params([folder]), data, tmp_path / "lib", tmp_path / "missing-is-fine", log=None)
        with pytest.raises(ValueError, match="inputs by role"):
            run_finetune(library_params(), WELLS[0], data, pretrain=folder, out=tmp_path / "x")
    with pytest.raises(ValueError, match="target 'level'"):
        run_finetune(library_params(), WELLS[0], data, pretrain=level, out=tmp_path / "x")
    with pytest.raises(ValueError, match="library.external: .*folder .*nowhere not found"):
        build_library(library_params([tmp_path / "nowhere"]), data, tmp_path / "lib", tmp_path / "p", log=None)
    assert not (tmp_path / "lib").exists() and not (tmp_path / "x").exists()


def test_evaluate_and_figures_show_the_library_when_present(tmp_path):
    from gwtl.evaluation.evaluate import inputs_under
    from gwtl.report.figures import library_figure
    from gwtl.report.summaries import library_comparison

    assert not any("tl_library" in p for p in inputs_under(tmp_path)["predictions"])
    (tmp_path / "tl_library").mkdir()
    inputs = inputs_under(tmp_path)
    assert inputs["predictions"][-1].endswith("tl_library/*/predictions.csv") and "tl_library" in inputs["cost_files"]

    wells = [str(900000 + i) for i in range(12)]
    tl = np.linspace(-0.5, 0.95, 12)
    nse = pd.DataFrame({"tl": tl, "it": tl + 0.01, "tl_library": tl + np.where(tl < 0.5, 0.2, -0.01)}, index=wells)
    choices = pd.DataFrame({"well": wells, "member": ["cluster_1"] * 6 + ["basin"] * 6, "correlation": 0.9})
    table = library_comparison(nse, n=10, choices=choices)
    assert table["weak"].sum() == 10 and not table.loc[wells[-1], "weak"] and table.loc[wells[0], "weak"]
    assert np.allclose(table["library_minus_tl"], table["tl_library"] - table["tl"])
    assert table.loc[wells[0], "member"] == "cluster_1"
    fig = library_figure(library_comparison(nse))
    assert len(fig.axes[0].texts) == 10 and "better on" in fig.axes[0].get_title()


@pytest.mark.parametrize("key, value, message", [
    ("clusters", 0, "library.clusters: 0 — must be a whole number >= 1"),
    ("trials", 0, "library.trials: 0 — must be a whole number >= 1"),
    ("external", "models/pretrain", "library.external: 'models/pretrain' — must be a list of folders"),
    ("external", ["/no/such/folder"], r"library.external: \['/no/such/folder'\] — .*folder /no/such/folder not found"),
])
def test_library_params_are_checked(key, value, message):
    from gwtl.params import ParamsError, validate

    params = tiny_params()
    params["library"][key] = value
    with pytest.raises(ParamsError, match=message):
        validate(params)


def test_external_folder_without_a_model_is_refused(tmp_path):
    from gwtl.params import ParamsError, validate

    params = tiny_params()
    params["library"]["external"] = [str(tmp_path)]
    with pytest.raises(ParamsError, match="holds no model.pt"):
        validate(params)
    params["library"]["external"] = []
    params["finetune"]["pretrained"] = ""
    with pytest.raises(ParamsError, match="finetune.pretrained"):
        validate(params)
