"""Time the notebook's row-by-row generator against ``make_polarized_speech``.

The notebook samples each speech's word counts in a Python loop; skpolar draws
all of them in one vectorized call. This script prints both wall times and
their ratio (the target is a speed-up of at least 50x). Run from the project
root with ``PYTHONPATH=. python benchmarks/bench_generator.py``.
"""

import argparse
import time

from notebook_reference import generate_notebook

from skpolar.datasets import make_polarized_speech


def best_time(fn, repeat):
    """Smallest wall time of ``repeat`` calls of ``fn``, in seconds.

    The minimum is the least noisy estimate of a function's own cost: other
    load on the machine can only add time.
    """
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="number of speeches")
    parser.add_argument("--rho", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (best is kept)")
    args = parser.parse_args()

    # The notebook's generator takes seconds, so a single run is precise enough.
    t_notebook = best_time(lambda: generate_notebook(args.n, args.rho, seed=args.seed), 1)
    t_ours = best_time(
        lambda: make_polarized_speech(args.n, rho=args.rho, random_state=args.seed),
        args.repeat,
    )
    print(f"N={args.n} rho={args.rho}")
    print(f"notebook generator (1 run):             {t_notebook:.3f} s")
    print(f"make_polarized_speech (best of {args.repeat}): {t_ours:.4f} s")
    print(f"speed-up: {t_notebook / t_ours:.0f}x")
