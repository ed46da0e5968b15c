"""How does the bias of rho_hat fall with the corpus size? Nested subsamples of one corpus.

The split-half jackknife (``bias_correction="jackknife"``) assumes the bias
of the maximum-likelihood estimate falls as ``1 / N``, so that a half sample
carries twice the full sample's bias. This script checks that premise: it
draws corpora of ``--n`` speeches with a known ``rho`` (the generators of
``rho_bias_study.py``), fits the default estimator (``interval=None``) to
the first ``N, N/2, N/4, ...`` speeches of a random order, down to
``--n-min``, and prints the mean error by size with its standard error and
the ratio of each size's mean error to the next larger size's (2 where the
bias is ``1 / N``). One line per fit is appended to ``--out`` (a stopped run
resumes).

Examples (from the project root)::

    PYTHONPATH=. python benchmarks/rho_by_n.py --generator shared --v 2000 --n 80000 \\
        --corpora 6 --out benchmarks/results/rho_by_n.csv
    PYTHONPATH=. python benchmarks/rho_by_n.py --summary --out benchmarks/results/rho_by_n.csv
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

FIELDS = ["generator", "V", "N_full", "rho", "corpus", "N", "rho_hat", "seconds", "commit"]


def row_key(r):
    return (r["generator"], int(r["V"]), int(r["N_full"]), float(r["rho"]), int(r["corpus"]),
            int(r["N"]))


def run(args):
    from skpolar import PolarizationEstimator

    warnings.filterwarnings("ignore")
    commit = code_version()
    with results(args.out, FIELDS, row_key) as (append, done):
        for corpus in range(args.corpora):
            seed = 4099 * corpus + int(1000 * args.rho) + args.v
            X, y = draw(args.generator, args.v, args.n, args.rho, seed, args.cache)
            X = X.tocsr()
            order = np.random.default_rng(seed).permutation(args.n)
            N = args.n
            while N >= args.n_min:
                key = (args.generator, args.v, args.n, args.rho, corpus, N)
                if key not in done:
                    keep = order[:N]
                    start = time.perf_counter()
                    est = PolarizationEstimator(interval=None, bias_correction=None).fit(
                        X[keep], y[keep])
                    row = dict(generator=args.generator, V=args.v, N_full=args.n, rho=args.rho,
                               corpus=corpus, N=N, rho_hat=est.rho_,
                               seconds=round(time.perf_counter() - start, 2), commit=commit)
                    append(row)
                N //= 2


def summary(path):
    import pandas as pd

    frame = pd.read_csv(path)
    frame["error"] = frame["rho_hat"] - frame["rho"]
    for key, cell in frame.groupby(["generator", "V", "N_full", "rho"]):
        table = cell.groupby("N")["error"].agg(["mean", "sem", "count"]).sort_index(
            ascending=False)
        table["ratio to 2N"] = table["mean"] / table["mean"].shift(1)
        print(dict(zip(["generator", "V", "N_full", "rho"], key, strict=True)))
        print(table.round(4).to_string())
    print("commits:", ", ".join(sorted(frame["commit"].unique())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=("shared", "partisan", "senate"), default="shared")
    parser.add_argument("--v", type=int, default=2000)
    parser.add_argument("--n", type=int, default=80000, help="speeches in the full corpus")
    parser.add_argument("--n-min", type=int, default=1000, help="smallest subsample")
    parser.add_argument("--rho", type=float, default=0.8)
    parser.add_argument("--corpora", type=int, default=6)
    parser.add_argument("--cache", default="senate_model.pkl")
    run_or_summarize(parser, run, summary, argv, "rho_by_n.csv")


if __name__ == "__main__":
    main()
