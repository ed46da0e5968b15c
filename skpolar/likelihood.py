"""Grid marginal likelihood, computed chunk by chunk.

A speech's log marginal likelihood is
``logsumexp_g [log w_g + x . log phi(u_g)] + log S! - sum_v log x_v!`` over the
nodes of its party's side (both sides when the party is unknown). Rows are
cut into chunks; each chunk returns sufficient statistics (log likelihood,
posterior mass per node and the emission's expected counts) that are simply
added up, so memory is bounded by one chunk and a chunk function could be
mapped over workers.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .speakers import multinomial_log_coef

# Rows per chunk are chosen so the dense (rows x nodes) work arrays of one
# chunk stay near this many bytes.
CHUNK_BYTES = 32 * 2**20
# Counts denser than this are multiplied as a dense block, sparser ones as
# CSR, whichever form they came in: the crossover of the (rows x V) @ (V x
# nodes) product measured on 1 thread was 10% (V = 3,000) to 20% (V = 300)
_DENSE_ABOVE = 0.15


@dataclass
class Chunk:
    """Rows of a corpus, ready for the E-step.

    ``X`` and ``XT`` are the counts and their transpose (torch, sparse CSR or
    dense), ``lengths`` the speech lengths, ``log_coef`` the multinomial
    coefficients, ``weight`` the number of speeches each row stands for,
    ``nodes`` the slice of grid nodes the rows may sit on and ``rows`` their
    positions in the caller's matrix. ``X32`` and ``XT32``, when set, are
    float32 copies of sparse ``X`` and ``XT`` (sharing their indices) for an
    E-step whose large products may run in single precision (see
    :func:`make_chunks`).

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.likelihood import make_chunks
    >>> chunk = make_chunks(np.array([[2.0, 1.0]]), np.array([1]), None, grid_size=5)[0]
    >>> chunk.nodes, chunk.lengths.tolist(), round(float(chunk.log_coef), 4)  # log 3
    (slice(5, 10, None), [3.0], 1.0986)
    """

    X: torch.Tensor
    XT: torch.Tensor
    lengths: torch.Tensor
    log_coef: torch.Tensor
    weight: torch.Tensor
    nodes: slice
    rows: np.ndarray
    X32: torch.Tensor = None
    XT32: torch.Tensor = None


@dataclass
class Rows:
    """The rows a fit's likelihood sums over.

    ``X`` holds the (possibly reweighted) counts, ``side`` the party side of
    every row (None when unknown), ``weight`` how many speeches or speakers a
    row stands for and ``log_coef`` its multinomial coefficient.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.likelihood import Rows
    >>> rows = Rows.of(np.array([[1.0, 1.0], [2.0, 0.0]]), np.array([0, 1]))
    >>> rows.subset([1]).X.tolist(), rows.weight.tolist()
    ([[2.0, 0.0]], [1.0, 1.0])
    """

    X: object
    side: np.ndarray
    weight: np.ndarray
    log_coef: np.ndarray
    # speech lengths before any reweighting (set by the estimator, for sample())
    lengths: np.ndarray = None

    @classmethod
    def of(cls, X, side, weight=None, log_coef=None):
        """Rows of ``X`` with unit weights and their own coefficients by default."""
        weight = np.ones(X.shape[0]) if weight is None else np.asarray(weight, dtype=float)
        log_coef = multinomial_log_coef(X) if log_coef is None else np.asarray(log_coef)
        return cls(X, side, weight, log_coef)

    def subset(self, index):
        """The rows at ``index`` (positions or a boolean mask)."""
        index = np.asarray(index)
        return Rows(self.X[index], None if self.side is None else self.side[index],
                    self.weight[index], self.log_coef[index])

    def reweighted(self, weight):
        """The same rows standing for ``weight`` speeches each (a bootstrap draw)."""
        return Rows(self.X, self.side, np.asarray(weight, dtype=float), self.log_coef)

    def chunks(self, grid_size, device="cpu", dtype=torch.float64, single_products=False):
        """The rows cut into :class:`Chunk` objects (see :func:`make_chunks`)."""
        return make_chunks(self.X, self.side, self.weight, grid_size,
                           log_coef=self.log_coef, device=device, dtype=dtype,
                           single_products=single_products)


def collapse_duplicates(X, side, weight=None, *, integers_only=False):
    """Merge identical (speech, side) rows of a dense matrix into weighted ones.

    10,000 speeches of 15 words over 3 terms hold only about 100 distinct rows;
    the likelihood is a weighted sum over them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    side : ndarray of shape (n_samples,) or None
    weight : ndarray of shape (n_samples,) or None
    integers_only : bool, default=False
        Return None unless every entry is a small non-negative integer (the
        fast path): rows of arbitrary floats rarely repeat, and sorting them
        costs about half of scoring them.

    Returns
    -------
    X_unique, side_unique, weight_unique, inverse
        ``X_unique[inverse]`` is ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.likelihood import collapse_duplicates
    >>> X = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 3.0]])
    >>> Xu, su, wu, inv = collapse_duplicates(X, None)
    >>> Xu.tolist(), wu.tolist()
    ([[0.0, 3.0], [1.0, 2.0]], [1.0, 2.0])
    """
    keys = X if side is None else np.column_stack([X, side])
    code = _integer_row_codes(keys)
    if code is not None:
        # one int64 per row sorts as the rows do, and ten times faster
        # (2,000,000 rows of 3 terms: 0.2 s against 2.4 s)
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    elif integers_only:
        return None
    else:
        keys = np.ascontiguousarray(keys)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    w = np.ones(len(X)) if weight is None else np.asarray(weight, dtype=float)
    weight_unique = np.bincount(inverse, weights=w, minlength=len(first))
    side_unique = None if side is None else side[first]
    return X[first], side_unique, weight_unique, inverse


def _integer_row_codes(keys):
    """Each row of small non-negative integers as one int64, in the rows' order; or None.

    Rows are read as numbers in a mixed radix (column ``j`` a digit below
    ``max_j + 1``), the first column the most significant: the codes sort
    lexicographically by row, as ``np.unique(keys, axis=0)`` does. None when
    an entry is negative or not an integer, or the codes would overflow.
    """
    if keys.size == 0 or keys.ndim != 2:
        return None
    top = keys.max(axis=0)
    if keys.min() < 0 or not np.all(np.isfinite(top)):
        return None
    radix = np.floor(top).astype(np.float64) + 1.0
    if np.sum(np.log2(radix)) >= 62:
        return None
    ints = keys.astype(np.int64)
    if not np.array_equal(ints, keys):
        return None
    code = ints[:, 0].copy()
    for j in range(1, keys.shape[1]):
        code *= int(radix[j])
        code += ints[:, j]
    return code


def make_chunks(X, side, weight, grid_size, *, log_coef=None, device="cpu",
                dtype=torch.float64, single_products=False):
    """Cut a corpus into :class:`Chunk` objects.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        Non-negative counts (validated by the caller).
    side : ndarray of shape (n_samples,) or None
        0 for the left side (u < 0), 1 for the right; None when unknown.
    weight : ndarray of shape (n_samples,) or None
        Speeches each row stands for (duplicate counts, bootstrap weights).
    grid_size : int
        Nodes per side.
    log_coef : ndarray of shape (n_samples,) or None
        The rows' multinomial coefficients, when they are not those of ``X``
        itself (a speaker's row sums several speeches; reweighted counts).
    device, dtype
        Where and in which precision the chunks live.
    single_products : bool, default=False
        Also keep float32 copies of sparse chunks (``Chunk.X32``, ``XT32``):
        an emission may then run its two large products per E-step in single
        precision, two to three times as fast with MKL's sparse kernels, and
        the rest of the E-step in ``dtype``. Meant for EM, which tolerates
        the rounding (about 1e-5 nats per speech); not for finite-difference
        Hessians or samplers.

    Returns
    -------
    chunks : list of Chunk
        Left-side rows first; each chunk's dense work arrays stay near
        ``CHUNK_BYTES``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from skpolar.likelihood import make_chunks
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    >>> chunks = make_chunks(X, np.array([0, 1, 1]), None, grid_size=10)
    >>> [(c.nodes.start, c.rows.tolist()) for c in chunks]
    [(0, [0]), (10, [1, 2])]
    """
    n = X.shape[0]
    weight = np.ones(n) if weight is None else np.asarray(weight, dtype=float)
    if sp.issparse(X):
        X = X.tocsr()
        lengths = np.asarray(X.sum(axis=1)).reshape(-1)
    else:
        lengths = X.sum(axis=1)
    if log_coef is None:
        log_coef = multinomial_log_coef(X)

    groups = []
    if side is None:
        groups.append((np.arange(n), slice(0, 2 * grid_size)))
    else:
        groups.append((np.flatnonzero(side == 0), slice(0, grid_size)))
        groups.append((np.flatnonzero(side == 1), slice(grid_size, 2 * grid_size)))

    chunks = []
    for rows, nodes in groups:
        n_nodes = nodes.stop - nodes.start
        step = max(1, CHUNK_BYTES // (8 * 4 * n_nodes))
        for start in range(0, len(rows), step):
            idx = rows[start : start + step]
            Xt, XTt = _to_torch(X[idx], device, dtype)
            single = {}
            if single_products and Xt.layout == torch.sparse_csr and dtype == torch.float64:
                single = {"X32": _single(Xt), "XT32": _single(XTt)}
            chunks.append(
                Chunk(
                    X=Xt,
                    XT=XTt,
                    lengths=torch.as_tensor(lengths[idx], dtype=dtype, device=device),
                    log_coef=torch.as_tensor(log_coef[idx], dtype=dtype, device=device),
                    weight=torch.as_tensor(weight[idx], dtype=dtype, device=device),
                    nodes=nodes,
                    rows=idx,
                    **single,
                )
            )
    return chunks


def _single(A):
    """A float32 copy of sparse CSR ``A`` that shares its index arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(A.crow_indices(), A.col_indices(),
                                       A.values().to(torch.float32), size=A.shape,
                                       check_invariants=False)


def _to_torch(X, device, dtype):
    # the form of the product follows the density, not the form the counts
    # came in: a mostly-zero dense array (a wide vocabulary passed as
    # ndarray) multiplies many times faster as CSR (2,000 x 5,000 at 1.5%:
    # 30 ms dense against 3 ms sparse per product)
    size = X.shape[0] * X.shape[1]
    nonzero = X.nnz if sp.issparse(X) else np.count_nonzero(X)
    if (nonzero <= _DENSE_ABOVE * size) if size else sp.issparse(X):
        X = sp.csr_matrix(X)
        return _csr(X, device, dtype), _csr(X.T.tocsr(), device, dtype)
    dense = torch.as_tensor(X.toarray() if sp.issparse(X) else np.asarray(X), dtype=dtype,
                            device=device)
    return dense, dense.T


def _csr(X, device, dtype):
    X = X.tocsr()
    X.sort_indices()
    with warnings.catch_warnings():
        # torch flags sparse CSR as beta; the kernels used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.as_tensor(X.indptr, dtype=torch.int64),
            torch.as_tensor(X.indices, dtype=torch.int64),
            torch.as_tensor(X.data, dtype=dtype),
            size=X.shape,
            device=device,
            check_invariants=False,
        )


def chunk_log_joint(chunk, emission, prepared, log_weight):
    """``log w_g + x . log phi(u_g)`` for the chunk's rows and nodes, shape (rows, nodes).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skpolar.emissions import TwoPoleEmission
    >>> from skpolar.likelihood import chunk_log_joint, make_chunks
    >>> chunk = make_chunks(np.array([[1.0, 0.0]]), None, None, grid_size=2)[0]
    >>> eta = torch.zeros(2, 2, dtype=torch.float64)  # both poles uniform
    >>> u = torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64)
    >>> prepared = TwoPoleEmission().prepare({"eta": eta}, u)
    >>> joint = chunk_log_joint(chunk, TwoPoleEmission(), prepared, torch.log(torch.full((4,), 0.25)))
    >>> torch.allclose(joint, torch.log(torch.tensor(0.125)).double())
    True
    """
    nodes = chunk.nodes
    # in place: row_loglik returns a fresh tensor, and another (rows, nodes)
    # buffer costs as much in page faults as the addition itself
    return emission.row_loglik(chunk, prepared, nodes).add_(log_weight[nodes])


def accumulate(chunks, emission, prepared, log_weight, u, *, stats=True):
    """Sum the log likelihood and sufficient statistics over chunks.

    Returns
    -------
    loglik : float
        Weighted sum of the rows' log marginal likelihoods.
    mass : torch.Tensor of shape (n_nodes,)
        Posterior mass on each node, summed over rows (None without stats).
    emission_stats : dict
        The emission's expected-count statistics (None without stats).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skpolar.emissions import TwoPoleEmission
    >>> from skpolar.likelihood import accumulate, make_chunks
    >>> from skpolar.quadrature import stance_grid
    >>> X = np.array([[3.0, 0.0], [0.0, 3.0]])
    >>> chunks = make_chunks(X, None, None, grid_size=20)
    >>> u = torch.as_tensor(stance_grid(20))
    >>> eta = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64))
    >>> em = TwoPoleEmission()
    >>> log_w = torch.full((40,), -np.log(40.0), dtype=torch.float64)
    >>> loglik, mass, stats = accumulate(chunks, em, em.prepare({"eta": eta}, u), log_w, u)
    >>> round(float(mass.sum()), 12)  # posterior mass of the two speeches
    2.0
    >>> counts = em.node_counts(stats, u)  # expected counts per node and word
    >>> bool(counts[:, 0] @ u < 0)  # the left word's counts sit left of 0
    True
    """
    loglik = 0.0
    mass = torch.zeros(len(u), dtype=u.dtype, device=u.device) if stats else None
    total = None
    for chunk in chunks:
        joint = chunk_log_joint(chunk, emission, prepared, log_weight)
        if not stats:
            loglik += float(chunk.weight @ (torch.logsumexp(joint, dim=1) + chunk.log_coef))
            continue
        # logsumexp and the posterior from one pass of exponentials, in the
        # joint's own (fresh) buffer: the exponentials cost as much as the
        # sparse product on small vocabularies
        top = joint.amax(dim=1, keepdim=True).clamp_min(torch.finfo(joint.dtype).min)
        post = joint.sub_(top).exp_()
        row_total = post.sum(dim=1)
        loglik += float(chunk.weight @ (top[:, 0] + torch.log(row_total) + chunk.log_coef))
        post.mul_((chunk.weight / row_total)[:, None])
        mass[chunk.nodes] += post.sum(dim=0)
        total = emission.add_stats(total, chunk, post, chunk.nodes, u)
    if total is not None:
        total = emission.finish_stats(total, u)
    return loglik, mass, total


def log_marginal_rows(chunk, emission, prepared, log_weight):
    """Per-row log marginal likelihood (with multinomial coefficient) and log posterior.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skpolar.emissions import TwoPoleEmission
    >>> from skpolar.likelihood import log_marginal_rows, make_chunks
    >>> chunk = make_chunks(np.array([[0.0, 0.0]]), None, None, grid_size=3)[0]
    >>> u = torch.linspace(-0.9, 0.9, 6, dtype=torch.float64)
    >>> em = TwoPoleEmission()
    >>> prepared = em.prepare({"eta": torch.zeros(2, 2, dtype=torch.float64)}, u)
    >>> log_w = torch.full((6,), -np.log(6.0), dtype=torch.float64)
    >>> rows, log_post = log_marginal_rows(chunk, em, prepared, log_w)
    >>> # an empty speech has probability one and the prior as its posterior
    >>> abs(float(rows[0])) < 1e-12, torch.allclose(log_post.exp(), log_w.exp())
    (True, True)
    """
    joint = chunk_log_joint(chunk, emission, prepared, log_weight)
    norm = torch.logsumexp(joint, dim=1)
    return norm + chunk.log_coef, joint - norm[:, None]


def posterior_summaries(chunks, emission, prepared, log_weight, u, n_rows, level=None):
    """Per-row log marginal likelihood and summaries of the stance posterior.

    Parameters
    ----------
    chunks : list of Chunk
    emission, prepared, log_weight, u
        As for :func:`accumulate`.
    n_rows : int
        Rows in the caller's matrix (``chunk.rows`` index into it).
    level : float in (0, 1) or None
        Also return the equal-tailed credible interval of this level. The
        posterior mass of a node is spread evenly over its cell (the cells
        meet halfway between nodes and end at -1 and 1).

    Returns
    -------
    summary : dict of ndarray of shape (n_rows,)
        ``loglik``, ``mean``, ``sd``, ``right`` (posterior mass on ``u >= 0``)
        and, with ``level``, ``low`` and ``high``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skpolar.emissions import TwoPoleEmission
    >>> from skpolar.likelihood import make_chunks, posterior_summaries
    >>> u = torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64)
    >>> em = TwoPoleEmission()
    >>> prepared = em.prepare({"eta": torch.zeros(2, 2, dtype=torch.float64)}, u)
    >>> log_w = torch.full((4,), -np.log(4.0), dtype=torch.float64)
    >>> chunks = make_chunks(np.zeros((1, 2)), None, None, grid_size=2)
    >>> s = posterior_summaries(chunks, em, prepared, log_w, u, 1, level=0.5)
    >>> float(s["mean"][0]), float(s["low"][0]), float(s["high"][0])  # uniform on [-1, 1]
    (0.0, -0.5, 0.5)
    """
    names = ["loglik", "mean", "sd", "right"] + (["low", "high"] if level is not None else [])
    out = {name: np.empty(n_rows) for name in names}
    if level is not None:
        mid = ((u[1:] + u[:-1]) / 2.0).cpu().numpy()
        edges = np.concatenate([[-1.0], mid, [1.0]])
    for chunk in chunks:
        rows, log_post = log_marginal_rows(chunk, emission, prepared, log_weight)
        post = log_post.exp()
        # logsumexp of terms beyond 1e16 loses log(ties) to rounding and the
        # posterior then sums to the number of ties: keep it a distribution
        post /= post.sum(dim=1, keepdim=True)
        at = u[chunk.nodes]
        mean = post @ at
        out["loglik"][chunk.rows] = rows.cpu().numpy()
        out["mean"][chunk.rows] = mean.cpu().numpy()
        out["sd"][chunk.rows] = (post @ at**2 - mean**2).clamp_min(0).sqrt().cpu().numpy()
        # a sum of probabilities can round a hair past one
        out["right"][chunk.rows] = post[:, at >= 0].sum(dim=1).clamp(0.0, 1.0).cpu().numpy()
        if level is not None:
            cell_edges = edges[chunk.nodes.start : chunk.nodes.stop + 1]
            post = post.cpu().numpy()
            for name, q in (("low", (1.0 - level) / 2.0), ("high", (1.0 + level) / 2.0)):
                out[name][chunk.rows] = _grid_quantile(post, cell_edges, q)
    return out


def _grid_quantile(post, edges, q):
    """Quantile ``q`` of each row's distribution, uniform within the cells of ``edges``."""
    cdf = np.cumsum(post, axis=1)
    cdf /= cdf[:, -1:]
    cell = np.minimum((cdf < q).sum(axis=1), post.shape[1] - 1)
    rows = np.arange(post.shape[0])
    before = np.where(cell > 0, cdf[rows, cell - 1], 0.0)
    inside = np.where(post[rows, cell] > 0, (q - before) / np.maximum(post[rows, cell], 1e-300), 0.5)
    inside = np.clip(inside, 0.0, 1.0)
    return edges[cell] + inside * (edges[cell + 1] - edges[cell])
