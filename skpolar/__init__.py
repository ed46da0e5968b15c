"""skpolar: polarization of a population measured from what it says."""

__all__ = ["PolarizationEstimator", "make_polarized_speech", "DegenerateFitWarning", "compare"]
__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), so that ``skpolar
# --help`` and ``skpolar --version`` answer without importing torch.
_HOMES = {
    "PolarizationEstimator": "estimator",
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
