"""One stance per speaker: fit(..., groups=...), speaker_stance and dispersion."""

import numpy as np
import pytest
import scipy.sparse as sp

from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.speakers import dispersion_weights, estimate_dispersion, sum_by_group


@pytest.fixture(scope="module")
def speakers():
    """150 speakers with 1 to 6 speeches each, every speech drawn at its speaker's stance."""
    rng = np.random.default_rng(0)
    _, y_speaker, truth = make_polarized_speech(
        150, rho=0.8, n_features=30, speech_len=1, random_state=1, return_truth=True
    )
    n_speeches = rng.integers(1, 7, size=150)
    n_speeches[0] = 1  # a speaker with a single speech
    speaker = np.repeat(np.arange(150), n_speeches)
    lengths = rng.poisson(25, size=len(speaker))
    X = rng.multinomial(lengths, truth.phi[speaker])
    y = y_speaker[speaker]
    names = np.array([f"s{i:03d}" for i in range(150)])[speaker]
    return X, y, names, truth.u


@pytest.fixture(scope="module")
def grouped(speakers):
    X, y, names, _ = speakers
    # tight tolerance: the two fits compared below have different constants
    # (multinomial coefficients) in their loss, so a loose relative stopping
    # rule would stop them at slightly different points
    return PolarizationEstimator(grid_size=40, interval=None, dispersion=None, tol=1e-12,
                                 max_iter=3000).fit(X, y, groups=names)


def test_grouped_fit_is_the_fit_of_summed_speeches(speakers, grouped):
    X, y, names, _ = speakers
    labels, inverse = np.unique(names, return_inverse=True)
    summed = sum_by_group(X.astype(float), inverse, len(labels))
    side = np.zeros(len(labels), dtype=int)
    side[inverse] = y
    direct = PolarizationEstimator(grid_size=40, interval=None, tol=1e-12,
                                   max_iter=3000).fit(summed, side)
    assert grouped.n_speakers_ == 150
    assert grouped.rho_ == pytest.approx(direct.rho_, abs=1e-6)
    np.testing.assert_allclose(grouped.theta_, direct.theta_, atol=1e-6)
    # a speaker's posterior is that of the summed speech under the same model
    # (compared within one fit: two fits agree on rho and theta to 1e-6 but
    # can stop a few 1e-6 apart along the likelihood's flat stretch path)
    table = grouped.speaker_stance(X, y, groups=names)
    np.testing.assert_allclose(table["stance"], grouped.stance(summed, side), atol=1e-10)
    np.testing.assert_allclose(table["words_stance"], grouped.transform(summed)[:, 0],
                               atol=1e-10)


def test_speaker_stance_table(speakers, grouped):
    X, y, names, u = speakers
    table = grouped.speaker_stance(X, y, groups=names, level=0.9)
    assert list(table.index[:2]) == ["s000", "s001"] and table.index.name == "speaker"
    assert table.loc["s000", "n_speeches"] == 1
    assert table["n_speeches"].sum() == len(y)
    assert table["n_words"].sum() == X.sum()
    # given the party, a stance stays on the party's side; the words alone may cross
    right = table["party"] == 1
    assert (table.loc[right, "stance_low"] >= 0).all() and (table.loc[~right, "stance_high"] <= 0).all()
    for prefix in ("stance", "words_stance"):
        assert (table[f"{prefix}_low"] <= table[prefix]).all()
        assert (table[prefix] <= table[f"{prefix}_high"]).all()
        assert (table[f"{prefix}_sd"] > 0).all()
    assert ((table["p_right"] >= 0) & (table["p_right"] <= 1)).all()
    # pooling a speaker's speeches tracks the speaker's true stance
    assert np.corrcoef(table["words_stance"], u)[0, 1] > 0.9
    # more speeches, narrower intervals
    width = table["words_stance_high"] - table["words_stance_low"]
    assert width[table["n_speeches"] >= 5].mean() < width[table["n_speeches"] == 1].mean()
    words_only = grouped.speaker_stance(X, groups=names)
    assert "stance" not in words_only and "party" not in words_only
    np.testing.assert_allclose(words_only["words_stance"], table["words_stance"])


def test_speech_level_stances_stay_available(speakers, grouped):
    X, y, names, _ = speakers
    assert grouped.transform(X).shape == (len(y), 1)
    mean, sd = grouped.stance(X, y, return_std=True)
    assert mean.shape == sd.shape == (len(y),)


def test_a_speaker_in_both_parties_is_a_clear_error(speakers):
    X, y, names, _ = speakers
    y = y.copy()
    first = np.flatnonzero(names == names[names != "s000"][0])
    y[first[0]] = 1 - y[first[0]]
    est = PolarizationEstimator(grid_size=20, interval=None)
    with pytest.raises(ValueError, match="both parties.*" + names[first[0]]):
        est.fit(X, y, groups=names)
    assert not hasattr(est, "rho_")


@pytest.mark.parametrize("bad", [np.arange(5), np.zeros((10, 2)), "speaker"])
def test_groups_of_the_wrong_shape_are_a_clear_error(speakers, bad):
    X, y, _, _ = speakers
    with pytest.raises(ValueError, match="one speaker per row"):
        PolarizationEstimator(grid_size=20, interval=None).fit(X, y, groups=bad)


def test_groups_with_missing_values_are_a_clear_error(speakers):
    X, y, names, _ = speakers
    broken = names.astype(object)
    broken[3] = None
    with pytest.raises(ValueError, match="None"):
        PolarizationEstimator(grid_size=20, interval=None).fit(X, y, groups=broken)


def test_speaker_stance_needs_groups(grouped, speakers):
    X, y, _, _ = speakers
    with pytest.raises(ValueError, match="needs groups"):
        grouped.speaker_stance(X, y)
    with pytest.raises(ValueError, match="one speaker per row"):
        grouped.speaker_stance(X, y, groups=np.arange(3))


def test_a_failed_grouped_fit_leaves_a_fitted_estimator_untouched(speakers, grouped):
    import copy

    X, y, names, _ = speakers
    est = copy.deepcopy(grouped)
    before = {k: copy.deepcopy(v) for k, v in est.__dict__.items()}
    y_bad = y.copy()
    labels, counts = np.unique(names, return_counts=True)
    y_bad[np.flatnonzero(names == labels[counts > 1][0])[:1]] ^= 1
    with pytest.raises(ValueError):
        est.fit(X[:, :10], y_bad, groups=names)  # fewer terms and a mixed speaker
    assert est.__dict__.keys() == before.keys()
    for name, value in before.items():
        if isinstance(value, (float, np.ndarray)):
            assert np.array_equal(getattr(est, name), value, equal_nan=True), name
    np.testing.assert_array_equal(est.transform(X), grouped.transform(X))


def test_dispersion_weights_and_estimate():
    lengths = np.array([0.0, 1.0, 10.0, 1000.0])
    np.testing.assert_allclose(dispersion_weights(lengths, None), 1.0)
    w = dispersion_weights(lengths, 9.0)
    assert w[1] == 1.0 and w[2] == pytest.approx(10 / 19) and w[3] < 0.01
    # multinomial speeches show no overdispersion; Dirichlet-multinomial ones do
    rng = np.random.default_rng(1)
    phi = rng.dirichlet(np.ones(40), size=30)
    inverse = np.repeat(np.arange(30), 20)
    multinomial = rng.multinomial(80, phi[inverse])
    assert estimate_dispersion(sp.csr_matrix(multinomial), inverse) > 1e3
    bursty = np.array([rng.multinomial(80, rng.dirichlet(20 * phi[i])) for i in inverse])
    assert 10 < estimate_dispersion(bursty, inverse) < 40


def test_auto_dispersion_is_estimated_only_with_groups(speakers):
    X, y, names, _ = speakers
    plain = PolarizationEstimator(grid_size=20, interval=None).fit(X, y)
    assert plain.dispersion_ == np.inf
    grouped = PolarizationEstimator(grid_size=20, interval=None).fit(X, y, groups=names)
    # these speeches are multinomial: the estimate is large, the weights near one
    assert grouped.dispersion_ > 200
    fixed = PolarizationEstimator(grid_size=20, interval=None, dispersion=50.0).fit(X, y)
    assert fixed.dispersion_ == 50.0
    # the weights carry over to scoring new speeches
    assert not np.allclose(fixed.score_samples(X, y), plain.score_samples(X, y))


def test_speaker_stance_as_the_mean_of_speech_stances(speakers):
    X, y, names, u = speakers
    est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    table = est.speaker_stance(X, y, groups=names, method="mean")
    first = names == "s003"
    assert table.loc["s003", "stance"] == pytest.approx(est.stance(X[first], y[first]).mean())
    assert table.loc["s003", "words_stance"] == pytest.approx(est.transform(X[first]).mean())
    sd = est.stance(X[first], return_std=True)[1]
    assert table.loc["s003", "words_stance_sd"] == pytest.approx(np.sqrt((sd**2).sum()) / first.sum())
    right = table["party"] == 1
    assert (table.loc[right, "stance_low"] >= 0).all() and (table.loc[~right, "stance_high"] <= 0).all()
    assert np.corrcoef(table["words_stance"], u)[0, 1] > 0.8
    with pytest.raises(ValueError, match="method"):
        est.speaker_stance(X, y, groups=names, method="median")
