"""Cross-fitted polarization: the stance axis from some speeches, rho from the others.

Why
---
The maximum-likelihood rho is biased upwards on wide vocabularies: every
speech helps to place the pole vocabularies it is then scored against, so
the fitted poles lean towards the speeches' own noise and the stances come
out more extreme than they are (docs/model.rst, "Many words, few
speeches"). Cross-fitting, as in the leave-out estimator of Gentzkow,
Shapiro and Taddy (Econometrica, 2019), removes that feedback: the corpus is
cut into folds, each fold's speeches are scored against a stance axis
estimated from the other folds alone, and rho is fitted to the held-out
scores.

The model on a held-out fold
----------------------------
Under the two-pole family ``phi(u) = m + u d`` (``m`` the centre, ``d``
half the difference of the poles), so every speech's likelihood depends on
its stance only through a point on the line ``m + s d``. The axis
``(m_hat, d_hat)`` of fold ``k`` comes from the parties' word counts in the
other folds (:func:`stance_axis`: their log odds, shrunk by empirical Bayes
where they are noise): under the model the difference of the party means is
proportional to ``d``, and the noise in it is independent of the held-out
speeches. The held-out fold then has ``s = o_k + c_k u``: a free scale
``c_k`` and offset ``o_k`` per fold absorb the axis' attenuation (its
noise makes ``d_hat`` longer than the part of it the speeches follow),
while ``a, b, pi`` are shared by all folds and fitted by maximizing the sum
of the folds' marginal likelihoods, with ``u`` integrated on the
estimator's grid. The ends of each fold's line are bounded by the axis' own
validity, ``m_hat + s d_hat >= 0``; where a side has words the other never
says (the generator's partisan design) that bound is the true pole, and it
pins the scale as it does for the full likelihood.

Folds or one row at a time
--------------------------
:class:`CrossFit` deals the rows to ``n_folds`` folds, or with
``n_folds=None`` leaves one row out at a time (:func:`leave_one_out_table`):
every row is scored against the axis of all the others, whose ends are
shared, so there is one offset and scale in all and nothing is dealt at
random. The estimator uses leave-one-out: on the same simulated corpora it
was as unbiased as five folds or less so and its interval covered better
(three terms: bias +0.005 and coverage 0.93 against +0.007 and 0.43;
docs/benchmarks.rst, "Cross-fitted rho").

What it does not remove
-----------------------
The held-out likelihood treats the axes as known, so its profile interval
leaves out the axis' own noise, which dominates at ten thousand speeches
and more (``interval="bootstrap"`` resamples speeches and redoes the axes,
but does not move the point). Shrinkage cannot give a word an infinite
log odds, so where thousands of words belong to one side the estimated
axis neither ends at the true poles nor follows them on those words, and
rho comes out high; scored against the true axis the same fit is unbiased
(:doc:`/benchmarks`, "Cross-fitted rho"). With one speech per row, the axis
a speech is scored against still holds its speaker's other speeches; give
``fit`` the speakers (``groups``) and each speaker is left out whole.
``CrossFit(..., predictive=True)`` is an experiment against the one-sided
words: each word's probability along the line averaged over its estimation
error, and the line ended only where a well-measured word runs out. It
removes that bias on senate-shaped corpora but leaves the free scale's
small-sample bias, which is downward (:doc:`/benchmarks`).

Every speech's log likelihood along the line is tabulated once, with its
derivative, at points crowded towards the ends, and read between them by
cubic Hermite interpolation, so an evaluation costs ``O(N G)`` whatever the
vocabulary.
"""

import numpy as np
import scipy.optimize
import scipy.special
import scipy.sparse as sp
from joblib import Parallel, delayed

from .objective import LOG_SHAPE_BOUNDS, LOGIT_PI_BOUNDS
from .quadrature import log_prior_weights_numpy, stance_grid
from .uncertainty import RHO_MAX, Z95, holding
from .utils import progress

# Polarized starts besides the maximum-likelihood shapes: the held-out
# likelihood, like the full one, has a local optimum near a = b.
STARTS = (0.6, 0.75, 0.9)
# The estimator's folds: None is leave-one-out (each row against the axis of
# all the others), which beat five folds on the same corpora (docs/benchmarks,
# "Cross-fitted rho": three terms, coverage 0.93 against 0.43) and deals
# nothing at random. benchmarks/rho_bias_study.py --folds 5 sets it to 5.
N_FOLDS = None

# Floor of the spread of the words' true log odds (stance_axis): parties
# that speak alike shrink every lean nearly to zero, not past it.
_MIN_LEAN_VARIANCE = 1e-6
# Points of the tabulated log likelihood along the axis.
_AXIS_POINTS = 513
# The tabulated line stops this close (relatively) to the end of validity.
_AXIS_MARGIN = 1e-9
# Non-zeros x points of the leave-one-out table computed at a time (memory).
_BLOCK_ENTRIES = 4e6
_CHI2_95 = 3.841458820694124
# Beyond this many standard errors from zero a word's predictive probability
# along the line is its estimate (Phi(8) = 1 - 6e-16).
_NEAR_ZERO = 8.0
_TINY = 1e-300
# The line never runs further than this from its centre (a party that uses
# every word as often as the other has no end).
_MAX_LINE_END = 1e3
# A profile point beats the fit only by more than this per speech (not by rounding).
_BETTER = 1e-8
# First step of the profile's walk out from the estimate (doubled each time).
_PROFILE_STEP = 0.01
# The held-out loss is a few hundred nats per speech and its rho is flat:
# scipy's default relative tolerance (2e-9) stops 1e-7 per speech short.
_LBFGS_OPTIONS = {"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9}


def fold_weights(side, weight, n_folds, rng):
    """How many of the speeches each row stands for fall in each fold.

    Rows of collapsed duplicates stand for ``weight`` speeches each; the
    speeches (not the rows) are dealt to the folds, within each party, in a
    random order.

    Returns
    -------
    ndarray of shape (n_folds, n_rows)

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.crossfit import fold_weights
    >>> w = fold_weights(np.array([0, 1, 1]), np.array([4.0, 1.0, 5.0]), 2,
    ...                  np.random.default_rng(0))
    >>> w.sum(axis=0).tolist(), w.sum(axis=1).tolist()
    ([4.0, 1.0, 5.0], [5.0, 5.0])
    """
    weight = np.asarray(weight, dtype=float)
    out = np.zeros((n_folds, len(weight)))
    integral = np.allclose(weight, np.rint(weight))
    copies = np.rint(weight).astype(np.int64) if integral else np.ones(len(weight), np.int64)
    for value in np.unique(side):
        rows = np.flatnonzero(side == value)
        owner = np.repeat(rows, copies[rows])
        rng.shuffle(owner)
        fold = np.arange(len(owner)) % n_folds
        np.add.at(out, (fold, owner), 1.0)
    if not integral:
        out *= weight
    return out


def stance_axis(side_counts):
    """Centre ``m`` and half-difference ``d`` of the parties' word frequencies, denoised.

    Every word's log odds between the parties, ``z_v``, is shrunk towards
    the common centre by its empirical-Bayes weight
    ``tau^2 / (tau^2 + var_v)``: ``var_v = 1 / n_Lv + 1 / n_Rv`` is its
    sampling variance (counts plus one half) and ``tau^2`` the spread of
    the true log odds, the count-weighted excess of the observed spread over
    the sampling variances. Frequent words keep their lean; a word seen a
    few times, whose raw lean is mostly noise, is pulled to the centre.
    The parties' frequencies are rebuilt from the shrunk log odds around
    their geometric mean, so a word estimated without noise keeps its
    party frequencies exactly.

    Why: the held-out line ``m + s d`` must stay a distribution, and the
    raw frequencies of rare words, seen by one party only, end it where
    those words run out, far short of the real poles; the held-out stances
    are then squeezed against that end and rho comes out too high.

    Parameters
    ----------
    side_counts : ndarray of shape (2, V)
        Word counts of the left and the right party.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.crossfit import stance_axis
    >>> m, d = stance_axis(np.array([[3e5, 1e5], [1e5, 3e5]]))
    >>> np.round(m, 4).tolist(), np.round(d, 4).tolist()
    ([0.5, 0.5], [-0.25, 0.25])
    """
    log_freq, _ = _shrunk_log_frequencies(side_counts)
    freq = np.exp(log_freq - _logsumexp(log_freq))
    return freq.mean(axis=0), (freq[1] - freq[0]) / 2.0


def _shrunk_log_frequencies(side_counts, shrinkage=None):
    """Unnormalized log frequencies (2, V) from shrunk log odds, and the shrinkage used.

    ``shrinkage`` is ``(centre, tau2, log_totals)``, estimated from
    ``side_counts`` when None; the leave-one-out axes reuse the full
    corpus' (two scalars and the party totals, which one speech barely
    moves and which carry no word's noise).
    """
    counts = np.asarray(side_counts, dtype=float) + 0.5
    lean_var = 1.0 / counts[0] + 1.0 / counts[1]
    if shrinkage is None:
        log_totals = np.log(counts.sum(axis=1, keepdims=True))
        log_freq = np.log(counts) - log_totals
        lean = log_freq[1] - log_freq[0]
        weight = counts.sum(axis=0)
        centre = np.average(lean, weights=weight)
        tau2 = max(np.average((lean - centre) ** 2 - lean_var, weights=weight),
                   _MIN_LEAN_VARIANCE)
        shrinkage = (centre, tau2, log_totals)
    centre, tau2, log_totals = shrinkage
    log_freq = np.log(counts) - log_totals
    lean = log_freq[1] - log_freq[0]
    lean = centre + (lean - centre) * tau2 / (tau2 + lean_var)
    log_base = log_freq.mean(axis=0)
    return np.vstack([log_base - lean / 2.0, log_base + lean / 2.0]), shrinkage


def _logsumexp(a):
    top = a.max(axis=1, keepdims=True)
    return top + np.log(np.exp(a - top).sum(axis=1, keepdims=True))


def _line_ends(m, d):
    """``(s_lo, s_hi)``: where ``m + s d`` first reaches a zero probability either way."""
    ends = []
    for sign in (1.0, -1.0):
        # moving along +d (-d), the words with d < 0 (d > 0) run out
        fall = -sign * d
        ends.append(float(np.min(m[fall > 0] / fall[fall > 0])) if np.any(fall > 0) else 1.0)
    return -ends[1], ends[0]


def _axis_points(s_lo, s_hi, n_points):
    """Points on ``(s_lo, s_hi)`` crowded towards both ends, where log(phi) bends most."""
    shape = np.sin(np.linspace(-np.pi / 2, np.pi / 2, n_points)) * (1.0 - _AXIS_MARGIN)
    return (s_hi + s_lo) / 2.0 + (s_hi - s_lo) / 2.0 * shape


def _frequency_variance(counts, freq, tau2):
    """Posterior variance of the parties' word frequencies ``freq`` (2, n).

    A frequency's log has sampling variance ``1 / n`` (Poisson, counts plus
    one half as in :func:`_shrunk_log_frequencies`); the normal prior on the
    log odds leaves the share ``tau^2 / (tau^2 + var_v)`` of it.
    """
    counts = np.asarray(counts, dtype=float) + 0.5
    lean_var = 1.0 / counts[0] + 1.0 / counts[1]
    return freq * freq / counts * (tau2 / (tau2 + lean_var))


def _predictive_line(f_left, f_right, v_left, v_right, s):
    """``E[max(phi, 0)]`` of a word along the line, and its slope in ``s``.

    ``phi(s) = (1 - s) / 2 f_L + (1 + s) / 2 f_R`` with independent normal
    errors of variance ``v_L``, ``v_R`` on the two frequencies: where ``phi``
    is far from zero against its error this is ``phi`` itself; near a zero it
    stays positive, and beyond it decays as the chance that the word's true
    line has not yet run out. Arrays broadcast.
    """
    left, right = (1.0 - s) / 2.0, (1.0 + s) / 2.0
    mean = left * f_left + right * f_right
    var = left * left * v_left + right * right * v_right
    var_slope = -left * v_left + right * v_right
    value = np.array(mean, dtype=float)
    # the line's own slope, one per entry of the broadcast shape
    slope = np.broadcast_to((f_right - f_left) / 2.0, value.shape).astype(float)
    mean_slope = slope.copy()
    sd = np.sqrt(var)
    # without error the line is cut at zero
    cut = (mean <= 0) & (sd == 0)
    value[cut], slope[cut] = 0.0, 0.0
    # only near a zero does the error matter (z > 8: Phi(z) = 1 to 1e-15)
    near = (mean < _NEAR_ZERO * sd) & (sd > 0)
    if np.any(near):
        sd_n = sd[near]
        z = mean[near] / sd_n
        pdf = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
        cdf = scipy.special.ndtr(z)
        value[near] = mean[near] * cdf + sd_n * pdf
        slope[near] = cdf * mean_slope[near] + pdf * var_slope[near] / (2.0 * sd_n)
    return np.maximum(value, _TINY), slope


def _credible_line_ends(freq, var):
    """``(s_lo, s_hi)``: upper confidence bounds on where the first word runs out either way.

    A word the left party says more often reaches probability zero at
    ``s* = (f_L + f_R) / (f_L - f_R)`` on the right (and likewise on the
    left); its standard error follows by the delta method. No true pole lies
    beyond the first true zero, so the line ends at the smallest
    ``s* + z se``, with ``z`` the Bonferroni quantile for 97.5% over all
    words: the thousands of rare words whose noisy ``s*`` falls short no
    longer end it early, and a word seen thousands of times still ends it
    where it runs out.
    """
    f_left, f_right = freq
    diff = f_left - f_right
    z = scipy.special.ndtri(1.0 - 0.025 / max(freq.shape[1], 1))
    ends = []
    for side in (diff > 0, diff < 0):
        if not np.any(side):
            ends.append(_MAX_LINE_END)
            continue
        fl, fr, dd = f_left[side], f_right[side], np.abs(diff[side])
        cross = (fl + fr) / dd
        se = 2.0 * np.sqrt(fr * fr * var[0][side] + fl * fl * var[1][side]) / (dd * dd)
        ends.append(float(min(np.min(cross + z * se), _MAX_LINE_END)))
    return -ends[1], ends[0]


def leave_one_out_table(X, side, weight, n_points=_AXIS_POINTS, predictive=False):
    """Every row's log likelihood along its own leave-one-out axis, and its slope.

    Row ``i`` is scored against the axis of :func:`stance_axis` built from
    the corpus less one speech of row ``i`` (its counts taken off its
    party's): only the row's own words change, with the two normalizers, so
    the table costs one pass over the non-zeros per point. The shrinkage
    (centre, spread of the leans, party totals) is the full corpus'.

    By default the line ends where the first word's estimated probability
    reaches zero, for the full corpus' axis or any row's. The axis is an
    estimate, though, and near the end of the line its error decides
    everything: a rare word whose estimated line runs out early makes every
    speech using it impossible beyond that point, and pins the stances
    against that end. With ``predictive=True`` each word's probability along
    the line is instead its predictive value under the posterior error of
    the two party frequencies (:func:`_predictive_line`), normalized by the
    same sum over the full corpus' words, and the line ends where the first
    word runs out with 97.5% confidence (:func:`_credible_line_ends`).

    Parameters
    ----------
    X : sparse matrix of shape (n_rows, V)
    side : ndarray of shape (n_rows,)
        0 or 1.
    weight : ndarray of shape (n_rows,)
        Speeches each row stands for.
    n_points : int, default=513
        Points of the table.
    predictive : bool, default=False
        Score against the predictive line (see above).

    Returns
    -------
    s : ndarray of shape (n_points,)
        Points on the line, shared by every row.
    value, slope : ndarray of shape (n_rows, n_points)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from skpolar.crossfit import leave_one_out_table, stance_axis
    >>> X = sp.csr_matrix(np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]]))
    >>> side = np.array([0, 1, 1])
    >>> s, value, slope = leave_one_out_table(X, side, np.ones(3), n_points=5)
    >>> value.shape, bool(np.all(np.diff(value[0]) < 0))  # the left speech prefers s < 0
    ((3, 5), True)
    """
    X = sp.csr_matrix(X, dtype=float)
    side = np.asarray(side)
    weight = np.asarray(weight, dtype=float)
    counts = np.vstack([X.T @ (weight * (side == k)) for k in (0, 1)])
    log_freq, shrinkage = _shrunk_log_frequencies(counts)
    tau2 = shrinkage[1]
    log_norm = _logsumexp(log_freq)[:, 0]
    freq = np.exp(log_freq)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    words, x = X.indices, X.data
    # the counts of each non-zero's word with one speech of its row taken off
    own = np.zeros((2, len(x)))
    own[side[rows], np.arange(len(x))] = x
    loo_counts = counts[:, words] - own
    loo_log_freq, _ = _shrunk_log_frequencies(loo_counts, shrinkage)
    loo_freq = np.exp(loo_log_freq)
    # each row's normalizers: its words' frequencies replaced
    change = np.vstack([np.bincount(rows, weights=loo_freq[k] - freq[k, words],
                                    minlength=X.shape[0]) for k in (0, 1)])
    norm = np.exp(log_norm)[:, None] + change
    pole = loo_freq / norm[:, rows]
    # words a row does not use keep the full corpus' axis (up to its
    # normalizers, which one speech barely moves)
    full = np.exp(log_freq - log_norm[:, None])
    if predictive:
        pole_var = _frequency_variance(loo_counts, pole, tau2)
        full_var = _frequency_variance(counts, full, tau2)
        s = _axis_points(*_credible_line_ends(full, full_var), n_points)
        # the predictive normalizer, over the full corpus' words
        log_z, log_z_slope = np.empty(n_points), np.empty(n_points)
        for j, point in enumerate(s):
            word, word_slope = _predictive_line(full[0], full[1], full_var[0], full_var[1], point)
            total = word.sum()
            log_z[j], log_z_slope[j] = np.log(total), word_slope.sum() / total
    else:
        # the line must stay a distribution for every row
        m, d = pole.mean(axis=0), (pole[1] - pole[0]) / 2.0
        ends = [_line_ends(full.mean(axis=0), (full[1] - full[0]) / 2.0), _line_ends(m, d)]
        s = _axis_points(max(e[0] for e in ends), min(e[1] for e in ends), n_points)
    value = np.zeros((X.shape[0], n_points))
    slope = np.zeros((X.shape[0], n_points))
    # whole rows at a time, a block of (non-zeros x points) logs at most
    filled = np.flatnonzero(np.diff(X.indptr) > 0)
    ends_at = X.indptr[filled + 1]
    cuts = np.searchsorted(ends_at, np.arange(0, X.nnz, max(1, int(_BLOCK_ENTRIES // n_points))),
                           side="right")
    cuts = np.unique(np.r_[0, cuts, len(filled)])
    for first, last in zip(cuts[:-1], cuts[1:]):
        block = filled[first:last]
        lo, hi = X.indptr[block[0]], X.indptr[block[-1] + 1]
        if predictive:
            phi, phi_slope = _predictive_line(pole[0, lo:hi, None], pole[1, lo:hi, None],
                                              pole_var[0, lo:hi, None], pole_var[1, lo:hi, None],
                                              s[None, :])
        else:
            phi_slope = d[lo:hi, None]
            phi = m[lo:hi, None] + phi_slope * s[None, :]
        offsets = X.indptr[block] - lo
        value[block] = np.add.reduceat(x[lo:hi, None] * np.log(phi), offsets, axis=0)
        slope[block] = np.add.reduceat(x[lo:hi, None] * phi_slope / phi, offsets, axis=0)
    if predictive:
        length = np.bincount(rows, weights=x, minlength=X.shape[0])
        value -= length[:, None] * log_z
        slope -= length[:, None] * log_z_slope
    return s, value, slope


def axis_table(X, m, d, n_points=_AXIS_POINTS):
    """Every row's log likelihood ``x @ log(m + s d)`` on the valid line, and its slope in ``s``.

    Returns
    -------
    s : ndarray of shape (n_points,)
        Increasing points on the valid line ``(s_lo, s_hi)``: ``s_hi`` is
        where the first word the right side says less often reaches
        probability zero, ``s_lo`` the same on the left. The points crowd
        towards both ends.
    value, slope : ndarray of shape (n_rows, n_points)
    """
    s = _axis_points(*_line_ends(m, d), n_points)
    phi = m[:, None] + d[:, None] * s[None, :]
    value = np.asarray(X @ np.log(phi))
    slope = np.asarray(X @ (d[:, None] / phi))
    return s, value, slope


def _hermite(s, value, slope, x):
    """Cubic Hermite interpolation of every row's tabulated curve at the points ``x``.

    Returns the values and derivatives, each of shape (n_rows, len(x)).
    """
    j = np.clip(np.searchsorted(s, x) - 1, 0, len(s) - 2)
    h = s[j + 1] - s[j]
    t = (x - s[j]) / h
    t2, t3 = t * t, t * t * t
    f0, f1 = value[:, j], value[:, j + 1]
    g0, g1 = slope[:, j] * h, slope[:, j + 1] * h
    val = (2 * t3 - 3 * t2 + 1) * f0 + (t3 - 2 * t2 + t) * g0 + (3 * t2 - 2 * t3) * f1 + (t3 - t2) * g1
    der = ((6 * t2 - 6 * t) * (f0 - f1) + (3 * t2 - 4 * t + 1) * g0 + (3 * t2 - 2 * t) * g1) / h
    return val, der


class CrossFit:
    """The folds' held-out likelihood of ``(a, b, pi)`` and each fold's line ends.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_rows, V)
    side : ndarray of shape (n_rows,)
        0 (left party) or 1 (right party).
    weight : ndarray of shape (n_rows,)
        Speeches each row stands for.
    grid_size : int
        Stance nodes per side.
    rng : numpy.random.Generator or None
        Deals the speeches to the folds (unused by leave-one-out).
    n_folds : int or None, default=None
        Folds of the cross-fit; None scores every row against the axis of
        all the others (:func:`leave_one_out_table`), with one pair of line
        ends shared by all rows, the estimator's choice.
    axis : tuple of ndarray ``(m, d)`` or None, default=None
        Score every row against this one axis instead of cross-fitted ones
        (``n_folds`` and ``rng`` are then unused): with a simulation's true
        axis, the held-out fit without any axis noise, which tells the axis'
        share of an error from the stance model's.

    The parameter vector is ``(log a, log b, logit pi, lo_1, hi_1, ...,
    lo_K, hi_K)``: ``lo_k`` and ``hi_k`` are the points of fold ``k``'s line
    at ``u = -1`` and ``u = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.crossfit import CrossFit
    >>> X, y = make_polarized_speech(3000, rho=0.8, n_features=50, speech_len=30,
    ...                              random_state=0)
    >>> cf = CrossFit(X, y, np.ones(len(y)), 50, np.random.default_rng(0), n_folds=5)
    >>> fit = cf.fit([(4.0, 1.0, 0.5)])
    >>> round(fit["rho"], 1)
    0.8
    """

    def __init__(self, X, side, weight, grid_size, rng=None, n_folds=None, axis=None,
                 predictive=False):
        X = sp.csr_matrix(X, dtype=float)
        side = np.asarray(side)
        weight = np.asarray(weight, dtype=float)
        self.grid_size = grid_size
        self.u = stance_grid(grid_size)
        if axis is not None:
            tables = [(np.arange(X.shape[0]), weight, axis_table(X, *axis))]
        elif n_folds is None:
            tables = [(np.arange(X.shape[0]), weight,
                       leave_one_out_table(X, side, weight, predictive=predictive))]
        else:
            tables = []
            total = np.vstack([weight * (side == 0), weight * (side == 1)]) @ X
            for w in fold_weights(side, weight, n_folds, rng):
                held = np.flatnonzero(w > 0)
                rest = total - np.vstack([w * (side == 0), w * (side == 1)]) @ X
                tables.append((held, w[held], axis_table(X[held], *stance_axis(np.asarray(rest)))))
        self.folds = []
        for held, w, (s, value, slope) in tables:
            # a speech's party confines its stance to its side of zero: each
            # side's speeches are scored at that side's nodes only
            parts = []
            for value_side, nodes in ((0, slice(None, grid_size)), (1, slice(grid_size, None))):
                mine = side[held] == value_side
                parts.append((nodes, value[mine], slope[mine], w[mine]))
            self.folds.append({"s": s, "parts": parts})
        self.n_total = float(np.sum(weight))

    def bounds(self, fixed_pi=None):
        """L-BFGS-B bounds of the parameter vector."""
        pi = LOGIT_PI_BOUNDS if fixed_pi is None else (_logit(fixed_pi),) * 2
        out = [LOG_SHAPE_BOUNDS, LOG_SHAPE_BOUNDS, pi]
        for fold in self.folds:
            out += [(float(fold["s"][0]), 0.0), (0.0, float(fold["s"][-1]))]
        return out

    def loss(self, x):
        """Mean negative held-out log likelihood per speech and its gradient."""
        a, b = np.exp(x[0]), np.exp(x[1])
        pi = 1.0 / (1.0 + np.exp(-x[2]))
        log_w, jac = log_prior_weights_numpy(a, b, pi, self.grid_size, grad=True)
        total, grad = 0.0, np.zeros(len(x))
        for k, fold in enumerate(self.folds):
            lo, hi = x[3 + 2 * k], x[4 + 2 * k]
            for nodes, value, slope, w in fold["parts"]:
                u = self.u[nodes]
                val, der = _hermite(fold["s"], value, slope, lo + (hi - lo) * (u + 1.0) / 2.0)
                joint = val + log_w[nodes]
                top = joint.max(axis=1, keepdims=True)
                post = np.exp(joint - top)
                norm = post.sum(axis=1, keepdims=True)
                post /= norm
                total += w @ (top[:, 0] + np.log(norm[:, 0]))
                grad[:3] += jac[:, nodes] @ (w @ post)
                slope_mass = w @ (post * der)
                grad[3 + 2 * k] += slope_mass @ ((1.0 - u) / 2.0)
                grad[4 + 2 * k] += slope_mass @ ((1.0 + u) / 2.0)
        return -total / self.n_total, -grad / self.n_total

    def _starts(self, shapes):
        for a, b, pi in shapes:
            x = [np.log(a), np.log(b), _logit(np.clip(pi, 1e-5, 1 - 1e-5))]
            for fold in self.folds:
                x += [0.5 * float(fold["s"][0]), 0.5 * float(fold["s"][-1])]
            yield np.array(x)

    def fit(self, shapes, fixed_pi=None):
        """The best optimum from each start ``(a, b, pi)`` in ``shapes``.

        Returns a dict with ``x``, ``loss``, ``rho``, ``a``, ``b``, ``pi`` and
        ``converged``.
        """
        bounds = self.bounds(fixed_pi)
        best = None
        for x0 in self._starts(shapes):
            if fixed_pi is not None:
                x0[2] = bounds[2][0]
            res = scipy.optimize.minimize(self.loss, x0, jac=True, method="L-BFGS-B",
                                          bounds=bounds, options=_LBFGS_OPTIONS)
            if best is None or res.fun < best.fun:
                best = res
        return self._result(best.x, best.fun, best.success)

    def _result(self, x, loss, converged):
        a, b = float(np.exp(x[0])), float(np.exp(x[1]))
        return {"x": x, "loss": float(loss), "converged": bool(converged), "a": a, "b": b,
                "pi": float(1.0 / (1.0 + np.exp(-x[2]))), "rho": max(a, b) / (a + b)}

    def profile_loss(self, rho, start, fixed_pi=None):
        """The loss maximized over everything but ``a / (a + b) = rho``, and its argmin."""
        log_r, log_1r = np.log(rho), np.log1p(-rho)
        low, high = LOG_SHAPE_BOUNDS
        # at the largest rho the shape box allows only one concentration is left
        kappa_low = low - min(log_r, log_1r)
        kappa_high = max(high - max(log_r, log_1r), kappa_low)
        bounds = [(kappa_low, kappa_high)] + self.bounds(fixed_pi)[2:]

        def full(z):
            return np.concatenate([[log_r + z[0], log_1r + z[0]], z[1:]])

        def loss(z):
            value, grad = self.loss(full(z))
            return value, np.concatenate([[grad[0] + grad[1]], grad[2:]])

        # orient the start so that a >= b, and start the concentration at its own
        x0 = np.array(start, dtype=float)
        if x0[0] < x0[1]:
            x0[[0, 1]] = x0[[1, 0]]
            x0[2] = -x0[2]
        z0 = np.concatenate([[np.clip(np.logaddexp(x0[0], x0[1]), *bounds[0])], x0[2:]])
        z0[1] = np.clip(z0[1], *bounds[1])
        res = scipy.optimize.minimize(loss, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                                      options=_LBFGS_OPTIONS)
        return float(res.fun), full(res.x)

    def interval(self, fit, rho_max, level_chi2=_CHI2_95, fixed_pi=None):
        """Profile-likelihood interval of rho on the held-out likelihood.

        Returns ``((low, high), better)``: ``better`` is a fit whose loss
        beats ``fit``'s, found on the way (None if none was).
        """
        n, loss_hat = self.n_total, fit["loss"]
        best = {"loss": loss_hat, "x": fit["x"]}
        seen = [(fit["rho"], fit["x"])]

        def excess(rho):
            # warm-started from the nearest point profiled so far: the points
            # walk out from the estimate, so no start comes from far away
            # (one from the a = b end can sit in the local optimum there)
            start = min(seen, key=lambda item: abs(item[0] - rho))[1]
            value, x = self.profile_loss(rho, start, fixed_pi)
            seen.append((rho, x))
            if value < best["loss"] - _BETTER:
                best.update(loss=value, x=x)
            return 2.0 * n * (value - loss_hat) - level_chi2

        def end(limit):
            inner, step = fit["rho"], _PROFILE_STEP * np.sign(limit - fit["rho"])
            while True:
                outer = inner + step
                if (outer - limit) * np.sign(step) >= 0:
                    outer = limit
                if excess(outer) > 0:
                    return scipy.optimize.brentq(excess, inner, outer, xtol=1e-5)
                if outer == limit:
                    return limit
                inner, step = outer, 2.0 * step

        rho_hat = fit["rho"]
        low = 0.5 if rho_hat <= 0.5 + 1e-9 else end(0.5)
        high = rho_max if rho_hat >= rho_max else end(rho_max)
        better = None
        if best["loss"] < loss_hat - _BETTER:
            better = self._result(best["x"], best["loss"], True)
        return (min(low, rho_hat), max(high, rho_hat)), better


def _logit(p):
    return float(np.log(p) - np.log1p(-p))


def crossfit_rho(rows, fit, *, grid_size, fixed_pi, interval, n_bootstrap, n_jobs, rng,
                 verbose=0):
    """rho, its interval and standard error from the cross-fitted held-out likelihood.

    What ``PolarizationEstimator(bias_correction="crossfit")`` reports:
    leave-one-out (row by row; a row is a speaker with ``groups``) unless
    :data:`N_FOLDS` says otherwise, started from the maximum-likelihood
    shapes and from a few fixed polarized ones, keeping the best optimum.

    Parameters
    ----------
    rows : skpolar.likelihood.Rows
        The fitted rows.
    fit : dict
        The maximum-likelihood fit's ``alpha_``, ``beta_``, ``pi_`` and ``rho_``.
    grid_size : int
    fixed_pi : float or None
        ``pi`` when it is held fixed.
    interval : {"profile", "bootstrap"} or None
        The held-out likelihood's profile, or a bootstrap over rows that
        redoes the axes (``n_bootstrap`` draws on ``n_jobs`` workers).
    rng : numpy.random.Generator
    verbose : int

    Returns
    -------
    dict
        ``rho_``, ``rho_ci_``, ``rho_se_``, ``rho_mle_``, ``rho_mle_ci_``
        (NaN: the maximum-likelihood interval is not computed),
        ``rho_bias_`` and, with the bootstrap, ``rho_bootstrap_``.
    """
    cross = CrossFit(rows.X, rows.side, rows.weight, grid_size, rng, n_folds=N_FOLDS)
    best = _best_fit(cross, fit["alpha_"], fit["beta_"], fit["pi_"], fixed_pi)
    out = {"rho_mle_": fit["rho_"], "rho_mle_ci_": np.full(2, np.nan),
           "rho_ci_": np.full(2, np.nan), "rho_se_": np.nan}
    if interval == "profile":
        with progress(verbose, "cross-fit interval", label="rho"):
            ci, better = cross.interval(best, RHO_MAX, fixed_pi=fixed_pi)
        if better is not None:
            best = better
            ci, _ = cross.interval(best, RHO_MAX, fixed_pi=fixed_pi)
        out["rho_ci_"] = np.array(ci)
        out["rho_se_"] = float(np.diff(out["rho_ci_"])[0] / (2 * Z95))
    elif interval == "bootstrap":
        seeds = rng.integers(np.iinfo(np.int32).max, size=n_bootstrap)
        replicates = np.asarray(Parallel(n_jobs=n_jobs)(
            delayed(_bootstrap_replicate)(rows, best, grid_size, fixed_pi, seed)
            for seed in seeds
        ))
        out["rho_bootstrap_"] = replicates
        out["rho_ci_"] = np.percentile(replicates, [2.5, 97.5])
        out["rho_se_"] = float(np.std(replicates, ddof=1))
    rho = best["rho"]
    out.update(rho_=rho, rho_ci_=holding(out["rho_ci_"], rho), rho_bias_=fit["rho_"] - rho)
    return out


def _best_fit(cross, a, b, pi, fixed_pi):
    """The cross-fit's optimum, from the given shapes and from fixed polarized ones."""
    starts = [(a, b, pi)] + [(6.0 * r, 6.0 * (1.0 - r), 0.5) for r in STARTS]
    return cross.fit(starts, fixed_pi=fixed_pi)


def _bootstrap_replicate(rows, fit, grid_size, fixed_pi, seed):
    """The cross-fitted rho of one bootstrap draw of the rows (new axes too)."""
    rng = np.random.default_rng(seed)
    sub = rows.resampled(rng)
    cross = CrossFit(sub.X, sub.side, sub.weight, grid_size, rng, n_folds=N_FOLDS)
    return _best_fit(cross, fit["a"], fit["b"], fit["pi"], fixed_pi)["rho"]
