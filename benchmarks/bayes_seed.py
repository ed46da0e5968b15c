"""Posterior of rho on one corpus: profile likelihood, NUTS and VI side by side.

The corpus is the seed task by default (``make_polarized_speech(10_000,
rho=0.8)``: 3 terms, 15 words a speech) and ``grid_size=200``. The script
fits ``PolarizationEstimator`` (maximum likelihood and its profile interval)
and ``BayesianPolarizationEstimator`` with ``inference="nuts"`` (``--chains``
x ``--draws`` after ``--warmup``) and ``inference="vi"``, both with the word
probabilities sampled (``posterior_emission="sample"``) and, with
``--mode-too``, held at their maximum-likelihood value. It prints one row
per method: estimate, 95% interval, posterior sd, R-hat, bulk and tail ESS,
divergences, likelihood evaluations and wall time, with the commit; ``--out``
appends the rows to a CSV and ``--figure`` draws the posterior densities of
rho overlaid, with the profile interval, to a PNG.

Run from the project root::

    PYTHONPATH=. python benchmarks/bayes_seed.py
    PYTHONPATH=. python benchmarks/bayes_seed.py --mode-too --out bayes.csv \
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

from skpolar import (  # noqa: E402
    BayesianPolarizationEstimator,
    PolarizationEstimator,
    make_polarized_speech,
)

FIELDS = ("method", "N", "rho", "estimate", "low", "high", "sd", "r_hat", "ess_bulk",
          "ess_tail", "divergences", "evaluations", "seconds", "commit")


def run(args):
    X, y = make_polarized_speech(args.n, rho=args.rho, random_state=args.seed)
    rows, samples = [], {}
    start = time.perf_counter()
    mle = PolarizationEstimator(grid_size=args.grid_size).fit(X, y)
    rows.append(dict(method="profile likelihood", estimate=mle.rho_, low=mle.rho_ci_[0],
                     high=mle.rho_ci_[1], seconds=time.perf_counter() - start))
    emissions = ("sample", "mode") if args.mode_too else ("sample",)
    for emission in emissions:
        for inference in ("nuts", "vi"):
            est = BayesianPolarizationEstimator(
                grid_size=args.grid_size, inference=inference, posterior_emission=emission,
                n_chains=args.chains, n_warmup=args.warmup, n_draws=args.draws,
                vi_steps=args.vi_steps, random_state=args.seed,
            )
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est.fit(X, y)
            seconds = time.perf_counter() - start
            for w in caught:
                if w.category.__name__ == "PosteriorWarning":
                    print("  warning:", w.message)
            d = est.diagnostics_
            method = f"{inference.upper()} (emission {'sampled' if emission == 'sample' else 'at its mode'})"
            samples[method] = est.rho_samples_
            rows.append(dict(
                method=method,
                estimate=est.rho_, low=est.rho_ci_[0], high=est.rho_ci_[1], sd=est.rho_se_,
                r_hat=d.get("r_hat"), ess_bulk=d.get("ess_bulk"), ess_tail=d.get("ess_tail"),
                divergences=d.get("divergences"), evaluations=d["n_evaluations"],
                seconds=seconds,
            ))
    commit = code_version()
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
    profile = rows[0]
    ax.axvspan(profile["low"], profile["high"], color="0.85", zorder=0,
               label="profile likelihood 95% interval")
    ax.axvline(profile["estimate"], color="0.4", linestyle=":", label="maximum likelihood")
    ax.axvline(rows[0]["rho"], color="k", linewidth=1, label="true rho")
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
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rho", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid-size", type=int, default=200)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--vi-steps", type=int, default=1000)
    parser.add_argument("--mode-too", action="store_true")
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
