"""A spurious trend? rho_hat over ten periods whose corpora grow while the truth stays put.

Each "history" has ten periods with the same true polarization; period p has
``N = n0 * 10**(p / 9)`` speeches over ``V = v0 * g**(p / 9)`` terms (the
corpus grows tenfold across the history, the vocabulary ``g = --v-growth``
fold, ten by default), drawn from the shared-vocabulary
generator (``make_polarized_speech(..., vocabulary="shared", speech_len=60,
length_distribution=1.0, sparse=True)``, a fresh vocabulary each period).
Every period is fitted by maximum likelihood (the default estimator), by
the cross-fit (``bias_correction="crossfit"``) and by the split-half
jackknife (``bias_correction="jackknife"``; ``--estimators`` picks among
them), and the estimates are
regressed on the period by ordinary least squares: the slope's 95% interval
(Student t, 8 degrees of freedom) should contain 0. One line per fit is
appended to ``--out`` as it finishes (a stopped run resumes), and
``--summary`` prints the slopes.

Examples (from the project root)::

    PYTHONPATH=. python benchmarks/rho_trend.py --histories 3 --out benchmarks/results/rho_trend.csv
    PYTHONPATH=. python benchmarks/rho_trend.py --summary --out benchmarks/results/rho_trend.csv
    PYTHONPATH=. python benchmarks/rho_trend.py --histories 2 --v0 2000 --v-growth 1 \
        --out benchmarks/results/rho_trend_fixed_vocabulary.csv
"""

import argparse
import os
import sys
import time
import warnings


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import code_version  # noqa: E402
from _study import results, run_or_summarize  # noqa: E402

FIELDS = ["history", "period", "N", "V", "rho", "estimator", "rho_hat", "low", "high",
          "seconds", "commit"]
# rows named "cross-fit" ran the five-fold cross-fit (before commit 68038d9);
# the estimator's cross-fit has been leave-one-out since
ESTIMATORS = {"maximum likelihood": None, "cross-fit (leave-one-out)": "crossfit",
              "split-half jackknife": "jackknife"}
N_PERIODS = 10


def sizes(period, n0, v0, v_growth=10.0):
    step = period / (N_PERIODS - 1)
    return int(round(n0 * 10.0 ** step)), int(round(v0 * v_growth ** step))


def row_key(r):
    return (int(r["history"]), int(r["period"]), r["estimator"])


def run(args):
    from skpolar import PolarizationEstimator, make_polarized_speech

    warnings.filterwarnings("ignore")
    chosen = [None if name == "ml" else name for name in args.estimators]
    commit = code_version()
    with results(args.out, FIELDS, row_key) as (append, done):
        for history in range(args.histories):
            for period in range(N_PERIODS):
                N, V = sizes(period, args.n0, args.v0, args.v_growth)
                seed = 7919 * history + 104729 * period + 13
                X, y = make_polarized_speech(N, rho=args.rho, n_features=V, vocabulary="shared",
                                             speech_len=60, length_distribution=1.0, sparse=True,
                                             random_state=seed)
                for name, correction in ESTIMATORS.items():
                    if correction not in chosen or (history, period, name) in done:
                        continue
                    est = PolarizationEstimator(bias_correction=correction,
                                                n_bias_draws=args.n_bias_draws, random_state=seed)
                    start = time.perf_counter()
                    est.fit(X, y)
                    row = dict(history=history, period=period, N=N, V=V, rho=args.rho,
                               estimator=name, rho_hat=est.rho_, low=est.rho_ci_[0],
                               high=est.rho_ci_[1],
                               seconds=round(time.perf_counter() - start, 2), commit=commit)
                    append(row)


def slope(periods, estimates):
    """OLS slope of the estimates on the period and its 95% interval (t, n - 2 df)."""
    from scipy import stats

    fit = stats.linregress(periods, estimates)
    half = stats.t.ppf(0.975, len(periods) - 2) * fit.stderr
    return fit.slope, fit.slope - half, fit.slope + half


def summary(path):
    import pandas as pd

    frame = pd.read_csv(path)
    rows = []
    for (history, name), part in frame.groupby(["history", "estimator"]):
        if len(part) < N_PERIODS:
            continue
        part = part.sort_values("period")
        b, low, high = slope(part["period"].to_numpy(), part["rho_hat"].to_numpy())
        truth = part["rho"].iloc[0]
        rows.append({"history": history, "estimator": name, "first rho_hat": part["rho_hat"].iloc[0],
                     "last rho_hat": part["rho_hat"].iloc[-1],
                     "slope per period": b, "slope low": low, "slope high": high,
                     "contains 0": low <= 0 <= high,
                     "coverage": ((part["low"] <= truth) & (truth <= part["high"])).mean(),
                     "fit s": part["seconds"].sum()})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    print("commits:", ", ".join(sorted(frame["commit"].unique())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", type=int, default=3)
    parser.add_argument("--rho", type=float, default=0.7)
    parser.add_argument("--n0", type=int, default=1000, help="speeches in the first period")
    parser.add_argument("--v0", type=int, default=200, help="terms in the first period")
    parser.add_argument("--v-growth", type=float, default=10.0,
                        help="how many times the vocabulary grows across the history "
                        "(1: a fixed vocabulary while the corpus grows tenfold)")
    parser.add_argument("--estimators", nargs="+", default=["ml", "crossfit", "jackknife"],
                        choices=("ml", "crossfit", "jackknife"),
                        help="bias_correction values to fit: ml (maximum likelihood), "
                        "crossfit, jackknife (default: all)")
    parser.add_argument("--n-bias-draws", type=int, default=20,
                        help="the estimator's n_bias_draws (half samples of the jackknife)")
    run_or_summarize(parser, run, summary, argv, "rho_trend.csv")


if __name__ == "__main__":
    main()
