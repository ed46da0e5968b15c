"""skpolar: polarization of a population measured from what it says."""

from .datasets import make_polarized_speech
from .estimator import DegenerateFitWarning, PolarizationEstimator

__all__ = ["PolarizationEstimator", "make_polarized_speech", "DegenerateFitWarning"]
__version__ = "0.1.0"
