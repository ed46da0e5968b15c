"""Check a fitted 95% profile interval against independently recomputed profile points.

Fits ``PolarizationEstimator()`` (defaults, ``interval="profile"``) to one data
set from ``make_polarized_speech(N, rho=rho, random_state=seed)``, refits the
unconstrained model tightly from the estimate, and then, for each rho in the
interval's two ends and a few points between and beyond, refits the model with
``a / (a + b)`` held at that rho, each time starting afresh from the estimate
(no chaining of warm starts) with a tight tolerance. It prints the likelihood
ratio statistic ``2 (l_hat - l_profile(rho))`` at every point. At the two ends
of a correct 95% interval it is 3.84 (the chi-square(1) quantile); clearly less
at an end means the interval is too short on that side.

It uses the estimator's private helpers (``_fit_rows``, ``_encode``,
``_problem``) and ``skpolar.solvers.minimize_lbfgs``, so it follows the
library's model and parametrization exactly; only the search is independent.

Run from the project root::

    PYTHONPATH=. python benchmarks/check_profile_interval.py --n 100000 --rho 0.9 --seed 1531431542
"""

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _provenance import code_version  # noqa: E402

from skpolar import PolarizationEstimator, make_polarized_speech  # noqa: E402
from skpolar.solvers import minimize_lbfgs  # noqa: E402

CHI2_95 = 3.841459


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rho", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=1531431542, help="data seed")
    parser.add_argument("--tol", type=float, default=1e-13, help="tolerance of the refits")
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore")
    print(f"skpolar code: {code_version()}")
    X, y = make_polarized_speech(args.n, rho=args.rho, random_state=args.seed)
    est = PolarizationEstimator().fit(X, y)
    low, high = est.rho_ci_
    print(f"N={args.n} rho={args.rho} seed={args.seed}: rho_={est.rho_:.5f}, "
          f"rho_ci_=[{low:.5f}, {high:.5f}]")

    data = est._fit_rows(np.asarray(X, dtype=float), est._encode(y), None)[0]
    full = est._problem(data)
    start = {k: np.asarray(v) for k, v in est._params.items()}
    refit, info = minimize_lbfgs(full, dict(start), max_iter=5000, tol=args.tol)
    loss_hat, n_total = info["loss"], full.n_total
    d = float(refit["log_a"] - refit["log_b"])
    print(f"tight unconstrained refit: rho={1 / (1 + np.exp(-abs(d))):.5f}, "
          f"2N * (loss_fit - loss_refit) = {2 * n_total * (est.loss_curve_[-1] - loss_hat):.4f}")

    sign = 1.0 if d >= 0 else -1.0
    profile_start = {k: v for k, v in refit.items() if k not in ("log_a", "log_b")}
    profile_start["log_kappa"] = np.asarray(np.logaddexp(refit["log_a"], refit["log_b"]))
    width = high - low
    points = sorted({low - width / 2, low, (low + est.rho_) / 2, est.rho_,
                     (est.rho_ + high) / 2, high, high + width / 2})
    print(f"{'rho':>9} {'LR stat':>9}  (3.84 at the ends of a correct 95% interval)")
    for rho in points:
        if not 0.5 <= rho < 1.0:
            continue
        problem = est._problem(data, fixed_rho=rho if sign > 0 else 1.0 - rho)
        _, info = minimize_lbfgs(problem, dict(profile_start), max_iter=5000, tol=args.tol)
        stat = 2.0 * n_total * (info["loss"] - loss_hat)
        mark = ""
        if rho in (low, high):
            mark = "  <- interval end" + ("  TOO SHORT" if stat < 0.8 * CHI2_95 else "")
        print(f"{rho:>9.5f} {stat:>9.3f}{mark}")


if __name__ == "__main__":
    main()
