"""Side by side: the research notebook's trainer and ``PolarizationEstimator``.

For each true polarization ``rho`` one data set is drawn with
``make_polarized_speech(N, rho=rho, random_state=seed)`` (N = 10,000 speeches of
15 words over 3 terms by default). On the same data the script fits

* the notebook reference (``benchmarks/notebook_reference.fit_notebook``:
  ``softmax(W u)``, float32, 200 grid nodes per side, 200 full-batch SGD
  epochs), and
* ``PolarizationEstimator()`` with its defaults (two-pole emission, ``solver="auto"``
  (L-BFGS on three terms),
  exact quadrature, ``interval="profile"``), timed two ways, each the median
  of ``--repeats`` fits (3): the whole ``fit`` including the 95% profile
  interval, and ``fit`` with ``interval=None``.

It prints, per rho, both estimates, skpolar's 95% interval, the wall times and
the ratio of the notebook's fit time to skpolar's (with and without the
interval). One notebook fit takes one to several minutes, so only rho = 0.8 is
run unless ``--all`` (0.5, 0.6, 0.7, 0.8, 0.9) or ``--rho`` is given.

Run from the project root::

    PYTHONPATH=. python benchmarks/compare_notebook.py            # rho = 0.8
    PYTHONPATH=. python benchmarks/compare_notebook.py --all --out compare.csv

Timings are wall-clock seconds on whatever else the machine is running; on a
shared machine they are noisy (the notebook's especially, as it is long).
"""

import argparse
import csv
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _provenance import code_version  # noqa: E402
from notebook_reference import fit_notebook  # noqa: E402

from skpolar import PolarizationEstimator, make_polarized_speech  # noqa: E402

ALL_RHOS = (0.5, 0.6, 0.7, 0.8, 0.9)


def fit_skpolar(X, y, interval, repeats=1, **params):
    """Fit PolarizationEstimator ``repeats`` times; return (estimator or None, median
    seconds, error, warnings)."""
    times = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeats):
            start = time.perf_counter()
            try:
                est = PolarizationEstimator(interval=interval, **params).fit(X, y)
                error = ""
            except Exception as exc:  # report, do not hide, a failing fit
                est, error = None, f"{type(exc).__name__}: {exc}"
            times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    names = sorted({w.category.__name__ for w in caught})
    return est, seconds, error, names


def run(rho, args):
    X, y = make_polarized_speech(args.n, rho=rho, random_state=args.seed)
    row = {"rho": rho, "n": args.n}

    if not args.skip_notebook:
        nb = fit_notebook(
            X, y, grid_size=args.grid_size, n_epochs=args.epochs, seed=args.seed,
            dtype=torch.float32,
        )
        row.update(nb_rho=nb["rho"], nb_alpha=nb["alpha"], nb_beta=nb["beta"],
                   nb_seconds=nb["seconds"])
    else:
        row.update(nb_rho=np.nan, nb_alpha=np.nan, nb_beta=np.nan, nb_seconds=np.nan)

    est, sec_ci, err_ci, warn_ci = fit_skpolar(X, y, "profile", args.repeats,
                                               grid_size=args.grid_size)
    est0, sec_fit, err_fit, warn_fit = fit_skpolar(X, y, None, args.repeats,
                                                   grid_size=args.grid_size)
    row.update(
        sk_rho=est.rho_ if est is not None else np.nan,
        sk_ci_low=est.rho_ci_[0] if est is not None else np.nan,
        sk_ci_high=est.rho_ci_[1] if est is not None else np.nan,
        sk_seconds_with_interval=sec_ci,
        sk_rho_no_interval=est0.rho_ if est0 is not None else np.nan,
        sk_n_iter=est0.n_iter_ if est0 is not None else -1,
        sk_converged=bool(est0.converged_) if est0 is not None else False,
        sk_seconds_no_interval=sec_fit,
        sk_error="; ".join(e for e in (err_ci, err_fit) if e),
        sk_warnings=",".join(sorted(set(warn_ci) | set(warn_fit))),
    )
    row["ratio_no_interval"] = row["nb_seconds"] / sec_fit
    row["ratio_with_interval"] = row["nb_seconds"] / sec_ci
    return row


def print_table(rows):
    header = (
        f"{'rho':>5} | {'nb rho_hat':>10} {'nb s':>7} | {'sk rho_hat':>10} "
        f"{'95% interval':>17} {'s (+CI)':>8} {'s (fit)':>8} {'iter':>5} | "
        f"{'nb/sk fit':>9} {'nb/sk +CI':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ci = f"[{r['sk_ci_low']:.4f}, {r['sk_ci_high']:.4f}]"
        print(
            f"{r['rho']:>5.2f} | {r['nb_rho']:>10.4f} {r['nb_seconds']:>7.1f} | "
            f"{r['sk_rho']:>10.4f} {ci:>17} {r['sk_seconds_with_interval']:>8.2f} "
            f"{r['sk_seconds_no_interval']:>8.2f} {r['sk_n_iter']:>5d} | "
            f"{r['ratio_no_interval']:>8.0f}x {r['ratio_with_interval']:>8.0f}x"
        )
    for r in rows:
        if r["sk_error"]:
            print(f"rho={r['rho']}: skpolar error: {r['sk_error']}")
        if r["sk_warnings"]:
            print(f"rho={r['rho']}: skpolar warnings: {r['sk_warnings']}")
    if rows and np.isfinite(rows[0]["nb_rho"]):
        mae_nb = np.mean([abs(r["nb_rho"] - r["rho"]) for r in rows])
        mae_sk = np.mean([abs(r["sk_rho"] - r["rho"]) for r in rows])
        cover = np.mean([r["sk_ci_low"] <= r["rho"] <= r["sk_ci_high"] for r in rows])
        print(f"mean |rho_hat - rho|: notebook {mae_nb:.4f}, skpolar {mae_sk:.4f}; "
              f"skpolar intervals covering the truth: {cover:.0%}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rho", type=float, nargs="+", default=[0.8],
                        help="true polarizations to run (default 0.8)")
    parser.add_argument("--all", action="store_true",
                        help="run rho = 0.5, 0.6, 0.7, 0.8, 0.9")
    parser.add_argument("--n", type=int, default=10_000, help="speeches per data set")
    parser.add_argument("--seed", type=int, default=0,
                        help="data seed (also the notebook's initialization seed)")
    parser.add_argument("--epochs", type=int, default=200, help="notebook SGD epochs")
    parser.add_argument("--grid-size", type=int, default=200, help="nodes per side, both fits")
    parser.add_argument("--repeats", type=int, default=3,
                        help="skpolar fits timed per setting (their median; the first "
                        "fit in a process pays one-off costs the notebook's long run hides)")
    parser.add_argument("--skip-notebook", action="store_true",
                        help="fit skpolar only (for a quick check)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both fits (default: torch's own choice; "
                        "skpolar drops to one thread on small problems by itself)")
    parser.add_argument("--out", help="also write the rows to this CSV file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rhos = ALL_RHOS if args.all else tuple(args.rho)
    print(f"skpolar code: {code_version()}")
    print(f"N={args.n} speeches x 15 words, V=3, seed={args.seed}, G={args.grid_size}, "
          f"notebook: float32 SGD lr 0.1, {args.epochs} epochs; "
          f"torch threads={torch.get_num_threads()}, cpus={os.cpu_count()}")
    rows = []
    for rho in rhos:
        rows.append(run(rho, args))
        print(f"  done rho={rho}", file=sys.stderr, flush=True)
    print_table(rows)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
