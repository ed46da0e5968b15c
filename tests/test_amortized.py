"""StanceEncoder: amortized stances against the exact grid posterior."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.amortized import StanceEncoder


@pytest.fixture(scope="module")
def fitted():
    X, y = make_polarized_speech(3000, rho=0.8, random_state=0)
    return PolarizationEstimator(grid_size=40, interval=None).fit(X, y), X, y


@pytest.mark.parametrize("emission", ["two_pole", "loglinear"])
def test_encoder_matches_the_exact_posterior(emission):
    X, y = make_polarized_speech(3000, rho=0.8, random_state=0)
    est = PolarizationEstimator(emission, grid_size=40, interval=None).fit(X, y)
    enc = StanceEncoder(est, random_state=0).fit(X, y)
    exact, exact_sd = est.stance(X, y, return_std=True)
    mean, sd = enc.stance(X, y, return_std=True)
    assert np.corrcoef(mean, exact)[0, 1] > 0.99
    assert np.sqrt(np.mean((mean - exact) ** 2)) < 0.1 * exact.std()
    assert 0.7 < np.median(sd / exact_sd) < 1.3
    # the stance lies on the party's side
    assert np.all((mean >= 0) == (y == est.classes_[1]))
    # the ELBO rose
    assert enc.elbo_[-50:].mean() > enc.elbo_[:50].mean()


def test_reproducible_and_leaves_the_global_generator(fitted):
    est, X, y = fitted
    torch.manual_seed(7)
    before = torch.get_rng_state().clone()
    a = StanceEncoder(est, n_steps=30, random_state=3).fit(X, y).stance(X[:50], y[:50])
    b = StanceEncoder(est, n_steps=30, random_state=3).fit(X, y).stance(X[:50], y[:50])
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(a, b)


def test_clear_errors(fitted):
    est, X, y = fitted
    with pytest.raises(ValueError, match="needs the parties"):
        StanceEncoder(est, n_steps=5).fit(X, None)
    with pytest.raises(NotFittedError):
        StanceEncoder(PolarizationEstimator(), n_steps=5).fit(X, y)
    with pytest.raises(NotFittedError):
        StanceEncoder(est).stance(X, y)
    with pytest.raises(ValueError, match="n_steps"):
        StanceEncoder(est, n_steps=0).fit(X, y)
