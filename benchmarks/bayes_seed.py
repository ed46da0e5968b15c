"""Posterior of rho on one corpus: profile likelihood, NUTS and VI side by side.

The corpus is the seed task by default (``make_polarized_speech(10_000,
rho=0.8)``: 3 terms, 15 words a speech) and ``grid_size=200``. ``--methods``
picks among: ``profile`` and ``bootstrap`` (``PolarizationEstimator`` with
that interval), ``nuts`` and ``vi`` (``BayesianPolarizationEstimator``,
``--chains`` x ``--draws`` after ``--warmup``, ``--n-jobs`` chains at a
time, word probabilities sampled),
``nuts-mode`` and ``vi-mode`` (word probabilities held at their
maximum-likelihood value) and ``amortized`` (``skpolar.amortized.StanceEncoder``
trained on the profile fit, compared speech by speech with the exact grid
posterior of the stances). It prints one row per method: estimate, 95%
interval, posterior sd, R-hat, bulk and tail ESS, divergences, likelihood
evaluations, wall time and, for the encoder, its agreement with the exact
stances, with the commit; ``--out`` appends the rows to a CSV and
``--figure`` draws the posterior densities of rho overlaid, with the profile
interval, to a PNG. Times are of a warm process: before any method is timed,
one tiny fit of each inference pays for the libraries' imports (printed).

With ``--corpus senate`` the corpus is the 114th-Senate speeches of
Democrats and Republicans (18,686 speeches, 14,503 terms), where
``posterior_emission="auto"`` holds the emission at its mode.

Run from the project root::

    PYTHONPATH=. python benchmarks/bayes_seed.py
    PYTHONPATH=. python benchmarks/bayes_seed.py --corpus senate --methods profile nuts-mode vi-mode
    PYTHONPATH=. python benchmarks/bayes_seed.py --out bayes.csv \
        --methods profile bootstrap nuts vi nuts-mode vi-mode amortized \
        --figure docs/_static/bayes_seed_posterior.png
"""

import argparse
import csv
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _provenance import code_version  # noqa: E402

import numpy as np  # noqa: E402

from skpolar import (  # noqa: E402
    BayesianPolarizationEstimator,
    PolarizationEstimator,
    make_polarized_speech,
)
from skpolar.amortized import StanceEncoder  # noqa: E402

FIELDS = ("method", "N", "rho", "estimate", "low", "high", "sd", "r_hat", "ess_bulk",
          "ess_tail", "divergences", "pareto_k", "evaluations", "seconds", "stance_corr",
          "stance_rmse", "stance_sd_ratio", "commit")


METHODS = ("profile", "bootstrap", "nuts", "vi", "nuts-mode", "vi-mode", "amortized")
LABELS = {
    "profile": "profile likelihood",
    "bootstrap": "bootstrap (200 refits)",
    "nuts": "NUTS (emission sampled)",
    "vi": "VI (emission sampled)",
    "nuts-mode": "NUTS (emission at its mode)",
    "vi-mode": "VI (emission at its mode)",
    "amortized": "amortized VI, stances",
}


def _timed(fit):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fit()
    for w in caught:
        if w.category.__name__ == "PosteriorWarning":
            print("  warning:", w.message)
    return out, time.perf_counter() - start


def _warm_up(args):
    start = time.perf_counter()
    X, y = make_polarized_speech(200, rho=0.8, random_state=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for inference in ("nuts", "vi"):
            # two chains on --n-jobs workers: NUTS's worker processes start warm too
            BayesianPolarizationEstimator(grid_size=10, inference=inference, n_chains=2,
                                          n_warmup=5, n_draws=5, vi_steps=5,
                                          n_jobs=args.n_jobs, random_state=args.seed).fit(X, y)
    return time.perf_counter() - start


def run(args):
    # the code the run imports, before it runs (HEAD may move meanwhile)
    commit = code_version()
    if args.corpus == "senate":
        from skpolar.datasets import load_senate_speeches

        senate = load_senate_speeches()
        keep = np.isin(senate.target, ["D", "R"])
        X, y = senate.data[keep], senate.target[keep]
        args.n, args.rho = X.shape[0], float("nan")
    else:
        X, y = make_polarized_speech(args.n, rho=args.rho, random_state=args.seed)
    rows, samples = [], {}
    mle = None
    if any(m.partition("-")[0] in ("nuts", "vi") for m in args.methods):
        # Each method is timed in a warm process: the first Bayesian fit in a
        # process pays once for importing pyro, arviz and torch.optim's
        # torch._dynamo (2-5 s), which would land on whichever method ran first.
        seconds = _warm_up(args)
        print(f"warm-up (imports, one tiny fit of each inference): {seconds:.1f} s")
    for method in args.methods:
        row = dict(method=LABELS[method])
        if method in ("profile", "bootstrap"):
            est, row["seconds"] = _timed(lambda m=method: PolarizationEstimator(
                grid_size=args.grid_size, interval=m, random_state=args.seed).fit(X, y))
            mle = est if method == "profile" else mle
            row.update(estimate=est.rho_, low=est.rho_ci_[0], high=est.rho_ci_[1])
            if method == "bootstrap":
                samples[row["method"]] = est.rho_bootstrap_
        elif method == "amortized":
            # the encoder scores stances, not rho: its row compares it with the
            # exact grid posterior of every speech
            if mle is None:
                mle = PolarizationEstimator(grid_size=args.grid_size).fit(X, y)
            enc, row["seconds"] = _timed(
                lambda: StanceEncoder(mle, random_state=args.seed).fit(X, y))
            exact, exact_sd = mle.stance(X, y, return_std=True)
            mean, sd = enc.stance(X, y, return_std=True)
            row.update(stance_corr=float(np.corrcoef(mean, exact)[0, 1]),
                       stance_rmse=float(np.sqrt(np.mean((mean - exact) ** 2))),
                       stance_sd_ratio=float(np.median(sd / exact_sd)))
        else:
            inference, _, mode = method.partition("-")
            est, row["seconds"] = _timed(lambda i=inference, e=mode or "sample": (
                BayesianPolarizationEstimator(
                    grid_size=args.grid_size, inference=i, posterior_emission=e,
                    n_chains=args.chains, n_warmup=args.warmup, n_draws=args.draws,
                    vi_steps=args.vi_steps, n_jobs=args.n_jobs, random_state=args.seed,
                ).fit(X, y)))
            d = est.diagnostics_
            samples[row["method"]] = est.rho_samples_
            row.update(
                estimate=est.rho_, low=est.rho_ci_[0], high=est.rho_ci_[1], sd=est.rho_se_,
                r_hat=d.get("r_hat"), ess_bulk=d.get("ess_bulk"), ess_tail=d.get("ess_tail"),
                divergences=d.get("divergences"), pareto_k=d.get("pareto_k"),
                evaluations=d["n_evaluations"],
            )
        rows.append(row)
    for row in rows:
        row.update(N=args.n, rho=args.rho, commit=commit)
    return rows, samples


def figure(rows, samples, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for method, draws in samples.items():
        ax.hist(draws, bins=60, density=True, histtype="step", linewidth=1.5, label=method)
    profile = next(row for row in rows if row["method"] == LABELS["profile"])
    ax.axvspan(profile["low"], profile["high"], color="0.85", zorder=0,
               label="profile likelihood 95% interval")
    ax.axvline(profile["estimate"], color="0.4", linestyle=":", label="maximum likelihood")
    ax.axvline(profile["rho"], color="k", linewidth=1, label="true rho")
    ax.set_xlabel("rho")
    ax.set_ylabel("posterior density")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(f"N = {rows[0]['N']:,}, commit {rows[0]['commit']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def show(rows):
    def fmt(value):
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    print("  ".join(f"{f:>12}" if f != "method" else f"{f:<30}" for f in FIELDS[:-1]))
    for row in rows:
        print("  ".join(f"{fmt(row.get(f)):>12}" if f != "method" else f"{row[f]:<30}"
                        for f in FIELDS[:-1]))
    print("commit:", rows[0]["commit"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("seed", "senate"), default="seed",
                        help="the seed task, or the 114th-Senate corpus (Democrats and "
                        "Republicans; --n and --rho are then unused)")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rho", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid-size", type=int, default=200)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--vi-steps", type=int, default=BayesianPolarizationEstimator().vi_steps)
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="NUTS chains run at a time (the estimator's n_jobs)")
    parser.add_argument("--methods", nargs="+", choices=METHODS,
                        default=["profile", "bootstrap", "nuts", "vi", "amortized"])
    parser.add_argument("--out")
    parser.add_argument("--figure")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # arviz's refactor notice
    rows, samples = run(args)
    show(rows)
    if args.figure:
        figure(rows, samples, args.figure)
    if args.out:
        new = not os.path.exists(args.out)
        with open(args.out, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
