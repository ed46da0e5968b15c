"""Where the cross-fit's error comes from: the estimated stance axis or the stance model.

On the same simulated corpora, five estimates of rho:

``ml``
    ``PolarizationEstimator(interval=None, bias_correction=None)``: maximum likelihood.
``5-fold``, ``loo``
    The cross-fit (``skpolar.crossfit.CrossFit``) with five folds, and
    leave-one-out, as the estimator's ``bias_correction="crossfit"`` runs it.
``predictive``
    Leave-one-out against the predictive line
    (``CrossFit(..., predictive=True)``): every word's probability along the
    line integrates the axis' estimation error, and the line ends at a
    confidence bound on where the first word runs out, so rare one-sided
    words no longer end it early.
``true axis``
    The same held-out fit with every speech scored against the simulation's
    true axis ``(m, d) = ((theta_L + theta_R) / 2, (theta_R - theta_L) / 2)``
    (``CrossFit(..., axis=(m, d))``): no axis noise, only the stance model
    and its free scale.

Where ``true axis`` is close to the truth and the estimated axes are not, the
axis is what a better cross-fit must improve.

Generators: ``shared`` (``make_polarized_speech(..., vocabulary="shared",
partisanship=1.0, speech_len=60, length_distribution=1.0)``, V terms) and
``senate`` (the default model fitted to the 114th-Senate corpus, its shapes
replaced by the 2/10 shapes of rho, N speeches drawn with ``sample``; the
fit's poles, which the sample treats as the truth, give 5,500 of the 14,503
words probability zero at one pole).

Run from the project root (the senate model is fitted once, about half a
minute, and cached in ``--cache``); ``--out`` appends one row per corpus to a
CSV, with the commit, as it finishes::

    PYTHONPATH=. python benchmarks/crossfit_axis.py --generator senate --n 5000 --rho 0.6 0.8
    PYTHONPATH=. python benchmarks/crossfit_axis.py --generator shared --v 2000 --n 1000 \
        --out benchmarks/results/crossfit_axis.csv
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=("shared", "senate"), default="senate")
    parser.add_argument("--v", type=int, default=2000, help="terms (shared generator)")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rho", type=float, nargs="+", default=[0.6, 0.8])
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--cache", default="senate_model.pkl")
    parser.add_argument("--first-replicate", type=int, default=0,
                        help="replicate number (and seed) to start from")
    parser.add_argument("--out", help="CSV to append one row per corpus to")
    args = parser.parse_args(argv)

    from skpolar import PolarizationEstimator
    from skpolar.crossfit import CrossFit
    from skpolar.crossfit import STARTS

    warnings.filterwarnings("ignore")
    version = code_version()
    print(f"skpolar code: {version}; generator {args.generator}, N = {args.n}")
    print(f"{'rho':>5} {'rep':>3} {'ml':>7} {'5-fold':>7} {'loo':>7} {'predictive':>10} "
          f"{'true axis':>9} {'s':>6}")
    errors = {name: [] for name in ("ml", "5-fold", "loo", "predictive", "true axis")}
    for rho in args.rho:
        for rep in range(args.first_replicate, args.first_replicate + args.replicates):
            start = time.perf_counter()
            seed = 1000 * rep + int(1000 * rho) + 11
            X, y, theta = draw(args.generator, args.v, args.n, rho, seed, args.cache, poles=True)
            # the senate sample's labels are the parties; the cross-fit wants sides
            side = (y == np.unique(y)[1]).astype(int)
            ml = PolarizationEstimator(interval=None, bias_correction=None).fit(X, side)
            # the estimator's starts: the ML shapes, then fixed polarized ones
            starts = [(ml.alpha_, ml.beta_, ml.pi_)] + [
                (6.0 * r, 6.0 * (1.0 - r), 0.5) for r in STARTS]
            weight = np.ones(X.shape[0])
            axis = (theta.mean(axis=0), (theta[1] - theta[0]) / 2.0)
            row = {
                "ml": ml.rho_,
                "5-fold": CrossFit(X, side, weight, 200, np.random.default_rng(seed),
                                   n_folds=5).fit(starts)["rho"],
                "loo": CrossFit(X, side, weight, 200).fit(starts)["rho"],
                "predictive": CrossFit(X, side, weight, 200, predictive=True).fit(starts)["rho"],
                "true axis": CrossFit(X, side, weight, 200, axis=axis).fit(starts)["rho"],
            }
            for name, value in row.items():
                errors[name].append(value - rho)
            if args.out:
                record = {"generator": args.generator,
                          "v": args.v if args.generator == "shared" else X.shape[1],
                          "n": args.n, "rho": rho, "replicate": rep, **row,
                          "seconds": round(time.perf_counter() - start, 1), "commit": version}
                new = not os.path.exists(args.out)
                with open(args.out, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=list(record))
                    if new:
                        writer.writeheader()
                    writer.writerow(record)
            print(f"{rho:>5.2f} {rep:>3d} {row['ml']:>7.4f} {row['5-fold']:>7.4f} "
                  f"{row['loo']:>7.4f} {row['predictive']:>10.4f} {row['true axis']:>9.4f} "
                  f"{time.perf_counter() - start:>6.1f}", flush=True)
    print("mean error over all cells: " + ", ".join(
        f"{name} {np.mean(err):+.4f}" for name, err in errors.items()))


if __name__ == "__main__":
    main()
