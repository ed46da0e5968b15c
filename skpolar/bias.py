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
interval by the bias' Monte Carlo error (:func:`shifted`); :func:`corrected_rho`
runs either, its refits done by the estimator's
:class:`~skpolar.solvers.Refitter`.
"""

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed

from .likelihood import Rows
from .uncertainty import RHO_MAX, Z95


def corrected_rho(refit, rows, params, fit, correction, *, draw, n_draws, n_jobs, rng,
                  zeros=None):
    """rho and its interval corrected for the estimator's bias.

    Parameters
    ----------
    refit : skpolar.solvers.Refitter
        The fitted estimator's refits.
    rows : skpolar.likelihood.Rows
        The fitted rows.
    params : dict
        The maximum-likelihood parameters (drawn corpora are refitted from them).
    fit : dict
        The fit's ``rho_``, ``rho_ci_`` and ``rho_se_``.
    correction : {"bootstrap", "jackknife"}
        ``"bootstrap"``: ``n_draws`` corpora ``draw(rng)`` (of the fitted
        rows' shape, from the fitted model) refitted from the estimate, the
        saddle escaped as in a fit. ``"jackknife"``: each party's rows halved
        at random ``n_draws // 2`` times and both halves refitted from the
        fit's own start.
    draw : callable
        ``draw(rng) -> (X, y, u)``: one corpus from the fitted model.
    n_jobs : int or None
        joblib workers for the refits.
    rng : numpy.random.Generator
    zeros : ndarray of bool or None
        Pole probabilities every refit holds at zero.

    Returns
    -------
    dict
        ``rho_``, ``rho_ci_``, ``rho_se_`` shifted by the bias (the interval
        widened by its Monte Carlo error), ``rho_mle_``, ``rho_mle_ci_``,
        ``rho_bias_`` and ``rho_bias_replicates_``.
    """
    rho_mle = fit["rho_"]
    if correction == "jackknife":
        counts = np.rint(rows.weight).astype(np.int64)
        weights = split_half_weights(counts, rows.side, n_draws // 2, rng)
        replicates = np.asarray(Parallel(n_jobs=n_jobs)(
            delayed(_half_replicate)(refit, rows, w.astype(float), zeros) for w in weights
        ))
        bias, monte_carlo = split_half_bias(rho_mle, replicates)
    else:
        seeds = rng.integers(np.iinfo(np.int32).max, size=n_draws)
        replicates = np.asarray(Parallel(n_jobs=n_jobs)(
            delayed(_drawn_replicate)(refit, draw, params, seed, zeros) for seed in seeds
        ))
        bias, monte_carlo = drawn_bias(rho_mle, replicates)
    out = shifted(rho_mle, fit["rho_ci_"], fit.get("rho_se_", np.nan), bias, monte_carlo)
    out.update(rho_mle_=rho_mle, rho_bias_=bias, rho_bias_replicates_=replicates,
               rho_mle_ci_=fit["rho_ci_"])
    return out


def _drawn_replicate(refit, draw, params, seed, zeros=None):
    """rho refitted to one corpus drawn from the fitted model (parametric bootstrap)."""
    X, y, _ = draw(np.random.default_rng(seed))
    rows = Rows.of(X.astype(np.float64), y)
    if not sp.issparse(X):
        rows = refit.collapse(rows)
    return refit.from_params(rows, params, zeros, escape_saddle=True)


def _half_replicate(refit, rows, weight, zeros=None):
    """rho refitted to a half sample of the rows, from the fit's own start (jackknife).

    The split-half jackknife needs the bias of the estimator as ``fit`` runs
    it, so a half starts where a fit starts, not at the full data's estimate:
    from there EM crawls along the flat stretch path (350-480 E-steps, where
    a fresh start takes 100-140 on 2,000 terms x 5,000 speeches) and stops
    short of the half's own maximum, which would understate the bias.
    """
    return refit.from_start(rows.reweighted(weight), zeros)


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
    # each split's two halves count as one draw
    return drawn_bias(rho_mle, np.asarray(replicates, dtype=float).reshape(-1, 2).mean(axis=1))


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
