"""Can the data say which pole probabilities are zero? A boundary test, then a pinned fit.

``benchmarks/boundary_bias.py`` showed that on the notebook's three-word
design the upward bias of rho_hat disappears when the poles' zeros are known
(each pole never says the other pole's word). This script asks whether the
data can find them. Every replicate is fitted as users fit it
(``PolarizationEstimator()``, its profile interval), then refitted with one
probability of each pole held at zero: the pole's *line end*, the word the
other pole uses most relative to it (``argmin theta_L / theta_R`` for the
left pole, and the reverse), where the flat stretch path of the model page
runs out. The pinned fit moves along that nearly flat path, so its
likelihood-ratio statistic against the free fit is small when the pins are
right; with two probabilities tested on the boundary of the parameter space
its null distribution is the mixture 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)
(Self and Liang, JASA 1987), whose 95% point is 4.23. Below it the pinned
fit and its profile interval (refitted with the same pins) are kept; above
it, the free fit. The summary gives bias, spread and coverage of both and
how often the pins were kept. Fits use L-BFGS (``solver="lbfgs"``), whose
box holds the pinned logits at the floor.

Generators (``--generator``): ``partisan`` is the notebook's design
(``make_polarized_speech(N, rho=, epsilon=, speech_len=)``, three terms);
``shared`` the shared-vocabulary generator of ``rho_bias_study.py``, where
no pole probability is zero, so every kept pin is a wrong one.

Examples (from the project root)::

    PYTHONPATH=. python benchmarks/pole_zero_test.py --rho 0.7 0.8 0.9 --epsilon 0.05 \\
        --speech-len 15 --replicates 30 --out benchmarks/results/pole_zero_test.csv
    PYTHONPATH=. python benchmarks/pole_zero_test.py --generator shared --v 200 --n 1000 \\
        --rho 0.6 0.8 --replicates 10 --out benchmarks/results/pole_zero_test.csv
    PYTHONPATH=. python benchmarks/pole_zero_test.py --summary --out benchmarks/results/pole_zero_test.csv
"""

import argparse
import csv
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import code_version  # noqa: E402
from rho_bias_study import draw  # noqa: E402

FIELDS = ["generator", "V", "N", "rho", "epsilon", "speech_len", "replicate", "rho_free",
          "free_low", "free_high", "rho_pinned", "pinned_low", "pinned_high", "statistic",
          "kept", "seconds", "commit"]
# 95% point of 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2)
CRITICAL = 4.2306


def with_pins(problem, flat):
    """``problem`` with the pole logits at ``flat`` (row-major (2, V) indices) boxed at the floor."""
    from skpolar.emissions import TwoPoleEmission

    floor = TwoPoleEmission.log_floor
    box = problem.bounds

    def bounds(shapes):
        out, offset = box(shapes), 0
        for name, shape in shapes:
            if name == "eta":
                for k in flat:
                    out[offset + k] = (floor, floor)
            offset += int(np.prod(shape))
        return out

    problem.bounds = bounds
    return problem


def pinned_fit(est, X, y):
    """(rho, interval, statistic) of the fit with each pole's line end pinned at zero."""
    from skpolar.uncertainty import profile_interval, rho_of

    Xv, side = est._validate_fit_input(X, y, reset=False)
    rows, _, _ = est._fit_rows(Xv, side, None)
    rows = est._collapse(rows)
    free = {k: np.array(v, copy=True) for k, v in est._params.items()}
    # the free fit's loss, from where it stopped (the solver settles at once)
    loss_free = est._minimize(est._problem(rows), free)[1]["loss"]
    eta = free["eta"]
    theta = np.exp(eta - np.logaddexp.reduce(eta, axis=1, keepdims=True))
    V = eta.shape[1]
    ends = (int(np.argmin(theta[0] / theta[1])), int(np.argmin(theta[1] / theta[0])))
    flat = (ends[0], V + ends[1])
    start = dict(free, eta=eta.copy())
    start["eta"][0, ends[0]] = start["eta"][1, ends[1]] = est._emission().log_floor
    problem = with_pins(est._problem(rows), flat)
    pinned, info = est._minimize(problem, start)
    statistic = 2.0 * problem.n_total * (info["loss"] - loss_free)
    (low, high), _ = profile_interval(
        lambda rho: with_pins(est._problem(rows, fixed_rho=rho), flat),
        pinned, info["loss"], problem.n_total, minimize=est._minimize,
    )
    return rho_of(pinned), (low, high), statistic


def run(args):
    from skpolar import PolarizationEstimator

    warnings.filterwarnings("ignore")
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as handle:
            done = {(r["generator"], int(r["V"]), int(r["N"]), float(r["rho"]),
                     float(r["epsilon"]), int(r["speech_len"]), int(r["replicate"]))
                    for r in csv.DictReader(handle)}
    new_file = not os.path.exists(args.out)
    commit = code_version()
    V = 3 if args.generator == "partisan" else args.v
    with open(args.out, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for rho in args.rho:
            for rep in range(args.replicates):
                key = (args.generator, V, args.n, rho, args.epsilon, args.speech_len, rep)
                if key in done:
                    continue
                seed = 1000 * rep + int(1000 * rho) + 7 * V + args.n % 9973
                X, y = draw(args.generator, V, args.n, rho, seed, None, args.epsilon,
                            args.speech_len)
                start = time.perf_counter()
                est = PolarizationEstimator(solver="lbfgs").fit(X, y)
                rho_pinned, (low, high), statistic = pinned_fit(est, X, y)
                row = dict(generator=args.generator, V=V, N=args.n, rho=rho,
                           epsilon=args.epsilon, speech_len=args.speech_len, replicate=rep,
                           rho_free=est.rho_, free_low=est.rho_ci_[0], free_high=est.rho_ci_[1],
                           rho_pinned=rho_pinned, pinned_low=low, pinned_high=high,
                           statistic=round(statistic, 4), kept=statistic < CRITICAL,
                           seconds=round(time.perf_counter() - start, 2), commit=commit)
                writer.writerow(row)
                handle.flush()
                print(", ".join(f"{k}={v}" for k, v in row.items() if k != "commit"), flush=True)


def summary(path):
    import pandas as pd

    frame = pd.read_csv(path)
    out = []
    keys = ["generator", "V", "N", "rho", "epsilon", "speech_len"]
    for key, cell in frame.groupby(keys):
        truth = key[3]
        kept = cell["kept"].astype(bool)
        tested = np.where(kept, cell["rho_pinned"], cell["rho_free"])
        tested_low = np.where(kept, cell["pinned_low"], cell["free_low"])
        tested_high = np.where(kept, cell["pinned_high"], cell["free_high"])
        row = dict(zip(keys, key, strict=True), reps=len(cell), kept=kept.mean())
        for name, est, low, high in (("free", cell["rho_free"], cell["free_low"],
                                      cell["free_high"]),
                                     ("tested", tested, tested_low, tested_high)):
            error = np.asarray(est) - truth
            row[f"{name} bias"] = error.mean()
            row[f"{name} se"] = error.std(ddof=1) / np.sqrt(len(cell))
            row[f"{name} RMSE"] = np.sqrt((error**2).mean())
            row[f"{name} cover"] = ((np.asarray(low) <= truth) & (truth <= np.asarray(high))).mean()
        out.append(row)
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(pd.DataFrame(out).round(4).to_string(index=False))
    print("commits:", ", ".join(sorted(frame["commit"].unique())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=("partisan", "shared"), default="partisan")
    parser.add_argument("--v", type=int, default=200, help="terms (shared generator)")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rho", type=float, nargs="+", default=[0.8])
    parser.add_argument("--epsilon", type=float, default=0.05,
                        help="share of neutral words (partisan generator)")
    parser.add_argument("--speech-len", type=int, default=15,
                        help="words per speech (partisan generator)")
    parser.add_argument("--replicates", type=int, default=30)
    parser.add_argument("--out", default="pole_zero_test.csv")
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args(argv)
    if args.summary:
        summary(args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()
