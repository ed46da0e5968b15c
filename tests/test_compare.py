"""compare(): one model per corpus and a test of equal polarization."""

import numpy as np
import pytest

from skpolar import PolarizationEstimator, compare, make_polarized_speech
from skpolar.compare import heterogeneity_test

FAST = PolarizationEstimator(grid_size=30, interval="profile")


def corpora(rhos, n=2500, seed=0):
    parts = [make_polarized_speech(n, rho=r, random_state=seed + k) for k, r in enumerate(rhos)]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    by = np.repeat([f"period {k}" for k in range(len(rhos))], n)
    return X, y, by


def test_compare_tables_each_corpus_and_detects_a_difference():
    X, y, by = corpora([0.7, 0.85])
    result = compare(X, y, by, estimator=FAST)
    table = result.table
    assert table.index.tolist() == ["period 0", "period 1"]
    assert (table["rho_low"] <= table["rho"]).all() and (table["rho"] <= table["rho_high"]).all()
    assert table["n_speeches"].tolist() == [2500, 2500]
    assert result.df == 1 and result.p_value < 1e-3
    # each row is the fit of that corpus alone
    alone = PolarizationEstimator(grid_size=30).fit(X[by == "period 1"], y[by == "period 1"])
    assert table.loc["period 1", "rho"] == pytest.approx(alone.rho_)
    assert set(result.estimators) == {"period 0", "period 1"}


def test_compare_does_not_reject_equal_polarizations():
    X, y, by = corpora([0.8, 0.8, 0.8], seed=10)
    result = compare(X, y, by, estimator=FAST)
    assert result.df == 2 and result.p_value > 0.01


def test_compare_needs_two_corpora_with_both_parties():
    X, y, by = corpora([0.7, 0.8], n=300)
    with pytest.raises(ValueError, match="at least two corpora"):
        compare(X, y, np.repeat("only", len(y)), estimator=FAST)
    one_party = by.copy()
    one_party[(by == "period 1") & (y == 0)] = "period 0"
    with pytest.raises(ValueError, match="period 1.*one party"):
        compare(X, y, one_party, estimator=FAST)
    with pytest.raises(ValueError, match="one corpus per row"):
        compare(X, y, by[:10], estimator=FAST)


def test_compare_with_speakers_fits_one_stance_per_speaker():
    X, y, by = corpora([0.7, 0.8], n=600)
    speakers = np.char.add(by, np.char.add("-", (np.arange(len(y)) % 200).astype(str)))
    # a speaker keeps one party
    speakers = np.char.add(speakers, y.astype(str))
    result = compare(X, y, by, speakers=speakers, estimator=FAST)
    assert (result.table["n_speakers"] < result.table["n_speeches"]).all()


def test_heterogeneity_test():
    statistic, df, p = heterogeneity_test([0.7, 0.7, 0.7], [0.01, 0.02, 0.03])
    assert statistic == 0.0 and df == 2 and p == pytest.approx(1.0)
    assert np.isnan(heterogeneity_test([0.7, 0.8], [0.01, np.nan])[2])


def test_compare_resolves_auto_once_for_every_corpus():
    # 200 terms: the first corpus (150 speeches) is narrower than its
    # vocabulary, the second (400) is not; alone, "auto" would cross-fit the
    # first only, and the test would compare two estimators
    parts = [make_polarized_speech(n, rho=0.75, n_features=200, vocabulary="shared",
                                   speech_len=40, random_state=n) for n in (150, 400)]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    period = np.repeat(["a", "b"], [150, 400])
    est = PolarizationEstimator(grid_size=20, interval="profile", random_state=0)
    assert est.fit(X[150:], y[150:]).bias_correction_ is None
    result = compare(X, y, period, estimator=est)
    assert {m.bias_correction_ for m in result.estimators.values()} == {"crossfit"}
    assert est.bias_correction == "auto"
