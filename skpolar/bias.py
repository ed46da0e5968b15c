"""Bias corrections of the maximum-likelihood rho: what the refits are and how they combine.

The many word probabilities fitted beside ``rho`` bias its maximum-likelihood
estimate (see :doc:`/model`). Two corrections refit the model and subtract an
estimate of that bias:

``"bootstrap"`` (parametric)
    corpora of the fitted shape drawn from the fitted model and refitted;
    the bias is their mean ``rho`` less the fitted one.
``"jackknife"`` (split-half)
    the speeches of each party dealt at random into two halves and the model
    refitted on each; an estimator whose bias falls as ``1 / N`` has twice
    the bias on half the data, so the bias is the halves' mean ``rho`` less
    the full fit's, and ``2 rho_hat - mean(rho_half)`` is free of that
    first-order term (the split-panel jackknife of Dhaene and Jochmans,
    Review of Economic Studies, 2015, for incidental-parameter bias).

Both shift the estimate and its interval by the estimated bias and widen the
interval by the bias' Monte Carlo error (:func:`shifted`). The refits
themselves need the estimator and live in :mod:`skpolar.estimator`.
"""

import numpy as np

from .uncertainty import RHO_MAX, Z95


def split_half_weights(counts, side, n_splits, rng):
    """Row weights of ``n_splits`` random halvings of every party's speeches.

    Parameters
    ----------
    counts : ndarray of int, shape (n_rows,)
        How many speeches (or speakers) each row stands for; rows that merge
        identical speeches have counts above one, and their speeches are
        dealt to the halves one by one.
    side : ndarray of shape (n_rows,)
        Party side (0 or 1) of every row. Each side is halved on its own, so
        both halves keep the corpus' party shares.
    n_splits : int
    rng : numpy.random.Generator

    Returns
    -------
    weights : ndarray of shape (2 * n_splits, n_rows)
        Rows ``2 s`` and ``2 s + 1`` are the two halves of split ``s``; they
        add up to ``counts``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.bias import split_half_weights
    >>> w = split_half_weights(np.array([1, 1, 3, 1]), np.array([0, 0, 1, 1]), 2,
    ...                        np.random.default_rng(0))
    >>> w.shape, (w[0] + w[1]).tolist(), int(w[0][:2].sum()), int(w[0][2:].sum())
    ((4, 4), [1, 1, 3, 1], 1, 2)
    """
    counts = np.asarray(counts, dtype=np.int64)
    weights = np.zeros((2 * n_splits, len(counts)), dtype=np.int64)
    for split in range(n_splits):
        for k in (0, 1):
            rows = np.flatnonzero(side == k)
            half = rng.multivariate_hypergeometric(counts[rows], int(counts[rows].sum()) // 2)
            weights[2 * split, rows] = half
            weights[2 * split + 1, rows] = counts[rows] - half
    return weights


def drawn_bias(rho_mle, replicates):
    """The bias of ``rho_mle`` from the ``rho`` of corpora drawn from the fit, and its error.

    The error is the Monte Carlo one: the draws' spread over the root of
    their number.

    Examples
    --------
    >>> from skpolar.bias import drawn_bias
    >>> bias, error = drawn_bias(0.80, [0.83, 0.81, 0.82, 0.84])
    >>> round(bias, 3), round(error, 4)
    (0.025, 0.0065)
    """
    replicates = np.asarray(replicates, dtype=float)
    return (float(replicates.mean() - rho_mle),
            float(replicates.std(ddof=1) / np.sqrt(len(replicates))))


def split_half_bias(rho_mle, replicates):
    """The bias of ``rho_mle`` from the ``rho`` of half-sample refits, and its Monte Carlo error.

    ``replicates`` holds the halves of each split in turn (as
    :func:`split_half_weights` orders them). The error is that of the mean
    over splits: the spread of the splits' means over the root of their
    number.

    Examples
    --------
    >>> from skpolar.bias import split_half_bias
    >>> bias, error = split_half_bias(0.80, [0.83, 0.81, 0.82, 0.84])
    >>> round(bias, 3), round(error, 3)
    (0.025, 0.005)
    """
    pairs = np.asarray(replicates, dtype=float).reshape(-1, 2).mean(axis=1)
    return float(pairs.mean() - rho_mle), float(pairs.std(ddof=1) / np.sqrt(len(pairs)))


def shifted(rho_mle, ci, rho_se, bias, monte_carlo):
    """``rho_``, ``rho_ci_`` and ``rho_se_`` corrected by an estimated bias.

    The estimate moves by ``-bias`` (kept inside ``[0.5, RHO_MAX]``); each
    half-width of a finite interval grows by the Monte Carlo error of the
    bias, added in quadrature; without an interval, so does the standard
    error.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.bias import shifted
    >>> out = shifted(0.82, np.array([0.80, 0.84]), 0.0102, bias=0.02, monte_carlo=0.0)
    >>> round(out["rho_"], 3), np.round(out["rho_ci_"], 3).tolist()
    (0.8, [0.78, 0.82])
    """
    rho = float(np.clip(rho_mle - bias, 0.5, RHO_MAX))
    out = {"rho_": rho}
    if np.all(np.isfinite(ci)):
        low = rho - np.hypot(rho_mle - ci[0], Z95 * monte_carlo)
        high = rho + np.hypot(ci[1] - rho_mle, Z95 * monte_carlo)
        out["rho_ci_"] = np.clip([low, high], 0.5, RHO_MAX)
        out["rho_se_"] = float(np.diff(out["rho_ci_"])[0] / (2 * Z95))
    elif np.isfinite(rho_se):
        out["rho_se_"] = float(np.hypot(rho_se, monte_carlo))
    return out
