"""BayesianPolarizationEstimator: the posterior against brute force, seeds, errors."""

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from sklearn.base import clone

from skpolar import BayesianPolarizationEstimator, PolarizationEstimator, make_polarized_speech

pytest.importorskip("pyro")
pytest.importorskip("arviz")

from skpolar import posterior  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # arviz's notice


@pytest.fixture(scope="module")
def tiny():
    return make_polarized_speech(400, rho=0.75, random_state=3)


def _brute_force(est, X, y):
    """Posterior of rho (pi fixed, emission at the mode) by quadrature over the whole plane.

    rho = sigmoid(|log a - log b|) in the reported orientation, so the grid
    runs over d = log a - log b and s = log a + log b. The marginal density
    of d is integrated by the trapezoid rule on a fine axis and folded at 0:
    the posterior has a faint second region near a = b whose few draws
    dominate its standard deviation, so it has to be inside the box.
    Returns the mean of rho, its quantile function and its distribution function.
    """
    Xv, side = est._validate_fit_input(X, y, reset=False)
    rows, _, _ = est._fit_rows(Xv, side, None)
    target = posterior.LogPosterior(est._problem(rows), est._params, False,
                                    est.log_shape_prior, est.logit_pi_prior, 1.0)
    d, s = np.linspace(-2.5, 3.0, 139), np.linspace(-2.0, 6.0, 41)
    D, S = np.meshgrid(d, s, indexing="ij")
    points = np.column_stack([(S + D).ravel() / 2, (S - D).ravel() / 2])
    logp = target.log_prior(points) - np.array([target.neg_loglik_and_grad(p)[0]
                                                for p in points])
    logp = (logp - logp.max()).reshape(D.shape)
    # the box holds everything the posterior could reach
    assert max(logp[0].max(), logp[-1].max(), logp[:, 0].max(), logp[:, -1].max()) < -20
    density = np.exp(logp).sum(axis=1)
    # fold d at 0 (|d| is what rho sees), on the positive half of the axis
    half = np.linspace(0.0, 3.0, 601)
    folded = np.interp(half, d, density) + np.interp(-half, d, density)
    cdf = np.concatenate([[0.0], np.cumsum((folded[1:] + folded[:-1]) / 2)])
    cdf /= cdf[-1]
    rho = 1.0 / (1.0 + np.exp(-half))
    mean = float(np.sum(np.diff(cdf) * (rho[1:] + rho[:-1]) / 2))
    return mean, lambda q: np.interp(q, cdf, rho), lambda r: np.interp(r, rho, cdf)


def _target(X, y, sample_emission, concentration=1.0, logit_pi_prior=(0.0, 2.0),
            weight_map="softplus", **fit_params):
    """The LogPosterior of a maximum-likelihood fit to (X, y); log a, log b ~ N(1, 2)."""
    fit = PolarizationEstimator(grid_size=10, interval=None, **fit_params).fit(X, y)
    Xv, side = fit._validate_fit_input(X, y, reset=False)
    rows, _, _ = fit._fit_rows(Xv, side, None)
    return posterior.LogPosterior(fit._problem(rows), fit._params, sample_emission,
                                  (1.0, 2.0), logit_pi_prior, concentration, weight_map)


def test_numpy_objective_reads_sparse_chunks():
    # 400 terms at 5% density: the chunks hold torch sparse CSR counts
    X, y = make_polarized_speech(200, rho=0.8, n_features=400, speech_len=20, sparse=True,
                                 random_state=0)
    target = _target(X, y, True)
    assert target.problem.chunks[0].X.layout == torch.sparse_csr
    theta = target.start * 1.1
    fast = target.neg_loglik_and_grad(theta)
    target._numpy = None
    full = target.neg_loglik_and_grad(theta)
    assert fast[0] == pytest.approx(full[0], rel=1e-12)
    np.testing.assert_allclose(fast[1], full[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("concentration, weight_map",
                         [(1.0, "softplus"), (0.5, "softplus"), (3.0, "softplus"),
                          (1.0, "abs"), (0.5, "abs")])
def test_log_prior_is_the_documented_density_with_its_gradient(tiny, concentration, weight_map):
    X, y = tiny
    # a logit pi prior unlike the shapes': each parameter must get its own
    target = _target(X, y, True, concentration, logit_pi_prior=(0.0, 1.5),
                     weight_map=weight_map)
    rng = np.random.default_rng(1)
    points = target.start + rng.normal(scale=0.5, size=(2, target.dim))
    if weight_map == "softplus":
        # scales of at least a hundredth of the reference word
        assert np.all((target.layout.scale >= 0.01) & (target.layout.scale <= 1.0))
        points[1, 4] = -20.0  # a weight of 2e-9 its scale: far down the softplus's tail
    else:
        assert np.all(target.layout.scale == 1.0)
        points[1, 4] = -points[1, 4]  # z and -z are the same probabilities
    scale = target.layout.scale

    def reference(theta):
        # normal priors, and each pole's Dirichlet density of its probabilities
        # times the Jacobians of probabilities from weights (theta_ref ** n_words)
        # and of weights from z: w = s log(1 + e^z), s e^z / (1 + e^z); or w = |z|, 1
        out = scipy.stats.norm.logpdf(theta[:3], [1.0, 1.0, 0.0], [2.0, 2.0, 1.5]).sum()
        z = theta[3:]
        if weight_map == "softplus":
            out += np.sum(np.log(scale * scipy.special.expit(z)))
            weights = scale * np.log1p(np.exp(z))
        else:
            weights = np.abs(z)
        for pole in weights.reshape(2, 2):
            probs = np.append(pole, 1.0) / (1.0 + pole.sum())
            out += scipy.stats.dirichlet.logpdf(probs, np.full(3, concentration))
            out += 3 * np.log(probs[-1])
        return out

    values = target.log_prior(points)
    assert values[0] - values[1] == pytest.approx(reference(points[0]) - reference(points[1]),
                                                  rel=1e-10)
    value, grad = target.log_prior(points[1], grad=True)
    assert value == pytest.approx(values[1], rel=1e-14)
    steps = np.diag(1e-5 * np.maximum(np.abs(points[1]), 1.0))
    numeric = ((target.log_prior(points[1] + steps) - target.log_prior(points[1] - steps))
               / (2 * np.diag(steps)))
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("weight_map", ["softplus", "abs"])
def test_log_posterior_gradient_matches_finite_differences(tiny, weight_map):
    # the chain rule through the word weights' coordinates, likelihood and prior
    X, y = tiny
    target = _target(X, y, True, 0.5, weight_map=weight_map)
    theta = target.start + np.random.default_rng(2).normal(scale=0.3, size=target.dim)
    x = torch.as_tensor(theta).requires_grad_(True)
    (grad,) = torch.autograd.grad(target(x), [x])
    steps = 1e-6 * np.maximum(np.abs(theta), 1.0)
    numeric = [(float(target(torch.as_tensor(theta + h * e)))
                - float(target(torch.as_tensor(theta - h * e)))) / (2 * h)
               for h, e in zip(steps, np.eye(target.dim))]
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("sample_emission, pi, vocabulary_prior",
                         [(False, 0.5, 0.0), (False, "fit", 0.0),
                          (True, 0.5, 0.0), (True, "fit", 2.0)])
def test_numpy_objectives_match_the_torch_objective(tiny, sample_emission, pi,
                                                    vocabulary_prior):
    # the posterior's NumPy paths (the emission at its mode, tabulated; or
    # sampled, on SciPy rows) against Problem.value_and_grad
    X, y = tiny
    target = _target(X, y, sample_emission, pi=pi, vocabulary_prior=vocabulary_prior)
    name = "_numpy" if sample_emission else "_fixed"
    assert getattr(target, name) is not None
    rng = np.random.default_rng(0)
    points = target.start + rng.normal(scale=0.7, size=(6, target.dim)) * (
        np.arange(target.dim) < len(target.layout.low))
    if sample_emission:
        # the word coordinates moved, one of them far down the softplus's tail
        points[:, len(target.layout.low):] += rng.normal(scale=1.0, size=(6, 4))
        points[-2, -1] = -40.0
    points[-1, 0] = 30.0  # beyond the box: held at its edge, no gradient there
    for theta in points:
        fast = target.neg_loglik_and_grad(theta)
        numpy_path = getattr(target, name)
        setattr(target, name, None)
        full = target.neg_loglik_and_grad(theta)
        setattr(target, name, numpy_path)
        assert fast[0] == pytest.approx(full[0], rel=1e-12)
        np.testing.assert_allclose(fast[1], full[1], rtol=1e-9, atol=1e-9)
    assert fast[1][0] == 0.0


def test_tabulated_objective_survives_a_prior_far_from_every_speech(monkeypatch):
    # Long speeches pin their stances; with a = 1e4, b = 0.01 the prior
    # weighs the middle stances by exp(-6000), so those rows' products
    # underflow and must be summed in logs, to the torch objective's value
    X, y = make_polarized_speech(100, rho=0.6, speech_len=3000, random_state=0)
    target = _target(X, y, False, pi=0.5)
    redone = []
    exact = posterior._row_posteriors
    monkeypatch.setattr(posterior, "_row_posteriors",
                        lambda joint, *args: (redone.append(len(joint)), exact(joint, *args))[1])
    for theta in ([9.2, -4.6], [-4.6, 9.2]):
        redone.clear()
        fast = target.neg_loglik_and_grad(np.array(theta))
        assert redone and 0 < sum(redone) < X.shape[0]
        target._fixed, fixed = None, target._fixed
        full = target.neg_loglik_and_grad(np.array(theta))
        target._fixed = fixed
        assert fast[0] == pytest.approx(full[0], rel=1e-12)
        np.testing.assert_allclose(fast[1], full[1], rtol=1e-9, atol=1e-300)


def test_nuts_and_vi_agree_with_the_brute_force_posterior(tiny):
    # pi fixed and the emission at its mode: a two-parameter posterior that a
    # grid integrates exactly
    X, y = tiny
    settings = dict(grid_size=10, pi=0.5, posterior_emission="mode", random_state=0)
    nuts = BayesianPolarizationEstimator(n_chains=2, n_warmup=150, n_draws=300,
                                         **settings).fit(X, y)
    mean, quantile, cdf = _brute_force(nuts, X, y)
    assert nuts.diagnostics_["r_hat"] < 1.05
    ess = nuts.diagnostics_["ess_bulk"]
    # the draws' mean within four Monte Carlo errors, using the quadrature's sd
    sd = np.sqrt(np.mean((nuts.rho_samples_ - mean) ** 2))
    assert abs(nuts.rho_ - mean) < 4 * sd / np.sqrt(ess)
    # and their share below each decile within four binomial errors
    for q in (0.1, 0.5, 0.9):
        share = np.mean(nuts.rho_samples_ < quantile(q))
        assert abs(share - q) < 4 * np.sqrt(q * (1 - q) / ess)
    lo, hi = nuts.rho_ci_
    assert cdf(hi) - cdf(lo) == pytest.approx(0.95, abs=4 * np.sqrt(0.05 * 0.95 / ess))
    # the approximation is Gaussian-like: its centre and spread match the bulk
    vi = BayesianPolarizationEstimator(inference="vi", vi_steps=300, **settings).fit(X, y)
    iqr = quantile(0.75) - quantile(0.25)
    assert abs(np.median(vi.rho_samples_) - quantile(0.5)) < 0.25 * iqr
    vi_iqr = np.subtract(*np.percentile(vi.rho_samples_, [75, 25]))
    assert vi_iqr == pytest.approx(iqr, rel=0.2)
    assert vi.elbo_.shape == (300,) and np.all(np.isfinite(vi.elbo_))
    lo, hi = vi.rho_ci_
    assert lo < quantile(0.5) < hi


def test_samples_the_emission_on_small_vocabularies(tiny):
    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, inference="vi", vi_steps=100,
                                        random_state=0).fit(X, y)
    # 3 prior parameters and 2 free word coordinates per pole
    assert est._posterior_draws.shape == (4 * 500, 3 + 2 * 2)
    mode = BayesianPolarizationEstimator(grid_size=10, inference="vi", vi_steps=100,
                                         posterior_emission="mode", random_state=0).fit(X, y)
    assert mode._posterior_draws.shape == (4 * 500, 3)
    # the vocabularies' uncertainty widens the posterior of rho
    assert est.rho_se_ > mode.rho_se_
    assert set(est.posterior_samples_) == {"rho", "alpha", "beta", "pi"}
    assert np.all(est.posterior_samples_["alpha"] >= est.posterior_samples_["beta"])


def test_random_state_reproduces_and_leaves_global_rng_alone(tiny):
    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, n_chains=2, n_warmup=20, n_draws=20,
                                        posterior_emission="mode", random_state=5)
    torch.manual_seed(123)
    before = torch.get_rng_state().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", posterior.PosteriorWarning)
        first = clone(est).fit(X, y).rho_samples_
        second = clone(est).fit(X, y).rho_samples_
        parallel = clone(est).set_params(n_jobs=2).fit(X, y)
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(first, second)
    # chains run in two processes give the same draws, and their evaluations count
    np.testing.assert_array_equal(first, parallel.rho_samples_)
    assert parallel.diagnostics_["n_evaluations"] > 2 * 40
    assert first.std() > 0


def test_poor_chains_warn(tiny):
    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, n_chains=2, n_warmup=5, n_draws=10,
                                        random_state=0)
    with pytest.warns(posterior.PosteriorWarning, match="bulk ESS"):
        est.fit(X, y)
    assert est.diagnostics_["ess_bulk_min"] < 200


@pytest.mark.parametrize("dense", [True, False])
def test_nuts_adapts_its_mass_matrix_from_the_start_it_is_given(dense):
    # pyro's adapter starts from the identity, this one from the covariance
    cov = np.array([[4.0, 0.5], [0.5, 0.25]])
    adapter = posterior._started_mass_matrix(cov)
    adapter.configure({("theta",): (2, 2) if dense else (2,)}, options={"dtype": torch.float64})
    expected = torch.as_tensor(cov if dense else np.diag(cov))
    assert torch.equal(adapter.inverse_mass_matrix[("theta",)], expected)


@pytest.mark.parametrize("prior", [(0.0, -1.0), (np.nan, 1.0), (1.0,), "wide"])
def test_bad_priors_fail_before_any_work(tiny, prior):
    X, y = tiny
    est = BayesianPolarizationEstimator(log_shape_prior=prior)
    with pytest.raises(ValueError, match="log_shape_prior"):
        est.fit(X, y)
    assert not hasattr(est, "rho_")


def test_sampling_needs_the_two_pole_emission(tiny):
    X, y = tiny
    est = BayesianPolarizationEstimator(emission="loglinear", posterior_emission="sample")
    with pytest.raises(ValueError, match="two_pole"):
        est.fit(X, y)


def test_a_failing_refit_keeps_the_fitted_posterior(tiny):
    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, inference="vi", vi_steps=50,
                                        random_state=0).fit(X, y)
    draws = est.rho_samples_.copy()
    est.set_params(logit_pi_prior=(0.0, 0.0))
    with pytest.raises(ValueError, match="logit_pi_prior"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.rho_samples_, draws)


def test_posterior_predictive_and_arviz(tiny):
    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, inference="vi", vi_steps=50,
                                        random_state=0).fit(X, y)
    X_rep, y_rep, u_rep = est.sample(300, random_state=1)
    assert X_rep.shape == (300, 3) and set(y_rep) <= set(est.classes_)
    np.testing.assert_array_equal(X_rep, est.sample(300, random_state=1)[0])
    data = est.to_arviz()
    assert data.posterior["rho"].shape == (1, 2000)
    # the stance methods use the maximum-likelihood fit
    assert est.transform(X[:4]).shape == (4, 1)
    assert "interval" not in est.get_params()


def test_arviz_export_carries_divergences_and_every_speechs_log_likelihood(tiny):
    import arviz

    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, n_chains=2, n_warmup=30, n_draws=40,
                                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", posterior.PosteriorWarning)
        est.fit(X, y)
    data = est.to_arviz(X[:50], y[:50])
    assert data.posterior["rho"].shape == (2, 40)
    diverging = data.sample_stats["diverging"].values
    assert diverging.shape == (2, 40) and diverging.dtype == bool
    assert diverging.sum() == est.diagnostics_["divergences"]
    loglik = data.log_likelihood["speech"].values
    assert loglik.shape == (2, 40, 50)
    # each draw's column is score_samples with that draw's parameters
    for chain, draw in [(0, 0), (1, 39)]:
        refit = copy.deepcopy(est)
        refit._params = est._posterior_layout.params(est._posterior_draws[chain * 40 + draw])
        np.testing.assert_allclose(loglik[chain, draw], refit.score_samples(X[:50], y[:50]),
                                   rtol=1e-12)
    assert not np.allclose(loglik[0, 0], loglik[1, 39])
    with warnings.catch_warnings():
        # 80 draws are too few for the Pareto smoothing's shape estimate
        warnings.simplefilter("ignore", UserWarning)
        assert np.isfinite(arviz.loo(data).elpd_loo)
    # without speeches there is no log likelihood; VI has no sample statistics
    assert "log_likelihood" not in est.to_arviz().groups()
    vi = BayesianPolarizationEstimator(grid_size=10, inference="vi", vi_steps=20,
                                       random_state=0).fit(X, y)
    assert "sample_stats" not in vi.to_arviz().groups()


def test_missing_pyro_names_the_extra(tiny, monkeypatch):
    X, y = tiny
    monkeypatch.setitem(sys.modules, "pyro", None)
    est = BayesianPolarizationEstimator()
    with pytest.raises(ImportError, match=r"skpolar\[bayes\]"):
        est.fit(X, y)


def test_skpolar_does_not_import_pyro():
    code = ("import skpolar, sys; skpolar.PolarizationEstimator; "
            "skpolar.BayesianPolarizationEstimator; print('pyro' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_hpd_interval_reaches_the_edge_only_where_the_posterior_is_densest():
    rng = np.random.default_rng(1)
    edge = posterior.hpd_interval(0.5 + rng.exponential(0.02, 5000))
    assert edge[0] == 0.5 and 0.55 < edge[1] < 0.58
    inside = posterior.hpd_interval(rng.normal(0.7, 0.02, 5000))
    np.testing.assert_allclose(inside, [0.7 - 1.96 * 0.02, 0.7 + 1.96 * 0.02], atol=0.004)
    skewed = posterior.hpd_interval(0.6 + rng.gamma(2.0, 0.01, 5000))
    # narrower than the equal-tailed interval of a skewed posterior
    equal = np.percentile(0.6 + rng.gamma(2.0, 0.01, 5000), [2.5, 97.5])
    assert np.ptp(skewed) < np.ptp(equal)


def test_draws_beyond_the_likelihood_box_warn(tiny):
    # a prior far outside the shapes the quadrature is accurate for
    X, y = tiny
    est = BayesianPolarizationEstimator(grid_size=10, inference="vi", vi_steps=100,
                                        log_shape_prior=(12.0, 0.1), random_state=0)
    with pytest.warns(posterior.PosteriorWarning, match="outside"):
        est.fit(X, y)
    assert est.diagnostics_["outside_box"] > 0.5


class _Gaussian:
    """A standard normal target in every coordinate, batched like LogPosterior."""

    n_evaluations = 0

    def __call__(self, theta):
        return torch.as_tensor(scipy.stats.norm.logpdf(theta.numpy()).sum(-1))


class _Correlated:
    """A Gaussian target with scales a thousand apart, as pyro's SVI sees LogPosterior."""

    sd = np.array([1e-3, 0.1, 1.0])
    corr = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.3], [0.0, 0.3, 1.0]])
    dim = 3
    problem = type("Problem", (), {"pi": 0.3})()  # pi fitted elsewhere: no mirror
    n_evaluations = 0

    def __init__(self):
        self.cov = self.corr * np.outer(self.sd, self.sd)
        self.density = torch.distributions.MultivariateNormal(
            torch.zeros(3, dtype=torch.float64), torch.as_tensor(self.cov))

    def model(self):
        import pyro
        import pyro.distributions as dist

        theta = pyro.sample("theta", dist.ImproperUniform(dist.constraints.real_vector, (), (3,)))
        pyro.factor("log_density", self.density.log_prob(theta))


def test_vi_fits_a_posterior_whose_scales_differ_a_thousandfold():
    # started as a Laplace approximation might be off: half an sd away, twice
    # as wide, with half the correlations. The guide's steps are shares of
    # each direction's spread, so the narrow direction is fitted as well as
    # the wide one (learned in theta's own coordinates, the guide ended
    # 0.4-0.7 sd off and 40-80% too wide, at this or a fifth of the rate)
    target = _Correlated()
    start = 0.5 * target.sd
    cov = (0.5 * target.corr + 0.5 * np.eye(3)) * np.outer(2.0 * target.sd, 2.0 * target.sd)
    draws, log_q, elbo = posterior.run_vi(target, start, cov, seed=0, n_steps=300,
                                          learning_rate=0.05, n_draws=4000)
    assert np.all(np.isfinite(elbo)) and np.isfinite(log_q).all()
    np.testing.assert_array_less(np.abs(draws.mean(axis=0)) / target.sd, 0.1)
    np.testing.assert_allclose(draws.std(axis=0) / target.sd, 1.0, atol=0.15)
    np.testing.assert_allclose(np.corrcoef(draws.T), target.corr, atol=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_psis_corrects_a_shifted_approximation(seed):
    rng = np.random.default_rng(seed)
    q = scipy.stats.norm(loc=0.3, scale=1.2)
    draws = q.rvs(size=(4000, 2), random_state=rng)
    resampled, diagnostics = posterior.psis_resample(_Gaussian(), draws, q.logpdf(draws).sum(-1),
                                                     rng)
    assert resampled.shape == draws.shape
    # every resampled draw is one of the draws
    assert np.isin(resampled[:, 0], draws[:, 0]).all()
    ess = diagnostics["importance_ess"]
    assert diagnostics["pareto_k"] < posterior.PARETO_K_MAX and 1000 < ess < 4000
    # the draws' mean was 0.3 off; reweighted it is within four Monte Carlo errors of 0
    np.testing.assert_array_less(np.abs(resampled.mean(axis=0)), 4 / np.sqrt(ess))
    np.testing.assert_allclose(resampled.std(axis=0), 1.0, atol=0.08)


def test_psis_flags_an_approximation_too_narrow_to_correct():
    # a guide a quarter as wide as the posterior: the weights' tail has
    # Pareto shape 1 - 0.25 ** 2 = 0.94 (the fitted shape is noisy: one
    # coordinate and a wide gap keep it clear of 0.7)
    rng = np.random.default_rng(0)
    q = scipy.stats.norm(scale=0.25)
    draws = q.rvs(size=(4000, 1), random_state=rng)
    _, diagnostics = posterior.psis_resample(_Gaussian(), draws, q.logpdf(draws).sum(-1), rng)
    assert diagnostics["pareto_k"] > posterior.PARETO_K_MAX
    with pytest.warns(posterior.PosteriorWarning, match="Pareto k .* more vi_steps"):
        posterior.warn_if_poor(diagnostics, 1, "vi")


def test_importance_weights_skip_the_gradient_not_the_density(tiny):
    from skpolar.likelihood import make_chunks
    from skpolar.objective import Problem

    X, y = tiny
    est = PolarizationEstimator(grid_size=20, interval=None).fit(X, y)
    problem = Problem(make_chunks(X, y, None, 20), est._emission(), 3, 20, "exact")
    target = posterior.LogPosterior(problem, est._params, sample_emission=True,
                                    log_shape_prior=(1.0, 2.0), logit_pi_prior=(0.0, 2.0),
                                    vocabulary_concentration=0.5)
    assert target._numpy is not None  # the path with a values-only branch
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(target.start + 0.05 * rng.normal(size=(5, target.dim)))
    full = target(theta.clone().requires_grad_(True)).detach()
    with torch.no_grad():
        values = target(theta)
    np.testing.assert_allclose(values.numpy(), full.numpy(), rtol=1e-12)


def test_vi_without_psis_gets_vi_advice():
    # draws outside the box are the one check left when nothing is reweighted
    with pytest.warns(posterior.PosteriorWarning, match="outside .* more vi_steps"):
        posterior.warn_if_poor({"outside_box": 0.05}, 1, "vi")
    with pytest.warns(posterior.PosteriorWarning, match="outside .* longer chains"):
        posterior.warn_if_poor({"outside_box": 0.05}, 4, "nuts")


def test_vi_reports_its_pareto_k_and_psis_can_be_turned_off(tiny):
    X, y = tiny
    settings = dict(grid_size=10, inference="vi", vi_steps=50, n_chains=1, n_draws=400,
                    posterior_emission="mode", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", posterior.PosteriorWarning)
        plain = BayesianPolarizationEstimator(vi_psis=False, **settings).fit(X, y)
        psis = BayesianPolarizationEstimator(**settings).fit(X, y)
    assert "pareto_k" not in plain.diagnostics_
    assert np.isfinite(psis.diagnostics_["pareto_k"])
    assert 0 < psis.diagnostics_["importance_ess"] <= 400
    # one evaluation of the posterior per draw
    assert psis.diagnostics_["n_evaluations"] == plain.diagnostics_["n_evaluations"] + 400
    # the same fitted guide: the resampled draws are among the plain ones
    assert np.isin(psis.rho_samples_, plain.rho_samples_).all()
