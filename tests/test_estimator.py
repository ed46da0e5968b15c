import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skpolar import DegenerateFitWarning, PolarizationEstimator, make_polarized_speech
from skpolar.uncertainty import profile_form


@pytest.fixture(scope="module")
def data():
    X, y, truth = make_polarized_speech(4000, rho=0.8, random_state=0, return_truth=True)
    return X, y, truth


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _ = data
    return PolarizationEstimator(grid_size=60).fit(X, y)


def test_recovers_rho_within_its_own_interval(fitted, data):
    _, _, truth = data
    low, high = fitted.rho_ci_
    assert low < fitted.rho_ < high
    assert low <= truth.rho <= high
    # the interval is informative, not the whole [0.5, 1) range
    assert high - low < 0.1
    assert fitted.converged_
    assert fitted.rho_se_ == pytest.approx((high - low) / (2 * 1.959964))


def test_wald_se_agrees_with_the_profile_in_scale(fitted, data):
    X, y, _ = data
    wald = PolarizationEstimator(grid_size=60, interval=None).fit(X, y)
    assert 0.5 < wald.rho_se_ / fitted.rho_se_ < 2


def test_fitted_attributes_are_numpy(fitted):
    for name in ["alpha_", "beta_", "rho_", "pi_", "rho_se_"]:
        assert isinstance(getattr(fitted, name), float)
    for name in ["W_", "theta_", "grid_", "rho_ci_", "classes_"]:
        assert isinstance(getattr(fitted, name), np.ndarray)
    assert fitted.alpha_ >= fitted.beta_
    assert fitted.rho_ == pytest.approx(fitted.alpha_ / (fitted.alpha_ + fitted.beta_))
    np.testing.assert_allclose(fitted.theta_.sum(axis=1), 1.0)
    assert fitted.W_[0] < 0 < fitted.W_[1]  # left word, right word
    assert fitted.n_features_in_ == 3 and len(fitted.loss_curve_) == fitted.n_iter_


def test_transform_tracks_the_true_stance(fitted, data):
    X, y, truth = data
    stance = fitted.transform(X)
    assert stance.shape == (len(X), 1)
    assert np.all(np.abs(stance) <= 1)
    assert np.corrcoef(stance[:, 0], truth.u)[0, 1] > 0.8
    mean_y, sd_y = fitted.stance(X, y, return_std=True)
    # knowing the party puts the stance on its side and narrows it
    assert np.all(np.sign(mean_y) == np.where(y == 1, 1, -1))
    assert np.mean(sd_y) < np.mean(fitted.stance(X, return_std=True)[1])


def test_predict_proba_and_predict(fitted, data):
    X, y, _ = data
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(fitted.predict(X) == y) > 0.85


def test_score_is_the_mean_log_marginal_likelihood(fitted, data):
    X, y, _ = data
    joint = fitted.score_samples(X, y)
    marginal = fitted.score_samples(X)
    # p(x, y) <= p(x), and the best-fitting objective is what fit minimized
    assert np.all(joint <= marginal + 1e-12)
    assert fitted.score(X, y) == pytest.approx(np.mean(joint))
    assert -fitted.score(X, y) == pytest.approx(fitted.loss_curve_[-1], rel=1e-6)


def test_prior_pdf_integrates_to_one(fitted):
    u = np.linspace(-1, 1, 20001)[1:-1]
    assert np.trapezoid(fitted.prior_pdf(u), u) == pytest.approx(1.0, abs=1e-3)


def test_all_zero_speech_has_the_prior_as_posterior(fitted):
    X0 = np.zeros((1, 3))
    mean, sd = fitted.stance(X0, return_std=True)
    u = fitted.grid_
    # prior mean and sd on the grid
    import torch

    from skpolar.quadrature import log_prior_weights

    w = log_prior_weights(
        torch.tensor(fitted.alpha_, dtype=torch.float64),
        torch.tensor(fitted.beta_, dtype=torch.float64),
        torch.tensor(fitted.pi_, dtype=torch.float64),
        fitted.grid_size,
    ).exp().numpy()
    assert mean[0] == pytest.approx(w @ u)
    assert sd[0] == pytest.approx(np.sqrt(w @ u**2 - (w @ u) ** 2))
    assert fitted.score(X0) == pytest.approx(0.0, abs=1e-12)  # log p(empty speech) = 0


def test_string_labels_and_class_order(data):
    X, y, _ = data
    labels = np.where(y == 1, "R", "D")
    est = PolarizationEstimator(grid_size=30, interval=None).fit(X, labels)
    np.testing.assert_array_equal(est.classes_, ["D", "R"])
    assert set(est.predict(X[:50])) <= {"D", "R"}
    assert np.mean(est.transform(X)[labels == "R"]) > 0


def test_sparse_and_dense_agree(data):
    X, y, _ = data
    dense = PolarizationEstimator(grid_size=30, interval=None).fit(X, y)
    sparse = PolarizationEstimator(grid_size=30, interval=None).fit(sp.csr_matrix(X), y)
    assert sparse.rho_ == pytest.approx(dense.rho_, abs=1e-5)
    np.testing.assert_allclose(sparse.transform(X), dense.transform(sp.csr_matrix(X)), atol=1e-5)


def test_float32_input_gives_float32_output(fitted, data):
    X, _, _ = data
    out = fitted.transform(X[:10].astype(np.float32))
    assert out.dtype == np.float32


def test_quadrature_converges_in_grid_size():
    # the exact cell masses make rho_hat stable under grid refinement at rho = 0.9
    X, y = make_polarized_speech(20000, rho=0.9, random_state=2)
    coarse = PolarizationEstimator(grid_size=100, interval=None).fit(X, y)
    fine = PolarizationEstimator(grid_size=400, interval=None).fit(X, y)
    assert abs(coarse.rho_ - fine.rho_) < 0.002


def test_fixed_pi_is_respected(data):
    X, y, _ = data
    est = PolarizationEstimator(grid_size=30, pi=0.5, interval=None).fit(X, y)
    assert est.pi_ == 0.5 and "logit_pi" not in est._params


def test_estimates_unequal_party_sizes():
    X, y = make_polarized_speech(20000, rho=0.85, pi=0.54, random_state=0)
    est = PolarizationEstimator(grid_size=50, interval=None).fit(X, y)
    assert est.pi_ == pytest.approx(0.54, abs=0.02)


@pytest.mark.parametrize("emission", ["loglinear", "softmax"])
def test_loglinear_families_fit(emission, data):
    X, y, truth = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = PolarizationEstimator(emission=emission, grid_size=40, interval=None).fit(X, y)
    assert est.W_.shape == (3,) and np.all(np.isfinite(est.W_))
    assert np.corrcoef(est.transform(X)[:, 0], truth.u)[0, 1] > 0.8


def test_intercept_free_model_warns_when_it_degenerates():
    X, y = make_polarized_speech(3000, rho=0.9, random_state=0)
    with pytest.warns(DegenerateFitWarning, match="not identified"):
        PolarizationEstimator(emission="softmax", grid_size=40, interval=None, max_iter=2000).fit(
            X, y
        )


def test_notebook_procedure_is_reachable():
    X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    est = PolarizationEstimator(
        emission="softmax", quadrature="density", pi=0.5, solver="sgd", learning_rate=0.1,
        batch_size=None, max_iter=200, tol=0.0, n_iter_no_change=200, init="random",
        interval=None, random_state=1,
    )
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert est.n_iter_ == 200 and not est.converged_
    assert 0.5 <= est.rho_ < 1


def test_no_nan_at_extreme_parameters(fitted, data):
    X, _, _ = data
    est = pickle.loads(pickle.dumps(fitted))
    for log_a, log_b in [(np.log(1e4), np.log(1e-2)), (np.log(1e-2), np.log(1e-2)), (9.2, 9.2)]:
        est._params = {**fitted._params, "log_a": np.asarray(log_a), "log_b": np.asarray(log_b)}
        est._params["eta"] = fitted._params["eta"] * 50  # near-degenerate poles
        assert np.all(np.isfinite(est.score_samples(X[:200])))
        assert np.all(np.isfinite(est.transform(X[:200])))


def test_minibatch_solvers_approach_the_lbfgs_optimum(data):
    X, y, _ = data
    exact = PolarizationEstimator(grid_size=30, interval=None).fit(X, y)
    est = PolarizationEstimator(
        solver="adam", learning_rate=0.05, batch_size=500, max_iter=60, grid_size=30,
        interval=None, random_state=0, tol=0.0,
    )
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    # Adam ends in a noise ball around the optimum; rho is the flattest direction
    assert est.score(X, y) > exact.score(X, y) - 2e-3
    assert abs(est.rho_ - exact.rho_) < 0.05
    assert est.n_iter_ == 60 and len(est.loss_curve_) == 60


def test_partial_fit_streams(data):
    X, y, _ = data
    stream = PolarizationEstimator(solver="adam", learning_rate=0.05, batch_size=500, grid_size=30)
    for _ in range(3):
        for start in range(0, len(X), 1000):
            stream.partial_fit(X[start : start + 1000], y[start : start + 1000], classes=[0, 1])
    assert stream.n_iter_ == 12 and len(stream.loss_curve_) == 12
    assert stream.loss_curve_[-1] < stream.loss_curve_[0]
    assert not hasattr(PolarizationEstimator(), "partial_fit")  # lbfgs has none


def test_random_state_makes_fits_reproducible(data):
    X, y, _ = data
    kw = dict(solver="sgd", batch_size=256, max_iter=3, grid_size=20, interval=None, init="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = PolarizationEstimator(random_state=3, **kw).fit(X, y)
        b = PolarizationEstimator(random_state=3, **kw).fit(X, y)
    assert a.rho_ == b.rho_
    np.testing.assert_array_equal(a.transform(X[:20]), b.transform(X[:20]))


def test_bootstrap_interval(data):
    X, y, _ = data
    est = PolarizationEstimator(
        grid_size=30, interval="bootstrap", n_bootstrap=20, n_jobs=2, random_state=0
    ).fit(X[:2000], y[:2000])
    assert est.rho_bootstrap_.shape == (20,)
    assert est.rho_ci_[0] <= est.rho_ <= est.rho_ci_[1]


def test_pipeline_on_raw_text_and_grid_search():
    X, y = make_polarized_speech(600, rho=0.8, random_state=0)
    words = np.array(["tax", "care", "senate"])
    docs = [" ".join(np.repeat(words, row)) for row in X]
    pipe = Pipeline([("vec", CountVectorizer()), ("polar", PolarizationEstimator(interval=None))])
    search = GridSearchCV(
        pipe,
        {"polar__grid_size": [20, 40], "polar__learning_rate": [0.05, 0.1]},
        cv=2,
        n_jobs=2,
    )
    search.fit(docs, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.transform(docs[:5]).shape == (5, 1)


# ---- bad input -------------------------------------------------------------------
def _assert_untouched(before, after):
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(
    "X_bad, match",
    [
        (np.array([[1.0, -1.0, 2.0]] * 4), "Negative values in data passed to"),
        (np.array([[1.0, np.nan, 2.0]] * 4), "NaN"),
        (np.array([[1.0, np.inf, 2.0]] * 4), "infinity"),
    ],
)
def test_bad_counts_are_rejected_at_the_boundary(X_bad, match, fitted):
    y = np.array([0, 1, 0, 1])
    copy = X_bad.copy()
    with pytest.raises(ValueError, match=match):
        PolarizationEstimator().fit(X_bad, y)
    with pytest.raises(ValueError, match=match):
        fitted.transform(X_bad)
    np.testing.assert_array_equal(copy, X_bad)


@pytest.mark.parametrize(
    "y_bad, match",
    [([0, 0, 0, 0], "1 class"), ([0, 1, 2, 0], "3 classes"), ([0, 1, 0], "inconsistent")],
)
def test_bad_labels_are_rejected(y_bad, match):
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match=match):
        PolarizationEstimator().fit(X, y_bad)


def test_wrong_number_of_features(fitted):
    with pytest.raises(ValueError, match="features"):
        fitted.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="features"):
        fitted.score(np.ones((2, 4)))


def test_unknown_party_at_stance_time(fitted):
    with pytest.raises(ValueError, match="not in classes_"):
        fitted.stance(np.ones((2, 3)), y=[0, 5])


def test_unfitted_estimator_raises():
    with pytest.raises(NotFittedError):
        PolarizationEstimator().transform(np.ones((2, 3)))


def test_fit_does_not_modify_inputs(data):
    X, y, _ = data
    X_sparse = sp.csr_matrix(X[:500])
    before_dense, before_sparse, before_y = X[:500].copy(), X_sparse.copy(), y[:500].copy()
    PolarizationEstimator(grid_size=20, interval=None).fit(X_sparse, y[:500])
    PolarizationEstimator(grid_size=20, interval=None).fit(X[:500], y[:500])
    np.testing.assert_array_equal(X[:500], before_dense)
    np.testing.assert_array_equal(X_sparse.toarray(), before_sparse.toarray())
    np.testing.assert_array_equal(y[:500], before_y)


def test_cuda_request_without_cuda_is_a_clear_error(data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    X, y, _ = data
    with pytest.raises(ValueError, match="CUDA is not available"):
        PolarizationEstimator(device="cuda", interval=None).fit(X[:100], y[:100])


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_two_pole_fit_reaches_the_same_optimum_from_any_start(random_state):
    # guards against an optimizer that stops early: a random start and the
    # default start must agree on the maximum likelihood estimate. (The
    # log-linear families have several optima along their scale ridge; they
    # are started from the parties' log odds instead.)
    X, y = make_polarized_speech(10000, rho=0.7, random_state=0)
    kw = dict(grid_size=100, interval=None, max_iter=3000)
    auto = PolarizationEstimator(**kw).fit(X, y)
    rand = PolarizationEstimator(init="random", random_state=random_state, **kw).fit(X, y)
    assert auto.converged_ and rand.converged_
    assert auto.rho_ == pytest.approx(rand.rho_, abs=1e-3)
    assert auto.score(X, y) == pytest.approx(rand.score(X, y), abs=1e-6)


@pytest.fixture(scope="module")
def wide_vocabulary():
    # 200 terms: the regime where solver="auto" picks EM
    X, y, truth = make_polarized_speech(
        3000, rho=0.8, n_features=200, speech_len=60, random_state=0, return_truth=True
    )
    return sp.csr_matrix(X), y, truth


def test_em_is_monotone_and_beats_lbfgs_on_a_wide_vocabulary(wide_vocabulary):
    X, y, truth = wide_vocabulary
    em = PolarizationEstimator(grid_size=50, interval=None).fit(X, y)
    assert em._full_batch_solver() == "em" and em.converged_
    # EM never lowers the likelihood between accepted points
    assert np.all(np.diff(em.loss_curve_) <= 1e-12)
    assert -em.score(X, y) == pytest.approx(em.loss_curve_[-1], rel=1e-10)
    # 400 pole probabilities from 3,000 speeches: the estimate carries a
    # finite-sample upward bias of about +0.02 here (it shrinks with N; see
    # docs/model.rst), so this only checks the right neighbourhood
    assert abs(em.rho_ - truth.rho) < 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lbfgs = PolarizationEstimator(grid_size=50, interval=None, solver="lbfgs").fit(X, y)
    # L-BFGS crawls as pole probabilities go to zero; EM gets at least as high
    assert em.score(X, y) >= lbfgs.score(X, y) - 1e-6
    np.testing.assert_allclose(em.theta_.sum(axis=1), 1.0)


def test_em_profile_interval_ends_where_the_likelihood_ratio_crosses(wide_vocabulary):
    X, y, _ = wide_vocabulary
    est = PolarizationEstimator(grid_size=50).fit(X, y)
    low, high = est.rho_ci_
    assert low < est.rho_ < high < low + 0.1
    # refit with rho held at each end (EM, from the estimate): the likelihood
    # ratio statistic there is the chi-square(1) 95% quantile
    from skpolar.uncertainty import rho_of

    data = est._fit_rows(X, est._encode(y), None)[0]
    loss_hat = -est.score(X, y)
    for end in (low, high):
        problem = est._problem(data, fixed_rho=end)
        _, info = est._minimize(problem, profile_form(est._params))
        statistic = 2 * len(y) * (info["loss"] - loss_hat)
        assert statistic == pytest.approx(3.8415, abs=0.05)
    assert rho_of(est._params) == pytest.approx(est.rho_)
    # the dense path (no sparse kernels) reaches the same optimum
    dense = PolarizationEstimator(grid_size=50, interval=None).fit(X.toarray(), y)
    assert dense.rho_ == pytest.approx(est.rho_, abs=1e-4)


def test_profile_interval_follows_the_likelihoods_other_branch():
    # 1,000 speeches at rho = 0.7: a second optimum along the flat path
    # (poles sharing more words, stances spread wide) is within the
    # chi-square quantile of the estimate at rho = 0.6, where the fit
    # started at the estimate is not
    X, y = make_polarized_speech(1000, rho=0.7, random_state=2)
    est = PolarizationEstimator().fit(X, y)
    data = est._fit_rows(X, est._encode(y), None)[0]
    loss_hat = -est.score(X, y)
    problem = est._problem(data, fixed_rho=0.6)
    statistic = {
        name: 2 * len(y) * (est._minimize(problem, profile_form(start))[1]["loss"] - loss_hat)
        for name, start in (("estimate", est._params),
                            ("restart", est._profile_restart(data, None)))
    }
    assert statistic["restart"] < 3.8415 < statistic["estimate"]
    assert est.rho_ci_[0] < 0.6 < est.rho_ < est.rho_ci_[1]


def test_em_needs_the_two_pole_emission(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="solver='em' needs emission='two_pole'"):
        PolarizationEstimator(emission="loglinear", solver="em").fit(X, y)


def test_auto_solver_picks_lbfgs_for_a_few_terms(fitted):
    assert fitted._full_batch_solver() == "lbfgs"


def test_verbose_reports_every_iteration(data, capsys):
    X, y, _ = data
    est = PolarizationEstimator(grid_size=20, interval=None, verbose=2).fit(X[:500], y[:500])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fit ")]
    assert len(lines) == len(est.loss_curve_)
    assert lines[-1].endswith(f"{est.loss_curve_[-1]:.8f}")


@pytest.mark.parametrize("emission", ["two_pole", "loglinear", "softmax"])
def test_fisher_identity_gradient_matches_autograd(emission):
    # the solvers' gradient comes from the E-step's statistics; it must equal
    # the gradient of the log marginal likelihood differentiated end to end
    import torch

    from skpolar.emissions import make_emission
    from skpolar.likelihood import make_chunks
    from skpolar.objective import Problem

    X, y = make_polarized_speech(300, rho=0.8, n_features=12, random_state=0)
    family = make_emission(emission)
    problem = Problem(make_chunks(X, y, None, 15), family, 12, 15, "exact")
    counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    start = {"log_a": np.log(3.0), "log_b": 0.2, "logit_pi": 0.3,
             **family.init_params(counts, None)}
    shapes = problem.layout(start)
    x = problem.pack(start) + 0.05 * np.random.default_rng(0).standard_normal(
        len(problem.pack(start))
    )
    value, grad = problem.value_and_grad(x, shapes)
    xt = torch.tensor(x, requires_grad=True)
    params, offset = {}, 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        params[name] = xt[offset : offset + size].reshape(shape)
        offset += size
    objective = -problem.loglik_torch(params) / problem.n_total
    (expected,) = torch.autograd.grad(objective, xt)
    assert value == pytest.approx(float(objective.detach()), rel=1e-12)
    np.testing.assert_allclose(grad, expected.numpy(), atol=1e-12)


@pytest.mark.parametrize("setting", ["free", "pi fixed", "rho fixed", "vocabulary prior",
                                     "density rule"])
def test_the_objective_l_bfgs_calls_is_value_and_grad(setting):
    # L-BFGS evaluates through the NumPy twin where it applies; whichever
    # path Problem.objective picks, it is Problem.value_and_grad
    from skpolar.emissions import TwoPoleEmission
    from skpolar.likelihood import make_chunks
    from skpolar.objective import Problem, _NumpyTwoPole

    X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    prior = counts.sum(axis=0) / counts.sum() if setting == "vocabulary prior" else None
    family = TwoPoleEmission(prior_counts=prior)
    problem = Problem(make_chunks(X, y, None, 20), family, 3, 20,
                      "density" if setting == "density rule" else "exact",
                      pi=0.4 if setting == "pi fixed" else None,
                      fixed_rho=0.75 if setting == "rho fixed" else None)
    start = {"log_a": np.log(3.0), "log_b": 0.2, "logit_pi": 0.3, "log_kappa": 1.5,
             **family.init_params(counts, None)}
    start = {name: start[name] for name in problem.prior_names + ("eta",)}
    shapes = problem.layout(start)
    objective = problem.objective(shapes)
    twin = getattr(objective, "__self__", None)
    assert isinstance(twin, _NumpyTwoPole) == (setting != "density rule")
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = problem.pack(start) + 0.3 * rng.standard_normal(len(problem.pack(start)))
        value, grad = objective(x)
        expected_value, expected_grad = problem.value_and_grad(x, shapes)
        assert value == pytest.approx(expected_value, rel=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)


def test_problem_on_a_coarser_grid_shares_the_data():
    from skpolar.emissions import make_emission
    from skpolar.likelihood import make_chunks
    from skpolar.objective import Problem

    X, y = make_polarized_speech(300, rho=0.8, n_features=30, random_state=0)
    problem = Problem(make_chunks(X, y, None, 40), make_emission("two_pole"), 30, 40, "exact")
    coarse = problem.on_grid(10)
    assert coarse.grid_size == 10 and len(coarse.u) == 20
    assert [c.nodes for c in coarse.chunks] == [slice(0, 10), slice(10, 20)]
    assert all(a.X is b.X for a, b in zip(problem.chunks, coarse.chunks, strict=True))
    assert coarse.n_total == problem.n_total


def test_coarse_start_reaches_the_optimum_of_the_fine_grid(monkeypatch):
    import skpolar.estimator as estimator_module

    X, y = make_polarized_speech(3000, rho=0.8, n_features=100, speech_len=30, random_state=0)
    staged = PolarizationEstimator(grid_size=80, interval=None).fit(X, y)
    monkeypatch.setattr(estimator_module, "_COARSE_FACTOR", 10**6)  # no coarse stage
    direct = PolarizationEstimator(grid_size=80, interval=None).fit(X, y)
    assert staged.converged_ and direct.converged_
    assert abs(staged.rho_ - direct.rho_) < 5e-4
    # the same objective, on the fit's own 80-node grid
    assert staged.loss_curve_[-1] <= direct.loss_curve_[-1] + 1e-6
    assert abs(-staged.score(X, y) - staged.loss_curve_[-1]) < 1e-8
