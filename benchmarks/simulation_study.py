"""Simulation study: are PolarizationEstimator's estimates and intervals trustworthy?

For every cell (true polarization rho, number of speeches N) the script draws
``--replicates`` independent data sets with
``make_polarized_speech(N, rho=rho, random_state=..., return_truth=True)``
(15 words over 3 terms), fits ``PolarizationEstimator()`` with its defaults
(two-pole emission, L-BFGS, exact quadrature, 95% profile interval) to each,
and prints per cell:

* ``bias`` and ``RMSE`` of ``rho_`` against the true rho;
* the mean width of the 95% profile interval ``rho_ci_`` and its coverage
  (share of replicates whose interval holds the true rho);
* ``P(0.5 in CI)``: share of intervals that reach down to 0.5, i.e. that cannot
  exclude an unpolarized population (at rho = 0.5 this is the coverage; at
  rho > 0.5 it should be near zero);
* the mean fit time (``fit`` including the interval) and L-BFGS iterations;
* ``corr(est)``: correlation of ``est.transform(X)`` (posterior mean stance
  from the words alone) with the true stances ``truth.u``, beside
  ``corr(oracle)``: the same correlation for the posterior mean computed with
  the TRUE parameters (true Beta mixture and true pole vocabularies, exact cell
  masses on a fine grid, computed here independently of skpolar). The oracle
  is the best any estimator of E[u | x] can do; the gap is the price of
  estimating the parameters.

With ``--notebook`` the research notebook's trainer
(``notebook_reference.fit_notebook``: float32, G = 200, 200 SGD epochs, about
a minute per fit at N = 10,000) is fitted to the first
``--notebook-replicates`` data sets of every cell with N <= ``--notebook-max-n``
and its bias, RMSE and time are reported beside.

Replicates run in parallel with joblib (``--n-jobs``); each worker fits one
replicate on one torch thread. At the end the script projects the wall time of
the full design (rho in {0.5, ..., 0.9}, N in {10k, 100k}, 50 replicates) from
the measured per-replicate times.

Run from the project root, for example::

    PYTHONPATH=. python benchmarks/simulation_study.py --replicates 20 --n 10000 --n-jobs 2
    PYTHONPATH=. python benchmarks/simulation_study.py --replicates 50 --n 10000 100000 \\
        --n-jobs 2 --out simulation.csv          # the full design
"""

import argparse
import csv
import os
import sys
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from scipy.special import logsumexp
from scipy.stats import beta as beta_dist

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from _provenance import code_version  # noqa: E402

FULL_RHOS = (0.5, 0.6, 0.7, 0.8, 0.9)
FULL_NS = (10_000, 100_000)
FULL_REPLICATES = 50


def oracle_posterior_mean(X, truth, n_cells=4000):
    """E[u | x] under the true generative model (no party), on a fine grid.

    ``t = (u + 1) / 2`` is split into ``n_cells`` equal cells; each cell's
    prior weight is its exact mass under ``pi Beta(a, b) + (1 - pi) Beta(b, a)``
    (CDF differences) and its word distribution is
    ``(1 - t) theta_L + t theta_R`` at the midpoint.
    """
    edges = np.linspace(0.0, 1.0, n_cells + 1)
    t = (edges[:-1] + edges[1:]) / 2.0
    a, b, pi = truth.a, truth.b, truth.pi
    mass = pi * np.diff(beta_dist.cdf(edges, a, b)) + (1 - pi) * np.diff(
        beta_dist.cdf(edges, b, a)
    )
    with np.errstate(divide="ignore"):
        log_mass = np.log(mass)
        log_phi = np.log((1.0 - t)[:, None] * truth.theta[0] + t[:, None] * truth.theta[1])
    X = np.asarray(X, dtype=float)
    rows, inverse = np.unique(X, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    # 0 * log 0 never arises: every word has mass under at least one pole
    joint = rows @ log_phi.T + log_mass
    post = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    return (post @ (2.0 * t - 1.0))[inverse]


def replicate(rho, n, rep, seed, notebook, oracle_cells, grid_size):
    """Draw one data set and fit it; returns a dict of results."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, BENCH_DIR)
    from skpolar import PolarizationEstimator, make_polarized_speech

    start_rep = time.perf_counter()
    data_seed = int(
        np.random.SeedSequence([seed, int(round(rho * 1000)), n, rep]).generate_state(1)[0]
    )
    X, y, truth = make_polarized_speech(n, rho=rho, random_state=data_seed, return_truth=True)
    out = {"rho": rho, "n": n, "rep": rep, "data_seed": data_seed}

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est = PolarizationEstimator(grid_size=grid_size).fit(X, y)
            out["error"] = ""
        except Exception as exc:
            est, out["error"] = None, f"{type(exc).__name__}: {exc}"
    out["fit_seconds"] = time.perf_counter() - start
    out["warnings"] = ",".join(sorted({w.category.__name__ for w in caught}))
    if est is not None:
        out.update(
            rho_hat=est.rho_, ci_low=est.rho_ci_[0], ci_high=est.rho_ci_[1],
            rho_se=est.rho_se_, n_iter=est.n_iter_, converged=bool(est.converged_),
        )
        stance = est.transform(X).ravel()
        out["corr_est"] = float(np.corrcoef(stance, truth.u)[0, 1])
    else:
        out.update(rho_hat=np.nan, ci_low=np.nan, ci_high=np.nan, rho_se=np.nan,
                   n_iter=-1, converged=False, corr_est=np.nan)
    oracle = oracle_posterior_mean(X, truth, oracle_cells)
    out["corr_oracle"] = float(np.corrcoef(oracle, truth.u)[0, 1])

    out["nb_rho"], out["nb_seconds"] = np.nan, np.nan
    if notebook:
        from notebook_reference import fit_notebook

        nb = fit_notebook(X, y, grid_size=200, n_epochs=200, seed=rep, dtype=torch.float32)
        out["nb_rho"], out["nb_seconds"] = nb["rho"], nb["seconds"]
    out["replicate_seconds"] = time.perf_counter() - start_rep
    return out


def summarize(results, rho, n):
    rows = [r for r in results if r["rho"] == rho and r["n"] == n]
    ok = [r for r in rows if np.isfinite(r["rho_hat"])]
    est = np.array([r["rho_hat"] for r in ok])
    lo = np.array([r["ci_low"] for r in ok])
    hi = np.array([r["ci_high"] for r in ok])
    finite_ci = np.isfinite(lo) & np.isfinite(hi)
    nb = np.array([r["nb_rho"] for r in rows if np.isfinite(r["nb_rho"])])
    nb_sec = [r["nb_seconds"] for r in rows if np.isfinite(r["nb_seconds"])]
    return {
        "rho": rho,
        "n": n,
        "replicates": len(rows),
        "errors": len(rows) - len(ok),
        "bias": est.mean() - rho if len(est) else np.nan,
        "rmse": np.sqrt(np.mean((est - rho) ** 2)) if len(est) else np.nan,
        "ci_width": np.mean(hi[finite_ci] - lo[finite_ci]) if finite_ci.any() else np.nan,
        "coverage": np.mean((lo <= rho) & (rho <= hi)) if finite_ci.any() else np.nan,
        "share_ci_has_0.5": np.mean(lo[finite_ci] <= 0.5) if finite_ci.any() else np.nan,
        "fit_seconds": np.mean([r["fit_seconds"] for r in rows]),
        "n_iter": np.mean([r["n_iter"] for r in ok]) if ok else np.nan,
        "unconverged": sum(not r["converged"] for r in ok),
        "with_warnings": sum(bool(r["warnings"]) for r in rows),
        "corr_est": np.mean([r["corr_est"] for r in ok]) if ok else np.nan,
        "corr_oracle": np.mean([r["corr_oracle"] for r in rows]),
        "replicate_seconds": np.mean([r["replicate_seconds"] for r in rows]),
        "nb_replicates": len(nb),
        "nb_bias": nb.mean() - rho if len(nb) else np.nan,
        "nb_rmse": np.sqrt(np.mean((nb - rho) ** 2)) if len(nb) else np.nan,
        "nb_seconds": np.mean(nb_sec) if nb_sec else np.nan,
    }


def print_table(cells, notebook):
    header = (
        f"{'N':>7} {'rho':>4} {'reps':>4} | {'bias':>8} {'RMSE':>7} {'CI width':>8} "
        f"{'cover':>5} {'P(.5inCI)':>9} | {'fit s':>6} {'iter':>5} {'warn':>4} {'err':>3} | "
        f"{'corr(est)':>9} {'corr(oracle)':>12}"
    )
    if notebook:
        header += f" | {'nb reps':>7} {'nb bias':>8} {'nb RMSE':>7} {'nb s':>6}"
    print(header)
    print("-" * len(header))
    for c in cells:
        line = (
            f"{c['n']:>7d} {c['rho']:>4.1f} {c['replicates']:>4d} | {c['bias']:>+8.4f} "
            f"{c['rmse']:>7.4f} {c['ci_width']:>8.4f} {c['coverage']:>5.2f} "
            f"{c['share_ci_has_0.5']:>9.2f} | {c['fit_seconds']:>6.2f} {c['n_iter']:>5.1f} "
            f"{c['with_warnings']:>4d} {c['errors']:>3d} | {c['corr_est']:>9.4f} "
            f"{c['corr_oracle']:>12.4f}"
        )
        if notebook:
            line += (
                f" | {c['nb_replicates']:>7d} {c['nb_bias']:>+8.4f} {c['nb_rmse']:>7.4f} "
                f"{c['nb_seconds']:>6.1f}"
            )
        print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rho", type=float, nargs="+", default=list(FULL_RHOS))
    parser.add_argument("--n", type=int, nargs="+", default=list(FULL_NS),
                        help="numbers of speeches (default 10000 100000)")
    parser.add_argument("--replicates", type=int, default=FULL_REPLICATES)
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="joblib workers over replicates (each uses one torch thread)")
    parser.add_argument("--seed", type=int, default=0, help="master seed of the data sets")
    parser.add_argument("--grid-size", type=int, default=200, help="skpolar grid nodes per side")
    parser.add_argument("--oracle-cells", type=int, default=4000,
                        help="cells of the true-parameter posterior-mean grid")
    parser.add_argument("--notebook", action="store_true",
                        help="also fit the notebook reference (slow: ~1 min per fit at N=10k)")
    parser.add_argument("--notebook-replicates", type=int, default=3,
                        help="replicates per cell that get a notebook fit")
    parser.add_argument("--notebook-max-n", type=int, default=10_000,
                        help="largest N at which the notebook is fitted")
    parser.add_argument("--out", help="write one row per replicate to this CSV file")
    parser.add_argument("--cells-out", help="write the per-cell summary to this CSV file")
    args = parser.parse_args(argv)

    tasks = [
        (rho, n, rep)
        for n in args.n
        for rho in args.rho
        for rep in range(args.replicates)
    ]
    print(f"skpolar code: {code_version()}")
    print(f"{len(args.rho)} rho x {len(args.n)} N x {args.replicates} replicates = "
          f"{len(tasks)} fits on {args.n_jobs} worker(s); PolarizationEstimator() defaults "
          f"(grid_size={args.grid_size}); oracle grid {args.oracle_cells} cells"
          + ("; notebook reference on" if args.notebook else ""))
    start = time.perf_counter()
    jobs = (
        delayed(replicate)(
            rho, n, rep, args.seed,
            args.notebook and rep < args.notebook_replicates and n <= args.notebook_max_n,
            args.oracle_cells, args.grid_size,
        )
        for rho, n, rep in tasks
    )
    results = []
    for i, res in enumerate(
        Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(jobs), start=1
    ):
        results.append(res)
        if i % 10 == 0 or i == len(tasks):
            print(f"  {i}/{len(tasks)} fits, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - start

    cells = [summarize(results, rho, n) for n in args.n for rho in args.rho]
    print_table(cells, args.notebook)
    print(f"wall time {wall:.0f} s for {len(tasks)} fits on {args.n_jobs} worker(s)")
    errors = [r for r in results if r["error"]]
    for r in errors[:10]:
        print(f"error rho={r['rho']} N={r['n']} rep={r['rep']} data_seed={r['data_seed']}: "
              f"{r['error']}")
    warned = [r for r in results if r["warnings"]]
    for r in warned[:10]:
        print(f"warning rho={r['rho']} N={r['n']} rep={r['rep']} data_seed={r['data_seed']}: "
              f"{r['warnings']}")

    # Projection of the full design from the measured per-replicate cost
    # (skpolar only; notebook fits excluded).
    per_n = {}
    for r in results:
        cost = r["replicate_seconds"] - (r["nb_seconds"] if np.isfinite(r["nb_seconds"]) else 0)
        per_n.setdefault(r["n"], []).append(cost)
    measured = {n: float(np.mean(v)) for n, v in per_n.items()}
    if all(n in measured for n in FULL_NS):
        total = sum(measured[n] * len(FULL_RHOS) * FULL_REPLICATES for n in FULL_NS)
        print(
            "projected full design (5 rho x N in {10k, 100k} x 50 replicates): "
            f"{total:.0f} s of single-thread work = ~{total / args.n_jobs / 60:.0f} min on "
            f"{args.n_jobs} worker(s) (mean per replicate: "
            + ", ".join(f"N={n}: {measured[n]:.1f} s" for n in FULL_NS) + ")"
        )
    else:
        print("mean single-thread seconds per replicate: "
              + ", ".join(f"N={n}: {s:.1f}" for n, s in sorted(measured.items())))

    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(results[0]))
            writer.writeheader()
            writer.writerows(sorted(results, key=lambda r: (r["n"], r["rho"], r["rep"])))
    if args.cells_out:
        with open(args.cells_out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(cells[0]))
            writer.writeheader()
            writer.writerows(cells)


if __name__ == "__main__":
    main()
