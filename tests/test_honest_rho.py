"""Honest rho: the shared-vocabulary generator, sample(), and the bias correction."""

import numpy as np
import pytest
import scipy.sparse as sp

from skpolar import PolarizationEstimator, make_polarized_speech


def test_shared_vocabulary_generator():
    X, y, truth = make_polarized_speech(
        3000, n_features=500, vocabulary="shared", partisanship=1.5, speech_len=40,
        length_distribution=2.0, random_state=0, return_truth=True,
    )
    assert X.shape == (3000, 500) and X.dtype == np.int64
    # every word is used by both poles, at rates whose log odds spread with the knob
    assert truth.theta.min() > 0
    log_odds = np.log(truth.theta[1] / truth.theta[0])
    assert np.std(log_odds) == pytest.approx(1.5, rel=0.15)
    # negative binomial lengths: mean 40, variance 40 + 40**2 / 2
    lengths = X.sum(axis=1)
    np.testing.assert_array_equal(lengths, truth.lengths)
    assert lengths.mean() == pytest.approx(40, rel=0.05)
    assert lengths.var() == pytest.approx(40 + 40**2 / 2, rel=0.15)
    # both sides say each of the frequent words
    for side in (0, 1):
        assert (X[y == side, :50].sum(axis=0) > 0).all()
    poisson = make_polarized_speech(2000, length_distribution="poisson", speech_len=30,
                                    random_state=1)[0].sum(axis=1)
    assert poisson.var() == pytest.approx(30, rel=0.15)


def test_sparse_draws_follow_the_dense_distribution():
    kwargs = dict(n_features=40, vocabulary="shared", speech_len=50, random_state=3)
    dense, y_dense = make_polarized_speech(20000, **kwargs)
    sparse, y_sparse = make_polarized_speech(20000, sparse=True, **kwargs)
    assert sp.issparse(sparse) and sparse.shape == dense.shape
    np.testing.assert_array_equal(y_dense, y_sparse)  # same stances, drawn first
    np.testing.assert_array_equal(sparse.sum(axis=1).A1, dense.sum(axis=1))
    # same word rates per party, within sampling error
    for side in (0, 1):
        a = dense[y_dense == side].mean(axis=0)
        b = sparse[y_sparse == side].mean(axis=0).A1
        assert np.max(np.abs(a - b) / np.sqrt(a / (y_dense == side).sum() + 1e-3)) < 5


def test_partisan_generator_is_unchanged_by_default():
    # the notebook's design stays reachable, draw for draw
    X, y, truth = make_polarized_speech(200, rho=0.7, random_state=5, return_truth=True)
    assert X.shape == (200, 3) and (X.sum(axis=1) == 15).all()
    np.testing.assert_allclose(truth.theta, [[0.95, 0, 0.05], [0, 0.95, 0.05]])


@pytest.mark.parametrize("bad", [
    dict(vocabulary="mixed"), dict(partisanship=-1.0), dict(length_distribution="gamma"),
    dict(length_distribution=0.0), dict(vocabulary="shared", n_features=1),
])
def test_generator_rejects_bad_options(bad):
    with pytest.raises(ValueError):
        make_polarized_speech(10, **bad)


def test_sample_draws_corpora_like_the_fitted_one():
    X, y = make_polarized_speech(3000, rho=0.8, n_features=80, vocabulary="shared",
                                 speech_len=40, length_distribution=2.0, random_state=0)
    est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    Xs, ys, u = est.sample(4000, random_state=1)
    assert sp.issparse(Xs) and Xs.shape == (4000, 80) and ys.shape == u.shape == (4000,)
    np.testing.assert_array_equal(ys, np.where(u >= 0, 1, 0))
    # lengths are resampled from the training lengths
    assert set(np.unique(Xs.sum(axis=1).A1)) <= set(np.unique(X.sum(axis=1)))
    # stances follow the fitted prior: the mean |u| of the mixture
    t = (u + 1) / 2
    right = np.where(t >= 0.5, t, 1 - t)
    assert right.mean() == pytest.approx(est.rho_, abs=0.02)
    # deterministic given the seed
    again = est.sample(4000, random_state=1)
    np.testing.assert_array_equal(again[2], u)
    # refitting a sample recovers the fitted model
    refit = PolarizationEstimator(grid_size=40, interval=None).fit(Xs, ys)
    assert refit.rho_ == pytest.approx(est.rho_, abs=0.03)
    # small vocabularies come back dense; the log-linear family samples too
    small = PolarizationEstimator(grid_size=30, interval=None).fit(
        *make_polarized_speech(500, random_state=0))
    assert isinstance(small.sample(10, random_state=0)[0], np.ndarray)
    loglinear = PolarizationEstimator(emission="loglinear", grid_size=30, interval=None).fit(X, y)
    assert loglinear.sample(50, random_state=0)[0].shape == (50, 80)
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(0)


def test_bias_correction_moves_rho_towards_the_truth():
    # 100 terms and 600 speeches: the maximum-likelihood rho is biased upwards
    X, y = make_polarized_speech(600, rho=0.8, n_features=100, speech_len=40, random_state=1)
    est = PolarizationEstimator(grid_size=40, interval=None, bias_correction="bootstrap",
                                n_bias_draws=8, random_state=1).fit(X, y)
    assert est.rho_mle_ > 0.81
    assert est.rho_bias_ > 0 and est.rho_ == pytest.approx(est.rho_mle_ - est.rho_bias_)
    assert abs(est.rho_ - 0.8) < abs(est.rho_mle_ - 0.8)
    assert est.rho_bias_replicates_.shape == (8,)
    # the maximum-likelihood fit itself is kept for the stances
    plain = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    assert plain.rho_mle_ == plain.rho_ and plain.rho_bias_ == 0.0
    np.testing.assert_allclose(est.transform(X), plain.transform(X))


@pytest.mark.parametrize("correction", ["bootstrap", "jackknife"])
def test_bias_corrected_interval_holds_the_corrected_estimate(correction):
    X, y = make_polarized_speech(1500, rho=0.75, random_state=2)
    est = PolarizationEstimator(grid_size=30, bias_correction=correction, n_bias_draws=6,
                                random_state=0).fit(X, y)
    low, high = est.rho_ci_
    assert low <= est.rho_ <= high
    mle_low, mle_high = est.rho_mle_ci_
    # shifted by the bias and widened by its Monte Carlo error
    assert high - low >= mle_high - mle_low - 1e-12
    assert low > 0.5 and low <= mle_low + (est.rho_ - est.rho_mle_) + 1e-12
    assert est.rho_se_ == pytest.approx((high - low) / (2 * 1.959964), rel=1e-4)


def test_split_half_weights_deal_each_party_in_two():
    from skpolar.bias import split_half_weights

    counts = np.array([1, 4, 1, 2, 1, 3, 1])
    side = np.array([0, 0, 0, 1, 1, 1, 1])
    weights = split_half_weights(counts, side, 3, np.random.default_rng(0))
    assert weights.shape == (6, 7) and weights.min() >= 0
    for split in range(3):
        np.testing.assert_array_equal(weights[2 * split] + weights[2 * split + 1], counts)
        # each half holds half of each party's speeches (rounded down)
        assert weights[2 * split, side == 0].sum() == 3
        assert weights[2 * split, side == 1].sum() == 3
    # the splits differ: the halvings are random
    assert len({tuple(w) for w in weights[::2]}) > 1


def test_jackknife_correction_is_twice_the_fit_less_the_halves():
    X, y = make_polarized_speech(600, rho=0.8, n_features=100, speech_len=40, random_state=1)
    est = PolarizationEstimator(grid_size=40, interval=None, bias_correction="jackknife",
                                n_bias_draws=6, random_state=1).fit(X, y)
    halves = est.rho_bias_replicates_
    assert halves.shape == (6,)
    # with a wide vocabulary a half over-fits more than the whole corpus
    assert halves.mean() > est.rho_mle_ > 0.81
    assert est.rho_ == pytest.approx(2 * est.rho_mle_ - halves.mean())
    assert est.rho_bias_ == pytest.approx(halves.mean() - est.rho_mle_)
    assert abs(est.rho_ - 0.8) < abs(est.rho_mle_ - 0.8)
    # reproducible with random_state, other halves with another one
    again = PolarizationEstimator(grid_size=40, interval=None, bias_correction="jackknife",
                                  n_bias_draws=6, random_state=1).fit(X, y)
    np.testing.assert_array_equal(again.rho_bias_replicates_, halves)
    other = again.set_params(random_state=2).fit(X, y)
    assert not np.array_equal(other.rho_bias_replicates_, halves)
    # an odd count deals its last draw to no split
    assert est.set_params(n_bias_draws=5).fit(X, y).rho_bias_replicates_.shape == (4,)


def test_jackknife_needs_two_splits():
    X, y = make_polarized_speech(200, random_state=0)
    est = PolarizationEstimator(bias_correction="jackknife", n_bias_draws=3)
    with pytest.raises(ValueError, match="n_bias_draws >= 4"):
        est.fit(X, y)
    assert not hasattr(est, "rho_")
