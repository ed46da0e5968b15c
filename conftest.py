"""pytest set-up shared by tests/ and the doctests in skpolar/.

torch runs its kernels on an OpenMP thread pool whose idle threads spin, burning
a core while they wait for work. On a 2-core machine that is also running
something else (another test process, a benchmark) the spinning threads fight
the real work for the cores: under the same load, one EM profile test took
146 s with spinning threads and 19 s with sleeping ones, and the whole suite
5 min 36 s against 2 min 26 s (issue 13 saw 12-16 minutes). Sleeping idle
threads cost next to nothing when the machine is quiet. libgomp reads the policy when torch loads it, so it
is set here, before any test imports torch; subprocesses (the examples, the
command line) inherit it. An explicit setting in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Under pytest-xdist (``-n auto``, as the README runs the suite) the workers
# share the cores: each gets its share of threads, not a pool the size of the
# machine (two workers of two threads on two cores queue behind each other).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))

import importlib.util  # noqa: E402

# The Bayesian estimator's examples need the optional extra (skpolar[bayes]);
# without it they are not collected, and tests/test_bayesian.py skips itself.
if importlib.util.find_spec("pyro") is None or importlib.util.find_spec("arviz") is None:
    collect_ignore = ["skpolar/bayesian.py", "skpolar/posterior.py"]
