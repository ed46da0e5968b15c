"""Fits and scoring on Dask arrays: the E-step runs on row blocks where they live.

The likelihood is a sum over speeches (:mod:`skpolar.likelihood`). A fit on a
``dask.array`` cuts every row block into chunks once, on the worker that
holds it, and keeps them there; each E-step then sends the parameters to the
workers (a few vectors of the vocabulary's length), maps
:func:`~skpolar.likelihood.partial_sums` over the blocks and adds the blocks'
sums up a tree. Only those sums travel: the log likelihood, the posterior
mass on each node and the emission's expected counts per node and word. The
M-step, which needs only the sums, runs where the estimator is. Scoring
(``transform``, ``predict_proba``, ...) maps the fitted estimator over the
blocks and stays lazy.

The chunks of a block are those the whole matrix would be cut into (row
blocks are realigned to :func:`~skpolar.likelihood.window_rows`), so an
E-step adds the same single-precision products as in memory, only in another
order, and a fit gives the in-memory answer (EM's stopping point on a flat
likelihood moves by 1e-4 in rho when the chunks change).

Dask is an optional dependency (``pip install "skpolar[dask]"``); nothing here
imports it until a Dask array arrives.
"""

import dataclasses
import os
import sys

import numpy as np
import scipy.sparse as sp
import torch

from .emissions import _Buffers
from .likelihood import Rows, add_partial_sums, on_grid, partial_sums
from .speakers import dispersion_weights, multinomial_log_coef, scale_rows

# the largest number of speeches whose lengths a fit keeps one by one for
# sample(); beyond it, this many evenly spaced quantiles of the lengths
_MAX_LENGTHS = 1_000_000


def is_dask_array(X):
    """Whether ``X`` is a Dask collection (False without importing Dask when it is not loaded).

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.dask_backend import is_dask_array
    >>> is_dask_array(np.ones((2, 2)))
    False
    """
    if "dask" not in sys.modules:
        return False
    from dask.base import is_dask_collection

    return is_dask_collection(X)


def _client():
    """The active ``dask.distributed`` client, or None."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _compute(*collections):
    """``dask.compute`` on the active client, or in this thread without one.

    Without a cluster the blocks run one after another in the calling
    thread, each on torch's own thread pool, as an in-memory fit runs.
    """
    import dask

    if _client() is None:
        return dask.compute(*collections, scheduler="sync")
    return dask.compute(*collections)


@dataclasses.dataclass
class _Shared:
    """What every block of one E-step reads: sent to each worker once."""

    emission: object
    prepared: dict
    log_weight: torch.Tensor
    u: torch.Tensor


def _broadcast(shared):
    client = _client()
    if client is None:
        return shared
    return client.scatter(shared, broadcast=True, hash=False)


# ---- input -----------------------------------------------------------------------
def check_dask_rows(X, y, window):
    """``X`` as a 2-D Dask array whose row blocks start at multiples of ``window``, and ``y`` aligned.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Row-chunked counts; dense or SciPy sparse blocks.
    y : dask.array.Array, array-like of shape (n_samples,) or None
    window : int or None
        Rows per chunk window (:func:`~skpolar.likelihood.window_rows`); None
        keeps the row blocks as they are.

    Returns
    -------
    X, y
        ``X`` with one block of columns and realigned row blocks, ``y`` a Dask
        array with the same row blocks (None when ``y`` is).
    """
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(
            f"Dask input must be a dask.array.Array, got {type(X).__name__}; convert a "
            "dask DataFrame with skpolar.dask_backend.speeches_to_dask or .to_dask_array(lengths=True)."
        )
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array of counts, got a {X.ndim}D Dask array.")
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError(
            "X has unknown row chunk sizes; call X.compute_chunk_sizes() (or build it with "
            "known lengths) before passing it."
        )
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    sizes = X.chunks[0] if window is None else aligned_sizes(X.chunks[0], window)
    if sizes != X.chunks[0]:
        X = X.rechunk({0: sizes})
    if y is None:
        return X, None
    if isinstance(y, da.Array):
        if y.ndim != 1 or (not np.isnan(y.shape[0]) and y.shape[0] != X.shape[0]):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}.")
        if any(np.isnan(size) for size in y.chunks[0]):
            y = y.compute_chunk_sizes()
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}.")
        y = y.rechunk({0: sizes})
    else:
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}.")
        y = da.from_array(y, chunks=(sizes,))
    return X, y


def aligned_sizes(sizes, window):
    """Row block sizes near ``sizes``: ``2**k`` windows a block, only the last one shorter.

    Each block's chunk sums are then a whole subtree of the fixed pairwise
    tree :func:`~skpolar.likelihood.partial_sums` adds the windows in, and
    the blocks' sums added up the same tree are the in-memory sums, bit for
    bit. ``2**k`` is the power of two nearest the typical block's windows.

    Examples
    --------
    >>> from skpolar.dask_backend import aligned_sizes
    >>> aligned_sizes((250, 250, 250, 30), 100)
    (200, 200, 200, 180)
    """
    total = int(sum(sizes))
    typical = float(np.median([s for s in sizes if s > 0] or [total]))
    per_block = window * 2 ** max(0, int(round(np.log2(max(typical / window, 1.0)))))
    full, rest = divmod(total, per_block)
    return tuple([per_block] * full + ([rest] if rest or not full else []))


def unique_labels(y):
    """The sorted distinct labels of a Dask array ``y`` (computed)."""
    import dask.array as da

    (labels,) = _compute(da.unique(y))
    return np.asarray(labels)


# ---- small dense vocabularies: distinct rows --------------------------------------------------
def _distinct_block(X, labels, classes, name):
    """A dense block's distinct (row, side) pairs with their counts, or None (runs on a worker)."""
    X = _validated_block(X, name)
    side = np.searchsorted(classes, np.asarray(labels)).clip(0, 1)
    distinct = Rows.of(X, side).collapsed(integers_only=True)
    if distinct is None:
        return None
    values, counts = np.unique(np.rint(X.sum(axis=1)).astype(np.int64), return_counts=True)
    return distinct, values, counts


def distinct_rows(X, y, classes, name, max_rows):
    """The distinct rows of a dense Dask array of few terms, merged on the client; or None.

    An in-memory fit merges identical rows of a small dense vocabulary into
    weighted ones (10,000 speeches of three terms hold about 100), and the
    same rows, merged block by block and then across blocks, make the same
    sums: only the distinct rows and their counts travel, not the counts of
    every speech. None when a block's counts are not small integers or more
    than ``max_rows`` distinct rows come back; the fit then runs on the
    blocks.
    """
    from dask import delayed

    step = delayed(_distinct_block, pure=False)
    parts = _compute([step(xb, yb, classes, name)
                      for xb, yb in zip(X.to_delayed()[:, 0], y.to_delayed(), strict=True)])[0]
    if any(part is None for part in parts) or sum(len(p[0].weight) for p in parts) > max_rows:
        return None
    blocks = [p[0] for p in parts]
    rows = Rows(*(np.concatenate([getattr(b, name) for b in blocks])
                  for name in ("X", "side", "weight", "log_coef"))).collapsed()
    rows.lengths = _length_sample(np.concatenate([p[1] for p in parts]),
                                  np.concatenate([p[2] for p in parts]))
    return rows


# ---- blocks on the workers -----------------------------------------------------------------
@dataclasses.dataclass
class _Block:
    """One row block's chunks, cut on its worker at ``grid_size`` nodes per side."""

    chunks: list
    grid_size: int

    def view(self, grid_size, single):
        """The chunks on ``grid_size`` nodes per side, with single-precision products or not."""
        if grid_size == self.grid_size and single:
            return self.chunks
        return on_grid(self.chunks, self.grid_size, grid_size, single)


def _validated_block(X, name):
    """A block of ``X`` checked as the estimator checks in-memory input."""
    from sklearn.utils import check_array
    from sklearn.utils.validation import check_non_negative

    X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], ensure_min_samples=0)
    check_non_negative(X, f"{name} (input X)")
    return X.astype(np.float64, copy=False)


def _setup_block(X, labels, classes, grid_size, window, dispersion, name):
    """Validate a block, cut it into chunks and summarize it (runs on a worker)."""
    X = _validated_block(X, name)
    labels = np.asarray(labels)
    side = np.searchsorted(classes, labels).clip(0, 1)
    lengths = np.asarray(X.sum(axis=1)).reshape(-1)
    rows = Rows.of(scale_rows(X, dispersion_weights(lengths, dispersion)), side,
                   log_coef=multinomial_log_coef(X))
    chunks = rows.chunks(grid_size, single_products=True, window=window)
    values, counts = np.unique(np.rint(lengths).astype(np.int64), return_counts=True)
    summary = {
        "n": X.shape[0], "nnz": rows.nnz, "class_counts": rows.class_counts(),
        "n_right": int(side.sum()), "length_values": values, "length_counts": counts,
    }
    del X, rows
    _release_free_memory()
    return _Block(chunks, grid_size), summary


# work arrays of the emissions that arrive on this worker, kept from one
# E-step to the next as an in-process fit keeps its emission's (a fresh
# emission arrives with every E-step)
_WORKER_BUFFERS = _Buffers()


_ALLOCATOR_TUNED = []


def _glibc():
    """The C library when it is glibc (``mallopt``, ``malloc_trim``), else None."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc has both)
    except (OSError, AttributeError):
        return None
    return libc


def _heap_for_work_arrays():
    """Serve the E-step's work arrays (up to 64 MB) from the heap on a Dask worker, once.

    A worker's nanny sets ``MALLOC_TRIM_THRESHOLD_``, which also turns off
    glibc's adaptive mmap threshold, so every array above 128 kB is mapped
    and unmapped afresh: a block's E-step took 1.37 s on a worker against
    0.6-0.8 s in a plain process (250,000 speeches, 1,000 terms, one
    thread). With the threshold at 64 MB it takes 0.63 s, and the trim
    setting still returns freed memory at the top of the heap.
    """
    if _ALLOCATOR_TUNED or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _ALLOCATOR_TUNED.append(True)
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-3, 64 * 2**20)  # M_MMAP_THRESHOLD


def _release_free_memory():
    """Hand the heap's free pages back to the system (glibc), as Dask's ``trim_memory`` does.

    Cutting a block leaves the copies it was cut from freed between the
    chunks that stay, where trimming the top of the heap does not reach.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _block_sums(block, shared, grid_size, single, stats):
    """One block's :func:`~skpolar.likelihood.partial_sums` (runs on a worker)."""
    _heap_for_work_arrays()
    if hasattr(shared.emission, "_buffers"):
        shared.emission._buffers = _WORKER_BUFFERS
    with torch.no_grad():
        return partial_sums(block.view(grid_size, single), shared.emission, shared.prepared,
                            shared.log_weight, shared.u, stats=stats)


def _tree_sum(parts):
    from dask import delayed

    add = delayed(add_partial_sums, pure=False)
    while len(parts) > 1:
        pairs = [add(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


class BlockChunks:
    """The chunks of a fit, held as row blocks on Dask workers.

    Stands where a list of :class:`~skpolar.likelihood.Chunk` stands in a
    :class:`~skpolar.objective.Problem`: :func:`~skpolar.likelihood.accumulate`
    hands it the E-step.
    """

    def __init__(self, blocks, grid_size, single, n_total, word_totals):
        self.blocks = blocks
        self.grid_size = grid_size
        self.single = single
        self.n_total = n_total
        self._word_totals = word_totals

    def on_grid(self, grid_size):
        """The same blocks read on ``grid_size`` nodes per side."""
        return BlockChunks(self.blocks, grid_size, self.single, self.n_total, self._word_totals)

    def word_totals(self):
        return self._word_totals.copy()

    def accumulate(self, emission, prepared, log_weight, u, *, stats=True):
        """:func:`~skpolar.likelihood.accumulate` over the blocks, summed on the workers."""
        from dask import delayed

        if "by_nodes" in prepared:
            # the node tables are built where they are used, once per worker
            prepared = dict(prepared, by_nodes={})
        shared = _broadcast(_Shared(emission, prepared, log_weight, u))
        block_sums = delayed(_block_sums, pure=False)
        parts = [block_sums(block, shared, self.grid_size, self.single, stats)
                 for block in self.blocks]
        (loglik, mass, total), = _compute(_tree_sum(parts))
        if total is not None:
            total = emission.finish_stats(total, u)
        return float(loglik), mass, total


class DaskRows:
    """The rows of a fit on a Dask array, cut into chunks on the workers.

    Offers what the estimator asks of :class:`~skpolar.likelihood.Rows`
    (``n_features``, ``nnz``, ``word_totals``, ``class_counts``,
    ``side_share``, ``lengths``, ``chunks``) from per-block summaries; the
    counts themselves stay on the workers.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    y : dask.array.Array of shape (n_samples,)
        Aligned with ``X`` by :func:`check_dask_rows` to ``window``.
    classes : ndarray of shape (2,)
    grid_size, window : int
    dispersion : float or None
    name : str
        The estimator's name, for error messages.
    """

    def __init__(self, X, y, classes, grid_size, window, dispersion, name):
        import dask
        from dask import delayed

        setup = delayed(_setup_block, nout=2, pure=False)
        pairs = [setup(xb, yb, classes, grid_size, window, dispersion, name)
                 for xb, yb in zip(X.to_delayed()[:, 0], y.to_delayed(), strict=True)]
        blocks = [pair[0] for pair in pairs]
        summaries = [pair[1] for pair in pairs]
        if _client() is None:
            blocks, summaries = _compute(blocks, summaries)
            blocks = [delayed(block, traverse=False) for block in blocks]
        else:
            blocks, summaries = dask.persist(blocks, summaries)
            (summaries,) = _compute(summaries)
        self.blocks = blocks
        self.grid_size = grid_size
        self.n_features = X.shape[1]
        self.n_samples = int(sum(s["n"] for s in summaries))
        self.nnz = int(sum(s["nnz"] for s in summaries))
        self._class_counts = sum(s["class_counts"] for s in summaries)
        self._n_right = sum(s["n_right"] for s in summaries)
        values = np.concatenate([s["length_values"] for s in summaries])
        counts = np.concatenate([s["length_counts"] for s in summaries])
        self.lengths = _length_sample(values, counts)

    def word_totals(self):
        return self._class_counts.sum(axis=0)

    def class_counts(self):
        return self._class_counts.copy()

    def side_share(self):
        return self._n_right / self.n_samples

    def chunks(self, grid_size, device="cpu", dtype=torch.float64, single_products=False):
        """The blocks as the data of a :class:`~skpolar.objective.Problem`."""
        if torch.device(device).type != "cpu" or dtype != torch.float64:
            raise ValueError("Fits on Dask arrays run on the CPU in float64.")
        return BlockChunks(self.blocks, grid_size, single_products, float(self.n_samples),
                           self.word_totals())


def _length_sample(values, counts):
    """The speeches' lengths one by one, or evenly spaced quantiles of them beyond ``_MAX_LENGTHS``."""
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    total = int(counts.sum())
    if total <= _MAX_LENGTHS:
        return np.repeat(values, counts)
    rank = (np.arange(_MAX_LENGTHS) + 0.5) * total / _MAX_LENGTHS
    return values[np.searchsorted(np.cumsum(counts), rank, side="right")]


# ---- scoring ------------------------------------------------------------------------------
def _score_block(X, *rest, estimator, method):
    """``estimator.method`` on one block (runs on a worker)."""
    if X.shape[0] == 0:
        columns = _SCORE_COLUMNS[method]
        return np.empty((0,) if columns is None else (0, columns))
    if method in ("score_samples", "stance"):
        return getattr(estimator, method)(X, rest[0].reshape(-1) if rest else None)
    return getattr(estimator, method)(X)


# columns of each scoring method's output (None: one value a row)
_SCORE_COLUMNS = {"transform": 1, "predict_proba": 2, "predict": None, "score_samples": None,
                  "stance": None}


def score_lazily(estimator, method, X, y=None):
    """``estimator.method(X[, y])`` over the row blocks of Dask array ``X``, as a lazy Dask array.

    The fitted estimator travels to the blocks (it holds the vocabulary's
    parameters, not the training data); each block is checked there as an
    in-memory call would check it, so bad values surface when the result is
    computed.
    """
    import dask.array as da

    if not isinstance(X, da.Array) or X.ndim != 2:
        raise TypeError(f"Expected a 2D dask.array.Array of counts, got {type(X).__name__}.")
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    arrays = [X]
    if y is not None and method in ("score_samples", "stance"):
        if not isinstance(y, da.Array):
            y = np.asarray(y)
            if y.shape != (X.shape[0],):
                raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}.")
            y = da.from_array(y, chunks=(X.chunks[0],))
        arrays.append(y.rechunk({0: X.chunks[0]})[:, None])
    columns = _SCORE_COLUMNS[method]
    dtype = estimator.classes_.dtype if method == "predict" else np.dtype(np.float64)
    if columns is None:
        return da.map_blocks(_score_block, *arrays, estimator=estimator, method=method,
                             dtype=dtype, drop_axis=1, chunks=(X.chunks[0],),
                             meta=np.empty((0,), dtype=dtype))
    return da.map_blocks(_score_block, *arrays, estimator=estimator, method=method,
                         dtype=dtype, chunks=(X.chunks[0], (columns,)),
                         meta=np.empty((0, columns), dtype=dtype))


# ---- streaming ----------------------------------------------------------------------------
def _partial_fit_block(estimator, X, y, classes):
    """A copy of ``estimator`` after ``partial_fit`` on one block (runs on a worker)."""
    import copy

    estimator = copy.deepcopy(estimator)
    if X.shape[0]:
        estimator.partial_fit(X, y, classes=classes)
    return estimator


def partial_fit_blocks(estimator, X, y, classes):
    """``estimator`` after ``partial_fit`` on each row block in turn, on the blocks' workers.

    The estimator (its parameters and optimizer state, not the data) moves
    from block to block, as ``dask_ml.wrappers.Incremental`` moves it; the
    caller's estimator is left as it was.
    """
    from dask import delayed

    step = delayed(_partial_fit_block, pure=False)
    current = estimator
    for xb, yb in zip(X.to_delayed()[:, 0], y.to_delayed(), strict=True):
        current = step(current, xb, yb, classes)
    (fitted,) = _compute(current)
    return fitted


# ---- loading --------------------------------------------------------------------------------
def _vectorize_partition(frame, vectorizer, text):
    return sp.csr_matrix(vectorizer.transform(frame[text].astype(str)), dtype=np.float64)


def _column(frame, name, dtype):
    return frame[name].to_numpy(dtype=dtype)


def speeches_to_dask(frame, vectorizer, *, text="text", party="party"):
    """Word counts and parties of a Dask DataFrame of speeches, as row-chunked Dask arrays.

    Each partition is vectorized where it lives, with a vocabulary fixed in
    advance: a fitted ``CountVectorizer`` (fit it on a sample) or a
    ``HashingVectorizer`` with ``alternate_sign=False``. Nothing is
    gathered; the row count of every partition is computed once, so the
    arrays have known chunk sizes.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        One speech per row, for example from ``dask.dataframe.read_parquet``
        or ``read_csv``.
    vectorizer : CountVectorizer, TfidfVectorizer-like or HashingVectorizer
        Turns an iterable of strings into a sparse count matrix.
    text, party : str
        The columns holding the speech and the speaker's party.

    Returns
    -------
    X : dask.array.Array of shape (n_speeches, n_features)
        Blocks of SciPy CSR counts, one block per partition.
    y : dask.array.Array of shape (n_speeches,)

    Examples
    --------
    >>> import pandas as pd
    >>> import dask.dataframe as dd
    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from skpolar.dask_backend import speeches_to_dask
    >>> speeches = pd.DataFrame({"text": ["tax cuts now", "fund schools", "cut taxes",
    ...                                   "schools and clinics"], "party": list("RDRD")})
    >>> frame = dd.from_pandas(speeches, npartitions=2)
    >>> vectorizer = CountVectorizer().fit(speeches["text"])
    >>> X, y = speeches_to_dask(frame, vectorizer)
    >>> X.shape, X.chunks[0], y.compute().tolist()
    ((4, 9), (2, 2), ['R', 'D', 'R', 'D'])
    """
    import dask.array as da
    from dask import delayed

    if hasattr(vectorizer, "vocabulary_"):
        n_features = len(vectorizer.vocabulary_)
    elif hasattr(vectorizer, "n_features"):
        n_features = int(vectorizer.n_features)
    else:
        raise ValueError("vectorizer must be fitted (CountVectorizer) or a HashingVectorizer.")
    for column in (text, party):
        if column not in frame.columns:
            raise ValueError(f"frame has no column {column!r}; its columns are "
                             f"{list(frame.columns)}.")
    (sizes,) = _compute(frame.map_partitions(len))
    sizes = [int(s) for s in np.asarray(sizes)]
    parts = frame.to_delayed()
    try:
        party_dtype = np.dtype(frame[party].dtype)
    except TypeError:  # pandas' own dtypes (strings, categories) arrive as objects
        party_dtype = np.dtype(object)
    X = da.concatenate([
        da.from_delayed(delayed(_vectorize_partition)(part, vectorizer, text),
                        shape=(size, n_features), dtype=np.float64,
                        meta=sp.csr_matrix((0, n_features)))
        for part, size in zip(parts, sizes, strict=True)
    ])
    y = da.concatenate([
        da.from_delayed(delayed(_column)(part, party, party_dtype), shape=(size,),
                        dtype=party_dtype)
        for part, size in zip(parts, sizes, strict=True)
    ])
    return X, y
