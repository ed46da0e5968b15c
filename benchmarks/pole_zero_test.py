"""Can the data say which pole probabilities are zero? ``pole_zeros="test"`` beside the free fit.

``benchmarks/boundary_bias.py`` showed that on the notebook's three-word
design the upward bias of rho_hat disappears when the poles' zeros are known
(each pole never says the other pole's word). ``PolarizationEstimator(
pole_zeros="test")`` asks the data instead: after the fit it holds each
pole's *line end* (the word the other pole uses most relative to it) at zero,
refits, and keeps the pins unless their likelihood-ratio statistic reaches
4.23, the 95% point of 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2) for two
parameters on the boundary (Self and Liang, JASA 1987), or the pinned
stances collapse. Every replicate is fitted by maximum likelihood
(``PolarizationEstimator(bias_correction=None)``) and with
``pole_zeros="test"``, both with their profile intervals; the summary gives bias, RMSE and coverage of both,
and how often the pins were kept.

Generators (``--generator``): ``partisan`` is the notebook's design
(``make_polarized_speech(N, rho=, epsilon=, speech_len=)``, three terms);
``shared`` the shared-vocabulary generator of ``rho_bias_study.py``, where
no pole probability is zero, so every kept pin is a wrong one. The corpora
are those of ``rho_bias_study.py`` for the same cell and replicate.

Examples (from the project root)::

    PYTHONPATH=. python benchmarks/pole_zero_test.py --rho 0.7 0.8 0.9 --epsilon 0.05 \\
        --speech-len 15 --replicates 30 --out benchmarks/results/pole_zero_test.csv
    PYTHONPATH=. python benchmarks/pole_zero_test.py --generator shared --v 200 --n 1000 \\
        --rho 0.6 0.8 --replicates 10 --out benchmarks/results/pole_zero_test.csv
    PYTHONPATH=. python benchmarks/pole_zero_test.py --summary --out benchmarks/results/pole_zero_test.csv
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import code_version  # noqa: E402
from _study import results, run_or_summarize  # noqa: E402
from rho_bias_study import draw  # noqa: E402

FIELDS = ["generator", "V", "N", "rho", "epsilon", "speech_len", "replicate", "rho_free",
          "free_low", "free_high", "rho_tested", "tested_low", "tested_high", "statistic",
          "kept", "seconds", "commit"]


def row_key(r):
    return (r["generator"], int(r["V"]), int(r["N"]), float(r["rho"]), float(r["epsilon"]),
            int(r["speech_len"]), int(r["replicate"]))


def run(args):
    from skpolar import PolarizationEstimator

    warnings.filterwarnings("ignore")
    commit = code_version()
    V = 3 if args.generator == "partisan" else args.v
    with results(args.out, FIELDS, row_key) as (append, done):
        for rho in args.rho:
            for rep in range(args.replicates):
                key = (args.generator, V, args.n, rho, args.epsilon, args.speech_len, rep)
                if key in done:
                    continue
                seed = 1000 * rep + int(1000 * rho) + 7 * V + args.n % 9973
                X, y = draw(args.generator, V, args.n, rho, seed, None, args.epsilon,
                            args.speech_len)
                free = PolarizationEstimator(bias_correction=None).fit(X, y)
                start = time.perf_counter()
                est = PolarizationEstimator(pole_zeros="test", bias_correction=None).fit(X, y)
                row = dict(generator=args.generator, V=V, N=args.n, rho=rho,
                           epsilon=args.epsilon, speech_len=args.speech_len, replicate=rep,
                           rho_free=free.rho_, free_low=free.rho_ci_[0],
                           free_high=free.rho_ci_[1], rho_tested=est.rho_,
                           tested_low=est.rho_ci_[0], tested_high=est.rho_ci_[1],
                           statistic=round(est.pole_zero_statistic_, 4),
                           kept=bool(est.pole_zeros_.any()),
                           seconds=round(time.perf_counter() - start, 2), commit=commit)
                append(row)


def summary(path):
    import pandas as pd

    frame = pd.read_csv(path)
    out = []
    keys = ["generator", "V", "N", "rho", "epsilon", "speech_len"]
    for key, cell in frame.groupby(keys):
        truth = key[3]
        kept = cell["kept"].astype(bool)
        row = dict(zip(keys, key, strict=True), reps=len(cell), kept=kept.mean())
        for name, est, low, high in (("free", cell["rho_free"], cell["free_low"],
                                      cell["free_high"]),
                                     ("tested", cell["rho_tested"], cell["tested_low"],
                                      cell["tested_high"])):
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
    run_or_summarize(parser, run, summary, argv, "pole_zero_test.csv")


if __name__ == "__main__":
    main()
