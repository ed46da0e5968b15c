"""Does the 95% credible interval of rho cover the truth? Beside the profile interval.

For every cell (N, rho) it draws ``--replicates`` corpora with
``make_polarized_speech(N, rho=rho, random_state=seed)`` (3 terms, the seed
task's generator), fits ``PolarizationEstimator`` (profile interval) and
``BayesianPolarizationEstimator`` (``--inference`` nuts or vi, word
probabilities sampled) and appends one row per replicate to ``--out``:
both estimates and intervals, the sampler's diagnostics and the times.
``--concentration`` sets the Dirichlet prior on the pole vocabularies
(recorded in each row; the summary keeps priors apart).
``--summary`` prints coverage (with its binomial standard error), bias,
mean widths and the share of fits whose diagnostics earned a
``PosteriorWarning`` per cell from the CSV (``--rst`` as a reST table).

Run from the project root::

    PYTHONPATH=. python benchmarks/bayes_coverage.py --inference vi --n 1000 \\
        --rho 0.5 0.6 0.7 0.8 0.9 --replicates 50 --out bayes_coverage.csv
    PYTHONPATH=. python benchmarks/bayes_coverage.py --summary --out bayes_coverage.csv
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

from skpolar import (  # noqa: E402
    BayesianPolarizationEstimator,
    PolarizationEstimator,
    make_polarized_speech,
)
from skpolar.posterior import PARETO_K_MAX  # noqa: E402

FIELDS = ("inference", "N", "rho", "replicate", "rho_mle", "mle_low", "mle_high",
          "rho_post", "post_low", "post_high", "post_sd", "r_hat", "ess_bulk",
          "divergences", "pareto_k", "mle_seconds", "post_seconds", "chains", "concentration",
          "commit")


def replicate(args, n, rho, seed, commit):
    X, y = make_polarized_speech(n, rho=rho, random_state=seed)
    start = time.perf_counter()
    mle = PolarizationEstimator(grid_size=args.grid_size).fit(X, y)
    mle_seconds = time.perf_counter() - start
    est = BayesianPolarizationEstimator(
        grid_size=args.grid_size, inference=args.inference, posterior_emission="sample",
        n_chains=args.chains, n_warmup=args.warmup, n_draws=args.draws,
        vocabulary_concentration=args.concentration, random_state=seed,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    d = est.diagnostics_
    return dict(
        inference=args.inference, N=n, rho=rho, replicate=seed, rho_mle=mle.rho_,
        mle_low=mle.rho_ci_[0], mle_high=mle.rho_ci_[1], rho_post=est.rho_,
        post_low=est.rho_ci_[0], post_high=est.rho_ci_[1], post_sd=est.rho_se_,
        r_hat=d.get("r_hat", ""), ess_bulk=d.get("ess_bulk", ""),
        divergences=d.get("divergences", ""), pareto_k=d.get("pareto_k", ""),
        mle_seconds=round(mle_seconds, 3),
        post_seconds=round(time.perf_counter() - start, 3), chains=args.chains,
        concentration=args.concentration, commit=commit,
    )


def summary(path, rst=False):
    import pandas as pd

    df = pd.read_csv(path)
    df["mle_cover"] = (df.mle_low <= df.rho) & (df.rho <= df.mle_high)
    df["post_cover"] = (df.post_low <= df.rho) & (df.rho <= df.post_high)
    df["mle_width"] = df.mle_high - df.mle_low
    df["post_width"] = df.post_high - df.post_low
    # what earns a PosteriorWarning (rows written before "chains" was recorded
    # are judged on R-hat and divergences alone, VI's before "pareto_k" on nothing)
    chains = df["chains"] if "chains" in df else np.nan
    pareto_k = df["pareto_k"] if "pareto_k" in df else np.nan
    df["warned"] = ((df.r_hat > 1.01) | (df.ess_bulk < 100 * chains) | (df.divergences > 0)
                    | (pareto_k > PARETO_K_MAX))
    # rows written before the prior was recorded used the default, 1
    df["concentration"] = df["concentration"].fillna(1.0) if "concentration" in df else 1.0
    out = df.groupby(["inference", "concentration", "N", "rho"]).agg(
        reps=("replicate", "size"),
        mle_bias=("rho_mle", "mean"), mle_coverage=("mle_cover", "mean"),
        post_bias=("rho_post", "mean"), post_coverage=("post_cover", "mean"),
        post_width=("post_width", "mean"), mle_width=("mle_width", "mean"),
        warned=("warned", "mean"), post_seconds=("post_seconds", "median"),
    ).reset_index()
    out["mle_bias"] -= out.rho
    out["post_bias"] -= out.rho
    out["coverage_se"] = np.sqrt(out.post_coverage * (1 - out.post_coverage) / out.reps)
    if not rst:
        print(out.round(4).to_string(index=False))
        print("commits:", ", ".join(sorted(df.commit.astype(str).unique())))
        return
    header = ("inference", "prior c", "N", "rho", "reps", "ML bias", "profile cover",
              "posterior bias", "credible cover (se)", "credible width", "profile width", "warned",
              "s per fit")
    rows = [(r.inference.upper() if r.inference == "vi" else "NUTS", f"{r.concentration:g}",
             f"{r.N:,}", f"{r.rho:g}",
             str(r.reps), f"{r.mle_bias:+.4f}", f"{r.mle_coverage:.2f}", f"{r.post_bias:+.4f}",
             f"{r.post_coverage:.2f} ({r.coverage_se:.2f})", f"{r.post_width:.3f}",
             f"{r.mle_width:.3f}", f"{r.warned:.2f}", f"{r.post_seconds:.0f}")
            for r in out.itertuples()]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    rule = "  ".join("=" * w for w in widths)
    print(rule)
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    print(rule)
    for row in rows:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    print(rule)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inference", choices=("nuts", "vi"), default="vi")
    parser.add_argument("--n", type=int, nargs="+", default=[1000])
    parser.add_argument("--rho", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--replicates", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--grid-size", type=int, default=200)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--concentration", type=float, default=1.0,
                        help="the Dirichlet prior's concentration on each pole's words")
    parser.add_argument("--out", default="bayes_coverage.csv")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--rst", action="store_true", help="the summary as a reST table")
    args = parser.parse_args(argv)
    if args.summary:
        summary(args.out, args.rst)
        return
    commit = code_version()
    # replicates outermost: a run stopped early still has every cell
    for seed in range(args.first_seed, args.first_seed + args.replicates):
        for n in args.n:
            for rho in args.rho:
                row = replicate(args, n, rho, seed, commit)
                print(", ".join(f"{k}={row[k]}" for k in FIELDS), flush=True)
                new = not os.path.exists(args.out)
                with open(args.out, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
                    if new:
                        writer.writeheader()
                    writer.writerow(row)


if __name__ == "__main__":
    main()
