"""A fit on a corpus no process holds: Dask blocks on a LocalCluster against the in-process E-step.

The corpus is generated lazily, block by block, each block from its own seed
and every block from the same shared-vocabulary poles
(``make_polarized_speech(..., vocabulary=poles)``), so the workers build
their blocks and the client never sees the counts. The script

1. fits ``PolarizationEstimator(interval=None)`` on the Dask array (EM),
   recording the wall time, the E-steps and every worker's peak resident
   memory (``ru_maxrss``);
2. times full-grid E-steps at the fitted parameters on the workers' blocks;
3. builds the same corpus in this process (the same seeds) and times the
   in-process E-step on it at the same parameters, on all cores.

Run from the repository root::

    PYTHONPATH=. python benchmarks/dask_scaling.py --n 10000000 --v 1000 --speech-len 20 \\
        --out benchmarks/results/dask_scaling.csv
"""

import argparse
import csv
import os
import resource
import time
import warnings

import numpy as np
import scipy.sparse as sp

from _provenance import code_version


FIELDS = ["commit", "n", "v", "speech_len", "rho", "block", "workers", "grid_size",
          "fit_s", "n_iter", "converged", "rho_hat", "worker_idle_gb", "dask_e_step_s",
          "worker_rss_gb", "worker_peak_gb", "memory_e_step_s", "ratio", "client_peak_gb"]


def make_block(seed, n, v, speech_len, rho):
    """Block ``seed`` of the corpus: its own speakers, the corpus' pole vocabularies."""
    from skpolar import make_polarized_speech
    from skpolar.datasets import shared_vocabularies

    poles = shared_vocabularies(v, 1.0, np.random.default_rng(2**31))
    X, y = make_polarized_speech(n, rho=rho, vocabulary=poles, speech_len=speech_len,
                                 sparse=True, random_state=seed)
    return sp.csr_matrix(X, dtype=np.float64), y


def lazy_corpus(n, v, speech_len, rho, block):
    import dask.array as da
    from dask import delayed

    sizes = [block] * (n // block) + ([n % block] if n % block else [])
    Xs, ys = [], []
    for seed, size in enumerate(sizes):
        pair = delayed(make_block, nout=2, pure=True)(seed, size, v, speech_len, rho)
        Xs.append(da.from_delayed(pair[0], shape=(size, v), dtype=np.float64,
                                  meta=sp.csr_matrix((0, v))))
        ys.append(da.from_delayed(pair[1], shape=(size,), dtype=np.int64))
    return da.concatenate(Xs), da.concatenate(ys), sizes


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gb():
    import psutil

    return psutil.Process().memory_info().rss / 2**30


def time_e_steps(problem, params, repeats):
    # the first E-step grows the work buffers (page faults): not timed
    problem.e_step(params)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        problem.e_step(params)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--v", type=int, default=1000)
    parser.add_argument("--speech-len", type=int, default=20)
    parser.add_argument("--rho", type=float, default=0.8)
    parser.add_argument("--block", type=int, default=None,
                        help="rows a generated block (default: the power of two of chunk "
                             "windows nearest 250,000 rows, which the fit keeps as they are)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grid-size", type=int, default=200)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-fit", action="store_true", help="time E-steps only")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.block is None:
        from skpolar.dask_backend import aligned_sizes
        from skpolar.likelihood import window_rows

        args.block = aligned_sizes((250_000, 250_000), window_rows(args.grid_size, True))[0]

    import torch
    from distributed import Client, LocalCluster

    from skpolar import PolarizationEstimator
    from skpolar.likelihood import Rows

    row = {"commit": code_version(), "n": args.n, "v": args.v, "speech_len": args.speech_len,
           "rho": args.rho, "block": args.block, "workers": args.workers,
           "grid_size": args.grid_size}
    est = PolarizationEstimator(interval=None, grid_size=args.grid_size, max_iter=args.max_iter)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit=0) as cluster, Client(cluster) as client:
        X, y, _ = lazy_corpus(args.n, args.v, args.speech_len, args.rho, args.block)
        idle = client.run(peak_rss_gb)
        row["worker_idle_gb"] = round(max(idle.values()), 2)
        print(f"worker RSS before the fit (GB): {idle}", flush=True)
        if not args.no_fit:
            start = time.perf_counter()
            est.fit(X, y)
            row.update(fit_s=round(time.perf_counter() - start, 1), n_iter=est.n_iter_,
                       converged=est.converged_, rho_hat=round(est.rho_, 6))
            print(f"fit: {row['fit_s']} s, {est.n_iter_} EM iterations, rho {est.rho_:.5f}",
                  flush=True)
            params = est._params
        # E-steps at one set of parameters, on the workers' blocks
        rows, _, _ = est._dask_fit_rows(X, y, None)
        problem = est._problem(rows, for_em=True)
        if args.no_fit:
            params = est._initial_params(rows, torch.Generator().manual_seed(0))
        tparams = {k: torch.as_tensor(v) for k, v in params.items()}
        row["dask_e_step_s"], times = time_e_steps(problem, tparams, args.repeats)
        print(f"dask E-step: {row['dask_e_step_s']:.2f} s ({times})", flush=True)
        held = client.run(rss_gb)
        row["worker_rss_gb"] = round(max(held.values()), 2)
        print(f"worker RSS holding the blocks (GB): {held}", flush=True)
        rss = client.run(peak_rss_gb)
        row["worker_peak_gb"] = round(max(rss.values()), 2)
        print(f"worker peak RSS (GB): {rss}", flush=True)
        del rows, problem
    # the same corpus in this process, on all cores
    _, _, sizes = lazy_corpus(args.n, args.v, args.speech_len, args.rho, args.block)
    blocks = [make_block(seed, size, args.v, args.speech_len, args.rho)
              for seed, size in enumerate(sizes)]
    Xm = sp.vstack([b[0] for b in blocks], format="csr")
    ym = np.concatenate([b[1] for b in blocks])
    del blocks
    local = PolarizationEstimator(interval=None, grid_size=args.grid_size)
    local.classes_ = np.array([0, 1])
    local.n_features_in_ = args.v
    memory_rows = Rows.of(Xm, ym)
    del Xm
    problem = local._problem(memory_rows, for_em=True)
    from skpolar.utils import torch_threads

    with torch_threads(local._work(memory_rows.nnz)):
        row["memory_e_step_s"], times = time_e_steps(problem, tparams, args.repeats)
    print(f"in-process E-step: {row['memory_e_step_s']:.2f} s ({times}); "
          f"{torch.get_num_threads()} torch threads", flush=True)
    row["ratio"] = round(row["dask_e_step_s"] / row["memory_e_step_s"], 3)
    row["client_peak_gb"] = round(peak_rss_gb(), 2)
    print(row, flush=True)
    if args.out:
        new = not os.path.exists(args.out)
        with open(args.out, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS, restval="")
            if new:
                writer.writeheader()
            writer.writerow(row)


if __name__ == "__main__":
    main()
