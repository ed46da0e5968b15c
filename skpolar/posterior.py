"""Posterior inference for the global parameters, on pyro: NUTS and variational inference.

The target is the model's own marginal likelihood, with every stance
integrated out on the estimator's grid exactly as in the maximum-likelihood
fit, times a prior on the global parameters: ``log a`` and ``log b``
(Gaussian), ``logit pi`` (Gaussian) and, when they are sampled too, the
two-pole emission's word probabilities (a symmetric Dirichlet on each
pole; see :class:`LogPosterior` for their coordinates). The likelihood and
its gradient come from
:meth:`skpolar.objective.Problem.value_and_grad` (Fisher's identity, one
E-step per evaluation), wrapped as one torch operation, so pyro's samplers
see an ordinary differentiable log density of a few (or a few hundred)
unconstrained parameters.

Everything here needs ``pyro-ppl`` and ``arviz`` (``pip install
'skpolar[bayes]'``); importing the module does not.

Symmetry
--------
``(a, b, pi)`` and ``(b, a, 1 - pi)`` are the same prior on the stances, so
the posterior has two mirror-image modes that give every quantity the
estimator reports (``rho = max(a, b) / (a + b)``, the ``a >= b`` shapes and
their ``pi``) the same value. Chains are free to cross between them (near
``rho = 0.5`` they do); draws are reported in the ``a >= b`` orientation,
and the diagnostics are computed on those reported quantities.

Outside the box the maximum-likelihood fit keeps ``log a``, ``log b`` and
``logit pi`` in (:data:`skpolar.objective.LOG_SHAPE_BOUNDS`), where the
quadrature is accurate, the likelihood is held at its value on the box's
edge and only the prior decides; the share of draws out there is
reported (``outside_box``) and warned about by :func:`warn_if_poor`.
"""

import copy
import dataclasses
import warnings

import numpy as np
import scipy.optimize
import scipy.stats
import torch
from joblib import Parallel, delayed

from .objective import (
    LOG_SHAPE_BOUNDS,
    LOGIT_PI_BOUNDS,
    _by_nodes,
    _NumpyTwoPole,
    _row_posteriors,
)
from .utils import global_rng_from, torch_threads

INSTALL_HINT = "pip install 'skpolar[bayes]'"
# Parameters up to which NUTS adapts a dense mass matrix (its cost is cubic).
_FULL_MASS_MAX = 200
# _FixedEmission: a row's prior-weighted sum of likelihoods relative to its
# best node below this has lost digits to underflow (terms below 1e-308 are
# dropped, at most G of them: 1e-26 of the sum at this floor); its sum is
# then taken in logs.
_SCALED_FLOOR = 1e-280
# A fitted word weight of zero is taken to be this small (provisional scales).
_WEIGHT_FLOOR = 1e-12
# Smallest scale of a word weight, against its pole's reference word
# (LogPosterior._set_word_scales).
_SCALE_FLOOR = 0.01
# Where a word weight of zero starts its coordinate: softplus(-50) is 2e-22.
_Z_MIN = -50.0
# Diagnostics beyond these thresholds earn a PosteriorWarning.
RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100
OUTSIDE_BOX_MAX = 0.01
PARETO_K_MAX = 0.7


class _Softplus:
    """Word weights ``w = s log(1 + e^z)``: monotone, an exponential tail below zero (NUTS)."""

    name = "softplus"

    @staticmethod
    def log_weight(z):
        """``log(log(1 + e^z))``, without underflow far below zero (where it is ``z``)."""
        z = np.asarray(z, dtype=float)
        # (softplus(-30) is 9e-14: the log never sees zero)
        return np.where(z < -30.0, z, np.log(np.logaddexp(0.0, np.maximum(z, -30.0))))

    @classmethod
    def d_log_weight(cls, z):
        """``d log w / dz = sigmoid(z) / softplus(z)``, which tends to one far below zero."""
        return np.exp(cls.log_jacobian(z) - cls.log_weight(z))

    @staticmethod
    def log_jacobian(z):
        """``log(dw / dz) - log s = log sigmoid(z)``."""
        return -np.logaddexp(0.0, -np.asarray(z, dtype=float))

    @classmethod
    def d_log_jacobian(cls, z):
        return 1.0 - np.exp(cls.log_jacobian(z))

    @staticmethod
    def inverse(x):
        """The ``z`` of ``w / s = x``; a weight of zero starts far down the tail."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            z = np.where(x > 30.0, x, np.log(np.expm1(np.minimum(x, 30.0))))
        return np.maximum(z, _Z_MIN)


class _Reflected:
    """Word weights ``w = |z|`` (scale 1): symmetric in each ``z``, a peak at zero (VI)."""

    name = "abs"

    @staticmethod
    def log_weight(z):
        with np.errstate(divide="ignore"):
            return np.log(np.abs(z))

    @staticmethod
    def d_log_weight(z):
        # d/d eta is proportional to the word's probability, so the caller's
        # product stays finite at z -> 0
        return np.where(z != 0, 1.0 / np.where(z != 0, z, 1.0), 0.0)

    @staticmethod
    def log_jacobian(z):
        return np.zeros(np.shape(z))

    @staticmethod
    def d_log_jacobian(z):
        return np.zeros(np.shape(z))

    @staticmethod
    def inverse(x):
        return np.asarray(x, dtype=float)


WEIGHT_MAPS = {m.name: m for m in (_Softplus, _Reflected)}


class PosteriorWarning(UserWarning):
    """The sampler's diagnostics say its draws may not represent the posterior."""


def require_bayes():
    """Import pyro (and check for arviz), or fail with the extra to install."""
    try:
        import arviz  # noqa: F401
        import pyro
    except ImportError as exc:
        raise ImportError(
            f"Bayesian inference needs pyro-ppl and arviz, which are not installed "
            f"({exc}); install them with: {INSTALL_HINT}"
        ) from None
    return pyro


class _NegLogPosterior(torch.autograd.Function):
    """``-log p(theta | X, y)`` up to a constant as one torch operation, its gradient analytic.

    One operation, prior included: the samplers evaluate it tens of
    thousands of times, and a torch graph of the prior alone cost as much
    as the likelihood of a small corpus.
    """

    @staticmethod
    def forward(ctx, theta, target):
        # one vector, or a batch of them (VI's particles), one row at a time
        rows = theta.detach().cpu().numpy().reshape(-1, theta.shape[-1])
        # values alone where nothing will ask for the gradient (importance weights)
        need = ctx.needs_input_grad[0]
        values, grads = np.empty(len(rows)), np.empty(rows.shape)
        for i, row in enumerate(rows):
            value, grad = target.neg_loglik_and_grad(row, grad=need)
            if need:
                log_prior, prior_grad = target.log_prior(row, grad=True)
                values[i], grads[i] = value - log_prior, grad - prior_grad
            else:
                values[i] = value - target.log_prior(row)
        if need:
            ctx.save_for_backward(torch.as_tensor(grads.reshape(theta.shape), dtype=theta.dtype))
        return torch.as_tensor(values.reshape(theta.shape[:-1]), dtype=theta.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad_output[..., None] * grad, None


@dataclasses.dataclass
class Layout:
    """Where the sampled vector sits in the objective's full parameter vector (picklable).

    The first ``len(prior_index)`` sampled entries are the prior's
    parameters (``log a``, ``log b``, ``logit pi``), copied into
    ``prior_index``; the rest, with ``eta`` set, are each pole's word
    coordinates ``z``: a pole's reference word has weight 1 and word ``v``
    weight ``w_v = scale_v * softplus(z_v)`` (or ``|z_v|``, as
    ``weight_map`` says), so its probability is ``w_v / (1 + sum_u w_u)``
    (see :class:`LogPosterior` for why).
    """

    base: np.ndarray
    shapes: list
    prior_index: np.ndarray
    low: np.ndarray
    high: np.ndarray
    eta: tuple = None  # (offset, (n_poles, n_words), reference word of each pole)
    scale: np.ndarray = None  # of every free word's weight, in _free_words order
    weight_map: str = "softplus"  # a key of WEIGHT_MAPS

    @property
    def word_map(self):
        return WEIGHT_MAPS[self.weight_map]

    @property
    def dim(self):
        n = len(self.prior_index)
        if self.eta is not None:
            n_poles, n_words = self.eta[1]
            n += n_poles * (n_words - 1)
        return n

    def _free_words(self):
        offset, (n_poles, n_words), ref = self.eta
        mask = np.ones((n_poles, n_words), dtype=bool)
        mask[np.arange(n_poles), ref] = False
        return mask

    def full(self, theta):
        """The full parameter vector at sampled ``theta``; prior entries clipped to the box."""
        theta = np.asarray(theta, dtype=float)
        out = self.base.copy()
        k = len(self.prior_index)
        out[self.prior_index] = np.clip(theta[:k], self.low, self.high)
        if self.eta is not None:
            offset, shape, _ = self.eta
            eta = np.zeros(shape)
            eta[self._free_words()] = np.log(self.scale) + self.word_map.log_weight(theta[k:])
            out[offset:offset + eta.size] = eta.ravel()
        return out

    def start(self, full):
        """The sampled vector of a full parameter vector (its probabilities as weights)."""
        theta = [full[self.prior_index]]
        if self.eta is not None:
            theta.append(self.word_map.inverse(self.weights(full) / self.scale))
        return np.concatenate(theta)

    def weights(self, full):
        """Every free word's weight against its pole's reference word, in a full vector."""
        offset, shape, ref = self.eta
        eta = full[offset:offset + int(np.prod(shape))].reshape(shape)
        return np.exp(eta - eta[np.arange(shape[0]), ref][:, None])[self._free_words()]

    def params(self, theta):
        """The objective's parameter dict at sampled ``theta`` (numpy)."""
        full, out, start = self.full(theta), {}, 0
        for name, shape in self.shapes:
            size = int(np.prod(shape))
            out[name] = full[start:start + size].reshape(shape)
            start += size
        return out


class _FixedEmission:
    """The objective of ``problem`` as a function of its prior parameters alone.

    With the emission held at the mode (nothing but ``log a``, ``log b`` and
    ``logit pi`` sampled) each row's log likelihood at each node never
    changes: it is tabulated once, as each row's likelihood relative to its
    best node, ``exp(L_ig - max_g L_ig)``. A row's marginal likelihood is
    then that row times the prior's node weights, and the posterior node
    masses the transposed product: an evaluation is two matrix-vector
    products and the quadrature, in NumPy, instead of an E-step with its
    sparse products (4-6x faster per evaluation on the Bayesian tests'
    corpus) or a logsumexp over the whole table (ten times the cost of
    the two products on the Senate corpus: 38-44 ms against 3.7-3.8 ms).
    Rows that may sit on the same nodes share one table.
    """

    def __init__(self, problem, base, shapes):
        self.problem = problem
        with torch.no_grad():
            params = problem.unpack(base, shapes)
            prepared = problem.emission.prepare(params, problem.u)
            groups = _by_nodes(
                problem.chunks,
                lambda c: problem.emission.row_loglik(c, prepared, c.nodes).double().cpu().numpy(),
                np.concatenate)
            self.penalty = float(torch.as_tensor(problem.emission.penalty(params)))
        self.groups = []
        for nodes, table, weight, log_coef in groups:
            peak = np.maximum(table.max(axis=1), np.finfo(float).min)
            with np.errstate(invalid="ignore", under="ignore"):
                scaled = np.exp(table - peak[:, None])
            self.groups.append((nodes, table, scaled, peak, weight, log_coef))

    def value_and_grad(self, prior):
        """Mean penalized negative log likelihood per speech and its gradient in ``prior``."""
        log_w, jac = self.problem.prior_log_weights_numpy(prior, grad=True)
        loglik = 0.0
        mass = np.zeros(len(log_w))
        with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
            for nodes, table, scaled, peak, weight, log_coef in self.groups:
                shift = np.max(log_w[nodes])
                w = np.exp(log_w[nodes] - shift)
                total = scaled @ w
                # A row whose best nodes the prior weighs almost to nothing
                # (an extreme a or b, as early in a warm-up) keeps too few
                # digits in the product, or none: its sum is redone in logs.
                keep = total > _SCALED_FLOOR
                exact = ~keep
                loglik += float(weight[keep] @ (peak[keep] + shift + log_coef[keep]
                                                + np.log(total[keep])))
                share = np.where(keep, weight, 0.0) / np.where(keep, total, 1.0)
                mass[nodes] += w * (share @ scaled)
                if np.any(exact):
                    part, post = _row_posteriors(table[exact] + log_w[nodes], weight[exact],
                                                 log_coef[exact])
                    loglik += part
                    mass[nodes] += post.sum(axis=0)
        used = mass > 0
        n = self.problem.n_total
        # Fisher's identity, as in Problem.value_and_grad
        return -(loglik - self.penalty) / n, -(jac[:, used] @ mass[used]) / n


class LogPosterior:
    """Log posterior density of the sampled global parameters, up to a constant.

    Parameters
    ----------
    problem : skpolar.objective.Problem
        The fit's objective (data, grid and emission).
    mode : dict of ndarray
        The maximum-likelihood parameters; entries that are not sampled stay
        at these values.
    sample_emission : bool
        Sample the two-pole word probabilities too (otherwise they stay at
        the mode: an empirical-Bayes plug-in).
    log_shape_prior, logit_pi_prior : (float, float)
        Mean and standard deviation of the Gaussian priors on ``log a``,
        ``log b`` and on ``logit pi``.
    vocabulary_concentration : float
        Concentration of the symmetric Dirichlet prior on each pole's word
        probabilities (1 is uniform on the simplex).
    weight_map : {"softplus", "abs"}, default="softplus"
        The sampled coordinates of the word weights (Notes): ``"softplus"``
        for NUTS, ``"abs"`` for VI's Gaussian.

    Notes
    -----
    A pole's word probabilities are sampled as weights against its most
    probable word, ``theta_v = w_v / (1 + sum_u w_u)`` with
    ``w_v = s_v softplus(z_v)``. A word a pole (nearly) never says has its
    posterior piled against probability zero, the edge of the simplex. In
    log-odds (``w = exp(z)``) that posterior is a long exponential tail
    ending at a cliff, where the likelihood falls doubly exponentially,
    which NUTS crosses with long trajectories and divergences. The softplus
    keeps the tail below ``z = 0`` but is linear above it, so the cliff
    becomes an ordinary slope, and words far from zero see a linear map.
    The scale ``s_v`` is that weight's standard deviation in the Laplace
    approximation at the maximum-likelihood fit, but at least 0.01, so that
    the bend sits where the posterior meets zero: much smaller scales bring
    the cliff back, much larger ones lengthen the tail. The map is monotone, so the
    ridge along which the poles' rare words and the stances' concentration
    trade off stays one ridge that a dense mass matrix can follow.

    ``weight_map="abs"`` samples ``w_v = |z_v|`` instead (``s_v = 1``):
    the posterior of a rare word is then a peak at zero falling off to
    both sides, symmetric in ``z_v`` (no reported quantity sees the sign).
    The reflection puts the ridge in every quadrant of signs, where a dense
    mass matrix cannot see it, so NUTS is slow there (:doc:`/bayes`); but a
    Gaussian fits that peak better than the softplus's skewed tail, and
    VI's posterior of ``rho`` is the closer to NUTS's for it. The density
    carries both Jacobians: ``theta_ref ** n_words`` for the
    probabilities, ``dw / dz`` (``s_v sigmoid(z_v)``, or 1) for the weights.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.posterior import LogPosterior
    >>> X, y = make_polarized_speech(500, rho=0.8, random_state=0)
    >>> est = PolarizationEstimator(grid_size=20, interval=None).fit(X, y)
    >>> problem = Problem(make_chunks(X, y, None, 20), est._emission(), 3, 20, "exact")
    >>> target = LogPosterior(problem, est._params, sample_emission=True,
    ...                       log_shape_prior=(1.0, 2.0), logit_pi_prior=(0.0, 2.0),
    ...                       vocabulary_concentration=1.0)
    >>> target.dim  # log a, log b, logit pi and two weights per pole
    7
    >>> bool(np.isfinite(float(target(torch.as_tensor(target.start)))))
    True
    """

    def __init__(self, problem, mode, sample_emission, log_shape_prior, logit_pi_prior,
                 vocabulary_concentration, weight_map="softplus"):
        self.problem = problem
        shapes = problem.layout(mode)
        base = problem.pack(mode)
        index, loc, scale, low, high, eta = [], [], [], [], [], None
        offset = 0
        for name, shape in shapes:
            size = int(np.prod(shape))
            if name in ("log_a", "log_b", "logit_pi"):
                prior = log_shape_prior if name != "logit_pi" else logit_pi_prior
                bounds = LOG_SHAPE_BOUNDS if name != "logit_pi" else LOGIT_PI_BOUNDS
                index.append(offset)
                loc.append(prior[0])
                scale.append(prior[1])
                low.append(bounds[0])
                high.append(bounds[1])
            elif sample_emission and name == "eta":
                # each pole's most probable word is its reference, never near zero
                ref = np.argmax(base[offset:offset + size].reshape(shape), axis=1)
                eta = (offset, tuple(shape), ref)
            offset += size
        self.layout = Layout(base, shapes, np.asarray(index, dtype=np.int64),
                             np.asarray(low, dtype=float), np.asarray(high, dtype=float), eta,
                             weight_map=weight_map)
        self.loc = np.asarray(loc, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        self.concentration = float(vocabulary_concentration)
        self.n_evaluations = 0
        self._fixed = self._numpy = None
        if eta is None and problem.quadrature == "exact":
            self._fixed = _FixedEmission(problem, base, shapes)
        elif eta is not None and _NumpyTwoPole.applies(problem, shapes):
            self._numpy = _NumpyTwoPole(problem, shapes)
        if eta is not None:
            if weight_map == "softplus":
                self._set_word_scales()
            else:
                self.layout.scale = np.ones(self.layout._free_words().sum())
        self.start = self.layout.start(base)

    def _set_word_scales(self):
        """Each word weight's standard deviation in the Laplace approximation at the fit, or 0.01.

        The approximation is taken in provisional coordinates, every weight
        scaled by its own fitted value (where the softplus is neither flat
        nor linear), and carried over to the weights by the delta method.
        Where the posterior is far from Gaussian that standard deviation
        can be far below the posterior's reach (1.7e-6 against draws up to
        0.2 on 1,000 speeches at rho = 0.7), and a coordinate linear over
        that whole range has features on two scales that no step size
        resolves (310 divergences in two chains); so no scale is below a
        hundredth of the reference word's weight, and weights smaller than
        that are sampled on a log-like scale.
        """
        layout = self.layout
        layout.scale = np.maximum(layout.weights(layout.base), _WEIGHT_FLOOR)
        start = layout.start(layout.base)
        k = len(layout.prior_index)
        sd = np.sqrt(np.diag(laplace_covariance(self, start))[k:])
        # a flat direction's variance is large, not infinite; no weight's
        # scale need exceed that of the reference word
        layout.scale = np.clip(sd * layout.scale * np.exp(_Softplus.log_jacobian(start[k:])),
                               _SCALE_FLOOR, 1.0)

    @property
    def dim(self):
        return self.layout.dim

    def neg_loglik_and_grad(self, theta, grad=True):
        """``-log p(X, y | theta)`` (penalty of the emission included) and its gradient.

        With ``grad=False`` the gradient is ``None``; it is then skipped
        where that saves time (the sampled two-pole emission's NumPy path).
        """
        theta = np.asarray(theta, dtype=float)
        layout = self.layout
        self.n_evaluations += 1
        n = self.problem.n_total
        full = layout.full(theta)
        if self._fixed is not None:
            value, prior_grad = self._fixed.value_and_grad(full[layout.prior_index])
        elif self._numpy is not None:
            value, full_grad = self._numpy.value_and_grad(full, grad=grad)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                value, full_grad = self.problem.value_and_grad(full, layout.shapes)
        if not grad:
            return n * value, None
        if self._fixed is None:
            prior_grad = full_grad[layout.prior_index]
        k = len(layout.prior_index)
        gradient = np.empty(len(theta))
        gradient[:k] = n * prior_grad
        # outside the box the likelihood is held at its edge value
        gradient[:k][(theta[:k] < layout.low) | (theta[:k] > layout.high)] = 0.0
        if layout.eta is not None:
            offset, shape, _ = layout.eta
            d_eta = full_grad[offset:offset + int(np.prod(shape))].reshape(shape)
            gradient[k:] = (n * d_eta[layout._free_words()]
                            * layout.word_map.d_log_weight(theta[k:]))
        return n * value, gradient

    def log_prior(self, theta, grad=False):
        """Gaussian on the prior's parameters, Dirichlet on each pole's word probabilities.

        ``theta`` (NumPy) may carry leading batch dimensions; ``grad=True``
        (a single vector) also returns the gradient.
        """
        theta = np.asarray(theta, dtype=float)
        k = len(self.layout.prior_index)
        gap = (theta[..., :k] - self.loc) / self.scale
        out = np.sum(-0.5 * gap * gap - np.log(self.scale) - 0.5 * np.log(2.0 * np.pi), axis=-1)
        if grad:
            gradient = np.empty(theta.shape[-1])
            gradient[:k] = -gap / self.scale
        if self.layout.eta is not None:
            _, (n_poles, n_words), _ = self.layout.eta
            free = (n_poles, n_words - 1)
            z = theta[..., k:].reshape(theta.shape[:-1] + free)
            word_map = self.layout.word_map
            log_scale = np.log(self.layout.scale).reshape(free)
            log_weights = log_scale + word_map.log_weight(z)
            log_ref = -np.log1p(np.exp(log_weights).sum(-1))
            c = self.concentration
            # (c - 1) sum(log theta) over the n_words probabilities with the
            # Jacobian theta_ref ** n_words (log theta_v = log w_v + log_ref),
            # and the weights' own, dw / dz
            out = out + c * n_words * log_ref.sum(-1) + (
                log_scale + word_map.log_jacobian(z)).sum((-2, -1))
            if c != 1.0:
                out = out + (c - 1.0) * log_weights.sum((-2, -1))
            if grad:
                with np.errstate(under="ignore"):
                    weights = np.exp(log_weights)
                dz = ((-c * n_words * np.exp(log_ref)[:, None] * weights + (c - 1.0))
                      * word_map.d_log_weight(z) + word_map.d_log_jacobian(z))
                gradient[k:] = dz.ravel()
        return (out, gradient) if grad else out

    def __call__(self, theta):
        """Log posterior density at ``theta`` (a torch vector), differentiable."""
        return -_NegLogPosterior.apply(theta, self)

    def potential(self, params):
        """Pyro's potential energy: minus the log density, of ``{"theta": theta}``."""
        return -self(params["theta"])

    def model(self):
        """The same density as a pyro model (for SVI's guides)."""
        import pyro
        import pyro.distributions as dist

        # the prior enters as a factor: its emission part is not a named distribution
        theta = pyro.sample(
            "theta", dist.ImproperUniform(dist.constraints.real_vector, (), (self.dim,))
        )
        pyro.factor("log_posterior", self(theta))

    def hessian(self, theta, step=1e-5):
        """Hessian of minus the log posterior at ``theta`` (central differences of the gradient)."""
        def grad(x):
            x = torch.as_tensor(x, dtype=torch.float64).requires_grad_(True)
            (g,) = torch.autograd.grad(-self(x), [x])
            return g.numpy()

        theta = np.asarray(theta, dtype=float)
        H = np.empty((self.dim, self.dim))
        for j in range(self.dim):
            h = step * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            H[:, j] = (grad(up) - grad(down)) / (2 * h)
        return 0.5 * (H + H.T)

    def outside_box(self, draws):
        """Share of ``draws`` whose ``log a``, ``log b`` or ``logit pi`` is outside the box."""
        prior = np.asarray(draws, dtype=float).reshape(-1, self.dim)[:, :len(self.layout.low)]
        return float(np.mean(np.any((prior < self.layout.low) | (prior > self.layout.high),
                                    axis=1)))

    def reported(self, draws):
        """Draws of the sampled vector -> dict of reported quantities, ``a >= b`` orientation.

        ``draws`` has shape (..., dim); every returned array has shape (...).
        """
        draws = np.asarray(draws, dtype=float)
        flat = draws.reshape(-1, self.dim)
        names = [name for name, _ in self.layout.shapes if name in ("log_a", "log_b", "logit_pi")]
        columns = dict(zip(names, np.clip(flat[:, :len(names)], self.layout.low,
                                          self.layout.high).T))
        log_a, log_b = columns["log_a"], columns["log_b"]
        if "logit_pi" in columns:
            pi = 1.0 / (1.0 + np.exp(-columns["logit_pi"]))
        else:
            pi = np.full(len(flat), float(self.problem.pi))
        swap = (log_a < log_b) & (("logit_pi" in columns) | (pi == 0.5))
        a, b = np.exp(np.where(swap, log_b, log_a)), np.exp(np.where(swap, log_a, log_b))
        pi = np.where(swap, 1.0 - pi, pi)
        out = {"rho": np.maximum(a, b) / (a + b), "alpha": a, "beta": b, "pi": pi}
        shape = draws.shape[:-1]
        return {k: v.reshape(shape) for k, v in out.items()}


def _started_mass_matrix(inverse_mass):
    """A pyro mass-matrix adapter whose adaptation starts from ``inverse_mass``, not the identity.

    With the identity, the first window of a warm-up (75 iterations)
    samples a posterior whose scales span two orders of magnitude with
    trajectories of hundreds of steps; started at the Laplace covariance
    it costs what the draws do (on the seed task a chain's evaluations fell
    from about 25,000 in warm-up to 5,000-7,000). Its adaptation then goes
    on as usual.
    """
    from pyro.infer.mcmc.adaptation import BlockMassMatrix

    class StartedMassMatrix(BlockMassMatrix):
        def configure(self, mass_matrix_shape, adapt_mass_matrix=True, options={}):
            super().configure(mass_matrix_shape, adapt_mass_matrix, options)
            ((sites, shape),) = mass_matrix_shape.items()  # one block: "theta"
            start = torch.as_tensor(inverse_mass, **options)
            self.inverse_mass_matrix = {sites: start if len(shape) == 2 else start.diagonal()}

    return StartedMassMatrix()


def _nuts_chain(target, start, seed, n_warmup, n_draws, target_accept, max_tree_depth,
                inverse_mass=None):
    """One NUTS chain: ``(draws, indices of divergent draws, likelihood evaluations)``."""
    require_bayes()
    from pyro.infer.mcmc import MCMC, NUTS

    # a counter of its own: chains may share the target (a threading backend)
    target = copy.copy(target)
    target.n_evaluations = 0
    # pyro draws from torch's global generator only
    with global_rng_from(seed):
        kernel = NUTS(
            potential_fn=target.potential,
            full_mass=target.dim <= _FULL_MASS_MAX,
            target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
        )
        if inverse_mass is not None:
            kernel.mass_matrix_adapter = _started_mass_matrix(inverse_mass)
        mcmc = MCMC(
            kernel, num_samples=n_draws, warmup_steps=n_warmup,
            initial_params={"theta": torch.as_tensor(start, dtype=torch.float64)},
            disable_progbar=True,
        )
        with torch_threads(0):
            mcmc.run()
    return (mcmc.get_samples()["theta"].detach().numpy(),
            np.asarray(mcmc.diagnostics()["divergences"]["chain 0"], dtype=np.int64),
            target.n_evaluations)


def run_nuts(target, starts, seeds, n_warmup, n_draws, target_accept=0.8, max_tree_depth=10,
             n_jobs=None, inverse_mass=None):
    """NUTS chains, each from its start and with its own seed, ``n_jobs`` at a time.

    A chain's draws depend on its seed alone, so they are the same whatever
    ``n_jobs`` (joblib's meaning: None is one at a time, -1 all cores).
    ``inverse_mass`` (say the Laplace covariance) starts the adaptation of
    the mass matrix, instead of the identity.

    Returns ``(draws, diverging)``: draws of shape (chains, n_draws, dim)
    and, of the same (chains, n_draws) shape, whether the transition that
    gave each draw diverged.
    """
    require_bayes()
    chains = Parallel(n_jobs=n_jobs)(
        delayed(_nuts_chain)(target, start, seed, n_warmup, n_draws, target_accept,
                             max_tree_depth, inverse_mass)
        for start, seed in zip(starts, seeds, strict=True)
    )
    target.n_evaluations += sum(c[2] for c in chains)
    diverging = np.zeros((len(chains), n_draws), dtype=bool)
    for k, (_, divergent, _) in enumerate(chains):
        diverging[k, divergent] = True
    return np.stack([c[0] for c in chains]), diverging


def find_mode(target, start=None):
    """The posterior mode (L-BFGS on minus the log density), from ``start`` or the fit."""
    def fun(x):
        x = torch.as_tensor(x, dtype=torch.float64).requires_grad_(True)
        value = -target(x)
        (grad,) = torch.autograd.grad(value, [x])
        return float(value.detach()), grad.numpy()

    start = target.start if start is None else start
    result = scipy.optimize.minimize(fun, start, jac=True, method="L-BFGS-B",
                                     options={"maxiter": 500, "gtol": 1e-8})
    return result.x


def laplace_covariance(target, mode):
    """Covariance of the Laplace approximation at ``mode``: the inverse Hessian."""
    H = target.hessian(mode)
    eigval, eigvec = np.linalg.eigh(H)
    # a flat or saddle direction gets a large, finite variance, not infinity
    floor = 1e-8 * max(np.max(eigval), 1.0)
    eigval = np.maximum(eigval, floor)
    return (eigvec / eigval) @ eigvec.T


def _mirrored(base, permutation, sign):
    """``base`` averaged with its mirror image ``theta -> sign * theta[permutation]``.

    Draws come from ``base`` alone: the posterior and this density are both
    unchanged by the mirror, so the ELBO's integrand is too, and its
    expectation under ``base`` is its expectation under the mixture.
    """
    import pyro.distributions as dist

    class Mirrored(dist.TorchDistribution):
        arg_constraints = {}
        support = dist.constraints.real_vector
        has_rsample = True

        def __init__(self):
            super().__init__(base.batch_shape, base.event_shape, validate_args=False)

        def rsample(self, sample_shape=torch.Size()):
            return base.rsample(sample_shape)

        def log_prob(self, value):
            mirror = value[..., permutation] * sign
            return torch.logaddexp(base.log_prob(value), base.log_prob(mirror)) - np.log(2.0)

    return Mirrored()


def run_vi(target, loc, cov, seed, n_steps, learning_rate, n_draws, n_particles=4):
    """SVI with a full-rank Gaussian guide, mirrored where the posterior is, from ``(loc, cov)``.

    ``(a, b, pi)`` and ``(b, a, 1 - pi)`` are the same model, so the
    posterior is symmetric under swapping ``log a`` with ``log b`` and
    negating ``logit pi``; near ``rho = 0.5`` its two mirror halves overlap,
    and one Gaussian fitted to them misses the part of the posterior that
    holds ``a = b``. The guide is therefore the Gaussian averaged with its
    mirror image (when ``pi`` is fitted, or fixed at 1/2).

    Returns ``(draws, log_q, elbo)``: ``n_draws`` draws from the fitted
    guide (the reported quantities fold the mirror away), the guide's log
    density at each and the ELBO at every step.
    """
    pyro = require_bayes()
    import pyro.distributions as dist
    from pyro.infer import SVI, Trace_ELBO

    symmetric = target.problem.pi is None or float(target.problem.pi) == 0.5
    permutation = np.arange(target.dim)
    permutation[[0, 1]] = [1, 0]  # log a and log b come first
    sign = torch.ones(target.dim, dtype=torch.float64)
    if target.problem.pi is None:
        sign[2] = -1.0  # logit pi

    # The guide is learned in the Laplace approximation's whitened
    # coordinates: theta = loc + chol(cov) (m + S eps), from m = 0 and S = I.
    # Adam's steps are about the learning rate in every parameter, and in
    # theta itself a word weight known to 0.001 and a shape known to 0.1 get
    # the same step: the narrow directions' scales overshoot sevenfold and
    # the fit can diverge (sd of rho a sixth of NUTS's on the seed task).
    # Whitened, a step is a fixed share of each direction's spread.
    loc = torch.as_tensor(np.array(loc, dtype=float))
    root = torch.as_tensor(np.linalg.cholesky(cov))

    def fitted(shift, tril):
        base = dist.MultivariateNormal(loc + root @ shift, scale_tril=root @ tril)
        return _mirrored(base, permutation, sign) if symmetric else base

    def guide():
        shift = pyro.param("shift", torch.zeros(target.dim, dtype=torch.float64))
        tril = pyro.param("scale_tril", torch.eye(target.dim, dtype=torch.float64),
                          constraint=dist.constraints.lower_cholesky)
        pyro.sample("theta", fitted(shift, tril))

    with global_rng_from(seed), pyro.get_param_store().scope():
        # the learning rate decays a hundredfold over the run, so the last
        # steps average the gradient noise instead of following it
        optim = pyro.optim.ClippedAdam(
            {"lr": learning_rate, "lrd": 0.01 ** (1.0 / max(n_steps, 1))}
        )
        # the particles go through the model as one batch: pyro's own work per
        # trace is most of a step's cost on small corpora
        svi = SVI(target.model, guide, optim,
                  Trace_ELBO(num_particles=n_particles, vectorize_particles=True,
                             max_plate_nesting=0))
        elbo = np.empty(n_steps)
        with torch_threads(0):
            for step in range(n_steps):
                elbo[step] = -svi.step()
        store = pyro.get_param_store()
        q = fitted(store["shift"].detach(), store["scale_tril"].detach())
        draws = q.sample((n_draws,))
        # the mirrored density serves as the draws' proposal density for
        # importance weights too: the weights' integrand is mirror-symmetric
        # in the reported quantities, as the ELBO's is (_mirrored)
        log_q = q.log_prob(draws).numpy()
    return draws.numpy(), log_q, elbo


def psis_resample(target, draws, log_q, rng):
    """Draws from an approximation, resampled by their Pareto-smoothed importance weights.

    Each draw's weight is ``p(theta | X, y) / q(theta)`` (one evaluation of
    the posterior per draw), its largest weights smoothed by a generalized
    Pareto fit (PSIS; ``arviz.psislw``), and the draws resampled in
    proportion (systematic resampling: each draw is kept within one of
    ``n w_i`` times). The fitted Pareto shape ``k`` says whether the
    weights can be trusted: below 0.7 the reweighted draws' means and
    quantiles converge at a practical rate, above it the approximation is
    too far from the posterior for reweighting to repair (Vehtari et al.
    2024, JMLR 25(72); Yao et al. 2018, ICML, for VI).

    Returns
    -------
    draws : ndarray
        The resampled draws, as many as were given.
    diagnostics : dict
        ``pareto_k`` and ``importance_ess``, the effective sample size
        ``1 / sum(w ** 2)`` of the normalized smoothed weights.

    Examples
    --------
    >>> import numpy as np, scipy.stats
    >>> from skpolar.posterior import psis_resample
    >>> class StandardNormal:  # a target: its log density of a batch of draws
    ...     n_evaluations = 0
    ...     def __call__(self, theta):
    ...         return torch.as_tensor(scipy.stats.norm.logpdf(theta.numpy()).sum(-1))
    >>> rng = np.random.default_rng(0)
    >>> draws = rng.normal(0.0, 1.5, size=(4000, 1))  # a wider approximation
    >>> log_q = scipy.stats.norm.logpdf(draws, scale=1.5).sum(-1)
    >>> resampled, diagnostics = psis_resample(StandardNormal(), draws, log_q, rng)
    >>> bool(abs(resampled.std() - 1.0) < 0.05), diagnostics["pareto_k"] < 0.7
    (True, True)
    """
    require_bayes()
    import arviz

    with torch.no_grad():
        log_p = target(torch.as_tensor(draws)).numpy()
    # psislw normalizes the smoothed log weights
    log_weights, k = arviz.psislw(log_p - log_q)
    weights = np.exp(log_weights)
    n = len(draws)
    positions = (rng.random() + np.arange(n)) / n
    index = np.minimum(np.searchsorted(np.cumsum(weights), positions), n - 1)
    ess = float(1.0 / np.sum(weights ** 2))
    return draws[index], {"pareto_k": float(k), "importance_ess": ess}


def hpd_interval(draws, level=0.95, support_low=0.5, n_grid=1024):
    """Highest-posterior-density interval of ``rho``, which reaches 0.5 when the density there does.

    ``rho`` cannot fall below 0.5: it is ``a / (a + b)`` folded at 0.5, and
    near 0.5 its two mirror halves meet. The region of highest density is
    found on a kernel density estimate of the draws reflected at
    ``support_low`` (the density of the unfolded ``a / (a + b)``, which is
    symmetric there), so the interval starts at 0.5 exactly when the
    density at 0.5 is above the region's cutoff, where an interval from
    the draws alone would always stop a little above it. Where the region
    has gaps the interval spans them.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.posterior import hpd_interval
    >>> rng = np.random.default_rng(0)
    >>> float(hpd_interval(0.5 + np.abs(rng.normal(0, 0.05, 4000)))[0])
    0.5
    >>> low, high = hpd_interval(rng.normal(0.8, 0.01, 4000))
    >>> bool(0.775 < low < 0.785 and 0.815 < high < 0.825)
    True
    """
    x = np.asarray(draws, dtype=float).ravel()
    if np.ptp(x) <= 0:
        return np.array([x[0], x[0]])
    reflected = np.concatenate([x, 2 * support_low - x])
    # Scott's bandwidth for the draws themselves: the reflected sample's
    # spread includes the distance between the two halves
    bandwidth = x.std() * len(x) ** -0.2
    kde = scipy.stats.gaussian_kde(reflected, bw_method=bandwidth / reflected.std())
    grid = np.linspace(support_low, x.max() + 3 * bandwidth, n_grid)
    density = kde(grid)
    # grid cells from the densest down until they hold `level` of the mass
    mass = density / density.sum()
    order = np.argsort(density)[::-1]
    keep = order[:np.searchsorted(np.cumsum(mass[order]), level) + 1]
    return np.array([grid[keep].min(), grid[keep].max()])


def diagnose(reported, divergences=None):
    """R-hat, bulk and tail ESS of ``rho`` (arviz), and the divergences.

    ``reported`` maps names to arrays of shape (chains, draws).
    """
    require_bayes()
    import arviz

    # a quantity the sampler does not move (pi when it is fixed) has no R-hat
    reported = {k: np.asarray(v) for k, v in reported.items() if np.ptp(v) > 0}
    data = arviz.convert_to_dataset(reported)
    rhat = arviz.rhat(data)
    ess_bulk = arviz.ess(data, method="bulk")
    ess_tail = arviz.ess(data, method="tail")
    out = {
        "r_hat": float(rhat["rho"]),
        "ess_bulk": float(ess_bulk["rho"]),
        "ess_tail": float(ess_tail["rho"]),
        "r_hat_max": float(max(float(rhat[k]) for k in reported)),
        "ess_bulk_min": float(min(float(ess_bulk[k]) for k in reported)),
    }
    if divergences is not None:
        out["divergences"] = int(np.sum(divergences))
    return out


def warn_if_poor(diagnostics, n_chains, inference="nuts"):
    """A PosteriorWarning naming each diagnostic that fails its threshold, with advice.

    ``inference`` (``"nuts"`` or ``"vi"``) picks the advice: longer chains,
    or NUTS and more SVI steps.

    Examples
    --------
    >>> import warnings
    >>> from skpolar.posterior import PosteriorWarning, warn_if_poor
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_poor({"r_hat_max": 1.2, "ess_bulk_min": 900.0, "divergences": 0}, 4)
    >>> "R-hat 1.200" in str(caught[0].message)
    True
    """
    problems = []
    # VI's draws are independent: only the box and the Pareto k apply to them
    if n_chains > 1 and "r_hat_max" in diagnostics and not diagnostics["r_hat_max"] <= RHAT_MAX:
        problems.append(f"R-hat {diagnostics['r_hat_max']:.3f} > {RHAT_MAX}")
    ess_min = ESS_MIN_PER_CHAIN * n_chains
    if "ess_bulk_min" in diagnostics and not diagnostics["ess_bulk_min"] >= ess_min:
        problems.append(f"bulk ESS {diagnostics['ess_bulk_min']:.0f} < {ess_min}")
    if diagnostics.get("divergences", 0) > 0:
        problems.append(f"{diagnostics['divergences']} divergent transitions")
    if diagnostics.get("outside_box", 0) > OUTSIDE_BOX_MAX:
        problems.append(
            f"{100 * diagnostics['outside_box']:.1f}% of the draws have a or b outside "
            f"[{np.exp(LOG_SHAPE_BOUNDS[0]):g}, {np.exp(LOG_SHAPE_BOUNDS[1]):g}] or logit pi "
            f"outside {LOGIT_PI_BOUNDS}, where only the prior acts"
        )
    if diagnostics.get("pareto_k", 0) > PARETO_K_MAX:
        problems.append(
            f"Pareto k {diagnostics['pareto_k']:.2f} > {PARETO_K_MAX}: the variational "
            f"Gaussian is too far from the posterior for importance weights to correct"
        )
    if problems:
        advice = ("Use inference='nuts', or more vi_steps" if inference == "vi"
                  else "Run longer chains (n_warmup, n_draws), or raise target_accept")
        warnings.warn(
            "The posterior draws may not represent the posterior: " + "; ".join(problems)
            + f". {advice}.",
            PosteriorWarning, stacklevel=3,
        )
