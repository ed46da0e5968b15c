"""Reference re-implementation of the research notebook's generator and trainer.

This module exists to measure what the original method costs, not to be used.
It reproduces the notebook's procedure on purpose, inefficiencies included:

* :func:`generate_notebook` draws the word counts one speech at a time with
  ``scipy.stats.multinomial.rvs``;
* :func:`fit_notebook` integrates the stance ``u`` out on a grid by building
  the full ``(N, G, V)`` tensor of ``W u`` and its log-softmax, and trains
  ``(log a, log b, W)`` of the ``softmax(W u)`` model (no word intercepts)
  with full-batch SGD on the detached-posterior surrogate loss.

The code is written from the model's mathematics (see ``MODEL.md``); names
and structure are our own. Run ``python benchmarks/notebook_reference.py``
to time one fit.
"""

import argparse
import time

import numpy as np
import torch
from scipy import stats
from torch.distributions import Beta

from skpolar.datasets import two_ten_shape


def generate_notebook(n, rho, epsilon=0.05, pi=0.5, speech_len=15, seed=0):
    """Draw ``n`` speeches the way the notebook does, one row at a time.

    Stances come from the "2/10" Beta mixture and words from
    ``Multinomial(speech_len, [(1 - p)(1 - eps), p (1 - eps), eps])`` with
    ``p = (u + 1) / 2``; the multinomial is sampled by a Python loop over
    rows, which is what makes this generator slow.

    Parameters
    ----------
    n : int
        Number of speeches.
    rho : float in [0.5, 1)
        Polarization.
    epsilon : float, default=0.05
        Share of neutral words.
    pi : float, default=0.5
        Weight of the ``Beta(a, b)`` component.
    speech_len : int, default=15
        Words per speech.
    seed : int, default=0
        Seed of a local ``RandomState``; global numpy state is untouched.

    Returns
    -------
    X : ndarray of shape (n, 3)
        Word counts.
    y : ndarray of shape (n,)
        Party, ``1`` where ``u >= 0``.
    """
    rs = np.random.RandomState(seed)
    a, b, _ = two_ten_shape(rho)
    from_ab = rs.choice([0, 1], size=n, p=[1 - pi, pi]) == 1
    t = np.where(
        from_ab,
        stats.beta.rvs(a, b, size=n, random_state=rs),
        stats.beta.rvs(b, a, size=n, random_state=rs),
    )
    u = 2 * t - 1
    y = (u >= 0).astype(int)
    phi = np.column_stack([(1 - t) * (1 - epsilon), t * (1 - epsilon), np.full(n, epsilon)])
    X = np.array(
        [stats.multinomial.rvs(n=speech_len, p=phi[i], random_state=rs) for i in range(n)]
    )
    return X, y


def _grid(y, grid_size, dtype):
    """Per-row grid nodes: interior nodes of (0, 1) for y = 1, of (-1, 0) for y = 0."""
    right = torch.linspace(1 / (grid_size + 1), 1 - 1 / (grid_size + 1), grid_size, dtype=dtype)
    # Materialised as a full (N, G) matrix, like the notebook, rather than two shared rows.
    return torch.where(y[:, None] == 1, right, -torch.flip(right, [0]))


def _log_joint(u, X, log_a, log_b, W):
    """``log p(u, x, y)`` at every row and node, shape (N, G).

    Builds the (N, G, V) tensor of ``W u`` on purpose: that is the cost being
    measured.
    """
    a, b = log_a.exp(), log_b.exp()
    t = (u + 1) / 2
    # Density in u of the equal-weight mixture: 0.5 * 0.5 * (Beta(a,b) + Beta(b,a)).
    log_prior = torch.logaddexp(Beta(a, b).log_prob(t), Beta(b, a).log_prob(t)) + np.log(0.25)
    logits = u[:, :, None] * W[None, None, :]
    log_lik = (X[:, None, :] * torch.log_softmax(logits, dim=2)).sum(dim=2)
    log_coef = torch.lgamma(X.sum(dim=1) + 1) - torch.lgamma(X + 1).sum(dim=1)
    return log_prior + log_lik + log_coef[:, None]


def fit_notebook(X, y, *, grid_size=200, lr=0.1, n_epochs=200, seed=0, dtype=torch.float32):
    """Fit ``softmax(W u)`` and the Beta mixture with the notebook's trainer.

    Each epoch evaluates the log joint on a ``grid_size``-node grid on the
    side of zero given by ``y``, normalises it to a posterior over nodes, and
    takes one SGD step on ``-(posterior.detach() * log_joint).sum() / N``.
    Its gradient is the gradient of the grid log marginal likelihood
    (Fisher's identity); its value is not that likelihood.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Word counts.
    y : array-like of shape (n_samples,)
        Party labels in {0, 1}.
    grid_size : int, default=200
        Nodes per side of zero.
    lr : float, default=0.1
        SGD learning rate.
    n_epochs : int, default=200
        Full-batch steps.
    seed : int, default=0
        Seed of a local ``torch.Generator`` for the initial values
        ``log a ~ N(2, 1)``, ``log b ~ N(0, 1)``, ``W ~ N(0, 2)``.
    dtype : torch.dtype, default=torch.float32
        Floating type of all tensors (the notebook uses float32).

    Returns
    -------
    result : dict
        ``alpha``, ``beta`` (floats), ``W`` (ndarray of shape (n_features,)),
        ``rho`` (``max(a, b) / (a + b)``), ``seconds`` (wall time of the
        training loop) and ``loss_curve`` (surrogate loss before each step).
    """
    X = torch.as_tensor(np.asarray(X), dtype=dtype)
    y = torch.as_tensor(np.asarray(y), dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    log_a = torch.normal(2.0, 1.0, size=(1,), generator=gen, dtype=dtype).requires_grad_()
    log_b = torch.normal(0.0, 1.0, size=(1,), generator=gen, dtype=dtype).requires_grad_()
    W = torch.normal(0.0, 2.0, size=(X.shape[1],), generator=gen, dtype=dtype).requires_grad_()
    optimizer = torch.optim.SGD([log_a, log_b, W], lr=lr)

    start = time.perf_counter()
    u = _grid(y, grid_size, dtype)
    losses = []
    for _ in range(n_epochs):
        optimizer.zero_grad()
        log_joint = _log_joint(u, X, log_a, log_b, W)
        posterior = torch.softmax(log_joint, dim=1)
        loss = -(posterior.detach() * log_joint).sum() / X.shape[0]
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start

    alpha, beta = log_a.exp().item(), log_b.exp().item()
    return dict(
        alpha=alpha,
        beta=beta,
        W=W.detach().numpy().copy(),
        rho=max(alpha, beta) / (alpha + beta),
        seconds=seconds,
        loss_curve=losses,
    )


if __name__ == "__main__":
    from skpolar.datasets import make_polarized_speech

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of speeches")
    parser.add_argument("--rho", type=float, default=0.8, help="true polarization")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--float64", action="store_true")
    args = parser.parse_args()

    X, y = make_polarized_speech(args.n, rho=args.rho, random_state=args.data_seed)
    fit = fit_notebook(
        X,
        y,
        n_epochs=args.epochs,
        seed=args.seed,
        dtype=torch.float64 if args.float64 else torch.float32,
    )
    print(f"N={args.n} rho={args.rho} threads={torch.get_num_threads()}")
    print(f"fit_notebook: {fit['seconds']:.1f} s, rho_hat={fit['rho']:.4f}")
    print(f"alpha={fit['alpha']:.4f} beta={fit['beta']:.4f} W={np.round(fit['W'], 4).tolist()}")
    print(f"loss first={fit['loss_curve'][0]:.4f} last={fit['loss_curve'][-1]:.4f}")
