"""Emission families: the word distribution phi(u) of a speech at stance u.

Every family turns its parameters into a ``prepared`` form shared by all
speeches (the G x V log table, or the log-linear normalizers), into the
per-speech, per-node log likelihood ``x . log phi(u_g)`` (up to the
multinomial coefficient), into the sufficient statistics of a posterior over
the nodes, and into a surrogate ``Q`` whose gradient at the current
parameters is the gradient of the log marginal likelihood (Fisher's
identity). The E-step runs on a detached copy of ``prepared``; only the
small ``Q`` graph is differentiated.

Identification
--------------
``"two_pole"``: ``phi(u) = (1 - p) theta_L + p theta_R`` with
``p = (u + 1) / 2``. The poles are the parties' pure vocabularies. Stretching
the poles apart and shrinking the stances to match leaves the likelihood
unchanged only while the stretched poles stay valid distributions, so the
family is identified as soon as each pole has words the other never uses
(the generator's design); on real vocabularies with no such words the Beta
shape pins the stretch, weakly.

``"loglinear"``: ``phi(u) = softmax(W u + c)`` with word intercepts ``c``.
Only ``W u`` is seen by the data, so the scale of ``u`` trades against the
scale of ``W``; a Gaussian prior ``W ~ N(0, 1 / l2_penalty)`` pins it. The
stance scale (and so ``rho``) is then relative to that penalty.

``"softmax"``: the research notebook's ``softmax(W u)`` without intercepts.
It is not identified (its maximum-likelihood fit drifts to ``a, b -> inf``,
``rho -> 0.5``); it is kept to reproduce the notebook.
"""

import numpy as np
import torch

from .utils import logaddexp

EMISSIONS = ("two_pole", "loglinear", "softmax")

# Additive smoothing of the class word frequencies that start a fit.
_INIT_SMOOTHING = 0.5


def make_emission(name, l2_penalty=1.0):
    """The emission family called ``name``.

    Examples
    --------
    >>> from skpolar.emissions import make_emission
    >>> make_emission("two_pole").param_names
    ('eta',)
    """
    if name == "two_pole":
        return TwoPoleEmission()
    return LogLinearEmission(intercept=name == "loglinear", l2_penalty=l2_penalty)


class TwoPoleEmission:
    """``phi(u) = (1 - p) softmax(eta_L) + p softmax(eta_R)``, ``p = (u + 1) / 2``.

    Parameters are the pole logits ``eta`` of shape (2, V). The sufficient
    statistics are the expected word counts at every node, ``P.T @ X``.

    Examples
    --------
    >>> import torch
    >>> from skpolar.emissions import TwoPoleEmission
    >>> eta = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64))
    >>> table = TwoPoleEmission().log_table({"eta": eta}, torch.tensor([0.0]).double())
    >>> table.exp()
    tensor([[0.5000, 0.5000]], dtype=torch.float64)
    """

    param_names = ("eta",)
    # Pole words one party never uses send their logits to minus infinity, a
    # direction that curvature scaling by word frequency makes L-BFGS stop in
    # early; the two-pole family is optimized unscaled.
    precondition = False

    def init_params(self, class_counts, generator):
        theta = class_counts + _INIT_SMOOTHING
        return {"eta": np.log(theta / theta.sum(axis=1, keepdims=True))}

    def random_params(self, n_features, generator, dtype):
        return {"eta": torch.randn(2, n_features, generator=generator, dtype=dtype)}

    def log_table(self, params, u):
        log_theta = torch.log_softmax(params["eta"], dim=1)
        p = ((u + 1.0) / 2.0).clamp(0.0, 1.0)[:, None]
        return logaddexp(
            torch.log1p(-p) + log_theta[0], torch.log(p) + log_theta[1]
        )

    def prepare(self, params, u):
        return self.log_table(params, u)

    def row_loglik(self, chunk, prepared, nodes):
        return chunk.X @ prepared[nodes].T

    def stats(self, chunk, post, nodes, u):
        counts = post.new_zeros((len(u), chunk.X.shape[1]))
        counts[nodes] = (chunk.XT @ post).T
        return {"counts": counts}

    def surrogate(self, prepared, stats):
        # nodes no speech reaches carry -inf where p is 0 or 1; mask them out
        counts = stats["counts"]
        return torch.where(counts > 0, counts * prepared, 0.0).sum()

    def penalty(self, params):
        return 0.0

    def slant(self, params):
        """Per-word log odds of the right pole over the left, ``log theta_R - log theta_L``."""
        log_theta = torch.log_softmax(params["eta"], dim=1)
        return log_theta[1] - log_theta[0]


class LogLinearEmission:
    """``phi(u) = softmax(W u + c)``, with ``c`` fixed at zero without intercept.

    The log likelihood of a speech at node ``g`` is
    ``u_g (x . W) + x . c - S log sum_v exp(W_v u_g + c_v)``: one sparse
    mat-vec per speech and ``O(G V)`` for the normalizers.

    Examples
    --------
    >>> import torch
    >>> from skpolar.emissions import LogLinearEmission
    >>> params = {"W": torch.tensor([1.0, -1.0]).double(), "c": torch.zeros(2).double()}
    >>> LogLinearEmission().log_table(params, torch.tensor([0.0]).double()).exp()
    tensor([[0.5000, 0.5000]], dtype=torch.float64)
    """

    # L-BFGS scales each word's W and c by the root of its frequency
    precondition = True

    def __init__(self, intercept=True, l2_penalty=1.0):
        self.intercept = intercept
        self.l2_penalty = l2_penalty
        self.param_names = ("W", "c") if intercept else ("W",)

    def init_params(self, class_counts, generator):
        theta = class_counts + _INIT_SMOOTHING
        log_theta = np.log(theta / theta.sum(axis=1, keepdims=True))
        # the poles sit at u = -1 and u = +1: slope is half the log odds
        params = {"W": (log_theta[1] - log_theta[0]) / 2.0}
        if self.intercept:
            params["c"] = (log_theta[1] + log_theta[0]) / 2.0
        return params

    def random_params(self, n_features, generator, dtype):
        params = {"W": 2.0 * torch.randn(n_features, generator=generator, dtype=dtype)}
        if self.intercept:
            params["c"] = torch.zeros(n_features, dtype=dtype)
        return params

    def _logits(self, params, u):
        logits = u[:, None] * params["W"][None, :]
        if self.intercept:
            logits = logits + params["c"]
        return logits

    def log_table(self, params, u):
        return torch.log_softmax(self._logits(params, u), dim=1)

    def prepare(self, params, u):
        return {
            "u": u,
            "W": params["W"],
            "c": params.get("c"),
            "log_norm": torch.logsumexp(self._logits(params, u), dim=1),
        }

    def row_loglik(self, chunk, prepared, nodes):
        slope = chunk.X @ prepared["W"]
        out = slope[:, None] * prepared["u"][nodes][None, :]
        out = out - chunk.lengths[:, None] * prepared["log_norm"][nodes][None, :]
        if prepared["c"] is not None:
            out = out + (chunk.X @ prepared["c"])[:, None]
        return out

    def stats(self, chunk, post, nodes, u):
        lengths = post.new_zeros(len(u))
        lengths[nodes] = chunk.lengths @ post
        out = {"x_u": chunk.XT @ (post @ u[nodes]), "node_length": lengths}
        if self.intercept:
            out["x_total"] = chunk.XT @ post.sum(dim=1)
        return out

    def surrogate(self, prepared, stats):
        q = prepared["W"] @ stats["x_u"] - stats["node_length"] @ prepared["log_norm"]
        if self.intercept:
            q = q + prepared["c"] @ stats["x_total"]
        return q

    def penalty(self, params):
        if not self.intercept:
            return 0.0
        return 0.5 * self.l2_penalty * (params["W"] ** 2).sum()

    def slant(self, params):
        """Per-word slope ``W``: how much a word's log rate rises from left to right."""
        return params["W"]

