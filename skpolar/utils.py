"""Small torch helpers shared by the numerics."""

import contextlib
import sys

import torch
from threadpoolctl import threadpool_limits

# Below this many multiply-adds per likelihood pass, torch's thread pool costs
# more than it saves (thread hand-offs dominate small element-wise ops, badly so
# on a busy machine), so the work runs on one thread.
SMALL_WORK = 20_000_000


@contextlib.contextmanager
def torch_threads(work):
    """Run the block on one torch and BLAS thread when ``work`` is small; restore afterwards.

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
    if work >= SMALL_WORK:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # scipy's L-BFGS-B calls BLAS on tiny vectors: threads only cost there
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


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
