import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skpolar import PolarizationEstimator

# Small grids keep the ~50 fits of each estimator's common checks fast; the
# first runs the default profile interval, the others cover the log-linear
# family, the minibatch solver (with partial_fit) and the pinned poles.
ESTIMATORS = [
    PolarizationEstimator(grid_size=10),
    PolarizationEstimator(emission="loglinear", grid_size=20, interval=None),
    PolarizationEstimator(grid_size=20, solver="adam", max_iter=30, interval=None),
    PolarizationEstimator(grid_size=10, pole_zeros="test", interval=None),
]


# The adam estimator's 30 epochs are a budget for speed, not for convergence: on
# the checks' small random data it stops at max_iter, as intended.
@pytest.mark.filterwarnings(
    r"ignore:The fit did not converge in 30 iterations \(maximum number of epochs"
    ":sklearn.exceptions.ConvergenceWarning"
)
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: {})
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_param_validation():
    check_param_validation("PolarizationEstimator", PolarizationEstimator())


@pytest.mark.filterwarnings("ignore::FutureWarning")  # arviz's refactor notice
@pytest.mark.filterwarnings("ignore::skpolar.posterior.PosteriorWarning")
def test_bayesian_estimator_is_sklearn_compatible():
    # a few VI steps per fit: the checks test the API, not the posterior
    pytest.importorskip("pyro")
    from sklearn.utils.estimator_checks import check_estimator

    from skpolar import BayesianPolarizationEstimator

    check_estimator(BayesianPolarizationEstimator(grid_size=5, inference="vi", vi_steps=5,
                                                  n_chains=1, n_draws=20, random_state=0))
    check_param_validation("BayesianPolarizationEstimator", BayesianPolarizationEstimator())
