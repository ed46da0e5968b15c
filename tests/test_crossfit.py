"""Cross-fitted rho: folds, the stance axis, the held-out likelihood and the estimator option."""

import numpy as np
import pytest
import scipy.optimize

from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.crossfit import CrossFit, axis_table, fold_weights, stance_axis


def test_folds_deal_every_speech_once_within_each_party():
    side = np.array([0, 0, 1, 1, 1])
    weight = np.array([3.0, 1.0, 2.0, 2.0, 1.0])
    folds = fold_weights(side, weight, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(folds.sum(axis=0), weight)
    # each party's four and five speeches spread as evenly as they can
    for party, total in ((0, 4), (1, 5)):
        per_fold = folds[:, side == party].sum(axis=1)
        assert per_fold.sum() == total and per_fold.max() - per_fold.min() <= 1
    again = fold_weights(side, weight, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(folds, again)


def test_axis_keeps_well_measured_frequencies_and_shrinks_rare_leans():
    left, right = np.array([0.6, 0.2, 0.2]), np.array([0.2, 0.4, 0.4])
    m, d = stance_axis(1e7 * np.vstack([left, right]))
    np.testing.assert_allclose(m + d, right, rtol=1e-4)
    np.testing.assert_allclose(m - d, left, rtol=1e-4)
    # a word seen twice by one party only is no longer one that party never says
    counts = np.vstack([1e5 * left, 1e5 * right])
    counts = np.hstack([counts, [[0.0], [2.0]]])
    m, d = stance_axis(counts)
    raw = np.log(2.5 / counts[1].sum()) - np.log(0.5 / counts[0].sum())
    shrunk = np.log((m + d)[3] / (m - d)[3])
    assert 0 < shrunk < 0.5 * raw


def test_axis_table_runs_between_the_ends_where_a_word_runs_out():
    m, d = np.array([0.4, 0.3, 0.3]), np.array([-0.2, 0.1, 0.1])
    s, value, slope = axis_table(np.array([[1.0, 1.0, 0.0]]), m, d, n_points=33)
    # moving right, word 0 runs out at s = 2; moving left, words 1 and 2 at s = -3
    assert s[-1] == pytest.approx(2.0) and s[0] == pytest.approx(-3.0)
    assert np.all(np.diff(s) > 0)
    np.testing.assert_allclose(value[0], np.log(m[0] + s * d[0]) + np.log(m[1] + s * d[1]))
    np.testing.assert_allclose(slope[0], d[0] / (m[0] + s * d[0]) + d[1] / (m[1] + s * d[1]))


@pytest.fixture(scope="module")
def wide():
    X, y = make_polarized_speech(600, rho=0.7, n_features=300, vocabulary="shared",
                                 speech_len=40, length_distribution=1.0, sparse=True,
                                 random_state=4)
    return X.astype(float), y


def test_held_out_loss_gradient_matches_finite_differences(wide):
    X, y = wide
    cross = CrossFit(X, y, np.ones(len(y)), 40, np.random.default_rng(0), n_folds=5)
    x = next(cross._starts([(3.0, 2.0, 0.4)]))
    value, grad = cross.loss(x)
    numeric = scipy.optimize.approx_fprime(x, lambda z: cross.loss(z)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, atol=2e-5 * np.abs(grad).max())
    # the interpolated table reads the curve it was built from at its points
    fold = cross.folds[0]
    nodes, value, slope, _ = fold["parts"][1]
    from skpolar.crossfit import _hermite
    mid = (fold["s"][100] + fold["s"][101]) / 2
    val, der = _hermite(fold["s"], value, slope, np.array([fold["s"][100], mid]))
    np.testing.assert_allclose(val[:, 0], value[:, 100])
    assert np.all(np.isfinite(der))


def test_profile_interval_ends_where_the_likelihood_ratio_is_the_chi2_quantile(wide):
    X, y = wide
    cross = CrossFit(X, y, np.ones(len(y)), 40, np.random.default_rng(1), n_folds=5)
    fit = cross.fit([(3.0, 2.0, 0.5), (5.4, 0.6, 0.5)])
    (low, high), better = cross.interval(fit, 0.9999)
    assert better is None and low <= fit["rho"] <= high
    for end in (low, high):
        if 0.5 < end < 0.9999:
            value, _ = cross.profile_loss(end, fit["x"])
            assert 2 * cross.n_total * (value - fit["loss"]) == pytest.approx(3.8415, abs=0.02)


def test_crossfit_on_a_wide_vocabulary_is_far_less_biased_than_maximum_likelihood():
    # 2,000 shared words, 1,000 speeches: the maximum-likelihood poles over-fit
    # and rho_mle_ sits near 0.77 whatever the truth 0.6 (docs/benchmarks.rst)
    errors_mle, errors_cf = [], []
    for seed in range(3):
        X, y = make_polarized_speech(1000, rho=0.6, n_features=2000, vocabulary="shared",
                                     speech_len=60, length_distribution=1.0, sparse=True,
                                     random_state=1000 + seed)
        est = PolarizationEstimator(grid_size=50, bias_correction="crossfit",
                                    random_state=seed).fit(X, y)
        errors_mle.append(est.rho_mle_ - 0.6)
        errors_cf.append(est.rho_ - 0.6)
        assert est.rho_ci_[0] <= est.rho_ <= est.rho_ci_[1]
        assert est.rho_bias_ == pytest.approx(est.rho_mle_ - est.rho_)
        assert np.isnan(est.rho_mle_ci_).all()
    assert min(errors_mle) > 0.1
    # the held-out fit lands far closer (0.58, 0.57, 0.52 against 0.78, 0.77, 0.79)
    assert np.mean(np.abs(errors_cf)) < 0.5 * np.mean(errors_mle)


def test_crossfit_estimator_option():
    X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    kwargs = dict(grid_size=40, bias_correction="crossfit", random_state=3)
    est = PolarizationEstimator(**kwargs).fit(X, y)
    assert est.rho_ci_[0] <= est.rho_ <= est.rho_ci_[1]
    assert est.rho_se_ == pytest.approx(np.diff(est.rho_ci_)[0] / (2 * 1.959964), rel=1e-4)
    assert abs(est.rho_ - 0.8) < 0.03
    # reproducible with random_state; the maximum-likelihood fit is unchanged
    again = PolarizationEstimator(**kwargs).fit(X, y)
    assert again.rho_ == est.rho_
    plain = PolarizationEstimator(grid_size=40).fit(X, y)
    assert est.rho_mle_ == pytest.approx(plain.rho_, abs=1e-10)
    np.testing.assert_allclose(est.transform(X), plain.transform(X))
    boot = PolarizationEstimator(**kwargs, interval="bootstrap", n_bootstrap=5).fit(X, y)
    assert boot.rho_bootstrap_.shape == (5,) and boot.rho_ == est.rho_
    assert boot.rho_ci_[0] <= boot.rho_ <= boot.rho_ci_[1]
    none = PolarizationEstimator(**kwargs, interval=None).fit(X, y)
    assert none.rho_ == est.rho_ and np.isnan(none.rho_ci_).all()
    fixed = PolarizationEstimator(**kwargs, pi=0.5).fit(X, y)
    assert fixed.pi_ == 0.5 and fixed.rho_ci_[0] <= fixed.rho_ <= fixed.rho_ci_[1]


def test_auto_cross_fits_where_the_vocabulary_is_as_large_as_the_corpus():
    X, y = make_polarized_speech(300, rho=0.7, n_features=400, vocabulary="shared",
                                 speech_len=40, sparse=True, random_state=0)
    wide = PolarizationEstimator(grid_size=30, interval=None, random_state=0).fit(X, y)
    assert wide.bias_correction == "auto" and wide.bias_correction_ == "crossfit"
    cross = PolarizationEstimator(grid_size=30, interval=None, bias_correction="crossfit",
                                  random_state=0).fit(X, y)
    plain = PolarizationEstimator(grid_size=30, interval=None, bias_correction=None,
                                  random_state=0).fit(X, y)
    assert wide.rho_ == cross.rho_ and wide.rho_mle_ == plain.rho_
    assert plain.bias_correction_ is None
    # one speech more than there are terms: maximum likelihood, as asked for None
    X2, y2 = make_polarized_speech(401, rho=0.7, n_features=400, vocabulary="shared",
                                   speech_len=40, sparse=True, random_state=0)
    narrow = PolarizationEstimator(grid_size=30, interval=None, random_state=0).fit(X2, y2)
    assert narrow.bias_correction_ is None and narrow.rho_ == narrow.rho_mle_
    # the log-linear families have no held-out line: auto keeps their fit
    loglinear = PolarizationEstimator(emission="loglinear", grid_size=30, interval=None,
                                      max_iter=50, random_state=0).fit(X[:, :300], y)
    assert loglinear.bias_correction_ is None


def test_crossfit_with_groups_leaves_one_speaker_out():
    X, y, truth = make_polarized_speech(1200, rho=0.8, n_features=40, speech_len=20,
                                        random_state=2, return_truth=True)
    speaker = np.arange(len(y)) // 4
    # four speeches a speaker, all with the first speech's party
    y = y[speaker * 4]
    est = PolarizationEstimator(grid_size=30, bias_correction="crossfit",
                                random_state=0).fit(X, y, groups=speaker)
    assert est.n_speakers_ == 300
    assert est.rho_ci_[0] <= est.rho_ <= est.rho_ci_[1]


def test_crossfit_needs_the_two_pole_emission():
    X, y = make_polarized_speech(200, random_state=0)
    est = PolarizationEstimator(emission="loglinear", bias_correction="crossfit")
    with pytest.raises(ValueError, match="bias_correction='crossfit' needs emission='two_pole'"):
        est.fit(X, y)
    assert not hasattr(est, "rho_")


def test_leave_one_out_table_scores_each_row_against_the_others():
    import scipy.sparse as sp

    from skpolar.crossfit import leave_one_out_table

    X, y = make_polarized_speech(200, rho=0.8, n_features=30, speech_len=20, random_state=5)
    X = sp.csr_matrix(X.astype(float))
    s, value, slope = leave_one_out_table(X, y, np.ones(len(y)), n_points=17)
    # row 7 against the axis of the other 199 rows, built directly
    keep = np.arange(len(y)) != 7
    counts = np.vstack([np.asarray(X[keep][y[keep] == k].sum(axis=0)).ravel() for k in (0, 1)])
    m, d = stance_axis(counts)
    direct = np.log(m[None, :] + s[:, None] * d[None, :]) @ X[7].toarray().ravel()
    # the shrinkage (centre, spread, totals) is the full corpus': close, not equal
    np.testing.assert_allclose(value[7], direct, rtol=2e-3)
    assert np.all(np.isfinite(slope))
    # the predictive line: the line itself where no word is near zero, and
    # ends that are confidence bounds, beyond the estimated line's own
    s_p, value_p, slope_p = leave_one_out_table(X, y, np.ones(len(y)), n_points=17,
                                                predictive=True)
    assert s_p[0] < s[0] < 0 < s[-1] < s_p[-1]
    inner = (s_p > s[0] / 2) & (s_p < s[-1] / 2)
    direct = np.log(m[None, :] + s_p[inner, None] * d[None, :]) @ X[7].toarray().ravel()
    np.testing.assert_allclose(value_p[7, inner], direct, rtol=2e-3)
    assert np.all(np.isfinite(value_p)) and np.all(np.isfinite(slope_p))
    cross = CrossFit(X, y, np.ones(len(y)), 30)
    assert len(cross.folds) == 1 and len(cross.bounds()) == 5


def test_a_given_axis_scores_every_row_against_it():
    # speeches drawn from known poles: held out against the true axis, the
    # fit recovers rho without any axis noise
    rng = np.random.default_rng(3)
    left = rng.dirichlet(np.ones(40))
    right = rng.dirichlet(np.ones(40))
    n, rho = 3000, 0.8
    t = rng.beta(8.0, 2.0, size=n)  # mean 0.8
    side = rng.integers(0, 2, size=n)
    t = np.where(side == 1, t, 1.0 - t)
    probs = (1.0 - t)[:, None] * left + t[:, None] * right
    X = np.vstack([rng.multinomial(40, p) for p in probs]).astype(float)
    m, d = (left + right) / 2.0, (right - left) / 2.0
    cf = CrossFit(X, side, np.ones(n), 50, axis=(m, d))
    assert len(cf.folds) == 1
    fit = cf.fit([(4.0, 1.0, 0.5)])
    assert abs(fit["rho"] - rho) < 0.03
    # the true axis puts u = -1 and u = 1 at the true poles
    np.testing.assert_allclose(fit["x"][3:], [-1.0, 1.0], atol=0.1)


def test_predictive_line_stays_positive_and_is_the_line_far_from_zero():
    from skpolar.crossfit import _predictive_line

    s = np.linspace(-3.0, 3.0, 61)
    # a word the left party says: its estimated line runs out at s = 1.5
    value, slope = _predictive_line(0.3, 0.06, 1e-4, 1e-5, s)
    line = (1 - s) / 2 * 0.3 + (1 + s) / 2 * 0.06
    far = line > 8 * np.sqrt(((1 - s) / 2) ** 2 * 1e-4 + ((1 + s) / 2) ** 2 * 1e-5)
    np.testing.assert_allclose(value[far], line[far])
    assert np.all(value > 0) and np.all(np.diff(value) < 0)
    # the slope is the derivative of the value
    h = 1e-6
    up, _ = _predictive_line(0.3, 0.06, 1e-4, 1e-5, s + h)
    down, _ = _predictive_line(0.3, 0.06, 1e-4, 1e-5, s - h)
    np.testing.assert_allclose(slope, (up - down) / (2 * h), rtol=1e-4, atol=1e-9)
    # without error it is the line, cut at zero
    exact, _ = _predictive_line(0.3, 0.06, 0.0, 0.0, s)
    np.testing.assert_allclose(exact, np.maximum(line, 1e-300))


def test_rare_one_sided_words_do_not_end_the_line_early():
    from skpolar.crossfit import (_credible_line_ends, _frequency_variance, _line_ends,
                                  _shrunk_log_frequencies)

    rng = np.random.default_rng(0)
    # 20 frequent words and 2,000 rare ones, each seen once, by one party
    frequent = rng.integers(2000, 4000, size=(2, 20)).astype(float)
    rare = np.zeros((2, 2000))
    rare[rng.integers(0, 2, size=2000), np.arange(2000)] = 1.0
    counts = np.hstack([frequent, rare])
    log_freq, (_, tau2, _) = _shrunk_log_frequencies(counts)
    freq = np.exp(log_freq - np.log(np.exp(log_freq).sum(axis=1, keepdims=True)))
    raw = _line_ends(freq.mean(axis=0), (freq[1] - freq[0]) / 2)
    lo, hi = _credible_line_ends(freq, _frequency_variance(counts, freq, tau2))
    # the frequent words alone end their line here
    alone = _line_ends(*stance_axis(frequent))
    assert hi > raw[1] and lo < raw[0]
    assert hi <= alone[1] * 1.5 and lo >= alone[0] * 1.5
