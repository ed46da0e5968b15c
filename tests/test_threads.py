"""Thread limiting: small fits run on one thread without changing other threads' settings."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.utils import torch_threads


@pytest.fixture
def two_torch_threads():
    """At least two torch threads, so that a leaked limit of one shows."""
    before = torch.get_num_threads()
    if before < 2:
        torch.set_num_threads(2)
    yield torch.get_num_threads()
    torch.set_num_threads(before)


def _in_new_thread(function):
    out = []
    thread = threading.Thread(target=lambda: out.append(function()))
    thread.start()
    thread.join()
    return out[0]


def _blas_threads():
    return sorted(
        (lib["filepath"], lib["num_threads"]) for lib in threadpool_info()
        if lib["user_api"] == "blas"
    )


def test_concurrent_fits_leave_the_thread_settings_as_they_were(two_torch_threads):
    # issue 14, item 8: two fits saving and restoring the process-wide torch
    # setting at once left threads started afterwards at one thread
    X, y = make_polarized_speech(300, random_state=0)
    blas = _blas_threads()

    def fit(seed):
        est = PolarizationEstimator(grid_size=10, interval=None, random_state=seed).fit(X, y)
        return est.transform(X[:20])

    sequential = [fit(seed) for seed in range(2)]
    for _ in range(2):
        with ThreadPoolExecutor(4) as pool:
            concurrent = list(pool.map(fit, range(4)))
        assert torch.get_num_threads() == two_torch_threads
        assert _in_new_thread(torch.get_num_threads) == two_torch_threads
        assert _blas_threads() == blas
    for seed in range(2):
        # the same fits, not bitwise: a fit in a pool thread sums its products
        # over another number of threads, and EM carries that rounding on
        # (1.5e-8 in the stances here, on the landed code as well)
        np.testing.assert_allclose(concurrent[seed], sequential[seed], rtol=0, atol=1e-6)


def test_the_limit_holds_for_the_calling_thread_only(two_torch_threads):
    inside, release = threading.Event(), threading.Event()
    seen = []

    def hold():
        with torch_threads(work=10):
            seen.append(torch.get_num_threads())
            inside.set()
            release.wait(30)
        seen.append(torch.get_num_threads())

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert inside.wait(30)
        # another thread's small fit leaves this thread, and new ones, alone
        assert torch.get_num_threads() == two_torch_threads
        assert _in_new_thread(torch.get_num_threads) == two_torch_threads
    finally:
        release.set()
        worker.join()
    assert seen == [1, two_torch_threads]


def test_nested_blocks_restore_on_the_way_out(two_torch_threads):
    blas = _blas_threads()
    with torch_threads(work=10):
        with torch_threads(work=10):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == two_torch_threads
    assert _blas_threads() == blas


def test_large_work_keeps_torch_threads_and_limits_blas(two_torch_threads):
    # BLAS's threads and torch's would take turns on the same cores: BLAS runs
    # on one thread in every block, torch keeps its threads when work is large
    blas = _blas_threads()
    with torch_threads(work=10**12):
        assert torch.get_num_threads() == two_torch_threads
        assert all(count == 1 for _, count in _blas_threads())
        with torch_threads(work=10):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == two_torch_threads
        assert all(count == 1 for _, count in _blas_threads())
    assert _blas_threads() == blas
