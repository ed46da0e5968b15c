"""Is rho_hat honest on real-sized vocabularies? Bias, RMSE and coverage by V, N and rho.

Every replicate draws a corpus with a known polarization, fits
``PolarizationEstimator(bias_correction=--correction)`` (``"crossfit"`` by
default; its other settings at their defaults unless ``--grid-size``,
``--interval`` or ``--n-bias-draws`` say otherwise) and records both the
maximum-likelihood estimate with its profile interval (``rho_mle_``,
``rho_mle_ci_``; the cross-fit skips that interval, so a second fit gives
it) and the corrected estimate with its interval (``rho_``, ``rho_ci_``).
One line per replicate is appended to ``--out`` (CSV) as soon as it is done, so a long
study can be stopped and resumed (replicates already in the file are
skipped) and summarized at any time with ``--summary``.

Generators (``--generator``):

``shared``
    ``make_polarized_speech(..., vocabulary="shared", partisanship=1.0,
    speech_len=60, length_distribution=1.0, sparse=True)``: every word used
    by both sides, negative-binomial speech lengths of mean 60.
``partisan``
    ``make_polarized_speech(..., n_features=V, speech_len=--speech-len,
    epsilon=--epsilon)``, the notebook's design (words exclusive to a side);
    with V = 3, 15 words and epsilon 0.05 this is the seed task.
``senate``
    Semi-synthetic: the default model is fitted once to the 114th-Senate
    corpus (Democrats and Republicans, cached in ``--cache``), its ``(a, b)``
    replaced by the 2/10 shapes of the target ``rho`` and corpora of N
    speeches drawn with ``sample`` (the senate's own vocabulary and speech
    lengths; V is the senate's 14,503 whatever ``--v`` says, and is recorded so).

Examples (from the project root)::

    PYTHONPATH=. python benchmarks/rho_bias_study.py --generator shared --v 200 2000 \\
        --n 1000 10000 --rho 0.6 0.8 --replicates 10 --out rho_bias.csv
    PYTHONPATH=. python benchmarks/rho_bias_study.py --summary --out rho_bias.csv
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

FIELDS = ["generator", "V", "N", "rho", "epsilon", "speech_len", "replicate", "rho_mle", "mle_low", "mle_high",
          "rho_corrected", "corrected_low", "corrected_high", "bias_estimate", "seconds",
          "converged", "commit", "correction", "interval"]


def draw(generator, V, N, rho, seed, cache, epsilon=0.05, speech_len=15, poles=False):
    """(X, y) of one corpus; with ``poles``, (X, y, theta): its true pole vocabularies."""
    from skpolar import make_polarized_speech

    if generator == "senate":
        from skpolar.datasets import two_ten_shape

        model = senate_model(cache)
        a, b, _ = two_ten_shape(rho)
        model.alpha_, model.beta_ = a, b
        X, y, _ = model.sample(N, random_state=seed)
        return (X, y, model.theta_) if poles else (X, y)
    if generator == "shared":
        kwargs = dict(vocabulary="shared", speech_len=60, length_distribution=1.0, sparse=True)
    elif generator == "partisan":
        kwargs = dict(speech_len=speech_len, epsilon=epsilon)
    else:
        raise ValueError(generator)
    out = make_polarized_speech(N, rho=rho, n_features=V, random_state=seed,
                                return_truth=poles, **kwargs)
    return (out[0], out[1], out[2].theta) if poles else out


def senate_model(cache):
    import pickle

    if os.path.exists(cache):
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    from skpolar import PolarizationEstimator
    from skpolar.datasets import load_senate_speeches

    senate = load_senate_speeches()
    keep = np.isin(senate.target, ["D", "R"])
    model = PolarizationEstimator(interval=None).fit(senate.data[keep], senate.target[keep])
    with open(cache, "wb") as handle:
        pickle.dump(model, handle)
    return model


# while rows of this commit ran, the working tree's estimator called the
# leave-one-out cross-fit (see the stop-18 note)
LOO_COMMIT = "63256af + uncommitted changes in skpolar/"


def correction_label(row):
    if row.get("commit") == LOO_COMMIT and row.get("correction") == "crossfit":
        return "crossfit-loo"
    label = row.get("correction")
    return label if isinstance(label, str) and label else "bootstrap"


def row_key(r):
    return (correction_label(r), r.get("interval") or "profile",
            r["generator"], int(r["V"]), int(r["N"]), float(r["rho"]), float(r["epsilon"]),
            int(r["speech_len"]), int(r["replicate"]))


def run(args):
    from skpolar import PolarizationEstimator

    warnings.filterwarnings("ignore")
    label = args.correction
    if args.correction == "crossfit":
        # a study switch, not an estimator parameter: the estimator's cross-fit
        # is leave-one-out; "5" deals five folds, its choice before that.
        # Rows keep the labels they had: "crossfit" five folds, "crossfit-loo"
        import skpolar.crossfit

        skpolar.crossfit.N_FOLDS = None if args.folds == "loo" else 5
        label = "crossfit-loo" if args.folds == "loo" else "crossfit"
    commit = code_version()
    # senate corpora have the senate's vocabulary, whatever --v says
    vocabularies = [senate_model(args.cache).n_features_in_] if args.generator == "senate" else args.v
    with results(args.out, FIELDS, row_key) as (append, done):
        for V in vocabularies:
            for N in args.n:
                for rho in args.rho:
                    for rep in range(args.replicates):
                        key = (label, args.interval, args.generator, V, N, rho,
                               args.epsilon, args.speech_len, rep)
                        if key in done:
                            continue
                        seed = 1000 * rep + int(1000 * rho) + 7 * V + N % 9973
                        X, y = draw(args.generator, V, N, rho, seed, args.cache,
                                    args.epsilon, args.speech_len)
                        est = PolarizationEstimator(
                            grid_size=args.grid_size, bias_correction=args.correction,
                            n_bias_draws=args.n_bias_draws, interval=args.interval,
                            n_bootstrap=args.n_bootstrap, random_state=seed,
                        )
                        start = time.perf_counter()
                        est.fit(X, y)
                        seconds = time.perf_counter() - start
                        mle_ci = est.rho_mle_ci_
                        corrected = est.rho_, est.rho_ci_.copy(), est.rho_bias_, est.rho_mle_
                        if args.correction == "crossfit":
                            # the cross-fit skips the maximum-likelihood interval
                            mle_ci = est.set_params(bias_correction=None,
                                                    interval="profile").fit(X, y).rho_ci_
                        row = dict(
                            generator=args.generator, V=V, N=N, rho=rho, epsilon=args.epsilon,
                            speech_len=args.speech_len, replicate=rep,
                            rho_mle=corrected[3], mle_low=mle_ci[0],
                            mle_high=mle_ci[1], rho_corrected=corrected[0],
                            corrected_low=corrected[1][0], corrected_high=corrected[1][1],
                            bias_estimate=corrected[2],
                            seconds=round(seconds, 2),
                            converged=est.converged_, commit=commit,
                            correction=label, interval=args.interval,
                        )
                        append(row)


def summary(path):
    import pandas as pd

    frame = pd.read_csv(path)
    # rows written before the cross-fit existed are bootstrap-corrected
    frame["correction"] = [correction_label(row) for row in frame.to_dict("records")]
    frame["interval"] = frame.get("interval", pd.Series(index=frame.index, dtype=object))
    frame["interval"] = frame["interval"].fillna("profile")
    rows = []
    keys = ["correction", "interval", "generator", "V", "N", "rho", "epsilon", "speech_len"]
    for key, cell in frame.groupby(keys):
        truth = key[5]
        out = dict(zip(keys, key, strict=True), reps=len(cell))
        for name, est, low, high in (("mle", "rho_mle", "mle_low", "mle_high"),
                                     ("corrected", "rho_corrected", "corrected_low",
                                      "corrected_high")):
            error = cell[est] - truth
            out[f"{name} bias"] = error.mean()
            out[f"{name} bias se"] = error.std(ddof=1) / np.sqrt(len(cell)) if len(cell) > 1 else np.nan
            out[f"{name} RMSE"] = np.sqrt((error**2).mean())
            out[f"{name} coverage"] = ((cell[low] <= truth) & (truth <= cell[high])).mean()
        out["fit s"] = cell["seconds"].mean()
        rows.append(out)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.round(4).to_string(index=False))
    print("commits:", ", ".join(sorted(frame["commit"].unique())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=("shared", "partisan", "senate"), default="shared")
    parser.add_argument("--v", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rho", type=float, nargs="+", default=[0.6, 0.8])
    parser.add_argument("--replicates", type=int, default=30)
    parser.add_argument("--epsilon", type=float, default=0.05,
                        help="share of neutral words (partisan generator)")
    parser.add_argument("--speech-len", type=int, default=15,
                        help="words per speech (partisan generator)")
    parser.add_argument("--grid-size", type=int, default=200)
    parser.add_argument("--n-bias-draws", type=int, default=20)
    parser.add_argument("--correction", choices=("bootstrap", "crossfit", "jackknife"),
                        default="crossfit",
                        help="the estimator beside maximum likelihood")
    parser.add_argument("--interval", choices=("profile", "bootstrap"), default="profile",
                        help="interval of the corrected estimate (the MLE's is the profile)")
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--folds", choices=("loo", "5"), default="loo",
                        help="cross-fit: the estimator's leave-one-out (rows labelled "
                             "crossfit-loo) or five folds (crossfit)")
    parser.add_argument("--cache", default="senate_model.pkl")
    run_or_summarize(parser, run, summary, argv, "rho_bias.csv")


if __name__ == "__main__":
    main()
