"""Small torch helpers shared by the numerics."""

import contextlib

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
