"""Grids on the stance axis and the prior weight of each grid node.

The stance ``u`` lives on ``[-1, 1]``; every side of zero gets ``grid_size``
nodes. Two rules turn the Beta-mixture prior into node weights:

``"exact"``
    Node ``g`` stands for a cell of width ``1 / grid_size`` and carries the
    exact prior mass of that cell, so the weights of any ``a, b > 0`` add up
    to one, including ``a < 1`` or ``b < 1`` where the density is infinite at
    a pole. The cell masses are computed in torch, so they are differentiable
    in ``a``, ``b`` and ``pi`` (twice, for observed information).
``"density"``
    The research notebook's rule: nodes at ``j / (grid_size + 1)`` and weight
    ``density x spacing``. It mis-integrates steep densities and its weights
    do not add up to one; it is kept to reproduce the notebook.
"""

import functools

import numpy as np
import torch
from scipy.special import digamma, gammaln

from .utils import logaddexp

QUADRATURE_RULES = ("exact", "density")

# Gauss-Legendre points on [0, 1]; 12 points integrate every cell of a Beta
# density with a, b up to 1e4 to near machine precision.
_GL_POINTS, _GL_WEIGHTS = np.polynomial.legendre.leggauss(12)
_GL_POINTS = (_GL_POINTS + 1.0) / 2.0
_GL_WEIGHTS = _GL_WEIGHTS / 2.0
# The end cells are cut at h / 2**k, k = 0 .. 39, down to ~1e-15 h.
_HALVINGS = np.arange(40)


def stance_grid(grid_size, rule="exact"):
    """Nodes on the stance axis, the left side first.

    Parameters
    ----------
    grid_size : int
        Nodes per side of zero.
    rule : {"exact", "density"}
        ``"exact"``: cell midpoints ``(j + 1/2) / grid_size``; ``"density"``:
        the notebook's ``j / (grid_size + 1)``, ``j = 1 .. grid_size``.

    Returns
    -------
    nodes : ndarray of shape (2 * grid_size,)
        Increasing; the first ``grid_size`` are negative, the rest positive.

    Examples
    --------
    >>> from skpolar.quadrature import stance_grid
    >>> stance_grid(2)
    array([-0.75, -0.25,  0.25,  0.75])
    """
    if rule == "exact":
        right = (np.arange(grid_size) + 0.5) / grid_size
    else:
        right = np.arange(1, grid_size + 1) / (grid_size + 1)
    return np.concatenate([-right[::-1], right])


def log_beta_cell_mass(a, b, grid_size):
    """Log prior mass of Beta(a, b) on each of ``2 * grid_size`` equal cells of [0, 1].

    Interior cells use Gauss-Legendre quadrature on the density. The two end
    cells absorb the possible singularity analytically: on ``[0, h]`` the
    substitution ``t = h s**(1/a)`` turns ``t**(a-1) dt`` into
    ``h**a / a ds``, leaving the smooth factor ``(1 - t)**(b-1)``; the cell at
    one is the mirror image.

    Parameters
    ----------
    a, b : torch.Tensor
        Positive scalar shapes (may require grad).
    grid_size : int
        Cells per half of [0, 1].

    Returns
    -------
    log_mass : torch.Tensor of shape (2 * grid_size,)

    Examples
    --------
    >>> import torch
    >>> from skpolar.quadrature import log_beta_cell_mass
    >>> m = log_beta_cell_mass(torch.tensor(0.5), torch.tensor(3.0), 50).exp()
    >>> round(float(m.sum()), 10)
    1.0
    """
    n_cells = 2 * grid_size
    h = 1.0 / n_cells
    dtype = a.dtype if torch.is_tensor(a) else torch.float64
    s = torch.as_tensor(_GL_POINTS, dtype=dtype, device=a.device)
    log_w = torch.as_tensor(np.log(_GL_WEIGHTS), dtype=dtype, device=a.device)
    log_norm = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)

    def end_cell(first, second):
        # Integral over [0, h] of t**(first-1) (1-t)**(second-1) dt. With
        # v = t**first the singular power becomes dv / first; halving
        # sub-cells towards zero keep the remaining factor smooth on each.
        log_hi = np.log(h) - np.log(2.0) * _HALVINGS
        log_lo = log_hi - np.log(2.0)
        log_hi = torch.as_tensor(log_hi, dtype=dtype, device=a.device)
        log_lo = torch.as_tensor(log_lo, dtype=dtype, device=a.device)
        log_v_hi = first * log_hi
        log_span = log_v_hi + torch.log(-torch.expm1(-first * np.log(2.0)))
        log_s = torch.log(s)[None, :]
        log_v = logaddexp((first * log_lo)[:, None], log_s + log_span[:, None])
        # the innermost cell [0, h / 2**40] starts at v = 0
        inner_span = first * log_lo[-1:]
        log_v = torch.cat([log_v, log_s + inner_span[:, None]])
        log_span = torch.cat([log_span, inner_span])
        t = torch.exp(log_v / first)
        inner = log_w + (second - 1.0) * torch.log1p(-t)
        return torch.logsumexp(log_span[:, None] + inner, dim=(0, 1)) - torch.log(first)

    cells = [end_cell(a, b).reshape(1)]
    if n_cells > 2:
        left = torch.arange(1, n_cells - 1, dtype=dtype, device=a.device) * h
        t = left[:, None] + h * s[None, :]
        log_f = (a - 1.0) * torch.log(t) + (b - 1.0) * torch.log1p(-t)
        cells.append(np.log(h) + torch.logsumexp(log_w + log_f, dim=1))
    cells.append(end_cell(b, a).reshape(1))
    return torch.cat(cells) - log_norm


def log_beta_cell_mass_numpy(a, b, grid_size, grad=False):
    """:func:`log_beta_cell_mass` in NumPy for float shapes, with its gradient.

    The same rule, node for node. The EM solver's small ``(a, b, pi)`` step
    evaluates it dozens of times per iteration, where torch's per-operation
    overhead costs far more than the arithmetic. The derivative of a cell's
    log mass in ``a`` is ``E[log t | cell] - digamma(a) + digamma(a + b)``
    (and likewise in ``b`` with ``log(1 - t)``); the cell averages come from
    the same quadrature nodes as the masses.

    Parameters
    ----------
    a, b : float
        Positive shapes.
    grid_size : int
        Cells per half of [0, 1].
    grad : bool, default=False
        Also return the derivatives in ``a`` and ``b``.

    Returns
    -------
    log_mass : ndarray of shape (2 * grid_size,)
    d_a, d_b : ndarray of shape (2 * grid_size,)
        Only with ``grad=True``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skpolar.quadrature import log_beta_cell_mass, log_beta_cell_mass_numpy
    >>> fast = log_beta_cell_mass_numpy(0.5, 3.0, 50)
    >>> one = torch.ones((), dtype=torch.float64)
    >>> slow = log_beta_cell_mass(0.5 * one, 3.0 * one, 50)
    >>> bool(np.allclose(fast, slow.numpy(), rtol=0, atol=1e-12))
    True
    """
    n_cells = 2 * grid_size
    log_h = -np.log(n_cells)
    log_norm = gammaln(a) + gammaln(b) - gammaln(a + b)
    log_m = np.empty(n_cells)
    mean_log_t = np.empty(n_cells)
    mean_log_1mt = np.empty(n_cells)

    def end_cells(first, second):
        # see log_beta_cell_mass: t = v**(1/first) on halving sub-cells of [0, h];
        # for every pair (first[k], second[k]) the log integral and the
        # averages of log t and log(1 - t). All pairs go in one pass: six
        # passes of a dozen small-array operations each cost more than the rest
        # of this function at the grid sizes of a fit.
        first = np.asarray(first, dtype=float)[:, None]
        second = np.asarray(second, dtype=float)[:, None, None]
        log_hi = log_h + _END_LOG_EDGES_UNIT
        log_lo = log_hi - np.log(2.0)
        log_span = first * log_hi + np.log(-np.expm1(-first * np.log(2.0)))
        log_v = np.logaddexp((first * log_lo)[:, :, None], _LOG_GL_POINTS + log_span[:, :, None])
        inner_span = first * log_lo[-1:]
        log_v = np.concatenate([log_v, _LOG_GL_POINTS + inner_span[:, :, None]], axis=1)
        log_span = np.concatenate([log_span, inner_span], axis=1)
        log_t = log_v / first[:, :, None]
        log_1mt = np.log1p(-np.exp(log_t))
        terms = log_span[:, :, None] + _LOG_GL_WEIGHTS + (second - 1.0) * log_1mt
        top = terms.max(axis=(1, 2), keepdims=True)
        w = np.exp(terms - top)
        total = w.sum(axis=(1, 2))
        return (top[:, 0, 0] + np.log(total) - np.log(first[:, 0]),
                (w * log_t).sum(axis=(1, 2)) / total, (w * log_1mt).sum(axis=(1, 2)) / total)

    # the cell at one is the mirror image: shapes swapped, log t and log(1 - t) swap
    firsts, seconds = [a, b], [b, a]
    if grad:
        # An end cell's nodes move with its singular shape, so its rule is
        # differentiated numerically in that shape: the gradient must be that
        # of the masses as computed, or a line search on them stalls.
        step_a, step_b = 1e-6 * a, 1e-6 * b
        firsts += [a + step_a, a - step_a, b + step_b, b - step_b]
        seconds += [b, b, a, a]
    mass, mean_t, mean_1mt = end_cells(firsts, seconds)
    log_m[0], mean_log_t[0], mean_log_1mt[0] = mass[0], mean_t[0], mean_1mt[0]
    log_m[-1], mean_log_1mt[-1], mean_log_t[-1] = mass[1], mean_t[1], mean_1mt[1]
    if grad:
        mean_log_t[0] = (mass[2] - mass[3]) / (2.0 * step_a)
        mean_log_1mt[-1] = (mass[4] - mass[5]) / (2.0 * step_b)
    if n_cells > 2:
        log_t, log_1mt = _interior_nodes(n_cells)
        terms = _LOG_GL_WEIGHTS + (a - 1.0) * log_t + (b - 1.0) * log_1mt
        top = terms.max(axis=1, keepdims=True)
        w = np.exp(terms - top)
        total = w.sum(axis=1)
        log_m[1:-1] = log_h + top[:, 0] + np.log(total)
        if grad:
            mean_log_t[1:-1] = (w * log_t).sum(axis=1) / total
            mean_log_1mt[1:-1] = (w * log_1mt).sum(axis=1) / total
    log_m -= log_norm
    if not grad:
        return log_m
    both = digamma(a + b)
    return log_m, mean_log_t - digamma(a) + both, mean_log_1mt - digamma(b) + both


# Upper edges of the halving sub-cells of an end cell, in units of the cell width
# (log scale); see log_beta_cell_mass.
_END_LOG_EDGES_UNIT = -np.log(2.0) * _HALVINGS
_LOG_GL_POINTS = np.log(_GL_POINTS)[None, :]
_LOG_GL_WEIGHTS = np.log(_GL_WEIGHTS)


@functools.lru_cache(maxsize=32)
def _interior_nodes(n_cells):
    """``log t`` and ``log(1 - t)`` at the Gauss-Legendre points of the interior cells."""
    h = 1.0 / n_cells
    t = (np.arange(1, n_cells - 1) * h)[:, None] + h * _GL_POINTS[None, :]
    out = (np.log(t), np.log1p(-t))
    for array in out:
        array.setflags(write=False)
    return out


def log_prior_weights_numpy(a, b, pi, grid_size, grad=False):
    """:func:`log_prior_weights` (exact rule) in NumPy, with its gradient.

    Parameters
    ----------
    a, b, pi : float
    grid_size : int
    grad : bool, default=False
        Also return the derivatives of every node's log weight in
        ``log a``, ``log b`` and ``logit pi``, shape (3, 2 * grid_size).

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.quadrature import log_prior_weights_numpy
    >>> round(float(np.exp(log_prior_weights_numpy(2.0, 2.0, 0.5, 3)).sum()), 12)
    1.0
    """
    out = log_beta_cell_mass_numpy(a, b, grid_size, grad=grad)
    right = out[0] if grad else out
    left = right[::-1]
    log_w = np.logaddexp(np.log(pi) + right, np.log1p(-pi) + left)
    # the cell masses sum to one up to quadrature error; make it exact
    # (by hand: scipy's logsumexp costs ten times as much on a few hundred
    # cells, and the EM prior step calls this thousands of times)
    top = log_w.max()
    total = top + np.log(np.exp(log_w - top).sum())
    if not grad:
        return log_w - total
    _, d_a, d_b = out
    with np.errstate(invalid="ignore"):
        share = np.exp(np.log(pi) + right - log_w)  # the right component's share
    share = np.nan_to_num(share, nan=0.5)
    dl_a = share * d_a + (1.0 - share) * d_a[::-1]
    dl_b = share * d_b + (1.0 - share) * d_b[::-1]
    dl_pi = (share - pi)  # d/d logit(pi)
    jac = np.stack([a * dl_a, b * dl_b, dl_pi])
    weight = np.exp(log_w - total)
    jac -= (jac @ weight)[:, None]
    return log_w - total, jac


def log_prior_weights(a, b, pi, grid_size, rule="exact"):
    """Log prior weight of every stance node under the Beta mixture.

    The prior of ``t = (u + 1) / 2`` is ``pi Beta(a, b) + (1 - pi) Beta(b, a)``.

    Parameters
    ----------
    a, b, pi : torch.Tensor
        Scalar shapes (positive) and right-component weight in (0, 1).
    grid_size : int
        Nodes per side.
    rule : {"exact", "density"}
        See the module docstring.

    Returns
    -------
    log_weight : torch.Tensor of shape (2 * grid_size,)
        Aligned with :func:`stance_grid`.

    Examples
    --------
    >>> import torch
    >>> from skpolar.quadrature import log_prior_weights
    >>> one = torch.tensor(1.0, dtype=torch.float64)
    >>> w = log_prior_weights(2 * one, 2 * one, one / 2, 3).exp()
    >>> round(float(w.sum()), 12)
    1.0
    """
    log_pi, log_1m_pi = torch.log(pi), torch.log1p(-pi)
    if rule == "exact":
        right = log_beta_cell_mass(a, b, grid_size)
        # The mass of Beta(b, a) on a cell is that of Beta(a, b) on its mirror.
        log_w = logaddexp(log_pi + right, log_1m_pi + right.flip(0))
        # The masses add up to one up to quadrature error, which a coarse grid
        # under a very concentrated prior makes large (a = b = 1e4 on two
        # cells per side: 1.09); renormalizing keeps p(empty speech) = 1.
        return log_w - torch.logsumexp(log_w, dim=0)
    nodes = torch.as_tensor(stance_grid(grid_size, rule), dtype=a.dtype, device=a.device)
    t = (nodes + 1.0) / 2.0
    right = torch.distributions.Beta(a, b).log_prob(t)
    left = torch.distributions.Beta(b, a).log_prob(t)
    # density of u is half that of t; the notebook's node spacing is 1 / (G + 1)
    return logaddexp(log_pi + right, log_1m_pi + left) + np.log(
        0.5 / (grid_size + 1)
    )
