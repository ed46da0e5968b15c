"""The honest-rho grid: every estimator of rho against the targets, cell by cell.

Reads the replicates the studies of ``rho_bias_study.py`` left in
``benchmarks/results`` (``rho_bias_shared.csv``: the parametric bootstrap;
``rho_crossfit.csv``: the cross-fits; ``rho_jackknife.csv``: the split-half
jackknife; each row also holds the maximum-likelihood fit of its corpus) and
lays them over the grid the design asks for: V in {200, 2,000, 14,500} x N in
{1,000, 10,000, 100,000} x rho in {0.6, 0.8}, plus rho 0.7 and 0.9 at
2,000 x 10,000, on shared vocabularies and on corpora drawn from the fit to
the Senate (whose V is its own 14,503, and N up to its 18,686 speeches).

``auto`` is the default, ``bias_correction="auto"``: the cross-fit's rows
where V >= N, the maximum-likelihood ones elsewhere.

For every cell and estimator it prints the replicates, the bias (its
standard error), the RMSE and the coverage of the 95% interval, and marks
what meets the targets: |bias| <= 0.005 (required where V <= 10 N) and
coverage in [0.93, 0.97], with at least 30 replicates (10 at N = 100,000).
Cells nobody ran are listed as such. Corpora are drawn from the replicate's
seed alone, so the maximum-likelihood column pools the files' rows of the
same cell without counting a corpus twice.

Run from the project root::

    PYTHONPATH=. python benchmarks/rho_grid.py
    PYTHONPATH=. python benchmarks/rho_grid.py --rst   # the table in docs/benchmarks.rst
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rho_bias_study import correction_label  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
FILES = ("rho_bias_shared.csv", "rho_crossfit.csv", "rho_jackknife.csv")
ESTIMATORS = {"auto": "the default (auto)", "ML": "maximum likelihood",
              "bootstrap": "parametric bootstrap", "crossfit-loo": "cross-fit, leave-one-out",
              "jackknife": "split-half jackknife"}
SENATE_V = 14503
SENATE_N = 18686
BIAS_TARGET = 0.005
COVERAGE_TARGET = (0.93, 0.97)


def grid():
    """(generator, V, N, rho) of every cell of the design."""
    cells = []
    for V in (200, 2000, 14500):
        for N in (1000, 10000, 100000):
            for rho in (0.6, 0.8):
                cells.append(("shared", V, N, rho))
            if (V, N) == (2000, 10000):
                cells += [("shared", V, N, 0.7), ("shared", V, N, 0.9)]
    for N in (1000, 5000, 10000):
        for rho in (0.6, 0.8):
            cells.append(("senate", SENATE_V, N, rho))
    return sorted(cells, key=lambda c: (c[0] != "shared", c[1], c[2], c[3]))


def load(results=RESULTS):
    """All rows, one per (estimator, corpus): columns estimator, generator, V, N, rho,
    replicate, estimate, low, high."""
    frames = []
    for name in FILES:
        path = os.path.join(results, name)
        if not os.path.exists(path):
            continue
        frame = pd.read_csv(path)
        frame["correction"] = [correction_label(r) for r in frame.to_dict("records")]
        interval = (frame["interval"] if "interval" in frame
                    else pd.Series(index=frame.index)).astype(object)
        # the grid compares the estimators' own intervals (the profile's, shifted)
        frame = frame[interval.fillna("profile") == "profile"]
        frame = frame[frame["generator"].isin(["shared", "senate"])]
        keys = frame[["generator", "V", "N", "rho", "replicate"]]
        frames.append(keys.assign(estimator="ML", estimate=frame["rho_mle"],
                                  low=frame["mle_low"], high=frame["mle_high"]))
        frames.append(keys.assign(estimator=frame["correction"], estimate=frame["rho_corrected"],
                                  low=frame["corrected_low"], high=frame["corrected_high"]))
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["estimator"].isin(ESTIMATORS)]
    # the same corpus fitted by maximum likelihood in several studies is one replicate
    rows = rows.drop_duplicates(["estimator", "generator", "V", "N", "rho", "replicate"])
    # bias_correction="auto" runs the cross-fit where V >= N and maximum
    # likelihood elsewhere: the same code as those rows, on the same corpora
    wide = rows["V"] >= rows["N"]
    auto = rows[(wide & (rows["estimator"] == "crossfit-loo"))
                | (~wide & (rows["estimator"] == "ML"))]
    return pd.concat([auto.assign(estimator="auto"), rows], ignore_index=True)


def summarize(rows):
    """One line per (cell, estimator) that ran, and one per cell that did not."""
    out = []
    for generator, V, N, rho in grid():
        cell = rows[(rows["generator"] == generator) & (rows["V"] == V) & (rows["N"] == N)
                    & np.isclose(rows["rho"], rho)]
        if cell.empty:
            out.append(dict(generator=generator, V=V, N=N, rho=rho, estimator="-", reps=0))
            continue
        for estimator in ESTIMATORS:
            runs = cell[cell["estimator"] == estimator]
            if runs.empty:
                continue
            error = runs["estimate"] - rho
            covered = ((runs["low"] <= rho) & (rho <= runs["high"])).mean()
            reps = len(runs)
            enough = reps >= (10 if N >= 100000 else 30)
            bias_applies = V <= 10 * N
            out.append(dict(
                generator=generator, V=V, N=N, rho=rho, estimator=estimator, reps=reps,
                bias=error.mean(), se=error.std(ddof=1) / np.sqrt(reps) if reps > 1 else np.nan,
                rmse=np.sqrt((error**2).mean()), coverage=covered,
                bias_ok=(abs(error.mean()) <= BIAS_TARGET) if bias_applies else None,
                coverage_ok=COVERAGE_TARGET[0] <= covered <= COVERAGE_TARGET[1],
                enough=enough,
            ))
    return pd.DataFrame(out)


def _mark(ok):
    return "-" if ok is None or ok != ok else ("yes" if ok else "no")


def lines(table):
    """The summary as rows of strings, for a plain or an RST table."""
    head = ["generator", "V", "N", "rho", "estimator", "reps", "bias (se)", "RMSE", "cover",
            "bias met", "cover met"]
    body = []
    for r in table.to_dict("records"):
        cell = [r["generator"], f"{r['V']:,}", f"{r['N']:,}", f"{r['rho']:.1f}"]
        if r["reps"] == 0:
            body.append(cell + ["not run", "0"] + ["\\-"] * 5)
            continue
        se = "" if r["se"] != r["se"] else f" ({r['se']:.4f})"
        reps = f"{r['reps']}" + ("" if r["enough"] else " *")
        body.append(cell + [r["estimator"], reps, f"{r['bias']:+.4f}{se}", f"{r['rmse']:.4f}",
                            f"{r['coverage']:.2f}", _mark(r["bias_ok"]), _mark(r["coverage_ok"])])
    return head, body


def render(head, body, rst=False):
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    rule = "  ".join("=" * w for w in widths)
    text = [fmt.format(*head)] + [fmt.format(*row) for row in body]
    if rst:
        text = [rule, text[0], rule] + text[1:] + [rule]
    return "\n".join(line.rstrip() for line in text)


def scoreboard(table):
    """Per estimator: cells run, cells meeting each target, mean |bias| where the bias target applies."""
    ran = table[table["reps"] > 0]
    out = []
    for estimator, rows in ran.groupby("estimator", sort=False):
        applies = rows[rows["bias_ok"].notna()]
        out.append(dict(
            estimator=ESTIMATORS[estimator], cells=len(rows),
            # numpy booleans add as "or": count them as integers
            bias_met=f"{applies['bias_ok'].astype(int).sum()} of {len(applies)}",
            coverage_met=f"{rows['coverage_ok'].astype(int).sum()} of {len(rows)}",
            mean_abs_bias=round(applies["bias"].abs().mean(), 4),
            worst_bias=round(applies["bias"].abs().max(), 4),
        ))
    return pd.DataFrame(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=RESULTS, help="folder of the studies' CSV files")
    parser.add_argument("--rst", action="store_true", help="print the table as reStructuredText")
    args = parser.parse_args(argv)
    table = summarize(load(args.results))
    print(render(*lines(table), rst=args.rst))
    print("\n* fewer replicates than the design asks (30; 10 at N = 100,000)\n")
    board = scoreboard(table)
    if args.rst:
        head = ["estimator", "cells", "bias met", "cover met", "mean abs bias", "worst abs bias"]
        body = [[r["estimator"], str(r["cells"]), r["bias_met"], r["coverage_met"],
                 f"{r['mean_abs_bias']:.4f}", f"{r['worst_bias']:.4f}"]
                for r in board.to_dict("records")]
        print(render(head, body, rst=True))
    else:
        print(board.to_string(index=False))


if __name__ == "__main__":
    main()
