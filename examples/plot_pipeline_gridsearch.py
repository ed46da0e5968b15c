"""
From text to polarization: a Pipeline tuned with GridSearchCV
==============================================================

:class:`~skpolar.PolarizationEstimator` is a scikit-learn estimator, so it sits in
a :class:`~sklearn.pipeline.Pipeline` after
:class:`~sklearn.feature_extraction.text.CountVectorizer` and its settings can be
chosen by :class:`~sklearn.model_selection.GridSearchCV`. Its ``score`` is the mean
held-out log likelihood per speech, so the search picks the settings that predict
unseen speeches best.

To keep the search fast, every candidate is fitted with ``interval=None`` (the
profile interval does not change the score).
"""

# %%
# Speeches as text
# ----------------
# Simulate 2,000 speeches of 30 words over a 12-term vocabulary: four words used
# only by the left pole, four only by the right pole and four neutral ones. Then
# write every speech out as text, so that the pipeline starts from strings.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skpolar import PolarizationEstimator, make_polarized_speech

left = ["union", "wages", "climate", "medicaid"]
right = ["taxes", "border", "liberty", "tariffs"]
neutral = ["today", "bill", "committee", "vote"]
vocabulary = np.array(left + right + neutral)

X, y = make_polarized_speech(2_000, rho=0.75, n_features=12, speech_len=30,
                             epsilon=0.3, random_state=0)
rng = np.random.default_rng(0)


def to_text(counts):
    """One string per speech, its words in random order."""
    return " ".join(rng.permutation(np.repeat(vocabulary, counts)))


speeches = [to_text(row) for row in X]
party = np.where(y == 1, "Right", "Left")
print(speeches[0][:120], "...")
print("party:", party[0])

# %%
# The pipeline
# ------------
pipe = Pipeline([
    ("vec", CountVectorizer()),
    ("polar", PolarizationEstimator(interval=None)),
])

# %%
# The search
# ----------
# Two families of candidates: the default solver (``"auto"``, which is L-BFGS
# on a 12-term vocabulary) at three grid sizes, and
# full-batch Adam at three learning rates (on the middle grid). Three folds, each
# stratified by party.
param_grid = [
    {"polar__grid_size": [25, 50, 100]},
    {"polar__grid_size": [50], "polar__solver": ["adam"],
     "polar__learning_rate": [0.03, 0.1, 0.3]},
]
# Each fit here takes about a second, so the search runs in this process:
# starting ``n_jobs=2`` worker processes (each imports torch) cost more than it
# saved on a two-core machine (25 s against 10 s). On larger corpora, or with
# more cores, pass ``n_jobs=-1``.
search = GridSearchCV(pipe, param_grid, cv=3, n_jobs=1)
search.fit(speeches, party)

columns = ["param_polar__grid_size", "param_polar__solver",
           "param_polar__learning_rate", "mean_test_score", "std_test_score",
           "rank_test_score", "mean_fit_time"]
results = pd.DataFrame(search.cv_results_)[columns]
results = results.rename(columns=lambda c: c.replace("param_polar__", ""))
results["solver"] = results["solver"].astype(object).where(results["solver"].notna(), "auto")
results["learning_rate"] = results["learning_rate"].astype(object).where(
    results["learning_rate"].notna(), "-")
with pd.option_context("display.width", 120, "display.precision", 4):
    print(results.sort_values("rank_test_score").to_string(index=False))
print("best:", search.best_params_)

# %%
# The grid sizes score almost the same: a few dozen nodes per side already
# integrate the stance accurately on these data. Adam reaches a similar
# likelihood only with a well-chosen step and stops earlier; L-BFGS needs no
# step size at all.
#
# The refitted best pipeline is a fitted estimator like any other. Refit it with
# the profile interval to report the polarization:
best = search.best_estimator_.set_params(polar__interval="profile")
best.fit(speeches, party)
polar = best.named_steps["polar"]
print(f"rho = {polar.rho_:.3f}, 95% interval "
      f"[{polar.rho_ci_[0]:.3f}, {polar.rho_ci_[1]:.3f}] (truth 0.75)")

# %%
# New speeches go through the same pipeline: ``transform`` gives their stance
# and ``predict_proba`` the probability of each party.
new = ["union wages climate today vote", "border taxes liberty today vote",
       "committee vote today bill"]
for text, u, p in zip(new, best.transform(new).ravel(), best.predict_proba(new)):
    print(f"{text!r:40} stance {u:+.2f}  P({polar.classes_[1]}) = {p[1]:.2f}")

# %%
# The folds differ more from each other than the candidates do, so compare the
# candidates fold by fold: the held-out log likelihood of each candidate minus
# that of the best one, on the same fold. Summed over a fold's ~670 speeches, a
# difference of 0.01 per speech is a log likelihood ratio of about 7.
n_folds = search.n_splits_
split_scores = np.column_stack(
    [search.cv_results_[f"split{k}_test_score"] for k in range(n_folds)])
gap = split_scores - split_scores[search.best_index_]

fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
x = np.arange(len(results))
for k in range(n_folds):
    ax.plot(x, gap[:, k], "o", color="0.6", markersize=4,
            label="one fold" if k == 0 else None)
ax.plot(x, gap.mean(axis=1), "D", color="black", markersize=7, label="mean over folds")
ax.axhline(0.0, color="black", lw=0.8)
labels = [f"{s}\nG={g}" + (f"\nlr={lr}" if s == "adam" else "")
          for s, g, lr in zip(results["solver"], results["grid_size"],
                              results["learning_rate"])]
ax.set_xticks(x, labels, fontsize=8)
ax.set_ylabel("held-out log likelihood per speech\nminus the best candidate's")
ax.set_title("GridSearchCV candidates (higher is better)")
ax.grid(axis="y", alpha=0.3)
ax.legend(frameon=False, fontsize="small", loc="lower left")
plt.show()
