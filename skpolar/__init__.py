"""skpolar: polarization of a population measured from what it says."""

import os

# torch runs on an OpenMP pool whose idle threads spin, holding a core while
# they wait. Beside any other work on the machine (a second fit, a browser, a
# test runner) that halves the speed of both: one EM fit took 146 s with
# spinning threads and 19 s with sleeping ones on a busy two-core machine. The
# OpenMP runtime reads the policy once, when torch loads it, and skpolar
# imports torch lazily, so setting it here reaches torch unless it was loaded
# first. An explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "PolarizationEstimator",
    "BayesianPolarizationEstimator",
    "make_polarized_speech",
    "DegenerateFitWarning",
    "compare",
]
__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), so that ``skpolar
# --help`` and ``skpolar --version`` answer without importing torch.
_HOMES = {
    "PolarizationEstimator": "estimator",
    "BayesianPolarizationEstimator": "bayesian",
    "DegenerateFitWarning": "estimator",
    "make_polarized_speech": "datasets",
    "compare": "compare",
}


def __getattr__(name):
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
