"""Skill scores against values computed by hand on tiny arrays."""

import math

import numpy as np
import pytest

from gwtl.evaluation import metrics

OBS = [1.0, 2.0, 3.0, 4.0]
FC = [1.5, 2.0, 2.5, 4.0]
# errors fc - obs: [0.5, 0, -0.5, 0]; SSE = 0.5; mean(obs) = 2.5; SS_obs = 2.25 + 0.25 + 0.25 + 2.25 = 5


def test_nse_by_hand():
    assert metrics.nse(OBS, FC) == pytest.approx(1 - 0.5 / 5)  # 0.9


def test_rmse_mae_bias_by_hand():
    assert metrics.rmse(OBS, FC) == pytest.approx(math.sqrt(0.5 / 4))
    assert metrics.mae(OBS, FC) == pytest.approx((0.5 + 0 + 0.5 + 0) / 4)
    # mean(fc) = 10 / 4 = 2.5 = mean(obs)
    assert metrics.bias(OBS, FC) == pytest.approx(0.0)
    assert metrics.bias([1, 2], [2, 4]) == pytest.approx(3.0 - 1.5)


def test_r2_and_kge_by_hand():
    # deviations: obs [-1.5, -0.5, 0.5, 1.5], fc [-1, -0.5, 0, 1.5]
    # sum(do*df) = 1.5 + 0.25 + 0 + 2.25 = 4; sum(do^2) = 5; sum(df^2) = 1 + 0.25 + 0 + 2.25 = 3.5
    r = 4 / math.sqrt(5 * 3.5)
    assert metrics.r2(OBS, FC) == pytest.approx(r**2)
    alpha = math.sqrt(3.5 / 4) / math.sqrt(5 / 4)  # population std ratio
    beta = (2.5 - 2.5) / math.sqrt(5 / 4)  # KGE'': bias over the observed std, here 0
    assert metrics.kge(OBS, FC) == pytest.approx(1 - math.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + beta**2))


def test_kge_perfect_and_biased():
    assert metrics.kge(OBS, OBS) == pytest.approx(1.0)
    # fc = 2 * obs: r = 1, alpha = 2, beta = (5 - 2.5) / sqrt(1.25) = sqrt(5) -> 1 - sqrt(0 + 1 + 5)
    assert metrics.kge(OBS, [2 * o for o in OBS]) == pytest.approx(1 - math.sqrt(6))


# Levels around 274 m a.s.l. (OBS and FC shifted by 272.5 m).
LEVELS = [272.5 + o for o in OBS]  # 273.5, 274.5, 275.5, 276.5; mean 275.0, std sqrt(1.25)
UNBIASED = [272.5 + f for f in FC]  # mean 275.0 as well
BIASED = [f + 0.5 for f in UNBIASED]  # mean 275.5


def test_kge_bias_term_is_the_bias_over_the_observed_std_whatever_the_level():
    r = 4 / math.sqrt(5 * 3.5)
    alpha = math.sqrt(3.5 / 5)
    unbiased = 1 - math.sqrt((r - 1) ** 2 + (alpha - 1) ** 2)  # 0.7051
    biased = 1 - math.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (0.5 / math.sqrt(1.25)) ** 2)  # 0.4902
    assert metrics.kge(LEVELS, UNBIASED) == pytest.approx(unbiased)
    assert metrics.kge(LEVELS, BIASED) == pytest.approx(biased)
    assert biased < unbiased - 0.2  # a 0.5 m bias counts on absolute levels (the 2009 form gave 275.5 / 275)
    # the same series measured from another level score the same
    assert metrics.kge([o - 274.9 for o in LEVELS], [f - 274.9 for f in BIASED]) == pytest.approx(biased)


def test_kge_stays_bounded_when_the_mean_is_near_zero():
    # Departures whose observed mean is 0.01 m: the 2009 form's beta = mean(fc) / mean(obs) = 0.026 / 0.01 = 2.6
    # gave KGE about -0.6 for a 1.6 cm bias; KGE'' puts 1.6 cm against the observed std (about 0.32 m).
    obs = np.array([-0.3, -0.1, 0.0, 0.1, 0.35])
    fc = obs + 0.016
    sd = obs.std()
    assert metrics.kge(obs, fc) == pytest.approx(1 - 0.016 / sd)
    assert metrics.kge(obs, fc) > 0.9


def test_persistence_index_by_hand():
    persistence = [0.0, 1.0, 2.0, 3.0]  # the level one step before: every error is 1, SSE = 4
    assert metrics.persistence_index(OBS, FC, persistence) == pytest.approx(1 - 0.5 / 4)


def test_nan_pairs_are_ignored():
    obs = [1.0, np.nan, 2.0, 3.0, 4.0, 7.0]
    fc = [1.5, 9.0, 2.0, 2.5, 4.0, np.nan]
    assert metrics.nse(obs, fc) == pytest.approx(0.9)
    result = metrics.score(obs, fc, [0.0, 5.0, 1.0, 2.0, 3.0, 6.0])
    assert result["n"] == 4
    assert result["nse"] == pytest.approx(0.9)
    assert result["pi"] == pytest.approx(1 - 0.5 / 4)
    assert set(result) == {"nse", "kge", "rmse", "mae", "r2", "bias", "pi", "n"}


def test_degenerate_inputs_give_nan():
    assert math.isnan(metrics.nse([1.0], [1.0]))
    assert math.isnan(metrics.nse([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]))  # constant observations
    assert math.isnan(metrics.rmse([np.nan], [1.0]))
    with pytest.raises(ValueError, match="length"):
        metrics.nse([1.0, 2.0], [1.0])


def test_skill_against_a_reference_by_hand():
    assert metrics.skill(0.25, 1.0) == pytest.approx(0.75)
    np.testing.assert_allclose(metrics.skill([0.5, 2.0, 1.0], [1.0, 1.0, 0.0]), [0.5, -1.0, np.nan])
    assert metrics.SKILL_REFERENCE == "damped_persistence"
