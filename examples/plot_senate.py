"""
Real speeches: the 114th US Senate
==================================

Fit the model to 18,686 floor speeches of the Democrats and Republicans of the
114th US Senate (2015-2017), score every senator's stance and list the words that
divide the parties.

The corpus (Vafa, Naidu and Blei, 2020; MIT licence) ships with skpolar:
:func:`skpolar.datasets.load_senate_speeches` reads it from the installed
package, offline.

To keep the example under a minute on two cores it uses the log-linear emission
(the fastest on a large vocabulary), the 1,000 most frequent terms, a grid of 25
nodes per side and no interval (``interval=None``). The default two-pole emission
takes about twice as long on the same data.
"""

# %%
# Load the speeches
# -----------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skpolar import PolarizationEstimator
from skpolar.datasets import load_senate_speeches
from skpolar.plotting import plot_partisan_words

senate = load_senate_speeches()
print(f"{senate.data.shape[0]:,} speeches, {senate.data.shape[1]:,} terms, "
      f"parties {', '.join(senate.target_names)}")

# %%
# Keep the two parties and the frequent terms
# --------------------------------------------
# The two independents (Angus King and Bernie Sanders) are dropped: the model
# has exactly two sides. The count matrix is sparse; ``X`` keeps it so.
keep = np.isin(senate.target, ["D", "R"])
counts, party, author = senate.data[keep], senate.target[keep], senate.author[keep]
frequent = np.argsort(-np.asarray(counts.sum(axis=0)).ravel())[:1000]
X = counts[:, frequent]
terms = senate.feature_names[frequent]
print(f"{X.shape[0]:,} speeches by {len(np.unique(author))} senators, "
      f"{X.shape[1]:,} terms, {X.sum() / X.shape[0]:.0f} terms per speech on average")

# %%
# Fit
# ---
# ``classes_`` is sorted, so ``"R"`` is the ``u >= 0`` side. With the
# log-linear emission the stance scale is set by the penalty on the word slopes
# (``l2_penalty``), so ``rho_`` is a relative measure: compare it with fits that
# use the same settings, not with the simulated examples.
est = PolarizationEstimator(emission="loglinear", grid_size=25, interval=None)
est.fit(X, party)
print(f"classes: {est.classes_}, rho = {est.rho_:.3f} "
      f"(a = {est.alpha_:.2f}, b = {est.beta_:.2f}), converged: {est.converged_}")

# %%
# Senators by stance
# ------------------
# A senator's stance is the mean over their speeches of the posterior mean stance
# given the party, ``est.stance(X, party)``. Given the party, a Democrat's
# stance is negative and a Republican's positive by construction; the order
# within each party is what the words add. The hollow markers are the same mean
# without the party (``est.transform(X)``): how a senator's words alone place
# them.
senators = (
    pd.DataFrame({"senator": author, "party": party,
                  "given party": est.stance(X, party),
                  "words only": est.transform(X).ravel()})
    .groupby(["senator", "party"], as_index=False)
    .mean()
    .sort_values("given party")
    .reset_index(drop=True)
)
print("most left:\n", senators.head(5).to_string(index=False))
print("most right:\n", senators.tail(5).to_string(index=False))

colors = {"D": "#0072B2", "R": "#D55E00"}
fig, ax = plt.subplots(figsize=(6.5, 14), layout="constrained")
rows = np.arange(len(senators))
for p, group in senators.groupby("party"):
    ax.plot(group["given party"], group.index, "o", color=colors[p], markersize=5,
            label=f"{p}: given the party")
    ax.plot(group["words only"], group.index, "o", mfc="none", color=colors[p],
            markersize=5, alpha=0.7, label=f"{p}: words only")
ax.set_yticks(rows, senators["senator"], fontsize=6.5)
ax.set_ylim(-1, len(senators))
ax.axvline(0.0, color="grey", lw=0.8, ls=":")
ax.set_xlabel("mean stance of the senator's speeches")
ax.set_title("114th Senate: senators by stance")
ax.grid(axis="x", alpha=0.3)
ax.legend(frameon=False, fontsize="small", loc="upper left")
plt.show()

# %%
# The most partisan terms
# -----------------------
# ``W_`` is the slope of each term's log rate along the stance axis: the terms
# with the most negative slopes are the Democrats' side of the axis, the most
# positive the Republicans'.
order = np.argsort(est.W_)
print("left: ", ", ".join(terms[order[:15]]))
print("right:", ", ".join(terms[order[::-1][:15]]))
plot_partisan_words(est, feature_names=terms, n_words=15)
plt.show()

# sphinx_gallery_thumbnail_number = 2

# %%
# What the axis measures
# ----------------------
# One latent dimension takes whatever separates the parties' speeches most. Here
# that is largely the subject: health care, schools and students on one side,
# Iran, Syria and sanctions on the other, so senators who speak mostly about
# foreign policy (or mostly about education) sit at the ends whatever their
# voting record. The stance is a measure of how a senator *talks*, and reading it
# as ideology needs the same care as any text-based scaling.
