"""Amortized variational inference for stances: an encoder q(u | x, y) of a fitted model.

The exact posterior of a speech's stance is a sum over the grid
(:meth:`skpolar.PolarizationEstimator.stance`); it costs one pass over the
speech's words per node. An encoder learns the map from a speech to its
posterior once, by maximizing the evidence lower bound of the fitted model
over the training speeches, and then scores any speech with one small
network evaluation, which is what amortized inference trades: a little
accuracy for speed on very many speeches, and a check of how much
posterior shape a simple family misses. The exact grid posterior stays the
default everywhere; this module is the comparison.

Given the party, ``|u|`` lies in (0, 1), and ``q`` is a Beta distribution
for it whose two shapes a one-hidden-layer network computes from the
speech's word shares, its log length and its party. The ELBO of a speech is
``E_q[log p(x | u) + log p(u | y)] + H(q)`` under the fitted emission and
stance prior, estimated with one reparameterized draw per speech.
"""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .estimator import PolarizationEstimator, _numpy_rng
from .utils import global_rng_from

_EPS = 1e-6


def _log_emission(estimator, u):
    """``log phi(u)`` of the fitted model at stances ``u``, shape (len(u), V), torch."""
    if estimator._config["emission"] == "two_pole":
        theta = torch.as_tensor(estimator.theta_)
        p = ((u + 1.0) / 2.0)[:, None]
        return torch.log((1.0 - p) * theta[0] + p * theta[1] + 1e-300)
    W = torch.as_tensor(estimator.W_)
    c = torch.as_tensor(getattr(estimator, "intercept_", np.zeros_like(estimator.W_)))
    return torch.log_softmax(c + u[:, None] * W, dim=1)


def _log_prior(estimator, u):
    """Log density of the fitted stance prior at ``u`` (the two Beta components)."""
    a = torch.as_tensor(estimator.alpha_, dtype=torch.float64)
    b = torch.as_tensor(estimator.beta_, dtype=torch.float64)
    pi = torch.as_tensor(estimator.pi_, dtype=torch.float64)
    t = ((u + 1.0) / 2.0).clamp(_EPS, 1 - _EPS)
    right = torch.distributions.Beta(a, b).log_prob(t) + torch.log(pi)
    left = torch.distributions.Beta(b, a).log_prob(t) + torch.log1p(-pi)
    return torch.logaddexp(right, left) - np.log(2.0)


class StanceEncoder(BaseEstimator):
    """Amortized posterior of stances for a fitted :class:`~skpolar.PolarizationEstimator`.

    Parameters
    ----------
    estimator : PolarizationEstimator
        A fitted estimator; its emission and stance prior define the posterior.
    hidden : int, default=64
        Units of the hidden layer.
    n_steps : int, default=2000
        Adam steps on minibatches of ``batch_size`` speeches.
    batch_size : int, default=256
    learning_rate : float, default=0.01
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    elbo_ : ndarray of shape (n_steps,)
        Mean ELBO per speech of every minibatch.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> from skpolar.amortized import StanceEncoder
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    >>> enc = StanceEncoder(est, n_steps=300, random_state=0).fit(X, y)
    >>> exact = est.stance(X[:500], y[:500])
    >>> bool(np.corrcoef(enc.stance(X[:500], y[:500]), exact)[0, 1] > 0.95)
    True
    """

    _parameter_constraints = {
        "estimator": [PolarizationEstimator],
        "hidden": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, hidden=64, n_steps=2000, batch_size=256,
                 learning_rate=0.01, random_state=None):
        self.estimator = estimator
        self.hidden = hidden
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _inputs(self, X, y):
        """Word shares, log length and party as a float64 tensor, and the party side."""
        est = self.estimator
        check_is_fitted(est)
        if y is None:
            raise ValueError("StanceEncoder needs the parties y: q(u | x, y) lives on y's side.")
        X, side = est._validate_fit_input(X, y, reset=False)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        lengths = X.sum(axis=1, keepdims=True)
        shares = X / np.maximum(lengths, 1.0)
        features = np.hstack([shares, np.log1p(lengths), side[:, None] * 2.0 - 1.0])
        return (torch.as_tensor(features, dtype=torch.float64),
                torch.as_tensor(X, dtype=torch.float64),
                torch.as_tensor(side, dtype=torch.float64))

    def _shapes(self, features):
        """The Beta shapes of ``|u|`` for every row."""
        out = self.network_(features)
        return torch.nn.functional.softplus(out[:, 0]) + 0.05, \
            torch.nn.functional.softplus(out[:, 1]) + 0.05

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the encoder on speeches ``X`` with parties ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : StanceEncoder
        """
        features, counts, side = self._inputs(X, y)
        rng = _numpy_rng(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        # nn.Linear initializes from the global generator
        with global_rng_from(rng.integers(2**31 - 1)):
            network = torch.nn.Sequential(
                torch.nn.Linear(features.shape[1], self.hidden), torch.nn.Tanh(),
                torch.nn.Linear(self.hidden, 2),
            ).double()
        self.network_ = network
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.01 ** (step / max(self.n_steps, 1)))
        n = len(side)
        elbo = np.empty(self.n_steps)
        for step in range(self.n_steps):
            rows = torch.randint(n, (min(self.batch_size, n),), generator=generator)
            alpha, beta = self._shapes(features[rows])
            q = torch.distributions.Beta(alpha, beta)
            # Beta's reparameterized draw takes torch's global generator only
            with global_rng_from(torch.randint(2**31 - 1, (), generator=generator)):
                t = q.rsample().clamp(_EPS, 1 - _EPS)
            u = torch.where(side[rows] > 0, t, -t)
            log_lik = (counts[rows] * _log_emission(self.estimator, u)).sum(1)
            value = (log_lik + _log_prior(self.estimator, u) + q.entropy()).mean()
            optimizer.zero_grad()
            (-value).backward()
            optimizer.step()
            schedule.step()
            elbo[step] = float(value.detach())
        self.elbo_ = elbo
        self.n_features_in_ = counts.shape[1]
        return self

    def stance(self, X, y, return_std=False):
        """Mean (and sd) of ``u`` under the encoder's ``q(u | x, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        return_std : bool, default=False

        Returns
        -------
        mean : ndarray of shape (n_samples,)
        std : ndarray of shape (n_samples,)
            Only with ``return_std=True``.
        """
        check_is_fitted(self)
        features, _, side = self._inputs(X, y)
        with torch.no_grad():
            alpha, beta = self._shapes(features)
        total = alpha + beta
        mean = alpha / total
        sign = torch.where(side > 0, 1.0, -1.0).double()
        out = (sign * mean).numpy()
        if not return_std:
            return out
        return out, torch.sqrt(alpha * beta / (total**2 * (total + 1))).numpy()
