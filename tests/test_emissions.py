"""The emission families' building blocks: the two-pole vocabulary prior."""

import numpy as np
import pytest
import torch

from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.emissions import LogLinearEmission, TwoPoleEmission


def test_the_vocabulary_prior_adds_its_pseudo_counts_in_the_m_step():
    # With all expected counts at the poles themselves (u = -1 and u = 1) each
    # token's pole is known, so the M-step is the Dirichlet posterior mode:
    # theta_k = (counts_k + prior) / (sum counts_k + sum prior), exactly.
    u = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    counts = torch.tensor([[6.0, 3.0, 0.0], [0.0, 2.0, 8.0]], dtype=torch.float64)
    prior = np.array([0.5, 1.0, 0.25])
    eta = torch.zeros(2, 3, dtype=torch.float64)
    theta = TwoPoleEmission(prior).m_step({"eta": eta}, {"counts": counts}, u)["eta"].exp()
    expected = (counts.numpy() + prior) / (counts.numpy() + prior).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(theta.numpy(), expected, rtol=1e-12)
    # without the prior a word a pole never uses gets probability (floored) zero
    bare = TwoPoleEmission().m_step({"eta": eta}, {"counts": counts}, u)["eta"].exp()
    assert bare[0, 2] < 1e-200 and theta[0, 2] == pytest.approx(0.25 / 10.75)


def test_the_penalty_is_minus_the_log_prior():
    prior = np.array([0.5, 1.0, 0.25])
    theta = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    penalty = TwoPoleEmission(prior).penalty({"eta": torch.as_tensor(np.log(theta))})
    assert float(penalty) == pytest.approx(-(prior * np.log(theta)).sum())
    assert TwoPoleEmission().penalty({"eta": torch.as_tensor(np.log(theta))}) == 0.0


def test_a_vocabulary_prior_leaves_no_zero_pole_probability():
    X, y = make_polarized_speech(1000, n_features=30, speech_len=30, random_state=0)
    bare = PolarizationEstimator(grid_size=30, interval=None).fit(X, y)
    smoothed = PolarizationEstimator(grid_size=30, interval=None, vocabulary_prior=10.0).fit(X, y)
    assert bare.theta_.min() < 1e-12  # the likelihood alone sends them towards zero
    assert smoothed.theta_.min() > 1e-6
    # pulling the poles together spreads the stances out
    assert smoothed.rho_ > bare.rho_


def _expected_complete_loglik(theta, counts, u):
    p = (u.numpy() + 1.0) / 2.0
    share = np.outer(1.0 - p, theta[0]) + np.outer(p, theta[1])
    return float((counts.numpy() * np.log(share)).sum())


def test_the_m_step_lifts_a_probability_trapped_at_zero_that_the_likelihood_wants():
    # Word 2 is said at a left-leaning node (u = -1/2), so the left pole should
    # carry some of it; starting with the left pole's probability of it at zero, the
    # multiplicative update alone could never raise it. The lifted M-step does,
    # and the expected complete log likelihood still rises.
    u = torch.tensor([-1.0, -0.5, 1.0], dtype=torch.float64)
    counts = torch.tensor([[8.0, 2.0, 0.0], [1.0, 1.0, 6.0], [0.0, 2.0, 8.0]],
                          dtype=torch.float64)
    theta = np.array([[0.8, 0.2, 0.0], [0.05, 0.15, 0.8]])
    eta = torch.as_tensor(np.log(np.maximum(theta, 1e-300)))
    emission = TwoPoleEmission()
    new = emission.m_step({"eta": eta}, {"counts": counts}, u)["eta"].exp().numpy()
    assert new[0, 2] > 1e-12
    before = _expected_complete_loglik(np.maximum(theta, 1e-300), counts, u)
    assert _expected_complete_loglik(new, counts, u) > before
    # repeated M-steps take it to where the node's counts put it, far from zero
    for _ in range(200):
        eta = emission.m_step({"eta": torch.as_tensor(np.log(new))}, {"counts": counts}, u)["eta"]
        new = eta.exp().numpy()
    assert new[0, 2] > 0.01


def test_a_probability_the_likelihood_wants_at_zero_stays_there():
    # word 2 is only said at the right pole itself: zero is the left pole's optimum
    u = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    counts = torch.tensor([[6.0, 3.0, 0.0], [0.0, 2.0, 8.0]], dtype=torch.float64)
    eta = torch.log(torch.tensor([[0.7, 0.3, 1e-300], [0.1, 0.2, 0.7]], dtype=torch.float64))
    new = TwoPoleEmission().m_step({"eta": eta}, {"counts": counts}, u)["eta"].exp()
    assert new[0, 2] < 1e-200


def test_em_stops_where_stretching_the_poles_either_way_does_no_better():
    # the likelihood is nearly flat along "poles apart, stances in": EM must
    # not stop while a move along that path still gains (without the probe
    # before stopping, this fit stopped where stretching by 1% gained 9e-6 per
    # speech)
    from skpolar.likelihood import Rows
    from skpolar.solvers import _stretched_prior

    X, y = make_polarized_speech(400, n_features=150, vocabulary="shared", speech_len=40,
                                 random_state=5)
    est = PolarizationEstimator(grid_size=20, interval=None, solver="em").fit(X, y)
    assert est.converged_
    problem = est._problem(Rows.of(X.astype(float), y))
    params = est._params
    at_fit = problem.value(params)
    emission = problem.emission
    for c in (1.001, 0.999, 1.01, 0.99):
        moved = dict(params, eta=emission.stretched(params, c),
                     **_stretched_prior(params["log_a"], params["log_b"], c))
        assert problem.value(moved) >= at_fit - 1e-9


def test_single_precision_products_match_double():
    # the EM problem's float32 products: the same log likelihoods, posteriors
    # and expected counts as in double, within float32's rounding
    from skpolar.likelihood import accumulate, make_chunks
    from skpolar.quadrature import stance_grid

    X, y = make_polarized_speech(300, rho=0.8, n_features=2000, speech_len=100,
                                 random_state=0)
    emission = TwoPoleEmission()
    counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    params = {"eta": torch.as_tensor(emission.init_params(np.asarray(counts), None)["eta"])}
    u = torch.as_tensor(stance_grid(50))
    log_w = torch.full((100,), -np.log(100.0), dtype=torch.float64)
    results = []
    for single in (False, True):
        chunks = make_chunks(X, y, None, 50, single_products=single)
        assert all((c.X32 is not None) == single for c in chunks)
        prepared = emission.prepare(params, u)
        rows = torch.cat([emission.row_loglik(c, prepared, c.nodes) for c in chunks])
        loglik, mass, stats = accumulate(chunks, emission, prepared, log_w, u)
        results.append((rows, loglik, mass, emission.node_counts(stats, u)))
    (rows64, ll64, mass64, c64), (rows32, ll32, mass32, c32) = results
    # speeches of 100 words: thousands of nats each, rounded to ~1e-5
    assert rows64.abs().min() > 100
    assert torch.allclose(rows32, rows64, rtol=0, atol=1e-3)
    assert ll32 == pytest.approx(ll64, rel=1e-9)
    assert torch.allclose(mass32, mass64, rtol=1e-4, atol=1e-8)
    assert torch.allclose(c32, c64, rtol=1e-4, atol=1e-6)


def test_single_precision_em_fit_reaches_the_double_precision_optimum():
    # tight fits: at the default tol both stop ~5e-4 short along the flat
    # stretch path of the likelihood, at points that differ by as much
    X, y = make_polarized_speech(300, rho=0.8, n_features=600, speech_len=50,
                                 random_state=1)
    settings = dict(grid_size=20, interval=None, tol=1e-12, max_iter=5000)
    est = PolarizationEstimator(**settings).fit(X, y)
    exact = PolarizationEstimator(**settings)
    # the same fit with every problem in double precision
    exact._problem = lambda rows, fixed_rho=None, for_em=False, zeros=None: (
        PolarizationEstimator._problem(exact, rows, fixed_rho, zeros=zeros))
    exact.fit(X, y)
    assert est.rho_ == pytest.approx(exact.rho_, abs=1e-4)
    # total log likelihoods within 1e-3 nats (of 32,000)
    assert abs(est.score(X, y) - exact.score(X, y)) * len(y) < 1e-3


@pytest.mark.parametrize("intercept", [True, False])
def test_loglinear_prepare_reuses_its_buffer_and_matches_log_softmax(intercept):
    # Without a graph, prepare builds the word shares in place in a buffer it
    # keeps (unnormalized, with their totals); they must equal softmax(W u + c)
    # and log_norm its normalizer, at every call, including one with other
    # parameters after the first.
    rng = np.random.default_rng(0)
    u = torch.linspace(-0.95, 0.95, 12, dtype=torch.float64)
    emission = LogLinearEmission(intercept=intercept)
    shares = []
    for scale in (1.0, 30.0):  # 30: logits far beyond exp's range without the shift
        params = {"W": torch.as_tensor(scale * rng.normal(size=50))}
        if intercept:
            params["c"] = torch.as_tensor(scale * rng.normal(size=50))
        with torch.no_grad():
            prepared = emission.prepare(params, u)
        table = emission.log_table(params, u)
        share = prepared["share"] / prepared["share_total"][:, None]
        torch.testing.assert_close(share, table.exp(), rtol=1e-12, atol=0)
        logits = u[:, None] * params["W"] + (params["c"] if intercept else 0.0)
        torch.testing.assert_close(prepared["log_norm"], torch.logsumexp(logits, dim=1),
                                   rtol=1e-13, atol=0)
        shares.append(prepared["share"])
    # one buffer: the second call overwrote the first call's shares
    assert shares[0].data_ptr() == shares[1].data_ptr()
    # with a graph the normalizer is differentiable and no buffer is used
    W = torch.zeros(50, dtype=torch.float64, requires_grad=True)
    graph = emission.prepare({"W": W, "c": torch.zeros(50, dtype=torch.float64)}, u)
    assert "share" not in graph and graph["log_norm"].requires_grad
