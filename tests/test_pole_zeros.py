"""pole_zeros="test": each pole's line-end word pinned at zero unless the data reject it."""

import numpy as np
import pytest

from skpolar import PolarizationEstimator, make_polarized_speech


def _log_theta(est):
    eta = est._params["eta"]
    return eta - np.logaddexp.reduce(eta, axis=1, keepdims=True)


@pytest.mark.parametrize("solver", ["lbfgs", "em"])
def test_partisan_zeros_are_found_and_held(solver):
    # the notebook's design: each pole never says the other pole's word
    X, y = make_polarized_speech(10_000, rho=0.8, random_state=0)
    free = PolarizationEstimator(solver=solver).fit(X, y)
    est = PolarizationEstimator(pole_zeros="test", solver=solver).fit(X, y)
    # word 0 is the left party's, word 1 the right's: each is the other pole's end
    np.testing.assert_array_equal(est.pole_zeros_, [[False, True, False], [True, False, False]])
    assert 0 <= est.pole_zero_statistic_ < 4.2306
    assert np.all(_log_theta(est)[est.pole_zeros_] <= est._emission().log_floor + 1e-9)
    # the free fit stops short of the zeros, with rho too high
    assert np.all(_log_theta(free)[est.pole_zeros_] > -10)
    assert abs(est.rho_ - 0.8) < abs(free.rho_ - 0.8)
    low, high = est.rho_ci_
    assert low <= est.rho_ <= high and high - low < np.diff(free.rho_ci_)[0]
    assert not PolarizationEstimator().fit(X, y).pole_zeros_.any()


def test_refits_keep_the_pins():
    X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    base = dict(pole_zeros="test", grid_size=50, random_state=0)
    point = PolarizationEstimator(**base, interval=None).fit(X, y).rho_
    boot = PolarizationEstimator(**base, interval="bootstrap", n_bootstrap=5).fit(X, y)
    jack = PolarizationEstimator(**base, bias_correction="jackknife", n_bias_draws=4).fit(X, y)
    # with the zeros held, refits on resamples and halves scatter tightly
    for est in (boot, jack):
        assert est.pole_zeros_.sum() == 2
        replicates = getattr(est, "rho_bootstrap_", None)
        replicates = est.rho_bias_replicates_ if replicates is None else replicates
        assert np.all(np.abs(replicates - point) < 0.02)
        assert est.rho_ci_[0] <= est.rho_ <= est.rho_ci_[1]


def test_pins_that_collapse_the_stances_are_dropped():
    # six shared words: no pole says any word zero times, and pinning the
    # ends squeezes every stance into one point at a tiny likelihood cost
    X, y = make_polarized_speech(3000, n_features=6, vocabulary="shared", partisanship=0.5,
                                 speech_len=40, random_state=0)
    free = PolarizationEstimator(grid_size=50).fit(X, y)
    est = PolarizationEstimator(pole_zeros="test", grid_size=50).fit(X, y)
    assert not est.pole_zeros_.any() and est.pole_zero_statistic_ > 0
    assert est.rho_ == free.rho_


def test_pins_the_data_reject_are_dropped():
    # many speeches over five shared words: the poles are well measured and
    # far from zero, so holding the ends at zero costs a lot of likelihood
    X, y = make_polarized_speech(20_000, n_features=5, vocabulary="shared", partisanship=1.0,
                                 speech_len=60, random_state=3)
    est = PolarizationEstimator(pole_zeros="test", grid_size=50, interval=None).fit(X, y)
    assert est.pole_zero_statistic_ > 4.2306 and not est.pole_zeros_.any()
    free = PolarizationEstimator(grid_size=50, interval=None).fit(X, y)
    assert est.rho_ == free.rho_


def test_pole_zeros_needs_the_two_pole_family():
    X, y = make_polarized_speech(200, random_state=0)
    est = PolarizationEstimator(emission="loglinear", pole_zeros="test")
    with pytest.raises(ValueError, match="pole_zeros='test' needs emission='two_pole'"):
        est.fit(X, y)
    assert not hasattr(est, "rho_")
    assert PolarizationEstimator(emission="loglinear").fit(X, y).pole_zeros_.shape == (2, 0)
