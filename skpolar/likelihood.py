"""Grid marginal likelihood, computed chunk by chunk.

A speech's log marginal likelihood is
``logsumexp_g [log w_g + x . log phi(u_g)] + log S! - sum_v log x_v!`` over the
nodes of its party's side (both sides when the party is unknown). Rows are
cut into chunks; each chunk returns sufficient statistics (log likelihood,
posterior mass per node and the emission's expected counts) that are simply
added up, so memory is bounded by one chunk and a chunk function could be
mapped over workers.
"""

import dataclasses
import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .speakers import multinomial_log_coef

# Rows per chunk are chosen so the dense (rows x nodes) work arrays of one
# chunk stay near this many bytes.
CHUNK_BYTES = 32 * 2**20
# Rows are cut into windows of this many chunks' worth (make_chunks): a
# window's chunks are added in order, windows in a fixed pairwise tree.
# Eight make a window of 41,936 rows at 200 nodes a side, so a corpus of up
# to that many speeches adds its chunks as before windows existed, and the
# window's double-precision sums (V x nodes each) are made afresh once per
# 40,000 speeches, not once per chunk.
_WINDOW_CHUNKS = 8
# Counts denser than this are multiplied as a dense block, sparser ones as
# CSR, whichever form they came in: the crossover of the (rows x V) @ (V x
# nodes) product measured on 1 thread was 10% (V = 3,000) to 20% (V = 300)
_DENSE_ABOVE = 0.15


@dataclass
class Chunk:
    """Rows of a corpus, ready for the E-step.

    ``counts`` and ``counts_t`` hold the counts and their transpose (torch,
    sparse CSR or dense), ``lengths`` the speech lengths, ``log_coef`` the
    multinomial coefficients, ``weight`` the number of speeches each row
    stands for, ``nodes`` the slice of grid nodes the rows may sit on and
    ``rows`` their positions in the matrix the chunks were cut from and
    ``window`` the window of rows it was cut from (:func:`make_chunks`).

    The emissions read the counts as ``X`` and ``XT`` in the chunk's
    ``dtype`` and, when ``single`` allows an E-step in single precision (see
    :func:`make_chunks`), as ``X32`` and ``XT32`` in float32 (None
    otherwise). Sparse counts are stored once, with 32-bit indices and in
    the narrowest type that holds them exactly (a byte for counts up to
    255): 5 bytes a non-zero per orientation instead of 40 for four copies.
    Each view costs one cast of the values, a small fraction of the product
    it feeds.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.likelihood import make_chunks
    >>> chunk = make_chunks(np.array([[2.0, 1.0]]), np.array([1]), None, grid_size=5)[0]
    >>> chunk.nodes, chunk.lengths.tolist(), round(float(chunk.log_coef), 4)  # log 3
    (slice(5, 10, None), [3.0], 1.0986)
    """

    counts: torch.Tensor
    counts_t: torch.Tensor
    lengths: torch.Tensor
    log_coef: torch.Tensor
    weight: torch.Tensor
    nodes: slice
    rows: np.ndarray
    single: bool = False
    window: int = 0

    @property
    def X(self):
        return _with_dtype(self.counts, self.lengths.dtype)

    @property
    def XT(self):
        return _with_dtype(self.counts_t, self.lengths.dtype)

    @property
    def X32(self):
        return _with_dtype(self.counts, torch.float32) if self.single else None

    @property
    def XT32(self):
        return _with_dtype(self.counts_t, torch.float32) if self.single else None


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

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def nnz(self):
        """Stored counts: the size of one pass over the rows."""
        return self.X.nnz if sp.issparse(self.X) else int(np.size(self.X))

    def word_totals(self):
        """Weighted count of every word over the rows."""
        return np.asarray(self.X.T @ self.weight).reshape(-1)

    def class_counts(self):
        """Weighted word counts of each side, shape (2, n_features)."""
        return np.vstack([
            np.asarray(self.X[self.side == k].T @ self.weight[self.side == k]).reshape(-1)
            for k in (0, 1)
        ])

    def side_share(self):
        """Weighted share of the rows on the right side."""
        return float(np.average(self.side, weights=self.weight))

    def subset(self, index):
        """The rows at ``index`` (positions or a boolean mask)."""
        index = np.asarray(index)
        return Rows(self.X[index], None if self.side is None else self.side[index],
                    self.weight[index], self.log_coef[index])

    def reweighted(self, weight):
        """The rows standing for ``weight`` speeches each, those of weight zero dropped."""
        weight = np.asarray(weight, dtype=float)
        keep = weight > 0
        sub = self.subset(keep)
        return Rows(sub.X, sub.side, weight[keep], sub.log_coef)

    def resampled(self, rng):
        """A bootstrap draw: as many speeches as the rows stand for, drawn with replacement."""
        total = self.weight.sum()
        return self.reweighted(rng.multinomial(int(round(total)), self.weight / total))

    def chunks(self, grid_size, device="cpu", dtype=torch.float64, single_products=False,
               window=None):
        """The rows cut into :class:`Chunk` objects (see :func:`make_chunks`)."""
        return make_chunks(self.X, self.side, self.weight, grid_size,
                           log_coef=self.log_coef, device=device, dtype=dtype,
                           single_products=single_products, window=window)

    def collapsed(self, integers_only=False):
        """The distinct (row, side) pairs, weighted by how many rows each stands for.

        Each keeps the coefficient of its first row; None with
        ``integers_only`` when the counts are not small integers (see
        :func:`collapse_duplicates`).
        """
        distinct = collapse_duplicates(self.X, self.side, self.weight,
                                       integers_only=integers_only)
        if distinct is None:
            return None
        X_u, side_u, weight_u, inverse = distinct
        first = np.zeros(len(weight_u), dtype=np.int64)
        first[inverse] = np.arange(len(inverse))
        return Rows(X_u, side_u, weight_u, self.log_coef[first])


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
                dtype=torch.float64, single_products=False, window=None):
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
        Let the E-step read sparse chunks in float32 (``Chunk.X32``, ``XT32``):
        an emission may then run its two large products per E-step in single
        precision, two to three times as fast with MKL's sparse kernels, and
        the rest of the E-step in ``dtype``. Meant for EM, which tolerates
        the rounding (about 1e-5 nats per speech); not for finite-difference
        Hessians or samplers.
    window : int or None
        Rows per window; None is :func:`window_rows`. A block cut on another
        process passes the window its caller aligned the blocks to.

    Returns
    -------
    chunks : list of Chunk
        Windows of :func:`window_rows` consecutive rows, in order, each cut
        into its left-side and its right-side rows. A chunk depends only on
        the window, so a row block that starts at a multiple of the window
        (:mod:`skpolar.dask_backend`) is cut into the same chunks, with the
        same float32 products, as the whole matrix.

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

    half = slice(0, grid_size), slice(grid_size, 2 * grid_size)
    window = window_rows(grid_size, side is not None) if window is None else int(window)
    step = max(1, window // _WINDOW_CHUNKS)
    chunks = []
    for start in range(0, n, window):
        stop = min(n, start + window)
        if side is None:
            groups = [(np.arange(start, stop), slice(0, 2 * grid_size))]
        else:
            here = side[start:stop]
            groups = [(start + np.flatnonzero(here == k), half[k]) for k in (0, 1)]
        for rows, nodes in groups:
            for first in range(0, len(rows), step):
                idx = rows[first:first + step]
                counts, counts_t = _to_torch(X[idx], device, dtype)
                chunks.append(
                    Chunk(
                        counts=counts,
                        counts_t=counts_t,
                        lengths=torch.as_tensor(lengths[idx], dtype=dtype, device=device),
                        log_coef=torch.as_tensor(log_coef[idx], dtype=dtype, device=device),
                        weight=torch.as_tensor(weight[idx], dtype=dtype, device=device),
                        nodes=nodes,
                        rows=idx,
                        single=(single_products and counts.layout == torch.sparse_csr
                                and dtype == torch.float64),
                        window=start // window,
                    )
                )
    return chunks


def on_grid(chunks, grid_size, new_grid_size, single=True):
    """``chunks`` cut at ``grid_size`` nodes per side, read on ``new_grid_size`` (same rows).

    ``single=False`` also turns their single-precision products off.
    """
    def renode(nodes):
        return slice(nodes.start // grid_size * new_grid_size,
                     nodes.stop // grid_size * new_grid_size)

    return [dataclasses.replace(c, nodes=renode(c.nodes), single=c.single and single)
            for c in chunks]


def window_rows(grid_size, sides_known):
    """Rows of a chunk window (:func:`make_chunks`), ``_WINDOW_CHUNKS`` chunks' worth.

    A chunk holds at most ``window // _WINDOW_CHUNKS`` rows, so that its
    dense (rows, nodes) work arrays stay near ``CHUNK_BYTES``.
    """
    n_nodes = grid_size if sides_known else 2 * grid_size
    return _WINDOW_CHUNKS * max(1, CHUNK_BYTES // (8 * 4 * n_nodes))


def _with_dtype(A, dtype):
    """``A`` in ``dtype``; a sparse CSR copy shares ``A``'s index arrays."""
    if A.dtype == dtype:
        return A
    if A.layout != torch.sparse_csr:
        return A.to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(A.crow_indices(), A.col_indices(), A.values().to(dtype),
                                       size=A.shape, check_invariants=False)


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
    values = X.data
    # 32-bit indices where they fit, and counts in the narrowest type that
    # holds them exactly (bytes for the word counts of a speech, float32 for
    # most weighted counts): the chunk casts to ``dtype`` when it reads them
    index = np.int32 if max(X.nnz, *X.shape) < 2**31 else np.int64
    if dtype == torch.float64:
        if (values.size == 0 or values.max() <= 255) and np.array_equal(np.floor(values), values):
            dtype = torch.uint8
        elif np.array_equal(values.astype(np.float32), values):
            dtype = torch.float32
    with warnings.catch_warnings():
        # torch flags sparse CSR as beta; the kernels used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.as_tensor(X.indptr.astype(index, copy=False)),
            torch.as_tensor(X.indices.astype(index, copy=False)),
            torch.as_tensor(values, dtype=dtype),
            size=X.shape,
            device=device,
            check_invariants=False,
        )


def chunk_log_joint(chunk, emission, prepared, log_weight, reuse=False):
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
    return emission.row_loglik(chunk, prepared, nodes, reuse=reuse).add_(log_weight[nodes])


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
    if is_distributed(chunks):
        return chunks.accumulate(emission, prepared, log_weight, u, stats=stats)
    loglik, mass, total = partial_sums(chunks, emission, prepared, log_weight, u, stats=stats)
    if total is not None:
        total = emission.finish_stats(total, u)
    return loglik, mass, total


def is_distributed(chunks):
    """Whether ``chunks`` live elsewhere (blocks on Dask workers) rather than in a list."""
    return hasattr(chunks, "accumulate")


def partial_sums(chunks, emission, prepared, log_weight, u, *, stats=True):
    """:func:`accumulate` over ``chunks`` before the emission's ``finish_stats``.

    The chunks' sums are added window by window (``Chunk.window``) in a
    fixed pairwise tree: windows 0 and 1, 2 and 3, ..., then those pairs in
    pairs, an odd one out carried up. The sums of blocks of ``2**k`` windows
    added up the same tree (:func:`add_partial_sums`, level by level) are
    then these sums to the last bit, whichever worker computed each block.
    Single-precision products turn a last-bit difference in the sums into
    one of 1e-7 in the next E-step, and on a flat likelihood EM ends 1e-7 to
    1e-4 apart, so only the same additions in the same order give a
    distributed fit the in-memory answer.
    """
    stack = []  # (windows covered, sums): a binary counter of complete subtrees
    for _, group in itertools.groupby(chunks, key=lambda chunk: chunk.window):
        sums = _window_sums(group, emission, prepared, log_weight, u, stats)
        size = 1
        while stack and stack[-1][0] == size:
            sums = _merge(stack.pop()[1], sums)
            size *= 2
        stack.append((size, sums))
    if not stack:
        mass = torch.zeros(len(u), dtype=u.dtype, device=u.device) if stats else None
        return 0.0, mass, None
    sums = stack.pop()[1]
    while stack:
        sums = _merge(stack.pop()[1], sums)
    return sums


def _window_sums(chunks, emission, prepared, log_weight, u, stats):
    loglik = 0.0
    mass = torch.zeros(len(u), dtype=u.dtype, device=u.device) if stats else None
    total = None
    for chunk in chunks:
        # the joint is spent before the next chunk's: one buffer serves all
        joint = chunk_log_joint(chunk, emission, prepared, log_weight, reuse=True)
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
    return loglik, mass, total


def _merge(first, second):
    """``first + second`` of two sums this process owns, into ``first``'s tensors."""
    loglik = first[0] + second[0]
    mass = None if first[1] is None else first[1].add_(second[1])
    a, b = first[2], second[2]
    if a is None or b is None:
        return loglik, mass, b if a is None else a
    for key, value in b.items():
        if key in a:
            a[key].add_(value)
        else:
            a[key] = value
    return loglik, mass, dict(sorted(a.items()))


def add_partial_sums(first, second):
    """The sum of two :func:`partial_sums` results, as new tensors.

    Examples
    --------
    >>> import torch
    >>> from skpolar.likelihood import add_partial_sums
    >>> one = (1.5, torch.ones(2), {"x": torch.ones(3)})
    >>> loglik, mass, stats = add_partial_sums(one, one)
    >>> loglik, mass.tolist(), stats["x"].tolist()
    (3.0, [2.0, 2.0], [2.0, 2.0, 2.0])
    """
    loglik, mass, stats = first
    # a copy to add into: a Dask task must not change its inputs
    copy = (loglik, None if mass is None else mass.clone(),
            None if stats is None else {key: value.clone() for key, value in stats.items()})
    return _merge(copy, second)


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
