"""Do skpolar's speaker stances measure something stable? The 114th Senate, checked four ways.

Democrats and Republicans of ``skpolar.datasets.load_senate_speeches()``
(18,686 speeches, 97 senators, 14,503 terms). For each configuration below:

* **split-half reliability**: the speeches are split at random into two
  halves (every senator keeps about half of theirs); each half is fitted on
  its own and scored per senator; the correlation of the two halves' senator
  stances *within each party* (a party-level difference is free) is reported,
  as the mean and the standard deviation over ``--splits`` random splits.
  Both the stance given the party and the words-only stance are scored.
* **held-out log likelihood**: 80% of every senator's speeches (at random)
  are fitted; each held-out speech is scored by the probability the fitted
  model gives it, given its party and, for the speaker-level fits, given its
  speaker's posterior from the training speeches (multinomial, without the
  dispersion weights: a fair predictive). Reported per held-out speech.
* **speakers at |u| > 0.99** in a fit on all the speeches (given the party),
  and how many of them fall below 0.99 when the one word that pulls them
  hardest towards their pole is deleted from their speeches ("one word").
* **fit time** on all the speeches.

Beside every row: the one-line baseline, each senator's count-weighted mean of
the parties' smoothed (+0.5) word log odds, on the same splits.

Configurations:

``speeches``
    ``PolarizationEstimator()`` fitted on speeches (no groups); a senator's
    stance is the mean of their speeches' posterior means,
    ``speaker_stance(..., method="mean")``, as the senate example did before
    speaker stances existed.
``speakers``
    ``PolarizationEstimator().fit(X, y, groups=senator)`` (the two-pole
    default, dispersion estimated within senators), scored with
    ``speaker_stance``.
``speakers-k30``
    As ``speakers`` with ``dispersion=30``.
``speakers-loglinear``
    As ``speakers`` with ``emission="loglinear"``.

Run from the project root (about 40 minutes on two cores with the defaults)::

    PYTHONPATH=. python benchmarks/stance_validity.py
    PYTHONPATH=. python benchmarks/stance_validity.py --splits 2 --configs speakers
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import code_version  # noqa: E402

from skpolar import PolarizationEstimator  # noqa: E402
from skpolar.datasets import load_senate_speeches  # noqa: E402
from skpolar.emissions import make_emission  # noqa: E402
from skpolar.likelihood import make_chunks  # noqa: E402
from skpolar.speakers import encode_groups, sum_by_group  # noqa: E402

CONFIGS = {
    "speeches": dict(groups=False, params={}),
    "speakers": dict(groups=True, params={}),
    "speakers-k30": dict(groups=True, params={"dispersion": 30.0}),
    "speakers-loglinear": dict(groups=True, params={"emission": "loglinear"}),
}


def load():
    senate = load_senate_speeches()
    keep = np.isin(senate.target, ["D", "R"])
    return senate.data[keep].tocsr().astype(float), senate.target[keep], senate.author[keep]


def baseline(X, party, author):
    """Count-weighted mean of the parties' smoothed word log odds, per senator."""
    counts = {p: np.asarray(X[party == p].sum(axis=0)).ravel() + 0.5 for p in "DR"}
    log_odds = np.log(counts["R"] / counts["R"].sum()) - np.log(counts["D"] / counts["D"].sum())
    labels, inverse = encode_groups(author, X.shape[0])
    summed = sum_by_group(X, inverse, len(labels))
    score = (summed @ log_odds) / np.maximum(np.asarray(summed.sum(axis=1)).ravel(), 1.0)
    return labels, score


def senator_scores(config, X, party, author):
    """Senator stances (given party, words only), the fitted estimator and the fit time."""
    est = PolarizationEstimator(interval=None, **config["params"])
    start = time.perf_counter()
    if config["groups"]:
        est.fit(X, party, groups=author)
        seconds = time.perf_counter() - start
        table = est.speaker_stance(X, party, groups=author)
        return table.index.to_numpy(), table["stance"].to_numpy(), \
            table["words_stance"].to_numpy(), table["party"].to_numpy(), est, seconds
    est.fit(X, party)
    seconds = time.perf_counter() - start
    table = est.speaker_stance(X, party, groups=author, method="mean")
    return table.index.to_numpy(), table["stance"].to_numpy(), \
        table["words_stance"].to_numpy(), table["party"].to_numpy(), est, seconds


def within_party(a, b, side):
    return [float(np.corrcoef(a[side == p], b[side == p])[0, 1]) for p in "DR"]


def reliability(config, X, party, author, n_splits, seed):
    rows = []
    rng = np.random.default_rng(seed)
    for _ in range(n_splits):
        half = rng.random(X.shape[0]) < 0.5
        fits = [senator_scores(config, X[h], party[h], author[h]) for h in (half, ~half)]
        bases = [baseline(X[h], party[h], author[h]) for h in (half, ~half)]
        labels = np.intersect1d(fits[0][0], fits[1][0])
        pick = [np.searchsorted(f[0], labels) for f in fits]
        side = fits[0][3][pick[0]]
        given = within_party(fits[0][1][pick[0]], fits[1][1][pick[1]], side)
        words = within_party(fits[0][2][pick[0]], fits[1][2][pick[1]], side)
        base = within_party(bases[0][1][np.searchsorted(bases[0][0], labels)],
                            bases[1][1][np.searchsorted(bases[1][0], labels)], side)
        rows.append(given + words + base)
        print(f"    split: given {given[0]:.3f}/{given[1]:.3f}  words {words[0]:.3f}/"
              f"{words[1]:.3f}  baseline {base[0]:.3f}/{base[1]:.3f}", flush=True)
    rows = np.array(rows)
    return rows.mean(axis=0), rows.std(axis=0)


def node_loglik(est, X):
    """log p(x_n | u_g) of every speech at every node (multinomial, no weights)."""
    emission = make_emission(est._config["emission"], est._config["l2_penalty"])
    params = {k: torch.as_tensor(v) for k, v in est._params.items()}
    u = torch.as_tensor(est.grid_)
    zero = torch.zeros(len(u), dtype=torch.float64)
    out = np.empty((X.shape[0], len(u)))
    with torch.no_grad():
        prepared = emission.prepare(params, u)
        for chunk in make_chunks(X, None, None, len(u) // 2):
            joint = emission.row_loglik(chunk, prepared, chunk.nodes) + zero[chunk.nodes]
            out[chunk.rows] = (joint + chunk.log_coef[:, None]).numpy()
    return out


def held_out(config, X, party, author, seed):
    """Mean log p of held-out speeches (20% of each senator's) under a fit on the rest."""
    rng = np.random.default_rng(seed)
    test = np.zeros(X.shape[0], dtype=bool)
    for name in np.unique(author):
        rows = np.flatnonzero(author == name)
        test[rng.choice(rows, size=max(1, len(rows) // 5), replace=False)] = True
    train = ~test
    est = PolarizationEstimator(interval=None, **config["params"])
    if not config["groups"]:
        est.fit(X[train], party[train])
        return float(np.mean(est.score_samples(X[test], party[test])))
    est.fit(X[train], party[train], groups=author[train])
    # each senator's log posterior over the nodes, given party, from the training speeches
    labels, inverse = encode_groups(author[train], int(train.sum()))
    weights = est.dispersion_
    from skpolar.speakers import dispersion_weights

    lengths = np.asarray(X[train].sum(axis=1)).ravel()
    summed = sum_by_group(X[train], inverse, len(labels), dispersion_weights(lengths, weights))
    side = np.zeros(len(labels), dtype=int)
    side[inverse] = est._encode(party[train])
    prior = np.log(np.maximum(_node_prior(est), 1e-300))
    log_post = node_loglik(est, summed) + prior
    log_post[side == 0, len(prior) // 2:] = -np.inf
    log_post[side == 1, : len(prior) // 2] = -np.inf
    log_post -= np.logaddexp.reduce(log_post, axis=1, keepdims=True)
    test_rows = node_loglik(est, X[test])
    speaker = np.searchsorted(labels, author[test])
    return float(np.mean(np.logaddexp.reduce(test_rows + log_post[speaker], axis=1)))


def _node_prior(est):
    from skpolar.quadrature import log_prior_weights_numpy

    return np.exp(log_prior_weights_numpy(est.alpha_, est.beta_, est.pi_, len(est.grid_) // 2))


def extremes(config, X, party, author):
    """Speakers at |u| > 0.99 given the party, and how many one word puts there."""
    labels, given, _, side, est, seconds = senator_scores(config, X, party, author)
    at_pole = np.flatnonzero(np.abs(given) > 0.99)
    if not config["groups"] or len(at_pole) == 0:
        return len(at_pole), 0, seconds, est
    _, inverse = encode_groups(author, X.shape[0])
    slant = est.W_
    one_word = 0
    for i in at_pole:
        rows = np.flatnonzero(inverse == i)
        towards = np.sign(given[i])
        counts = np.asarray(X[rows].sum(axis=0)).ravel()
        pull = counts * np.where(np.isfinite(slant), slant, 0.0) * towards
        word = int(np.argmax(pull))
        Xi = X[rows].tolil()
        Xi[:, word] = 0
        redone = est.speaker_stance(Xi.tocsr(), party[rows], groups=author[rows])["stance"]
        one_word += int(abs(redone.iloc[0]) <= 0.99)
    return len(at_pole), one_word, seconds, est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
    X, party, author = load()
    print(f"skpolar {code_version()}; {X.shape[0]:,} speeches, "
          f"{len(np.unique(author))} senators, {X.shape[1]:,} terms; {args.splits} splits",
          flush=True)
    summed_labels, inverse = encode_groups(author, X.shape[0])
    summed = sum_by_group(X, inverse, len(summed_labels))
    summed_side = np.zeros(len(summed_labels), dtype=object)
    summed_side[inverse] = party
    results = []
    for name in args.configs:
        config = CONFIGS[name]
        print(f"{name}:", flush=True)
        mean, sd = reliability(config, X, party, author, args.splits, args.seed)
        loglik = held_out(config, X, party, author, args.seed)
        n_pole, one_word, seconds, est = extremes(config, X, party, author)
        row = dict(name=name, mean=mean, sd=sd, loglik=loglik, n_pole=n_pole,
                   one_word=one_word, seconds=seconds, rho=est.rho_)
        if config["groups"]:
            # the same model on the senators' summed counts, as a user with one
            # row per senator would fit it
            start = time.perf_counter()
            PolarizationEstimator(interval=None, **config["params"]).fit(
                summed, summed_side)
            row["summed_seconds"] = time.perf_counter() - start
        results.append(row)
        print(f"  held-out log p per speech {loglik:.3f}; |u| > 0.99: {n_pole} "
              f"(one word: {one_word}); fit {seconds:.1f} s; rho {est.rho_:.4f}", flush=True)

    print(f"\nskpolar {code_version()}; split-half reliability within party, mean (sd) over "
          f"{args.splits} splits; D / R")
    header = ("config", "given party D", "given party R", "words only D", "words only R",
              "baseline D", "baseline R", "held-out log p", "|u|>0.99", "one word",
              "fit s", "rho")
    print(" | ".join(header))
    for r in results:
        cells = [f"{m:.3f} ({s:.3f})" for m, s in zip(r["mean"], r["sd"], strict=True)]
        print(" | ".join([r["name"], *cells, f"{r['loglik']:.3f}", str(r["n_pole"]),
                          str(r["one_word"]), f"{r['seconds']:.1f}", f"{r['rho']:.4f}"]))
    for r in results:
        if "summed_seconds" in r:
            print(f"{r['name']}: fit on the 97 summed senator rows {r['summed_seconds']:.1f} s")


if __name__ == "__main__":
    main()
