"""The forecast stage on a tiny synthetic basin: the outlook, intervals from validation only, clear errors."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from gwtl.data.predictions import read_predictions
from gwtl.data.samples import make_samples, well_samples
from gwtl.forecast.outlook import arx_forecaster, lstm_forecaster, run_forecast
from gwtl.models import baselines
from gwtl.models.train import set_threads
from gwtl.transfer.finetune import run_finetune_all
from gwtl.transfer.it_lstm import run_it_all
from gwtl.transfer.pretrain import run_pretrain

from synthetic import WELLS, synthetic_processed, tiny_params, write_folder

LEVELS = [80, 95]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Models of every kind the stage reads, trained once for this module."""
    set_threads(1)
    root = tmp_path_factory.mktemp("forecast")
    params, data = tiny_params(), synthetic_processed()
    models = root / "models"
    run_pretrain(params, data, models / "pretrain", log=None)
    params["finetune"]["pretrained"] = str(models / "pretrain")
    run_finetune_all(params, data, out=models / "finetune", n_jobs=1, log=None)
    run_it_all(params, data, models / "it", n_jobs=1, log=None)
    folder = write_folder(data, root / "processed")
    baselines.run_baselines(params, folder, models / "baselines", models=("arx",), n_jobs=1)
    return params, data, root


def run(params, data, root, name="out", **kw):
    out = root / name
    return run_forecast(params, data, root / "models", out / "forecast", out / "forecast.csv", n_jobs=1,
                        log=None, **kw), out


def test_the_outlook_starts_at_each_wells_last_observed_month(trained):
    params, data, root = trained
    result, out = run(params, data, root)
    outlook = pd.read_csv(out / "forecast.csv", parse_dates=["issue", "month"], dtype={"well": str})
    assert set(outlook["model"]) == {"tl", "it", "arx", "damped_persistence"}
    for well in map(str, WELLS):
        last = data.levels[well].dropna().index.max()
        rows = outlook[outlook["well"] == well]
        assert (rows["issue"] == last).all()
        assert sorted(rows["lead"].unique()) == params["forecast"]["leads"]
        assert all(month == issue + pd.DateOffset(months=lead)
                   for issue, month, lead in zip(rows["issue"], rows["month"], rows["lead"]))
        np.testing.assert_allclose(rows["level_at_issue"], data.levels.at[last, well], atol=1e-4)
    assert (outlook["mode"] == "esp").all() and (outlook["members"] >= 20).all()
    ordered = ["lower95", "lower80", "median", "upper80", "upper95"]
    assert (np.diff(outlook[ordered].to_numpy(), axis=1) >= 0).all()
    for name in ("hindcast.csv", "calibration.csv", "scores.csv", "metrics.json", "coverage.csv"):
        assert (out / "forecast" / name).exists()
    metrics = json.loads((out / "forecast" / "metrics.json").read_text())
    assert 0 < metrics["test"]["lead1"]["coverage80"]["tl"] <= 1
    assert set(metrics["test"]["lead1"]["skill_esp_vs_damped_persistence"]) == {"tl", "it", "arx"}
    assert set(metrics["test"]["lead1"]["coverage80_by_year"]["tl"]) == {str(y) for y in range(2016, 2022)}
    assert set(metrics["test"]["lead3"]["coverage80_by_season"]["tl"]) == {"DJF", "MAM", "JJA", "SON"}
    # the damped persistence issued by the stage is the baseline's forecast: it reads no forcing, one value per member
    stored = baselines.run_well(str(WELLS[0]), data, params, models=("damped_persistence",))[0].set_index(
        ["issue", "lead"])["forecast"]
    issued = result.hindcast.query("model == 'damped_persistence' and well == @WELLS[0].__str__()").set_index(
        ["issue", "lead"])
    common = issued.index.intersection(stored.index)
    assert len(common) > 100
    np.testing.assert_allclose(issued.loc[common, "median"], stored.loc[common], atol=1e-3)
    np.testing.assert_allclose(issued["esp_lo80"], issued["median"], atol=1e-6)


def test_models_reproduce_their_stage_forecasts_with_the_observed_forcings(trained):
    """The stage's TL, IT and ARX are the models the other stages scored, not new ones."""
    params, data, root = trained
    well = str(WELLS[0])
    for model, folder in (("tl", "finetune"), ("it", "it")):
        f = lstm_forecaster(params, data, well, root / "models" / folder / well)
        s = make_samples(data.series(well), data.forcings[params["forecast"]["forcings"]], window=f.samples.window,
                         leads=params["forecast"]["leads"], mode="observed-forcing", target="change",
                         train=params["split"]["train"], filled=data.filled(well))
        s = s.__class__(**{**s.__dict__, "x": s.x[:, :, [s.features.index(n) for n in f.samples.features]]})
        mine = pd.Series(s.to_level(f.scaled(s.x, np.arange(len(s))))[:, 0], index=s.issue)
        stored = read_predictions(root / "models" / folder / well / "predictions.csv")
        stored = stored[(stored["model"] == model) & (stored["lead"] == 1)].set_index("issue")["forecast"]
        np.testing.assert_allclose(mine.reindex(stored.index), stored, atol=1e-4)
    config = json.loads((root / "models" / "baselines" / "config.json").read_text())
    f = arx_forecaster(params, data, well, config[well]["arx"])
    s = well_samples(params, data, well, params["baselines"]["arx_lags"])
    mine = pd.Series(s.to_level(f.scaled(s.x, np.arange(len(s))))[:, 2], index=s.issue)
    stored = read_predictions(root / "models" / "baselines" / "predictions.csv")
    stored = stored[(stored["well"] == well) & (stored["model"] == "arx") & (stored["lead"] == 3)]
    np.testing.assert_allclose(mine.reindex(stored.set_index("issue").index), stored["forecast"], atol=1e-4)


@pytest.mark.slow
def test_test_period_levels_change_no_interval(trained):
    """Calibration reads validation hindcasts only: test levels change scores, never the intervals."""
    params, data, root = trained
    base, _ = run(params, data, root, "a")
    changed = synthetic_processed()
    test = changed.levels.index >= pd.Timestamp(params["split"]["test"][0])
    changed.levels.loc[test] += 0.5
    other, _ = run(params, changed, root, "b")
    pd.testing.assert_frame_equal(base.calibration, other.calibration)
    assert not base.scores.equals(other.scores)


def test_a_missing_model_is_named_before_any_forecast(trained, tmp_path):
    params, data, root = trained
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    shutil.rmtree(models / "it" / str(WELLS[1]))
    with pytest.raises(FileNotFoundError, match=f"{WELLS[1]}: run `dvc repro it_lstm`"):
        run_forecast(params, data, models, tmp_path / "f", tmp_path / "f.csv", n_jobs=1, log=None)
    assert not (tmp_path / "f").exists() and not (tmp_path / "f.csv").exists()
    (models / "baselines" / "config.json").unlink()
    params = {**params, "outlook": {**params["outlook"], "models": ["arx"]}}
    with pytest.raises(FileNotFoundError, match="run `dvc repro baselines`"):
        run_forecast(params, data, models, tmp_path / "f", tmp_path / "f.csv", n_jobs=1, log=None)


def test_models_of_another_forecast_mode_are_refused(trained):
    params, data, root = trained
    params = {**params, "forecast": {**params["forecast"], "mode": "operational"}}
    with pytest.raises(ValueError, match="rerun `dvc repro`"):  # models were trained in observed-forcing mode
        run(params, data, root, "c")
