"""Why is rho_hat biased upwards on the notebook's three-word design? The poles' zeros.

On ``make_polarized_speech(N, rho, epsilon)`` with three terms, each pole
never says the other pole's word: the true pole probabilities sit on the
boundary of the parameter space. Every replicate is fitted twice:

``free``
    ``PolarizationEstimator(interval=None)`` as users fit it: all six pole
    probabilities free.
``zeros known``
    the same likelihood, maximized (L-BFGS-B, from the same start) with the
    left pole's probability of the right word and the right pole's of the
    left word held at zero (logits at -50).

If the free fit's bias disappears once the zeros are known, the bias comes
from the boundary: the likelihood is nearly flat along the path that moves
the poles apart and the stances in (see the model page), the zeros are what
stop the poles moving apart, and a free fit whose noise puts a little of a
word on the wrong pole stops with the poles too close and the stances, so
rho, too far out.

Example (from the project root; about a minute a line)::

    PYTHONPATH=. python benchmarks/boundary_bias.py --n 100000 --rho 0.7 0.8 0.9 --replicates 200
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import code_version  # noqa: E402

_PINNED = -50.0


def fit_with_zeros_known(X, y, grid_size):
    """rho_hat with the poles' cross probabilities held at zero."""
    from skpolar.emissions import make_emission
    from skpolar.likelihood import Rows, collapse_duplicates
    from skpolar.objective import Problem
    from skpolar.solvers import minimize_lbfgs
    from skpolar.uncertainty import rho_of

    Xu, side, weight, _ = collapse_duplicates(X.astype(np.float64), y)
    problem = Problem(Rows.of(Xu, side, weight).chunks(grid_size), make_emission("two_pole"),
                      X.shape[1], grid_size, "exact")
    counts = np.vstack([X[y == k].sum(axis=0) for k in (0, 1)]).astype(np.float64)
    start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
             **problem.emission.init_params(counts, None)}
    start["eta"] = np.array(start["eta"])
    start["eta"][0, 1] = start["eta"][1, 0] = _PINNED
    box = problem.bounds

    def pinned_bounds(shapes):
        out, offset = box(shapes), 0
        for name, shape in shapes:
            if name == "eta":
                # row-major (2, V): left pole's right word, right pole's left word
                for k in (offset + 1, offset + shape[1]):
                    out[k] = (_PINNED, _PINNED)
            offset += int(np.prod(shape))
        return out

    problem.bounds = pinned_bounds
    params, _ = minimize_lbfgs(problem, start, max_iter=1000, tol=1e-10)
    return rho_of(params)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000])
    parser.add_argument("--rho", type=float, nargs="+", default=[0.8])
    parser.add_argument("--epsilon", type=float, nargs="+", default=[0.05])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--grid-size", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from skpolar import PolarizationEstimator, make_polarized_speech

    print(f"skpolar code: {code_version()}")
    print(f"{'N':>8} {'rho':>5} {'eps':>5} {'reps':>5} | {'free bias':>10} {'se':>8} {'sd':>7} | "
          f"{'zeros-known bias':>16} {'se':>8} {'sd':>7} | {'s':>5}")
    for n in args.n:
        for rho in args.rho:
            for epsilon in args.epsilon:
                start = time.perf_counter()
                free, known = [], []
                for replicate in range(args.replicates):
                    X, y = make_polarized_speech(n, rho=rho, epsilon=epsilon,
                                                 random_state=1000 + replicate)
                    est = PolarizationEstimator(grid_size=args.grid_size, interval=None)
                    free.append(est.fit(X, y).rho_)
                    known.append(fit_with_zeros_known(X, y, args.grid_size))
                free, known = np.array(free) - rho, np.array(known) - rho
                root = np.sqrt(len(free))
                print(f"{n:>8} {rho:>5.2f} {epsilon:>5.2f} {len(free):>5} | "
                      f"{free.mean():>+10.5f} {free.std(ddof=1) / root:>8.5f} "
                      f"{free.std(ddof=1):>7.4f} | {known.mean():>+16.5f} "
                      f"{known.std(ddof=1) / root:>8.5f} {known.std(ddof=1):>7.4f} | "
                      f"{time.perf_counter() - start:>5.0f}", flush=True)


if __name__ == "__main__":
    main()
