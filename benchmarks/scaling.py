"""Scaling of PolarizationEstimator with corpus size and vocabulary, beside the notebook.

Configurations (each run in a fresh Python subprocess, so its peak memory is
its own):

* synthetic speech from ``make_polarized_speech(N, rho=0.8)``:
  V = 3 terms, 15 words per speech, N = 10^3 ... 10^6 (dense counts; the
  estimator collapses them to distinct rows), and V = 5000 terms, 100 words
  per speech (``n_features=5000, speech_len=100``), N = 10^3 ... 10^5 (sparse
  CSR; generated in blocks of 10^4 rows so the dense per-speech word
  probabilities never exist for the whole corpus). N = 10^6 at V = 5000 is
  left out by default (see ``--max-n-large-v``);
* the 114th-Senate speeches (``skpolar.datasets.load_senate_speeches()``,
  Democrats and Republicans only; the corpus ships with skpolar).

For each configuration and ``emission`` in {"loglinear", "two_pole"} the child
fits ``PolarizationEstimator(emission=..., interval=None, bias_correction=None)``
(the maximum-likelihood fit, also where ``"auto"`` would cross-fit; ``solver="auto"``:
EM for the two-pole family on more than 20 terms, L-BFGS otherwise; the table
names the one used) and reports the fit time, ``n_iter_``, time per iteration, the peak resident memory of the fit
(``VmHWM`` from ``/proc/self/status``, reset after the data are built when the
kernel allows it, else the process's whole peak) and, as a yardstick, the time
of one pass over the non-zeros of the full count matrix with scipy: ``X @ v``
for a random vector ``v`` (loglinear; its E-step is one such mat-vec) and
``X @ M`` for a random (V x 2 * grid_size) matrix, in row blocks (two-pole;
its E-step multiplies every row by the table of its side's grid_size nodes).
``iter/pass`` is the time per iteration over that pass time. Every child first
fits a tiny problem so that one-time start-up costs are not timed. ``iter`` is
``n_iter_``, which counts the iterations (EM: E-steps) of every run of the fit
(the escape from the a = b saddle restarts it), so it can exceed ``max_iter``.

Beside it, the notebook reference (``notebook_reference.fit_notebook``,
float32, G = 200, full (N, G, V) tensor, SGD) at V = 3, N = 10^3 and 10^4: it is
timed with ``--notebook-epochs`` (20) epochs and the time is multiplied by
200 / epochs; those rows are marked "extrapolated". The last table gives the
ratio of that extrapolated 200-epoch time to skpolar's fit time on the same N.

Run from the project root::

    PYTHONPATH=. python benchmarks/scaling.py --threads 1     # everything: ~50 min here,
                                                              # mostly two-pole at V >= 5000
    PYTHONPATH=. python benchmarks/scaling.py --quick         # N <= 10^4, no senate
    PYTHONPATH=. python benchmarks/scaling.py --out scaling.csv
    # the speed issue's cells: moderate vocabularies (20-word speeches) and
    # small wide problems, median of 3 fits, without and with the interval
    PYTHONPATH=. python benchmarks/scaling.py --v 50 300 --n 20000 --speech-len 20 \
        --emission two_pole --no-senate --no-notebook --repeats 3
    PYTHONPATH=. python benchmarks/scaling.py --v 1000 5000 --n 100 2000 \
        --emission two_pole --no-senate --no-notebook --repeats 3 [--interval profile]

``--interval profile`` times the fit with its interval; ``--speech-len`` sets
the words per synthetic speech at V > 3 (100 by default).

Times are wall-clock seconds and noisy on a shared machine.
"""

import argparse
import csv
import gc
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from _provenance import code_version  # noqa: E402

SYNTH_RHO = 0.8
BLOCK = 10_000


def peak_rss_mb():
    """Peak resident set size of this process in MB (VmHWM), or NaN."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def build_data(spec):
    """(X, y, description) for a configuration."""
    import scipy.sparse as sp

    from skpolar import make_polarized_speech

    if spec["data"] == "senate":
        from skpolar.datasets import load_senate_speeches

        senate = load_senate_speeches()
        keep = np.isin(senate.target, ["D", "R"])
        return senate.data[keep].astype(np.float64), senate.target[keep]
    n, v = spec["n"], spec["v"]
    if v == 3:
        return make_polarized_speech(n, rho=SYNTH_RHO, random_state=spec["seed"])
    blocks, ys = [], []
    for i, start in enumerate(range(0, n, BLOCK)):
        Xb, yb = make_polarized_speech(
            min(BLOCK, n - start), rho=SYNTH_RHO, n_features=v,
            speech_len=spec.get("speech_len", 100),
            random_state=spec["seed"] * 100_003 + i,
        )
        blocks.append(sp.csr_matrix(Xb, dtype=np.float64))
        ys.append(yb)
        del Xb
    return sp.vstack(blocks, format="csr"), np.concatenate(ys)


def pass_seconds(X, width, repeat):
    """Best time of ``X @ R`` with R a random (V x width) array, in row blocks."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    R = rng.standard_normal(X.shape[1]) if width == 1 else rng.standard_normal((X.shape[1], width))
    X = sp.csr_matrix(X, dtype=np.float64)
    step = max(1, (32 * 2**20) // (8 * width))
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for lo in range(0, X.shape[0], step):
            X[lo : lo + step] @ R
        best = min(best, time.perf_counter() - start)
    return best


def warm_up(spec):
    """Run the code path once on a tiny problem; return its wall time.

    The first fit in a fresh process pays one-time costs (lazy imports, torch
    and scipy initialization: about a second here) that are not part of a fit's
    cost on a corpus, so every child pays them before it is timed.
    """
    import torch

    from skpolar import PolarizationEstimator, make_polarized_speech

    X, y = make_polarized_speech(200, rho=SYNTH_RHO, random_state=12345)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec["kind"] == "notebook":
            sys.path.insert(0, BENCH_DIR)
            from notebook_reference import fit_notebook

            fit_notebook(X, y, grid_size=spec["grid_size"], n_epochs=2, dtype=torch.float32)
        else:
            PolarizationEstimator(emission=spec["emission"], grid_size=spec["grid_size"],
                                  interval=None, bias_correction=None, max_iter=5).fit(X, y)
    return time.perf_counter() - start


def child(spec):
    """Run one configuration; print one JSON line prefixed by RESULT."""
    import torch

    from skpolar import PolarizationEstimator

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    out = dict(spec)
    out["warmup_seconds"] = warm_up(spec)
    start = time.perf_counter()
    X, y = build_data(spec)
    out["data_seconds"] = time.perf_counter() - start
    out["n"], out["v"] = int(X.shape[0]), int(X.shape[1])
    nnz = X.nnz if hasattr(X, "nnz") else int(np.count_nonzero(X))
    out["nnz"] = int(nnz)
    if not hasattr(X, "nnz"):
        out["distinct_rows"] = int(len(np.unique(np.column_stack([X, y]), axis=0)))
    out["rss_data_mb"] = peak_rss_mb()
    out["torch_threads"] = torch.get_num_threads()

    if spec["kind"] == "notebook":
        sys.path.insert(0, BENCH_DIR)
        from notebook_reference import fit_notebook

        gc.collect()
        out["rss_reset"] = reset_peak_rss()
        nb = fit_notebook(X, y, grid_size=spec["grid_size"], n_epochs=spec["epochs"],
                          dtype=torch.float32)
        out["fit_seconds"] = nb["seconds"]
        out["n_iter"] = spec["epochs"]
        out["seconds_200_epochs"] = nb["seconds"] * 200.0 / spec["epochs"]
        out["rho_hat"] = nb["rho"]
        out["peak_rss_mb"] = peak_rss_mb()
        print("RESULT " + json.dumps(out), flush=True)
        return

    width = 1 if spec["emission"] == "loglinear" else 2 * spec["grid_size"]
    repeat = 3 if nnz * width < 2e9 else 1
    out["pass_seconds"] = pass_seconds(X, width, repeat)
    gc.collect()
    out["rss_reset"] = reset_peak_rss()
    est = PolarizationEstimator(
        emission=spec["emission"], grid_size=spec["grid_size"],
        interval=spec.get("interval"), max_iter=spec["max_iter"], bias_correction=None,
    )
    times = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(spec.get("repeats", 1)):
            start = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - start)
    out["fit_seconds"] = float(np.median(times))
    out["fit_seconds_all"] = [round(t, 3) for t in times]
    out["peak_rss_mb"] = peak_rss_mb()
    out["n_iter"] = int(est.n_iter_)
    out["converged"] = bool(est.converged_)
    out["rho_hat"] = float(est.rho_)
    out["solver"] = est._full_batch_solver()  # what solver="auto" chose
    out["warnings"] = ",".join(sorted({w.category.__name__ for w in caught}))
    print("RESULT " + json.dumps(out), flush=True)


def run_child(spec, timeout):
    env = dict(os.environ)
    root = os.path.dirname(BENCH_DIR)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(spec, status=f"timeout after {timeout:.0f} s")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT "):])
            res["status"] = "ok"
            res["child_seconds"] = time.perf_counter() - start
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return dict(spec, status=f"failed (rc={proc.returncode}): {tail[0][:200]}")


def fmt(value, spec):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return format(value, spec)


def print_tables(results):
    fits = [r for r in results if r["kind"] == "fit"]
    header = (
        f"{'data':>9} {'N':>8} {'V':>6} {'nnz':>10} {'distinct':>8} {'emission':>9} "
        f"{'solver':>6} | "
        f"{'fit s':>8} {'iter':>5} {'s/iter':>8} {'pass s':>8} {'iter/pass':>9} | "
        f"{'build MB':>8} {'fit MB':>8} | {'rho_hat':>7} {'conv':>5}"
    )
    interval = next((r.get("interval") for r in fits if r.get("interval")), None)
    print(f"PolarizationEstimator(interval={interval!r}), fresh process per row (warmed up on "
          "a tiny fit first; fit s is the median of the row's fits). build MB: peak RSS "
          "while the data were built; fit MB: peak RSS during the fit (data included), "
          "VmHWM reset after the build")
    print(header)
    print("-" * len(header))
    for r in fits:
        if r.get("status") != "ok":
            print(f"{r['data']:>9} {fmt(r.get('n'), '>8d'):>8} {fmt(r.get('v'), 'd'):>6} "
                  f"{'':>10} {'':>8} {r['emission']:>9} {'':>6} | {r['status']}")
            continue
        per_iter = r["fit_seconds"] / max(r["n_iter"], 1)
        print(
            f"{r['data']:>9} {r['n']:>8d} {r['v']:>6d} {r['nnz']:>10d} "
            f"{fmt(r.get('distinct_rows'), 'd'):>8} {r['emission']:>9} {r['solver']:>6} | "
            f"{r['fit_seconds']:>8.2f} {r['n_iter']:>5d} {per_iter:>8.4f} "
            f"{r['pass_seconds']:>8.4f} {per_iter / r['pass_seconds']:>9.1f} | "
            f"{r['rss_data_mb']:>8.0f} {r['peak_rss_mb']:>8.0f} | "
            f"{r['rho_hat']:>7.4f} {str(r['converged']):>5}"
            + (f"  [{r['warnings']}]" if r.get("warnings") else "")
        )

    nbs = [r for r in results if r["kind"] == "notebook"]
    if not nbs:
        return
    print()
    print("Notebook reference (float32, G=200, SGD), V=3: timed epochs, 200-epoch time "
          "EXTRAPOLATED linearly")
    header = (f"{'N':>8} {'epochs run':>10} {'s (run)':>8} {'s/epoch':>8} "
              f"{'s @200 (extrap.)':>16} {'peak MB':>8} {'rho_hat@run':>11}")
    print(header)
    print("-" * len(header))
    for r in nbs:
        if r.get("status") != "ok":
            print(f"{r['n']:>8d} {r['epochs']:>10d} {r['status']}")
            continue
        print(f"{r['n']:>8d} {r['epochs']:>10d} {r['fit_seconds']:>8.2f} "
              f"{r['fit_seconds'] / r['epochs']:>8.4f} {r['seconds_200_epochs']:>16.1f} "
              f"{r['peak_rss_mb']:>8.0f} {r['rho_hat']:>11.4f}")
    print()
    print("Ratio: notebook 200-epoch time (extrapolated) / skpolar fit time, same N, V=3")
    header = f"{'N':>8} {'emission':>9} {'notebook s':>10} {'skpolar s':>9} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    for nb in nbs:
        if nb.get("status") != "ok":
            continue
        for r in fits:
            if (r.get("status") == "ok" and r["data"] == "synthetic" and r["v"] == 3
                    and r["n"] == nb["n"]):
                print(f"{nb['n']:>8d} {r['emission']:>9} {nb['seconds_200_epochs']:>10.1f} "
                      f"{r['fit_seconds']:>9.2f} {nb['seconds_200_epochs'] / r['fit_seconds']:>7.0f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, nargs="+", default=[10**3, 10**4, 10**5, 10**6],
                        help="synthetic corpus sizes")
    parser.add_argument("--v", type=int, nargs="+", default=[3, 5000],
                        help="synthetic vocabulary sizes")
    parser.add_argument("--max-n-large-v", type=int, default=10**5,
                        help="largest N run at V > 3 (10^6 x 5000 takes hours per fit here)")
    parser.add_argument("--emission", nargs="+", default=["loglinear", "two_pole"])
    parser.add_argument("--grid-size", type=int, default=200)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--speech-len", type=int, default=100,
                        help="words per synthetic speech at V > 3")
    parser.add_argument("--interval", choices=("profile", "bootstrap"), default=None,
                        help="time the fit with this interval (default: none)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="fits per configuration; the table gives the median time")
    parser.add_argument("--no-senate", action="store_true")
    parser.add_argument("--no-notebook", action="store_true")
    parser.add_argument("--notebook-n", type=int, nargs="+", default=[10**3, 10**4])
    parser.add_argument("--notebook-epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true",
                        help="N in {10^3, 10^4}, no senate: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in every child (default: torch's own choice)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds before a configuration is abandoned")
    parser.add_argument("--out", help="also write all rows to this CSV file")
    args = parser.parse_args(argv)

    if args.child:
        child(json.loads(args.child))
        return

    if args.quick:
        args.n = [n for n in args.n if n <= 10**4]
        args.no_senate = True

    specs = []
    for v in args.v:
        for n in args.n:
            if v > 3 and n > args.max_n_large_v:
                print(f"skipping synthetic N={n} V={v}: above --max-n-large-v="
                      f"{args.max_n_large_v}")
                continue
            for emission in args.emission:
                specs.append(dict(kind="fit", data="synthetic", n=n, v=v, emission=emission,
                                  seed=args.seed, grid_size=args.grid_size,
                                  max_iter=args.max_iter, threads=args.threads,
                                  speech_len=args.speech_len, interval=args.interval,
                                  repeats=args.repeats))
    if not args.no_senate:
        for emission in args.emission:
            specs.append(dict(kind="fit", data="senate", n=None, v=None, emission=emission,
                              seed=args.seed, grid_size=args.grid_size,
                              max_iter=args.max_iter, threads=args.threads,
                              interval=args.interval, repeats=args.repeats))
    if not args.no_notebook:
        for n in args.notebook_n:
            specs.append(dict(kind="notebook", data="synthetic", n=n, v=3,
                              epochs=args.notebook_epochs, seed=args.seed,
                              grid_size=args.grid_size, threads=args.threads))

    print(f"skpolar code: {code_version()}")
    results = []
    for spec in specs:
        t0 = time.perf_counter()
        res = run_child(spec, args.timeout)
        results.append(res)
        print(f"  {spec['kind']} {spec['data']} N={spec['n']} V={spec['v']} "
              f"{spec.get('emission', '')}: {res['status']} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)
    print_tables(results)
    if args.out:
        keys = sorted({k for r in results for k in r})
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(results)


if __name__ == "__main__":
    main()
