"""The PolarizationEstimator: polarization and stances from speech and party."""

import contextlib
import functools
import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data

from .bias import corrected_rho
from .crossfit import crossfit_rho
from .datasets import sample_two_pole_counts
from .emissions import EMISSIONS, TwoPoleEmission, make_emission
from .dask_backend import is_dask_array, score_lazily
from .likelihood import Rows, collapse_duplicates, posterior_summaries, window_rows
from .objective import LOG_SHAPE_BOUNDS, Problem
from .quadrature import QUADRATURE_RULES, stance_grid
from .solvers import (
    MinibatchSolver,
    Refitter,
    all_finite,
    diverges,
    leave_saddle,
    minimize_em,
    minimize_lbfgs,
    minimize_minibatch,
    run_epoch,
    warn_unconverged,
)
from .speakers import (
    dispersion_weights,
    encode_groups,
    estimate_dispersion,
    group_sides,
    multinomial_log_coef,
    scale_rows,
    sum_by_group,
)
from .uncertainty import Z95, bootstrap_rhos, holding, profile_interval, wald_se
from .utils import progress, torch_threads

# a + b above this means each camp's stances sit within ~0.03 of one point of
# [0, 1]: far tighter than any real population, the signature of a fit whose
# stance scale collapsed while W grew (the non-identified drift).
_DEGENERATE_CONCENTRATION = 200.0
# solver="auto" fits the two-pole family by EM above this many terms: there
# L-BFGS crawls as pole probabilities head for zero, and can stop far from the
# optimum (V = 300: rho 0.52 where EM reaches the likelihood's 0.83); on a
# handful of terms EM crawls instead (wide stance posteriors) and L-BFGS is
# the faster of the two.
_EM_MIN_FEATURES = 20
# Dense corpora with at most this many terms are collapsed to distinct rows.
_COLLAPSE_MAX_FEATURES = 64
# ... and on Dask arrays, when the blocks' distinct rows number at most this
# many (they are merged where the estimator is)
_DASK_DISTINCT_MAX = 1_000_000
# 95% point of 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2), the likelihood-ratio
# statistic of two parameters on the boundary of their space (Self and
# Liang, JASA 1987): pole_zeros="test" pins both line ends below it.
_POLE_ZERO_CRITICAL = 4.2306
# The observed-information standard error needs a Hessian of this many
# parameters at most: autograd makes one pass over the data per parameter
# (403 parameters, 2,000 speeches: 3.5 s, three times the fit itself).
_HESSIAN_MAX_PARAMS = 100
# A fit's coarse start (see _minimize): a grid _COARSE_FACTOR times coarser,
# for grids of at least _COARSE_FACTOR * _COARSE_MIN_GRID nodes per side and
# budgets of at least 2 * _COARSE_MIN_ITER iterations
_COARSE_FACTOR = 4
_COARSE_MIN_GRID = 20
_COARSE_MIN_ITER = 10
# Solvers that step through minibatches (and so offer partial_fit).
_MINIBATCH_SOLVERS = ("adam", "sgd")


def _minibatch_solver(estimator):
    """partial_fit exists for the minibatch solvers only, as in MLPClassifier."""
    if estimator.solver not in _MINIBATCH_SOLVERS:
        raise AttributeError("partial_fit needs solver='adam' or solver='sgd'.")
    return True


class DegenerateFitWarning(UserWarning):
    """The fitted stances collapsed to a point: the model is not identified on the data.

    Issued by :meth:`PolarizationEstimator.fit` when ``alpha_ + beta_`` exceeds
    200, which the research notebook's intercept-free ``"softmax"`` emission
    reaches when fitted to convergence.

    Examples
    --------
    >>> import warnings
    >>> from skpolar import DegenerateFitWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", DegenerateFitWarning)  # make it an error
    ...     issubclass(DegenerateFitWarning, UserWarning)
    True
    """


class PolarizationEstimator(TransformerMixin, BaseEstimator):
    """Polarization of a two-party population, and each speaker's stance, from speech.

    Speaker ``n`` has a latent stance ``u_n`` in [-1, 1] with
    ``(u + 1) / 2 ~ pi Beta(a, b) + (1 - pi) Beta(b, a)``, party
    ``y = 1(u >= 0)`` and word counts ``x ~ Multinomial(S, phi(u))``. The
    estimator maximizes the marginal likelihood of ``(x, y)`` with ``u``
    integrated out on a grid, and reports the polarization
    ``rho = max(a, b) / (a + b)``: 0.5 is one centred population, values near
    one are two camps at the poles.

    Parameters
    ----------
    emission : {"two_pole", "loglinear", "softmax"}, default="two_pole"
        Word distribution at stance ``u``. ``"two_pole"``:
        ``(1 - p) theta_L + p theta_R`` with ``p = (u + 1) / 2``;
        ``"loglinear"``: ``softmax(W u + c)`` with an L2 penalty on ``W``;
        ``"softmax"``: the research notebook's ``softmax(W u)``, which is not
        identified (see :mod:`skpolar.emissions`).
    grid_size : int, default=200
        Grid nodes on each side of zero.
    quadrature : {"exact", "density"}, default="exact"
        ``"exact"`` weighs each node with the exact prior mass of its cell;
        ``"density"`` is the notebook's density-at-node rule.
    pi : "fit" or float in (0, 1), default="fit"
        Weight of the right-leaning component; ``"fit"`` estimates it.
    solver : {"auto", "em", "lbfgs", "adam", "sgd"}, default="auto"
        ``"em"`` is full-batch expectation-maximization with closed-form
        M-steps (two-pole emission only; monotone, and fast on large
        vocabularies); ``"lbfgs"`` is full-batch L-BFGS-B; ``"adam"`` and
        ``"sgd"`` take minibatch steps of size ``learning_rate``. ``"auto"``
        is ``"em"`` for the two-pole emission on more than 20 terms and
        ``"lbfgs"`` otherwise.
    learning_rate : float, default=0.1
        Step size of ``"adam"`` and ``"sgd"``.
    batch_size : int or None, default=None
        Speeches per minibatch of ``"adam"`` and ``"sgd"``; None is the full
        batch (one step per epoch).
    max_iter : int, default=500
        Iterations of EM or L-BFGS, or epochs of the minibatch solvers.
    tol : float, default=1e-8
        Relative loss improvement below which the fit has converged
        (``n_iter_no_change`` epochs in a row for the minibatch solvers).
    n_iter_no_change : int, default=10
        Epochs without improvement before a minibatch fit stops.
    l2_penalty : float, default=1.0
        Precision of the Gaussian prior on ``W`` for ``emission="loglinear"``;
        it pins the stance scale.
    vocabulary_prior : float >= 0, default=0.0
        Strength of a Dirichlet prior on each pole vocabulary of the two-pole
        emission, centred on the pooled word frequencies: every word gets
        ``vocabulary_prior`` times its pooled frequency as a pseudo-count in
        each pole, so no pole probability is exactly zero. Pulling the poles
        together spreads the stances out by the same factor at almost no cost
        in likelihood, so even a weak prior raises ``rho_`` (one pseudo-word
        per pole moves 4,000 three-word speeches from 0.805 to 0.817; see
        :doc:`/model`): keep the default 0, the likelihood alone, when
        ``rho_`` matters.
    pole_zeros : {"free", "test"}, default="free"
        ``"test"``: after the fit, hold at zero each pole's probability of its
        *line-end* word (the word the other pole uses most relative to it)
        unless a likelihood-ratio test for parameters on the boundary
        rejects that (or the pinned stance distribution collapses), and
        refit; the interval and any ``bias_correction`` keep the pins. Where
        each side has words the other never says (the notebook's partisan
        design) the free fit stops short of those zeros and ``rho_`` comes
        out high; the pins remove most of that bias (see "Zeros at the
        poles" in :doc:`/model`). The likelihood is nearly flat along the
        path the pins move the fit, so the test rejects only clear
        violations: where every word is shared by both sides a kept pin is
        an assumption, which lowers ``rho_``. Two-pole emission only;
        ``partial_fit`` fits free.
    dispersion : "auto", float > 0 or None, default="auto"
        Burstiness of speech. With a precision ``kappa``, each speech's counts
        are weighted by ``(1 + kappa) / (S + kappa)`` (``S`` its length), which
        approximates a Dirichlet-multinomial likelihood: a long speech about
        one subject informs the stance less than its word count suggests.
        ``"auto"`` estimates ``kappa`` from the variation between the speeches
        of each speaker when ``fit`` gets ``groups`` (see
        :func:`skpolar.speakers.estimate_dispersion`), and uses plain
        multinomial speeches otherwise; None always does.
    init : {"auto", "random"}, default="auto"
        ``"auto"`` starts at ``a = 3, b = 1`` (off the ``a = b`` saddle) with
        the emission taken from the parties' word frequencies; ``"random"``
        draws ``log a ~ N(2, 1)``, ``log b ~ N(0, 1)`` and random emission
        parameters, as the notebook does. A random start can stop in a worse
        local optimum, so the full-batch solvers (``"em"``, ``"lbfgs"``) also
        fit from the ``"auto"`` start and keep the better of the two: a
        random start can only improve on ``"auto"``, never do worse. The
        minibatch solvers fit from the random start alone, as the notebook
        does, and reach at best a local optimum.
    interval : {"profile", "bootstrap"} or None, default="profile"
        How ``rho_ci_`` is computed: profile likelihood, a bootstrap over
        speeches (``n_bootstrap`` refits on ``n_jobs`` workers; the 2.5 and
        97.5 percentiles of the refitted ``rho``, widened to hold the
        estimate when they both fall on one side of it), or not at all. The
        interval always contains ``rho_``.
    n_bootstrap : int, default=200
        Bootstrap replicates for ``interval="bootstrap"``.
    bias_correction : {"auto", "bootstrap", "jackknife", "crossfit"} or None, \
default="auto"
        Correct ``rho_`` for the estimator's bias, which comes from the many
        word probabilities fitted beside ``rho`` (see :doc:`/model`, "Which
        estimate of rho"). ``"auto"`` cross-fits where the vocabulary is at
        least as large as the corpus (``n_features >= n_samples``, two-pole
        emission, in-memory data), where the maximum-likelihood ``rho`` is
        biased upwards by 0.03 to 0.4, and otherwise keeps the
        maximum-likelihood estimate (``None``); ``bias_correction_`` says
        which ran. Fix it (``None`` or ``"crossfit"``) when comparing
        corpora on both sides of that line: :func:`~skpolar.compare` does.
        ``"bootstrap"``: corpora of the fitted shape are drawn from the
        fitted model (``n_bias_draws`` of them) and refitted, and the mean
        difference between their estimates and the fitted ``rho`` is
        subtracted from ``rho_`` and its interval (whose half-widths also
        take in the Monte Carlo error). ``"jackknife"``: the speeches
        (speakers with ``groups``) of each party are halved at random
        ``n_bias_draws // 2`` times and both halves refitted; a bias that
        falls as one over the corpus size is twice as large on a half, so
        ``2 rho_mle_ - mean(half-sample rho)`` removes it (split-half
        jackknife), and the interval moves with it as above.
        ``"crossfit"`` estimates ``rho`` by cross-fitting instead: every
        speech (every speaker with ``groups``) is scored against a stance
        axis estimated from the parties' word counts without it, and
        ``rho`` maximizes these held-out likelihoods
        (:mod:`skpolar.crossfit`); ``interval`` then applies to that
        likelihood (``"profile"``) or resamples speeches and redoes the
        cross-fit (``"bootstrap"``). Two-pole emission only.
    n_bias_draws : int, default=20
        Refits behind ``bias_correction``: corpora drawn for
        ``"bootstrap"``, half samples for ``"jackknife"`` (two per split, so
        an odd count drops its last; at least 4).
    n_jobs : int or None, default=None
        Parallel workers for the bootstrap (joblib semantics).
    random_state : int, RandomState instance or None, default=None
        Seeds random initialization, minibatch order and the bootstrap.
    device : str, default="cpu"
        Torch device for the numerics, for example ``"cuda"``.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar (tqdm, on stderr) with the loss;
        2 prints the loss at every iteration.

    Attributes
    ----------
    alpha_, beta_ : float
        Beta shapes; ``alpha_ >= beta_`` unless ``pi`` is fixed away from 0.5.
    pi_ : float
        Weight of the ``Beta(alpha_, beta_)`` component.
    rho_ : float
        Polarization ``max(alpha_, beta_) / (alpha_ + beta_)``, less the
        estimated bias with ``bias_correction``.
    rho_se_ : float
        Standard error of ``rho_``: the profile interval's half-width / 1.96,
        the bootstrap standard deviation, or, with ``interval=None``, the
        observed information (autograd Hessian) for models of up to 100
        parameters (NaN beyond: the Hessian takes one pass over the data per
        parameter).
    rho_ci_ : ndarray of shape (2,)
        95% interval for ``rho`` (NaN when ``interval=None``).
    rho_bootstrap_ : ndarray of shape (n_bootstrap,)
        Replicate estimates, with ``interval="bootstrap"`` only.
    rho_mle_ : float
        The maximum-likelihood ``rho`` (equal to ``rho_`` without a bias
        correction; ``alpha_``, ``beta_`` and the stances are those of the
        maximum-likelihood fit in any case).
    rho_mle_ci_ : ndarray of shape (2,)
        The interval of ``rho_mle_`` (equal to ``rho_ci_`` without correction;
        NaN with ``bias_correction="crossfit"``, which does not compute it).
    rho_bias_ : float
        ``rho_mle_ - rho_``: the estimated bias (0 without correction).
    bias_correction_ : {"bootstrap", "jackknife", "crossfit"} or None
        The correction the fit ran: ``bias_correction``, with ``"auto"``
        resolved.
    pole_zeros_ : ndarray of bool, shape (2, n_features_in_)
        The pole probabilities ``pole_zeros="test"`` pinned at zero (rows: the
        ``classes_[0]`` and ``classes_[1]`` poles); all False when none were
        (or with ``pole_zeros="free"``; shape (2, 0) for the log-linear
        families).
    pole_zero_statistic_ : float
        The likelihood-ratio statistic of the pins (NaN with
        ``pole_zeros="free"``; 0 when the free fit already ends at zero on
        both sides). The
        pins are kept below 4.23, the 95% point of
        ``1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)``.
    rho_bias_replicates_ : ndarray of shape (n_bias_draws,)
        The refitted ``rho`` of every drawn corpus, or of every half sample
        (the two halves of each split in turn; ``2 * (n_bias_draws // 2)``
        of them), with ``bias_correction="bootstrap"`` or ``"jackknife"``.
    W_ : ndarray of shape (n_features_in_,)
        Word slant: the slope ``W`` of the log-linear families, or
        ``log theta_R - log theta_L`` for the two-pole family.
    theta_ : ndarray of shape (2, n_features_in_)
        Left and right pole vocabularies (two-pole family only).
    intercept_ : ndarray of shape (n_features_in_,)
        Word intercepts ``c`` (``emission="loglinear"`` only).
    grid_ : ndarray of shape (2 * grid_size,)
        Stance nodes.
    dispersion_ : float
        The ``kappa`` the fit used (``inf``: multinomial speeches).
    n_speakers_ : int
        Speakers the fit's population holds: the number of groups, or of
        rows without ``groups``.
    classes_ : ndarray of shape (2,)
        Party labels; ``classes_[1]`` is the ``u >= 0`` side.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.
    n_iter_ : int
        Iterations run, over every restart of the fit: L-BFGS iterations, EM
        E-steps (those of EM's coarse-grid start included) or minibatch
        epochs.
    converged_ : bool
    loss_curve_ : list of float
        Mean negative log likelihood per speech at each iteration on the
        ``grid_size`` grid (EM's coarse-grid start is not in it).

    See Also
    --------
    skpolar.make_polarized_speech : Synthetic speech with known polarization.

    Examples
    --------
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> est = PolarizationEstimator(grid_size=50).fit(X, y)
    >>> bool(est.rho_ci_[0] <= est.rho_ <= est.rho_ci_[1])
    True
    >>> est.transform(X[:3]).shape
    (3, 1)
    """

    _parameter_constraints = {
        "emission": [StrOptions(set(EMISSIONS))],
        "grid_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "quadrature": [StrOptions(set(QUADRATURE_RULES))],
        "pi": [StrOptions({"fit"}), Interval(numbers.Real, 0, 1, closed="neither")],
        "solver": [StrOptions({"auto", "em", "lbfgs", *_MINIBATCH_SOLVERS})],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "l2_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "vocabulary_prior": [Interval(numbers.Real, 0, None, closed="left")],
        "pole_zeros": [StrOptions({"free", "test"})],
        "dispersion": [StrOptions({"auto"}), Interval(numbers.Real, 0, None, closed="neither"), None],
        "init": [StrOptions({"auto", "random"})],
        "interval": [StrOptions({"profile", "bootstrap"}), None],
        "n_bootstrap": [Interval(numbers.Integral, 2, None, closed="left")],
        "bias_correction": [StrOptions({"auto", "bootstrap", "crossfit", "jackknife"}), None],
        "n_bias_draws": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        emission="two_pole",
        grid_size=200,
        *,
        quadrature="exact",
        pi="fit",
        solver="auto",
        learning_rate=0.1,
        batch_size=None,
        max_iter=500,
        tol=1e-8,
        n_iter_no_change=10,
        l2_penalty=1.0,
        vocabulary_prior=0.0,
        pole_zeros="free",
        dispersion="auto",
        init="auto",
        interval="profile",
        n_bootstrap=200,
        bias_correction="auto",
        n_bias_draws=20,
        n_jobs=None,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.emission = emission
        self.grid_size = grid_size
        self.quadrature = quadrature
        self.pi = pi
        self.solver = solver
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.l2_penalty = l2_penalty
        self.vocabulary_prior = vocabulary_prior
        self.pole_zeros = pole_zeros
        self.dispersion = dispersion
        self.init = init
        self.interval = interval
        self.n_bootstrap = n_bootstrap
        self.bias_correction = bias_correction
        self.n_bias_draws = n_bias_draws
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # fit takes Dask arrays (dask_backend); the Bayesian subclass does not
    _fits_dask_arrays = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # predict / predict_proba name one of exactly two parties
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    # ---- fitting -------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Fit the model to speeches ``X`` and parties ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Non-negative word counts (for example from ``CountVectorizer``). A
            row-chunked Dask array is fitted where its blocks live, on the
            active ``dask.distributed`` client if there is one (see
            :doc:`/large_corpora`).
        y : array-like of shape (n_samples,)
            Party of each speech: exactly two distinct labels, of any type.
        groups : array-like of shape (n_samples,), default=None
            Speaker of each speech. The model then gives every speaker one
            stance, shared by all their speeches, and ``rho_`` is the
            polarization of the speakers; a speaker's speeches must all carry
            the same party. Without ``groups`` every row is its own speaker.

        Returns
        -------
        self : PolarizationEstimator
            The fitted estimator.

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> est.converged_, round(est.rho_, 1)
        (True, 0.8)
        """
        with _rollback_on_error(self):
            self._check_settings()
            if is_dask_array(X):
                rows, n_speakers, dispersion = self._dask_fit_rows(X, y, groups)
                # _dask_fit_rows refused any other correction: "auto" keeps the MLE
                correction = None
            else:
                X, side = self._validate_fit_input(X, y, reset=True)
                rows, n_speakers, dispersion = self._fit_rows(X, side, groups)
                correction = self._bias_correction_for(*X.shape)
            with torch_threads(self._work(rows.nnz)):
                state = self._fit(rows, correction)
            state.update(n_speakers_=n_speakers, dispersion_=dispersion,
                         _lengths=np.rint(rows.lengths).astype(np.int64))
            self._assign(state)
        return self

    def _bias_correction_for(self, n_samples, n_features):
        """``bias_correction`` with ``"auto"`` resolved for a corpus of this shape.

        Where the vocabulary is at least as large as the corpus the
        maximum-likelihood rho is far too high (+0.03 to +0.4 in every such
        cell of the study in :doc:`/benchmarks`) and the cross-fit closer in
        all of them but the senate-shaped ones at rho = 0.8; on vocabularies
        of a fifth of the corpus or less the two differ by less than 0.01
        and the maximum-likelihood interval covers better.
        """
        if self.bias_correction != "auto":
            return self.bias_correction
        wide = n_features >= n_samples and self.emission == "two_pole"
        return "crossfit" if wide else None

    def _check_settings(self):
        """Fail on an impossible combination of parameters before any work is done."""
        if self.solver not in _MINIBATCH_SOLVERS:
            self._full_batch_solver(n_features=0)
        self._device()
        if self.pole_zeros == "test" and self.emission != "two_pole":
            raise ValueError(
                f"pole_zeros='test' needs emission='two_pole' (the log-linear families have "
                f"no pole probabilities); got emission={self.emission!r}."
            )
        if self.bias_correction == "crossfit" and self.emission != "two_pole":
            raise ValueError(
                f"bias_correction='crossfit' needs emission='two_pole' (its held-out model "
                f"is the two-pole line); got emission={self.emission!r}."
            )
        if self.bias_correction == "jackknife" and self.n_bias_draws < 4:
            raise ValueError(
                f"bias_correction='jackknife' needs n_bias_draws >= 4 (two or more splits "
                f"into halves, for the correction's Monte Carlo error); got "
                f"n_bias_draws={self.n_bias_draws}."
            )
        explicit = self.bias_correction not in (None, "auto")
        if (self.interval == "bootstrap" or explicit) and self.n_jobs == 0:
            raise ValueError("n_jobs=0 runs no bootstrap worker; use None, -1 or a count >= 1.")

    def _fit_rows(self, X, side, groups):
        """The rows the likelihood sums over, the number of speakers and the dispersion."""
        lengths = np.asarray(X.sum(axis=1)).reshape(-1)
        if groups is None:
            dispersion = None if self.dispersion == "auto" else self.dispersion
            weight = dispersion_weights(lengths, dispersion)
            X_eff = scale_rows(X, weight)
            rows = self._collapse(Rows.of(X_eff, side, log_coef=multinomial_log_coef(X)))
            rows.lengths = lengths
            return rows, X.shape[0], np.inf if dispersion is None else float(dispersion)
        labels, inverse = encode_groups(groups, X.shape[0])
        group_side = group_sides(side, inverse, labels)
        if self.dispersion == "auto":
            dispersion = estimate_dispersion(X, inverse)
        else:
            dispersion = np.inf if self.dispersion is None else float(self.dispersion)
        weight = dispersion_weights(lengths, dispersion)
        X_group = sum_by_group(X, inverse, len(labels), weight)
        log_coef = np.bincount(inverse, weights=multinomial_log_coef(X), minlength=len(labels))
        rows = Rows.of(X_group, group_side, log_coef=log_coef)
        rows.lengths = np.bincount(inverse, weights=lengths, minlength=len(labels))
        return rows, len(labels), dispersion

    def _dask_fit_rows(self, X, y, groups):
        """:meth:`_fit_rows` of a Dask array: its blocks cut into chunks on the workers."""
        from .dask_backend import DaskRows, check_dask_rows, distinct_rows, unique_labels

        unsupported = [
            (groups is not None, "groups"),
            (self.solver in _MINIBATCH_SOLVERS,
             f"solver={self.solver!r} (use partial_fit, which streams the blocks)"),
            (self.bias_correction not in (None, "auto"),
             f"bias_correction={self.bias_correction!r}"),
            (self.interval == "bootstrap", "interval='bootstrap'"),
            (self._device().type != "cpu", f"device={self.device!r}"),
        ]
        named = [name for bad, name in unsupported if bad]
        if not self._fits_dask_arrays:
            raise ValueError(f"{type(self).__name__} does not fit Dask arrays; compute the "
                             "array (X.compute()) or fit a PolarizationEstimator.")
        if named:
            raise ValueError(
                "fit on a Dask array supports the full-batch solvers ('em', 'lbfgs') with "
                f"the profile interval or none, on the CPU; not {', '.join(named)}."
            )
        if y is None:
            raise ValueError("fit needs the parties y beside the Dask array X.")
        window = window_rows(self.grid_size, True)
        X, y = check_dask_rows(X, y, window)
        classes = unique_labels(y)
        if len(classes) != 2:
            raise ValueError(
                "y must hold exactly two parties (classes_[1] is the u >= 0 side); "
                f"got {len(classes)}."
            )
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.__dict__.pop("feature_names_in_", None)
        dispersion = None if self.dispersion == "auto" else self.dispersion
        n_total = X.shape[0]
        rows = None
        if (dispersion is None and isinstance(X._meta, np.ndarray)
                and X.shape[1] <= _COLLAPSE_MAX_FEATURES):
            # as in memory (_collapse): a few terms repeat rows
            rows = distinct_rows(X, y, classes, type(self).__name__, _DASK_DISTINCT_MAX)
        if rows is None:
            rows = DaskRows(X, y, classes, self.grid_size, window, dispersion,
                            type(self).__name__)
        return rows, n_total, np.inf if dispersion is None else float(dispersion)

    def _collapse(self, rows):
        """Merge identical rows of a small dense vocabulary (full-batch fits only)."""
        full_batch = self.solver not in _MINIBATCH_SOLVERS or self.batch_size is None
        X = rows.X
        if full_batch and not sp.issparse(X) and X.shape[1] <= _COLLAPSE_MAX_FEATURES:
            return rows.collapsed()
        return rows

    def _fit(self, rows, correction):
        """Fit on ``rows`` with the bias ``correction``; returns the fitted
        attributes without touching ``self``."""
        generator = self._torch_generator()
        problem = self._problem(rows, for_em=True)
        params = self._initial_params(rows, generator)
        state = {"bias_correction_": correction}
        # no total: a fit stops when it converges, usually long before max_iter
        with progress(self.verbose, "fit") as callback:
            if self.solver in _MINIBATCH_SOLVERS:
                params, info = minimize_minibatch(
                    problem, params, rows, solver=self.solver,
                    learning_rate=self.learning_rate, batch_size=self.batch_size,
                    max_iter=self.max_iter, tol=self.tol,
                    n_iter_no_change=self.n_iter_no_change, generator=generator,
                    callback=callback,
                )
                state["_solver_state"] = info["solver_state"].get_state()
            else:
                params, info = self._minimize(problem, params, callback, coarse_start=True)
                params, info = leave_saddle(problem, params, info, minimize=self._minimize)
                if self.init == "random":
                    params, info = self._better_of_default_start(problem, rows, params, info,
                                                                 callback)
        if not info["converged"]:
            warn_unconverged(info, self.max_iter)
        # numpy, not the torch.Generator: persistence formats that load only
        # known types (skops.io) keep it, and a later partial_fit continues it
        state["_generator_state"] = generator.get_state().numpy().copy()
        params = _oriented(params, self.pi)
        zeros, state["pole_zero_statistic_"] = None, np.nan
        if self.pole_zeros == "test":
            params, info, zeros, state["pole_zero_statistic_"] = self._test_pole_zeros(
                rows, params, info)
            if zeros is not None:
                problem = self._problem(rows, for_em=True, zeros=zeros)
        n_features = rows.n_features if self.emission == "two_pole" else 0
        state["pole_zeros_"] = (np.zeros((2, n_features), dtype=bool) if zeros is None
                                else zeros.copy())
        if correction == "crossfit":
            # rho and its interval come from the held-out likelihood; the
            # maximum-likelihood interval would only cost time
            state.update(n_iter_=info["n_iter"], converged_=info["converged"],
                         loss_curve_=list(info["loss_curve"]))
            state.update(self._model_attributes(params))
            state.update(crossfit_rho(
                rows, state, grid_size=self.grid_size,
                fixed_pi=None if self.pi == "fit" else float(self.pi),
                interval=self.interval, n_bootstrap=self.n_bootstrap, n_jobs=self.n_jobs,
                rng=_numpy_rng(self.random_state), verbose=self.verbose,
            ))
            return state
        uncertainty = self._uncertainty(rows, params, info["loss"], zeros)
        better = uncertainty.pop("better", None)
        if better is not None:
            # the profile found a higher likelihood: continue from there
            params, more = self._minimize(problem, better)
            info = dict(info, n_iter=info["n_iter"] + more["n_iter"],
                        loss_curve=list(info["loss_curve"]) + list(more["loss_curve"]),
                        loss=more["loss"])
            params = _oriented(params, self.pi)
            uncertainty = self._uncertainty(rows, params, more["loss"], zeros)
            uncertainty.pop("better", None)
        state.update(uncertainty)
        state.update(
            n_iter_=info["n_iter"], converged_=info["converged"],
            loss_curve_=list(info["loss_curve"]),
        )
        state.update(self._model_attributes(params))
        # every interval holds the estimate: bootstrap percentiles can both
        # fall on one side of it, and rho_ (max(a, b) / (a + b)) can differ in
        # the last bit from the rho_of the profile's searches start at
        state["rho_ci_"] = holding(state["rho_ci_"], state["rho_"])
        if correction in ("bootstrap", "jackknife"):
            state.update(self._corrected(rows, params, state, correction, zeros))
        else:
            state.update(rho_mle_=state["rho_"], rho_bias_=0.0, rho_mle_ci_=state["rho_ci_"])
        return state

    def _test_pole_zeros(self, rows, params, info):
        """Pin each pole's line end at zero unless a boundary likelihood-ratio test rejects it.

        A pole's line end is the word the other pole uses most relative to
        it, where the flat stretch path runs out (see "Zeros at the poles"
        in :doc:`/model`). With both ends held at zero the model is refitted
        from the estimate; the likelihood-ratio statistic against the free
        fit has the null distribution 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)
        of two parameters on the boundary (Self and Liang, 1987), and below
        its 95% point the pinned fit is kept, unless its stance distribution
        collapsed.

        Returns
        -------
        params, info : the fit kept
        zeros : ndarray of bool, shape (2, V), or None
            The pinned probabilities; None when the free fit is kept (or
            already ends at zero on both sides, as wide vocabularies do).
        statistic : float
        """
        eta = np.asarray(params["eta"], dtype=np.float64)
        log_theta = eta - logsumexp(eta, axis=1, keepdims=True)
        ends = (int(np.argmin(log_theta[0] - log_theta[1])),
                int(np.argmin(log_theta[1] - log_theta[0])))
        zeros = np.zeros(eta.shape, dtype=bool)
        zeros[0, ends[0]] = zeros[1, ends[1]] = True
        if np.all(log_theta[zeros] <= TwoPoleEmission.log_floor + 1.0):
            return params, info, None, 0.0
        problem = self._problem(rows, for_em=True, zeros=zeros)
        pinned, pinned_info = self._minimize(problem, TwoPoleEmission.pinned(params, zeros))
        statistic = 2.0 * problem.n_total * (pinned_info["loss"] - info["loss"])
        # The likelihood is nearly flat along the stretch path, so the test
        # sees only clear violations; pins that squeeze every stance into one
        # point (a few shared words: rho 0.76 -> a collapsed 0.55 at a
        # statistic of 0.8) are a wrong end the test cannot see, and go too.
        collapsed = np.exp(pinned["log_a"]) + np.exp(pinned["log_b"]) >= _DEGENERATE_CONCENTRATION
        if not statistic < _POLE_ZERO_CRITICAL or collapsed:
            return params, info, None, float(statistic)
        info = dict(pinned_info, n_iter=info["n_iter"] + pinned_info["n_iter"],
                    loss_curve=list(info["loss_curve"]) + list(pinned_info["loss_curve"]))
        return _oriented(pinned, self.pi), info, zeros, float(statistic)

    def _better_of_default_start(self, problem, rows, params, info, callback):
        """The better of a random start's optimum and the default start's.

        A random start can stop in a worse local optimum (a pole probability
        driven to zero, or one U-shaped component): seeds 0 and 1 on 300
        speeches stopped 0.17 and 0.007 nats per speech below the default
        start, claiming convergence, with intervals that excluded the better
        optimum. The iterations of both fits count in ``n_iter_``.
        """
        start = self._initial_params(rows, None, init="auto")
        other, other_info = self._minimize(problem, start, callback)
        other, other_info = leave_saddle(problem, other, other_info, minimize=self._minimize)
        if other_info["loss"] < info["loss"]:
            params, info, first = other, other_info, info
        else:
            first = other_info
        # the curve ends with the kept fit's loss
        return params, dict(info, n_iter=first["n_iter"] + info["n_iter"],
                            loss_curve=list(first["loss_curve"]) + list(info["loss_curve"]))

    def _corrected(self, rows, params, state, correction, zeros=None):
        """rho and its interval corrected for the bias (:func:`skpolar.bias.corrected_rho`)."""
        # drawn corpora have the effective lengths of the fitted rows
        # (dispersion weights and all), so each carries the information its
        # row carried
        lengths = np.maximum(np.rint(np.asarray(rows.X.sum(axis=1)).reshape(-1)), 0)
        lengths = np.repeat(lengths.astype(np.int64), np.rint(rows.weight).astype(np.int64))
        draw = functools.partial(sample_model, self.emission, params, state["alpha_"],
                                 state["beta_"], state["pi_"], lengths, np.array([0, 1]),
                                 len(lengths))
        return corrected_rho(self._refitter(), rows, params, state, correction, draw=draw,
                             n_draws=self.n_bias_draws, n_jobs=self.n_jobs,
                             rng=_numpy_rng(self.random_state), zeros=zeros)

    def _refitter(self):
        """This estimator's refits, for the bootstrap and the bias corrections."""
        return Refitter(problem=self._problem, minimize=self._minimize,
                        start=functools.partial(self._initial_params, generator=None,
                                                init="auto"),
                        collapse=self._collapse)

    def _assign(self, state):
        """Set the fitted attributes, dropping those a previous fit left behind."""
        for name in _FIT_DEPENDENT:
            self.__dict__.pop(name, None)
        for name, value in state.items():
            setattr(self, name, value)

    def _full_batch_solver(self, n_features=None):
        """"em" or "lbfgs": the solver of fits, profile points and bootstrap refits."""
        n_features = self.n_features_in_ if n_features is None else n_features
        can_em = hasattr(self._emission(), "m_step")
        if self.solver == "em" and not can_em:
            raise ValueError(
                f"solver='em' needs emission='two_pole' (closed-form M-step); got "
                f"emission={self.emission!r}. Use solver='lbfgs' or 'auto'."
            )
        if self.solver == "auto":
            return "em" if can_em and n_features > _EM_MIN_FEATURES else "lbfgs"
        return self.solver

    def _minimize(self, problem, params, callback=None, coarse_start=False):
        """Fit ``problem`` from ``params`` with the full-batch solver.

        With ``coarse_start`` (a start far from the optimum), the solver
        first runs on a grid a quarter as fine, whose passes cost a quarter
        as much, and then on the problem's own grid from there: the fit's
        approach to the optimum, where most of its iterations go, happens on
        the cheap grid, and the answer is still the optimum on ``grid_size``
        nodes. Half of ``max_iter`` is the coarse stage's budget; ``n_iter``
        counts the iterations of both.

        L-BFGS gains as EM does. On the seed task (three terms, G = 200) a
        fit took 0.070 s and takes 0.059 s; on the Senate corpus the
        log-linear fit took 6.2 s and takes 4.3-4.7 s (121 iterations, most
        of them coarse), and it stops nearer the optimum: rho 0.62407 against
        0.62217 where a fit with ``tol=1e-12`` finds 0.62418 (the default
        tolerance stops on the flat stretch of its likelihood either way).
        """
        full_batch = self._full_batch_solver(problem.n_features)
        solve = minimize_em if full_batch == "em" else minimize_lbfgs
        budget = self.max_iter
        first = None
        if (coarse_start
                and problem.grid_size >= _COARSE_FACTOR * _COARSE_MIN_GRID
                and budget >= 2 * _COARSE_MIN_ITER):
            coarse = problem.on_grid(problem.grid_size // _COARSE_FACTOR)
            params, first = solve(coarse, params, max_iter=budget // 2, tol=self.tol,
                                  callback=callback)
            budget -= first["n_iter"]
        params, info = solve(problem, params, max_iter=budget, tol=self.tol, callback=callback)
        if first is not None:
            info = dict(info, n_iter=first["n_iter"] + info["n_iter"])
        return params, info

    @available_if(_minibatch_solver)
    def partial_fit(self, X, y, classes=None):
        """One epoch of minibatch updates on a batch of speeches (streaming fits).

        Needs ``solver="adam"`` or ``solver="sgd"``. The first call fixes the
        vocabulary and the two parties (pass ``classes`` unless this batch
        holds both). No interval is computed: ``rho_ci_`` stays NaN. Every
        row is its own speaker, with multinomial speeches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (2,), default=None
            The two party labels; required on the first call when ``y`` holds
            only one of them. On later calls they must be those of the first.

        Returns
        -------
        self : PolarizationEstimator

        Raises
        ------
        ValueError
            When the call's steps diverge: they leave the batch's loss more than
            ``max(|loss|, 1)`` above where it started, or not finite (lower
            ``learning_rate``); when ``classes`` or a setting of the model
            (``emission``, ``grid_size``, ``quadrature``, ``l2_penalty``,
            ``solver``) differs from the first call's; or after a fit by
            :meth:`fit`. The estimator is then left as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(2000, random_state=0)
        >>> est = PolarizationEstimator(solver="adam", batch_size=250, grid_size=30,
        ...                             random_state=0)
        >>> for batch in np.array_split(np.arange(2000), 4):
        ...     est = est.partial_fit(X[batch], y[batch], classes=[0, 1])
        >>> est.n_iter_
        4
        """
        if is_dask_array(X):
            return self._partial_fit_dask(X, y, classes)
        first = not hasattr(self, "_params")
        with _rollback_on_error(self):
            self._validate_params()
            if not first:
                self._check_streaming_settings(classes)
            elif classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
                if len(self.classes_) != 2:
                    raise ValueError(
                        f"classes must hold exactly two labels, got {len(self.classes_)}."
                    )
            self._device()
            X, side = self._validate_fit_input(
                X, y, reset=first, classes_given=first and classes is not None
            )
            with torch_threads(self._work(X.nnz if sp.issparse(X) else X.size)):
                state = self._partial_fit(X, side, first)
            self._assign(state)
        return self

    def _partial_fit_dask(self, X, y, classes):
        """:meth:`partial_fit` on each row block of a Dask array in turn, where the block lives."""
        from .dask_backend import check_dask_rows, partial_fit_blocks, unique_labels

        if y is None:
            raise ValueError("partial_fit needs the parties y beside the Dask array X.")
        X, y = check_dask_rows(X, y, None)
        if classes is None and not hasattr(self, "_params"):
            # the first block may hold one party only
            classes = unique_labels(y)
        fitted = partial_fit_blocks(self, X, y, classes)
        self.__dict__.clear()
        self.__dict__.update(fitted.__dict__)
        return self

    def _check_streaming_settings(self, classes):
        """A later partial_fit must continue the model the first one started."""
        if classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes={list(classes)!r} differs from classes_={self.classes_.tolist()!r} "
                "of the first partial_fit call."
            )
        fitted = self._config
        for name in ("emission", "grid_size", "quadrature", "l2_penalty", "solver"):
            if getattr(self, name) != fitted[name]:
                raise ValueError(
                    f"{name} changed from {fitted[name]!r} to {getattr(self, name)!r} since "
                    "the first partial_fit; call fit to start a new model."
                )
        if "_solver_state" not in self.__dict__:
            raise ValueError(
                "partial_fit continues a streaming fit; this estimator was fitted with "
                f"solver={fitted['solver']!r} by fit. Call fit, or start partial_fit afresh "
                "on a clone."
            )

    def _partial_fit(self, X, side, first):
        generator = self._torch_generator() if first else _generator_from(self._generator_state)
        rows = Rows.of(X, side)
        problem = self._problem(rows)
        if first:
            params = self._initial_params(rows, generator)
            solver_state = MinibatchSolver(self.solver, self.learning_rate)
            n_iter, curve = 0, []
        else:
            # a copy: a call that fails leaves the stored state as it was
            params = self._params
            solver_state = MinibatchSolver.from_state(self._solver_state)
            solver_state.learning_rate = self.learning_rate
            n_iter, curve = self.n_iter_, list(self.loss_curve_)
        params, loss = run_epoch(problem, params, solver_state, rows, self.batch_size, generator)
        # Steps too long for the curvature make the batch's own loss worse, and
        # the next call's worse still: stop at the first (one more pass over
        # the batch, without gradient). Losses of different batches are not
        # comparable (speech lengths differ), so each batch is its own yardstick.
        after = problem.value(params) if all_finite(params) else np.inf
        if not np.isfinite(loss) or diverges(after, loss):
            raise ValueError(
                f"partial_fit diverged: its steps took this batch's loss from {loss:.6g} to "
                f"{after:.6g} per speech. The estimator is left as it was before the call; "
                "lower learning_rate."
            )
        state = {
            "_generator_state": generator.get_state().numpy().copy(),
            "_solver_state": solver_state.get_state(),
            "n_iter_": n_iter + 1, "loss_curve_": curve + [loss], "converged_": False,
            "rho_se_": np.nan, "rho_ci_": np.full(2, np.nan),
            "n_speakers_": (0 if first else self.n_speakers_) + X.shape[0],
            "dispersion_": np.inf, "bias_correction_": None,
        }
        state.update(self._model_attributes(_oriented(params, self.pi)))
        return state

    def _validate_fit_input(self, X, y, reset, classes_given=False):
        X, y = validate_data(
            self, X, y, reset=reset, accept_sparse="csr",
            dtype=[np.float64, np.float32],
        )
        check_non_negative(X, f"{type(self).__name__} (input X)")
        if reset and not classes_given:
            classes = _unique_labels(y)
            if len(classes) != 2:
                noun = "class" if len(classes) == 1 else "classes"
                raise ValueError(
                    "y must hold exactly two parties (classes_[1] is the u >= 0 side); "
                    f"got {len(classes)} {noun}."
                )
            self.classes_ = classes
        return X, self._encode(y)

    def _encode(self, y):
        y = np.asarray(y)
        _unique_labels(y)  # a clear error for labels that cannot be ordered
        side = np.searchsorted(self.classes_, y)
        side = np.clip(side, 0, 1)
        if not np.all(self.classes_[side] == y):
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            raise ValueError(
                f"y holds labels {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}."
            )
        return side

    def _work(self, nnz):
        """Multiply-adds of one likelihood pass over ``nnz`` counts, to size the torch thread pool."""
        return nnz * 2 * self.grid_size

    def _torch_generator(self):
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return torch.Generator().manual_seed(int(seed))

    def _device(self):
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(f"device={self.device!r} is not a torch device: {exc}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} was asked for but CUDA is not available.")
        try:
            torch.zeros(1, device=device)
        except (RuntimeError, AssertionError, TypeError, ValueError) as exc:
            raise ValueError(f"device={self.device!r} cannot hold tensors here: {exc}") from None
        if device.type == "meta":
            raise ValueError("device='meta' holds no data; use 'cpu' or a GPU device.")
        return device

    def _problem(self, rows, fixed_rho=None, for_em=False, zeros=None):
        """The objective on ``rows`` (with the pole probabilities ``zeros`` held at zero).

        ``for_em``: the problem only an EM fit will see (a fit, a profile
        point, a refit): on the two-pole family its E-step then runs its
        sparse products in single precision (:func:`~skpolar.likelihood.make_chunks`),
        which moved the Senate corpus' rho by 1.4e-5 and cut its fit from 27-29 s
        to 23-24 s in a same-run comparison.
        """
        device = self._device()
        # only the two-pole family has EM (_full_batch_solver checks)
        single = for_em and self._full_batch_solver(rows.n_features) == "em"
        return Problem(
            rows.chunks(self.grid_size, device, single_products=single),
            self._emission(rows, zeros), rows.n_features,
            self.grid_size, self.quadrature,
            pi=None if self.pi == "fit" else float(self.pi), fixed_rho=fixed_rho,
            device=device,
        )

    def _emission(self, rows=None, zeros=None):
        """The emission family; with the fit's ``rows``, carrying its vocabulary prior."""
        prior_counts = None
        if rows is not None and self.emission == "two_pole" and self.vocabulary_prior > 0:
            totals = rows.word_totals()
            prior_counts = self.vocabulary_prior * totals / max(totals.sum(), 1e-300)
        return make_emission(self.emission, self.l2_penalty, prior_counts, zeros)

    def _initial_params(self, rows, generator, init=None):
        emission = self._emission()
        if (self.init if init is None else init) == "random":
            params = {
                "log_a": 2.0 + torch.randn((), generator=generator, dtype=torch.float64),
                "log_b": torch.randn((), generator=generator, dtype=torch.float64),
            }
            params.update(emission.random_params(rows.n_features, generator, torch.float64))
            params = {k: v.numpy() for k, v in params.items()}
            params["log_a"], params["log_b"] = (
                np.clip(params[k], *LOG_SHAPE_BOUNDS) for k in ("log_a", "log_b")
            )
        else:
            params = emission.init_params(rows.class_counts(), generator)
            params["log_a"], params["log_b"] = np.log(3.0), 0.0
        if self.pi == "fit":
            share = float(np.clip(rows.side_share(), 0.05, 0.95))
            params["logit_pi"] = np.log(share / (1.0 - share))
        return {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}

    def _model_attributes(self, params):
        """The public attributes of fitted parameters (and the settings they hold for)."""
        a, b = float(np.exp(params["log_a"])), float(np.exp(params["log_b"]))
        fitted_pi = "logit_pi" in params
        pi = float(1.0 / (1.0 + np.exp(-params["logit_pi"]))) if fitted_pi else float(self.pi)
        emission = self._emission()
        tparams = {k: torch.as_tensor(v) for k, v in params.items()}
        out = {
            "_params": {k: np.array(v, copy=True) for k, v in params.items()},
            "_config": {name: getattr(self, name) for name in _CONFIG},
            "alpha_": a, "beta_": b, "pi_": pi, "rho_": max(a, b) / (a + b),
            "W_": emission.slant(tparams).detach().numpy().copy(),
            "grid_": stance_grid(self.grid_size, self.quadrature),
        }
        if self.emission == "two_pole":
            out["theta_"] = torch.softmax(tparams["eta"], dim=1).numpy()
        if self.emission == "loglinear":
            out["intercept_"] = np.array(params["c"], copy=True)
        if a + b >= _DEGENERATE_CONCENTRATION:
            hint = (
                " The intercept-free 'softmax' emission is not identified; use "
                "emission='two_pole' or 'loglinear'."
                if self.emission == "softmax"
                else ""
            )
            warnings.warn(
                f"The stance distribution collapsed (a={a:.4g}, b={b:.4g}, a + b >= "
                f"{_DEGENERATE_CONCENTRATION:g}): the fit is degenerate on these data and "
                f"rho_={out['rho_']:.3f} is not meaningful.{hint}",
                DegenerateFitWarning,
                stacklevel=4,
            )
        return out

    def _uncertainty(self, rows, params, loss, zeros=None):
        """``rho_ci_`` from the chosen interval and ``rho_se_`` consistent with it.

        The returned dict holds ``better``: the parameters of a profile point
        that beats the estimate, if the profile found one (see
        :func:`~skpolar.uncertainty.profile_interval`).

        The profile interval is trusted over the Wald (Hessian) standard error:
        pole words that one party never uses push the two-pole logits towards
        minus infinity, where the Hessian is ill-conditioned.
        """
        out = {"rho_ci_": np.full(2, np.nan)}
        problem = self._problem(rows, zeros=zeros)
        if self.interval == "profile":
            by_lbfgs = self._full_batch_solver() != "em"
            with progress(self.verbose, "profile interval", label="rho") as callback:
                interval, out["better"] = profile_interval(
                    lambda rho: self._problem(rows, fixed_rho=rho, for_em=True, zeros=zeros),
                    params, loss, problem.n_total,
                    minimize=self._minimize,
                    callback=callback,
                    # L-BFGS refits converge tightly enough to chain (the
                    # seed task's interval: 0.34 -> 0.20 s); EM's do not.
                    # _minimize refits by L-BFGS whenever the solver is not
                    # EM (the minibatch solvers' profile points too)
                    warm_start=by_lbfgs,
                    # the second optimum was seen on few terms (L-BFGS); on
                    # wide vocabularies EM's fits from the default start
                    # cost far more (the Senate corpus: 36 -> 165 s, the
                    # same interval)
                    restart=self._profile_restart(rows, zeros) if by_lbfgs else None,
                )
            out["rho_ci_"] = np.array(interval)
            out["rho_se_"] = float(np.diff(out["rho_ci_"])[0] / (2 * Z95))
        elif self.interval == "bootstrap":
            replicates = bootstrap_rhos(self._refitter(), rows, params, self.n_bootstrap,
                                        self.random_state, self.n_jobs, zeros)
            out["rho_bootstrap_"] = replicates
            # replicates of a corpus at the edge of [0.5, 1) can all fall on
            # one side of the estimate: _fit widens the interval to hold it
            out["rho_ci_"] = np.percentile(replicates, [2.5, 97.5])
            out["rho_se_"] = float(np.std(replicates, ddof=1))
        elif len(problem.pack(params)) <= _HESSIAN_MAX_PARAMS:
            out["rho_se_"] = wald_se(problem, params)
        else:
            out["rho_se_"] = np.nan
        return out

    def _profile_restart(self, rows, zeros):
        """The fit's default start, with the fit's pinned zeros.

        The profile fits every point from here too
        (:func:`~skpolar.uncertainty.profile_interval`): poles at the
        parties' own word shares and stances spread wide (``a + b = 4``),
        on the other branch of the flat path from the one the estimate's
        chain follows.
        """
        start = self._initial_params(rows, None, init="auto")
        return start if zeros is None else TwoPoleEmission.pinned(start, zeros)

    # ---- inference on new speeches ---------------------------------------------------
    def _posterior(self, X, y=None, groups=None, level=None):
        """Posterior summaries of every row (or of every speaker, with ``groups``).

        Uses the settings of the fit, whatever ``set_params`` changed since.
        """
        scoring = self._scoring_rows(X, y, groups)
        rows, inverse = scoring["rows"], scoring["inverse"]
        config = self._config
        problem, emission = self._scoring_problem()
        params = {k: torch.as_tensor(v, device=problem.device) for k, v in self._params.items()}
        with torch.no_grad(), torch_threads(self._work(rows.nnz)):
            log_w = problem.log_weights(params)
            prepared = emission.prepare(params, problem.u)
            summary = posterior_summaries(
                rows.chunks(config["grid_size"], problem.device), emission, prepared, log_w,
                problem.u, rows.X.shape[0], level=level,
            )
        if groups is None and inverse is not None:
            summary = {name: values[inverse] for name, values in summary.items()}
        summary["dtype"] = scoring["dtype"]
        summary["lengths"] = scoring["lengths"]
        if groups is not None:
            summary["labels"], summary["inverse"] = scoring["labels"], inverse
        return summary

    def _scoring_rows(self, X, y=None, groups=None):
        """Validated ``X`` (and ``y``, ``groups``) as the rows to score.

        Distinct rows once each (``inverse`` expands them back), or one row per
        speaker with ``groups``; the counts weighted by the fitted dispersion.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32]
        )
        check_non_negative(X, f"{type(self).__name__} (input X)")
        side = None
        if y is not None:
            y = np.asarray(y)
            if y.shape != (X.shape[0],):
                raise ValueError(
                    f"y must have shape ({X.shape[0]},) to match X, got {y.shape}."
                )
            side = self._encode(y)
        X64 = X.astype(np.float64, copy=False)
        lengths = np.asarray(X64.sum(axis=1)).reshape(-1)
        labels = inverse = None
        if groups is None:
            distinct = None
            if not sp.issparse(X64) and X64.shape[1] <= _COLLAPSE_MAX_FEATURES:
                # a few terms repeat rows: score each distinct one once, as the
                # fit does (2,000,000 speeches of 3 terms hold 97), and expand
                distinct = collapse_duplicates(X64, side, integers_only=True)
            if distinct is not None:
                X64, side, _, inverse = distinct
            row_lengths = np.asarray(X64.sum(axis=1)).reshape(-1)
            weight = dispersion_weights(row_lengths, self.dispersion_)
            rows = Rows.of(scale_rows(X64, weight), side, log_coef=multinomial_log_coef(X64))
        else:
            weight = dispersion_weights(lengths, self.dispersion_)
            labels, inverse = encode_groups(groups, X.shape[0])
            group_side = None if side is None else group_sides(side, inverse, labels)
            log_coef = np.bincount(inverse, weights=multinomial_log_coef(X64),
                                   minlength=len(labels))
            rows = Rows.of(sum_by_group(X64, inverse, len(labels), weight), group_side,
                           log_coef=log_coef)
        return {"rows": rows, "inverse": inverse, "labels": labels, "lengths": lengths,
                "dtype": X.dtype}

    def _scoring_problem(self):
        """The empty-data problem and the emission that score rows at the fit's settings."""
        config = self._config
        emission = make_emission(config["emission"], config["l2_penalty"])
        problem = Problem([], emission, self.n_features_in_, config["grid_size"],
                          config["quadrature"],
                          pi=None if "logit_pi" in self._params else self.pi_,
                          device=self._device())
        return problem, emission


    def sample(self, n_samples=1, random_state=None):
        """Draw speeches, parties and stances from the fitted model.

        Stances come from the fitted Beta mixture, parties from their sign,
        words from the fitted emission (multinomial), and speech lengths are
        drawn with replacement from the lengths of the rows the model was
        fitted to (speakers' total lengths after a fit with ``groups``). Fit
        a corpus, sample corpora of its shape, refit and compare: a
        semi-synthetic study in a few lines.

        Parameters
        ----------
        n_samples : int >= 1, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_), or CSR matrix
            Word counts (int64); sparse when the vocabulary has more than 64
            terms.
        y : ndarray of shape (n_samples,)
            Party labels, from ``classes_``.
        u : ndarray of shape (n_samples,)
            The stances.

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> X_new, y_new, u = est.sample(3000, random_state=1)
        >>> refit = PolarizationEstimator(grid_size=40, interval=None).fit(X_new, y_new)
        >>> bool(abs(refit.rho_ - est.rho_) < 0.03)
        True
        """
        check_is_fitted(self)
        check_n_samples(n_samples)
        return sample_model(
            self._config["emission"], self._params, self.alpha_, self.beta_, self.pi_,
            self._lengths, self.classes_, n_samples, _numpy_rng(random_state),
        )

    def _mean_posterior(self, X, y, groups, level):
        """Speaker summaries as means of their speeches' own posteriors."""
        from scipy.stats import norm

        speech = self._posterior(X, y, level=None)
        labels, inverse = encode_groups(groups, len(speech["mean"]))
        n = np.bincount(inverse, minlength=len(labels)).astype(float)
        mean = np.bincount(inverse, weights=speech["mean"], minlength=len(labels)) / n
        sd = np.sqrt(np.bincount(inverse, weights=speech["sd"] ** 2, minlength=len(labels))) / n
        right = np.bincount(inverse, weights=speech["right"], minlength=len(labels)) / n
        half = norm.ppf((1.0 + level) / 2.0) * sd
        low, high = np.clip(mean - half, -1.0, 1.0), np.clip(mean + half, -1.0, 1.0)
        if y is not None:
            # given the party the mean stays on its side, and so does its interval
            side = group_sides(self._encode(np.asarray(y)), inverse, labels)
            low = np.where(side == 1, np.maximum(low, 0.0), low)
            high = np.where(side == 0, np.minimum(high, 0.0), high)
        return {"mean": mean, "sd": sd, "low": low, "high": high, "right": right,
                "labels": labels, "inverse": inverse, "lengths": speech["lengths"]}

    def stance(self, X, y=None, return_std=False):
        """Posterior mean stance ``E[u | x]`` (or ``E[u | x, y]`` when ``y`` is given).

        Every row is one speech, scored on its own; see :meth:`speaker_stance`
        for one stance per speaker.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Known parties; the posterior is then restricted to each party's side.
        return_std : bool, default=False
            Also return the posterior standard deviation.

        Returns
        -------
        mean : ndarray of shape (n_samples,)
        std : ndarray of shape (n_samples,)
            Only with ``return_std=True``.

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(500, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> mean, std = est.stance(X[:2], y[:2], return_std=True)
        >>> bool((std > 0).all())
        True
        """
        if is_dask_array(X):
            check_is_fitted(self)
            if return_std:
                raise ValueError("stance on a Dask array returns the mean only; "
                                 "call it with return_std=False.")
            return score_lazily(self, "stance", X, y)
        summary = self._posterior(X, y)
        mean = summary["mean"].astype(summary["dtype"])
        return (mean, summary["sd"].astype(summary["dtype"])) if return_std else mean

    def speaker_stance(self, X, y=None, groups=None, *, level=0.95, method="pooled"):
        """One stance per speaker, from all of their speeches.

        With ``method="pooled"`` each speaker's speeches are taken to share one
        stance (the model of a fit with ``groups``), so the posterior of a
        speaker is that of their summed (dispersion-weighted) counts under the
        fitted prior. With ``method="mean"`` every speech keeps its own stance
        (the model of a fit without ``groups``) and a speaker's stance is the
        mean of their speeches' posterior means, with the posterior sd of that
        mean (the speeches' posteriors taken as independent) and a normal
        interval. Two posteriors are summarized: from the words alone
        (``words_*`` columns), and, when ``y`` is given, given the speaker's
        party as well (``stance*`` columns). Given the party, a stance cannot
        cross zero, by the model's construction; the words-only stance shows
        what the words say on their own.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Word counts, one row per speech.
        y : array-like of shape (n_samples,), default=None
            Party of each speech.
        groups : array-like of shape (n_samples,)
            Speaker of each speech.
        level : float in (0, 1), default=0.95
            Level of the equal-tailed credible intervals.
        method : {"pooled", "mean"}, default="pooled"
            One stance shared by a speaker's speeches, or the mean of the
            speeches' own stances (see above); ``benchmarks/stance_validity.py``
            compares how repeatable the two are on the Senate corpus.

        Returns
        -------
        speakers : pandas.DataFrame
            One row per speaker (sorted), indexed by speaker, with columns
            ``n_speeches``, ``n_words``, then with ``y``: ``party``, ``stance``,
            ``stance_sd``, ``stance_low``, ``stance_high`` (given the party),
            and always ``words_stance``, ``words_stance_sd``,
            ``words_stance_low``, ``words_stance_high`` and ``p_right`` (the
            words-only posterior probability of ``u >= 0``, the side of
            ``classes_[1]``).

        Raises
        ------
        ValueError
            When ``groups`` is missing or of the wrong length, or a speaker's
            speeches carry both parties.

        Examples
        --------
        >>> import numpy as np
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(600, random_state=0)
        >>> speaker = np.arange(600) // 3          # pretend each speaks three times
        >>> y = y[speaker * 3]                    # with one party each
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y, groups=speaker)
        >>> table = est.speaker_stance(X, y, groups=speaker)
        >>> table.shape[0], bool((table["stance_low"] <= table["stance"]).all())
        (200, True)
        """
        import pandas as pd

        if groups is None:
            raise ValueError("speaker_stance needs groups: the speaker of each speech.")
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level!r}.")
        if method not in ("pooled", "mean"):
            raise ValueError(f"method must be 'pooled' or 'mean', got {method!r}.")
        summarize = self._posterior if method == "pooled" else self._mean_posterior
        words = summarize(X, None, groups, level=level)
        labels, inverse = words["labels"], words["inverse"]
        table = {
            "n_speeches": np.bincount(inverse, minlength=len(labels)),
            "n_words": np.bincount(inverse, weights=words["lengths"], minlength=len(labels)),
        }
        if y is not None:
            given = summarize(X, y, groups, level=level)
            side = group_sides(self._encode(np.asarray(y)), inverse, labels)
            table["party"] = self.classes_[side]
            table["stance"] = given["mean"]
            table["stance_sd"] = given["sd"]
            table["stance_low"] = given["low"]
            table["stance_high"] = given["high"]
        table["words_stance"] = words["mean"]
        table["words_stance_sd"] = words["sd"]
        table["words_stance_low"] = words["low"]
        table["words_stance_high"] = words["high"]
        table["p_right"] = words["right"]
        return pd.DataFrame(table, index=pd.Index(labels, name="speaker"))

    def transform(self, X):
        """Posterior mean stance of speeches whose party is unknown.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        stance : ndarray of shape (n_samples, 1)
            ``E[u | x]``, in [-1, 1]; same float dtype as ``X``. Use
            :meth:`stance` for the posterior sd or to condition on the party,
            and :meth:`speaker_stance` for one stance per speaker.

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> u = est.transform(X)
        >>> u.shape, bool(u[y == 1].mean() > 0 > u[y == 0].mean())
        ((1000, 1), True)
        """
        if is_dask_array(X):
            check_is_fitted(self)
            return score_lazily(self, "transform", X)
        return self.stance(X)[:, None]

    def predict_proba(self, X):
        """Probability of each party given the speech alone.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Posterior mass on ``u < 0`` and on ``u >= 0``, ordered as ``classes_``.

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> est.predict_proba(X[:2]).sum(axis=1)
        array([1., 1.])
        """
        if is_dask_array(X):
            check_is_fitted(self)
            return score_lazily(self, "predict_proba", X)
        right = self._posterior(X)["right"]
        return np.column_stack([1.0 - right, right])

    def predict(self, X):
        """Most probable party of each speech.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> bool((est.predict(X) == y).mean() > 0.8)
        True
        """
        if is_dask_array(X):
            check_is_fitted(self)
            return score_lazily(self, "predict", X)
        right = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[right.astype(int)]

    def score_samples(self, X, y=None):
        """Log marginal likelihood of each speech, ``log p(x)`` or ``log p(x, y)``.

        It is at most 0 for every speech (an empty one has probability one),
        with two exceptions: with a finite ``dispersion_`` the counts are
        weighted as in the fit, so this is a quasi-likelihood, comparable only
        between fits with the same dispersion; and ``quadrature="density"``,
        the notebook's rule, has prior weights that do not add up to one.

        Returns
        -------
        loglik : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> # knowing the party can only lower the probability: p(x, y) <= p(x)
        >>> bool((est.score_samples(X, y) <= est.score_samples(X) + 1e-12).all())
        True
        """
        if is_dask_array(X):
            check_is_fitted(self)
            return score_lazily(self, "score_samples", X, y)
        return self._posterior(X, y)["loglik"]

    def score(self, X, y=None):
        """Mean log marginal likelihood per speech (higher is better).

        With ``y`` this is ``log p(x, y)``, the fitted objective of a fit
        without ``groups``; without it, ``log p(x)``. Model selection
        (``GridSearchCV``) uses it.

        Returns
        -------
        score : float

        Examples
        --------
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> bool(abs(-est.score(X, y) - est.loss_curve_[-1]) < 1e-8)  # the fitted objective
        True
        """
        return float(np.mean(self.score_samples(X, y)))

    def prior_pdf(self, u):
        """Fitted prior density of the stance ``u`` in [-1, 1].

        Examples
        --------
        >>> import numpy as np
        >>> from skpolar import PolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(500, random_state=0)
        >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
        >>> est.prior_pdf(np.array([-0.5, 0.5])).shape
        (2,)
        """
        from scipy.stats import beta

        check_is_fitted(self)
        t = (np.asarray(u, dtype=float) + 1.0) / 2.0
        a, b, pi = self.alpha_, self.beta_, self.pi_
        return 0.5 * (pi * beta.pdf(t, a, b) + (1.0 - pi) * beta.pdf(t, b, a))


# Settings a fitted model holds for; inference uses them, not the current ones.
_CONFIG = ("emission", "grid_size", "quadrature", "l2_penalty", "solver")
# Attributes one fit sets and another may not: cleared before each fit.
_FIT_DEPENDENT = ("theta_", "intercept_", "rho_bootstrap_", "_solver_state",
                  "rho_bias_replicates_")


@contextlib.contextmanager
def _rollback_on_error(estimator):
    """Leave ``estimator`` exactly as it was when the block raises.

    Attributes are only ever replaced, never changed in place, so a shallow
    copy of the instance dictionary is enough to restore it.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


def _generator_from(state):
    """A torch generator continuing from a state kept as a numpy array."""
    generator = torch.Generator()
    generator.set_state(torch.from_numpy(np.array(state, dtype=np.uint8, copy=True)))
    return generator


def _unique_labels(y):
    """Sorted distinct labels, with a plain error for labels that cannot be ordered."""
    try:
        return np.unique(y)
    except TypeError:
        raise ValueError(
            "y must hold labels of one comparable type (for example all strings); it "
            "mixes types or holds None."
        ) from None


def _oriented(params, pi):
    """The same model with ``a >= b``: (a, b, pi) and (b, a, 1 - pi) are one model."""
    params = dict(params)
    fitted_pi = "logit_pi" in params
    if params["log_a"] < params["log_b"] and (fitted_pi or pi == 0.5):
        params["log_a"], params["log_b"] = params["log_b"], params["log_a"]
        if fitted_pi:
            params["logit_pi"] = -params["logit_pi"]
    return params


def _numpy_rng(random_state):
    """A local numpy Generator from an sklearn-style ``random_state``."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


def check_n_samples(n_samples):
    """A clear error for a number of draws that is not an integer >= 1."""
    if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")


def sample_model(emission, params, a, b, pi, lengths, classes, n_samples, rng):
    """``(X, y, u)`` drawn from a model: see :meth:`PolarizationEstimator.sample`."""
    right = rng.random(n_samples) < pi
    t = np.where(right, rng.beta(a, b, n_samples), rng.beta(b, a, n_samples))
    u = 2.0 * t - 1.0
    y = classes[(u >= 0).astype(int)]
    size = rng.choice(lengths, size=n_samples, replace=True)
    if emission == "two_pole":
        theta = np.exp(params["eta"] - np.logaddexp.reduce(params["eta"], axis=1, keepdims=True))
        X = sample_two_pole_counts(theta, t, size, rng)
    else:
        # softmax(c + W u) differs for every speech: draw in blocks of rows
        W, c = params["W"], params.get("c", np.zeros_like(params["W"]))
        step = max(1, 4_000_000 // len(W))
        blocks = []
        for start in range(0, n_samples, step):
            logits = c + u[start:start + step, None] * W
            phi = np.exp(logits - logits.max(axis=1, keepdims=True))
            phi /= phi.sum(axis=1, keepdims=True)
            blocks.append(sp.csr_matrix(rng.multinomial(size[start:start + step], phi)))
        X = sp.vstack(blocks).tocsr()
    if X.shape[1] <= _COLLAPSE_MAX_FEATURES:
        X = X.toarray()
    return X, y, u
