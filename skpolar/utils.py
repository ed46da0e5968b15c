"""Small torch helpers shared by the numerics."""

import contextlib
import sys
import threading

import torch
from threadpoolctl import ThreadpoolController

# Below this many multiply-adds per likelihood pass, torch's thread pool costs
# more than it saves (thread hand-offs dominate small element-wise ops, badly so
# on a busy machine), so the work runs on one thread.
SMALL_WORK = 20_000_000


@contextlib.contextmanager
def torch_threads(work):
    """Run the block on one BLAS thread, and on one torch thread when ``work`` is small.

    BLAS (NumPy's and SciPy's: L-BFGS-B's vector updates, the quadrature's
    small products) runs on one thread whatever the size. Its threads and
    torch's OpenMP threads otherwise take turns on the same cores, each
    runtime's idle threads spinning while the other's work: on 2 cores the
    Senate corpus' log-linear fit took 8.6 s with two BLAS threads, 13.6 s
    when torch had been imported before skpolar, and 6.4-6.7 s with one
    (scikit-learn's KMeans limits BLAS inside its OpenMP loops for the same
    reason).

    Safe under concurrent fits in threads. torch's thread count is the calling
    thread's OpenMP setting, and ``torch.set_num_threads`` also writes a
    process-wide default that threads started later copy: saving and restoring
    it from several threads at once left it at 1 (a thread that started while
    another fit had set 1 saved 1 as its "before"). So the OpenMP runtimes are
    limited for the calling thread only, and restored to that thread's own
    value; BLAS thread counts are process-wide, so the first block to enter
    limits them and the last to leave restores them, under a lock.

    Examples
    --------
    >>> import torch
    >>> from skpolar.utils import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(work=10):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    small = work < SMALL_WORK
    openmp, blas = _thread_controllers()
    if small:
        # torch copies its process-wide default into a thread's OpenMP setting
        # on the thread's first use; do that now, or it would undo the limit
        torch.get_num_threads()
    with _LIMIT_LOCK:
        if _LIMIT_STATE["depth"] == 0:
            _LIMIT_STATE["blas"] = blas.limit(limits=1) if blas is not None else None
        _LIMIT_STATE["depth"] += 1
        if small and openmp is None:
            # no OpenMP runtime to limit per thread: fall back on torch's
            # process-wide setting, saved once and restored by the last block
            if _LIMIT_STATE["torch_depth"] == 0:
                _LIMIT_STATE["torch"] = torch.get_num_threads()
                torch.set_num_threads(1)
            _LIMIT_STATE["torch_depth"] += 1
    limited = openmp.lib_controllers if small and openmp is not None else []
    before = [lib.get_num_threads() for lib in limited]
    try:
        for lib in limited:
            lib.set_num_threads(1)
        yield
    finally:
        for lib, count in zip(limited, before, strict=True):
            lib.set_num_threads(count)
        with _LIMIT_LOCK:
            _LIMIT_STATE["depth"] -= 1
            if _LIMIT_STATE["depth"] == 0 and _LIMIT_STATE["blas"] is not None:
                _LIMIT_STATE["blas"].restore_original_limits()
            if small and openmp is None:
                _LIMIT_STATE["torch_depth"] -= 1
                if _LIMIT_STATE["torch_depth"] == 0:
                    torch.set_num_threads(_LIMIT_STATE["torch"])


_LIMIT_LOCK = threading.Lock()
# depth: torch_threads blocks running in any thread; blas: the limiter holding
# the BLAS libraries at one thread while depth > 0; torch_depth: small blocks
# holding torch's process-wide thread count at one (no OpenMP runtime found)
_LIMIT_STATE = {"depth": 0, "blas": None, "torch": None, "torch_depth": 0}
_CONTROLLERS = []


@contextlib.contextmanager
def global_rng_from(seed):
    """Run the block on torch's global CPU generator in a local generator's state; restore it after.

    pyro's samplers and torch's reparameterized Beta draws take no
    ``generator`` argument: they draw from the global generator. Inside the
    block that generator holds the state of ``torch.Generator()`` seeded
    with ``seed`` (drawn from the caller's ``random_state``); on leaving,
    the caller's global state comes back, so its own draws are unchanged
    and the block's depend on ``seed`` alone.

    Examples
    --------
    >>> import torch
    >>> from skpolar.utils import global_rng_from
    >>> before = torch.get_rng_state()
    >>> with global_rng_from(3):
    ...     first = torch.rand(2)
    >>> with global_rng_from(3):
    ...     second = torch.rand(2)
    >>> bool(torch.equal(first, second)), bool(torch.equal(torch.get_rng_state(), before))
    (True, True)
    """
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(torch.Generator().manual_seed(int(seed)).get_state())
        yield


def _thread_controllers():
    """The OpenMP and BLAS libraries loaded in the process (None when there are none).

    Found once: ``threadpool_limits`` looks them up on every call by reading
    the process's memory map, about a millisecond, and the EM prior step
    enters :func:`torch_threads` once per iteration.
    """
    with _LIMIT_LOCK:
        if not _CONTROLLERS:
            controller = ThreadpoolController()
            found = []
            for api in ("openmp", "blas"):
                selected = controller.select(user_api=api)
                found.append(selected if selected.lib_controllers else None)
            _CONTROLLERS.extend(found)
        return tuple(_CONTROLLERS)


def logaddexp(x, y):
    """``log(exp(x) + exp(y))`` whose second derivative stays finite.

    ``torch.logaddexp`` returns NaN second derivatives once ``|x - y|`` is
    large enough for ``exp`` to underflow, which breaks observed-information
    Hessians at extreme Beta shapes.

    Examples
    --------
    >>> import torch
    >>> from skpolar.utils import logaddexp
    >>> zero = torch.zeros((), dtype=torch.float64)
    >>> float(logaddexp(zero, zero))  # log 2
    0.6931471805599453
    """
    return torch.maximum(x, y) + torch.log1p(torch.exp(-torch.abs(x - y)))


@contextlib.contextmanager
def progress(verbose, desc, total=None, label="loss"):
    """A per-iteration callback ``callback(value)`` for a solver, or None when silent.

    ``verbose=1`` draws a tqdm bar on stderr (gone when the block ends);
    ``verbose >= 2`` prints one line per iteration.

    Examples
    --------
    >>> from skpolar.utils import progress
    >>> with progress(2, "fit") as callback:
    ...     callback(0.5)
    fit 1: loss 0.50000000
    >>> with progress(0, "fit") as callback:
    ...     callback is None
    True
    """
    if not verbose:
        yield None
        return
    if verbose >= 2:
        count = 0

        def report(value):
            nonlocal count
            count += 1
            print(f"{desc} {count}: {label} {value:.8f}")

        yield report
        return
    from tqdm.auto import tqdm

    # delay: fits that end within a second never show a bar
    with tqdm(desc=desc, total=total, unit="it", leave=False, file=sys.stderr, delay=1.0) as bar:

        def update(value):
            bar.set_postfix_str(f"{label} {value:.6g}", refresh=False)
            bar.update(1)

        yield update
