import numpy as np
import pytest
import torch
from scipy import stats

from skpolar.quadrature import log_beta_cell_mass, log_prior_weights, stance_grid

SHAPES = [(0.3, 0.7), (26.1, 2.9), (2.0, 2.0), (1e4, 1e4), (0.01, 1e4), (1e4, 0.05), (0.01, 0.01)]


def _t(x, grad=False):
    return torch.tensor(x, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("a, b", SHAPES)
def test_cell_mass_is_the_exact_beta_mass(a, b):
    grid_size = 100
    mass = log_beta_cell_mass(_t(a), _t(b), grid_size).exp().numpy()
    exact = np.diff(stats.beta.cdf(np.linspace(0, 1, 2 * grid_size + 1), a, b))
    np.testing.assert_allclose(mass, exact, atol=1e-10)
    assert mass.sum() == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("a, b", SHAPES)
def test_gradient_and_hessian_are_finite_at_extreme_shapes(a, b):
    shapes = _t([np.log(a), np.log(b)], grad=True)

    def total(s):
        w = log_prior_weights(s[0].exp(), s[1].exp(), _t(0.4), 50)
        # a likelihood-like functional of the weights
        return torch.logsumexp(w + torch.linspace(0, 1, 100, dtype=torch.float64), 0)

    grad = torch.autograd.functional.jacobian(total, shapes)
    hess = torch.autograd.functional.hessian(total, shapes)
    assert torch.isfinite(grad).all() and torch.isfinite(hess).all()


def test_cell_mass_gradient_matches_finite_differences():
    def mass(a):
        return log_beta_cell_mass(a, _t(2.5), 20)[5]

    a = _t(0.7, grad=True)
    (grad,) = torch.autograd.grad(mass(a), a)
    h = 1e-6
    fd = (mass(_t(0.7 + h)) - mass(_t(0.7 - h))) / (2 * h)
    assert float(grad) == pytest.approx(float(fd), rel=1e-6)


def test_mixture_weights_mirror_and_add_up():
    a, b = _t(5.0), _t(1.5)
    w = log_prior_weights(a, b, _t(0.3), 40).exp()
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    # (a, b, pi) and (b, a, 1 - pi) are the same prior; 1 - pi mirrors it
    swapped = log_prior_weights(b, a, _t(0.7), 40).exp()
    np.testing.assert_allclose(w.numpy(), swapped.numpy(), atol=1e-14)
    mirrored = log_prior_weights(a, b, _t(0.7), 40).exp()
    np.testing.assert_allclose(w.numpy(), mirrored.flip(0).numpy(), atol=1e-14)


def test_density_rule_is_the_notebook_rule():
    grid = stance_grid(4, "density")
    np.testing.assert_allclose(grid[4:], np.arange(1, 5) / 5)
    w = log_prior_weights(_t(2.0), _t(2.0), _t(0.5), 4, "density").exp().numpy()
    t = (grid + 1) / 2
    expected = 0.5 * stats.beta.pdf(t, 2, 2) / 5
    np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_exact_grid_is_cell_midpoints():
    np.testing.assert_allclose(stance_grid(2), [-0.75, -0.25, 0.25, 0.75])


@pytest.mark.parametrize("grid_size", [1, 2, 3])
@pytest.mark.parametrize("a, b", [(1e4, 1e4), (1e4, 0.01), (0.01, 0.01), (5e3, 20.0)])
def test_weights_add_up_to_one_on_coarse_grids(a, b, grid_size):
    # issue 14, item 5: a = b = 1e4 gave weights adding up to 1.086 on two
    # cells per side and 0.07 on one, so an empty speech had log p > 0
    from skpolar.quadrature import log_prior_weights_numpy

    w = log_prior_weights(_t(a), _t(b), _t(0.4), grid_size).exp()
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    w = np.exp(log_prior_weights_numpy(a, b, 0.4, grid_size))
    assert w.sum() == pytest.approx(1.0, abs=1e-12)


def test_empty_speech_has_probability_one_under_a_concentrated_prior():
    from skpolar import PolarizationEstimator, make_polarized_speech

    X, y = make_polarized_speech(200, random_state=0)
    est = PolarizationEstimator(grid_size=2, interval=None).fit(X, y)
    est._params = dict(est._params, log_a=np.log(1e4), log_b=np.log(1e4))
    assert abs(est.score_samples(np.zeros((1, 3)))[0]) <= 1e-12
