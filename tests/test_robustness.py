"""Failed calls, diverging fits, intervals and inference on the fitted settings (issue 14)."""

import numpy as np
import pytest

import skpolar.estimator
from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.likelihood import collapse_duplicates


@pytest.fixture(scope="module")
def speeches():
    return make_polarized_speech(300, random_state=0)


# ---- item 12: scoring costs about one E-step --------------------------------------
def test_dense_few_term_speeches_are_scored_once_per_distinct_row(monkeypatch):
    # 2,000,000 speeches of 3 terms took twice the fit to transform: every row
    # was scored although the fit had collapsed them to ~100 distinct ones
    X, y = make_polarized_speech(20_000, random_state=0)
    est = PolarizationEstimator(grid_size=30, interval=None).fit(X, y)
    scored = []
    summaries = skpolar.estimator.posterior_summaries

    def counting(chunks, *args, **kwargs):
        scored.append(sum(len(chunk.rows) for chunk in chunks))
        return summaries(chunks, *args, **kwargs)

    monkeypatch.setattr(skpolar.estimator, "posterior_summaries", counting)
    n_distinct = len(np.unique(X, axis=0))
    stance = est.transform(X)
    loglik = est.score_samples(X, y)
    assert scored == [n_distinct, len(np.unique(np.column_stack([X, y]), axis=0))]
    # the same numbers as scoring row by row
    scored.clear()
    for row in (0, 1, 17):
        np.testing.assert_allclose(est.transform(X[row:row + 1]), stance[row:row + 1],
                                   rtol=1e-12)
        np.testing.assert_allclose(est.score_samples(X[row:row + 1], y[row:row + 1]),
                                   loglik[row:row + 1], rtol=1e-12)
    # rows of arbitrary floats rarely repeat: they are scored as they come
    scored.clear()
    est.transform(X[:50] + 0.5)
    assert scored == [50]


@pytest.mark.parametrize("with_side", [False, True])
def test_integer_rows_collapse_as_the_general_rule_does(with_side):
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, size=(5000, 4)).astype(float)
    side = rng.integers(0, 2, 5000) if with_side else None
    fast = collapse_duplicates(X, side)
    keys = X if side is None else np.column_stack([X, side])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(fast[0], X[first])
    np.testing.assert_array_equal(fast[3], inverse.reshape(-1))
    assert fast[2].sum() == 5000
    assert collapse_duplicates(X + 0.5, side, integers_only=True) is None
