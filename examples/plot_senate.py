"""
Real speeches: the 114th US Senate
==================================

Fit the model to 18,686 floor speeches of the Democrats and Republicans of the
114th US Senate (2015-2017), score every senator's stance and list the words that
divide the parties.

The corpus (Vafa, Naidu and Blei, 2020; MIT licence) ships with skpolar:
:func:`skpolar.datasets.load_senate_speeches` reads it from the installed
package, offline.

The fit uses the default two-pole emission on the whole vocabulary, with one
stance per senator, and skips the interval for ``rho`` (``interval=None``) to
stay well under a minute on two cores: the profile interval refits the model a
dozen times.
"""

# %%
# Load the speeches
# -----------------
import matplotlib.pyplot as plt
import numpy as np

from skpolar import PolarizationEstimator
from skpolar.datasets import load_senate_speeches
from skpolar.plotting import plot_partisan_words, plot_speaker_stances

senate = load_senate_speeches()
print(f"{senate.data.shape[0]:,} speeches, {senate.data.shape[1]:,} terms, "
      f"parties {', '.join(senate.target_names)}")

# %%
# Keep the two parties
# --------------------
# The two independents (Angus King and Bernie Sanders) are dropped: the model
# has exactly two sides. The count matrix is sparse; ``X`` keeps it so.
keep = np.isin(senate.target, ["D", "R"])
X, party, author = senate.data[keep], senate.target[keep], senate.author[keep]
terms = senate.feature_names
print(f"{X.shape[0]:,} speeches by {len(np.unique(author))} senators, "
      f"{X.shape[1]:,} terms, {X.sum() / X.shape[0]:.0f} terms per speech on average")

# %%
# Fit one stance per senator
# --------------------------
# ``groups=author`` gives every senator one stance, shared by all of their
# speeches: the model then scores a senator from everything they said, not
# speech by speech (42% of these speeches have under 20 terms). ``rho_`` is the
# polarization of the senators. Speeches are burstier than multinomial draws
# (a speech about the budget says "budget" many times); with groups the
# estimator measures that burstiness between each senator's speeches
# (``dispersion_``) and weighs long speeches accordingly. ``classes_`` is
# sorted, so ``"R"`` is the ``u >= 0`` side.
est = PolarizationEstimator(interval=None)
est.fit(X, party, groups=author)
print(f"classes: {est.classes_}, rho = {est.rho_:.3f} "
      f"(a = {est.alpha_:.2f}, b = {est.beta_:.2f}), {est.n_speakers_} senators, "
      f"dispersion kappa = {est.dispersion_:.0f}, converged: {est.converged_}")

# %%
# Senators by stance
# ------------------
# ``speaker_stance`` returns one row per senator: the posterior mean stance
# given the party with its 95% interval, and the stance from the words alone.
# Given the party, a Democrat's stance is negative and a Republican's positive
# by construction; the order within each party is what the words add, and the
# words-only stance (hollow markers) shows where the words alone put each
# senator, across the party line if that is where they point.
senators = est.speaker_stance(X, party, groups=author)
columns = ["party", "n_speeches", "stance", "stance_low", "stance_high", "words_stance"]
ordered = senators.sort_values("stance")[columns].round(3)
print("most left:\n" + ordered.head(5).to_string())
print("most right:\n" + ordered.tail(5).to_string())
crossed = (senators["words_stance"] > 0) != (senators["party"] == "R")
print(f"{int(crossed.sum())} senators' words alone put them on the other party's side")
ax = plot_speaker_stances(senators)
ax.figure.set_size_inches(6.5, 14)
ax.set_title("114th Senate: senators by stance")
plt.show()

# %%
# The most partisan terms
# -----------------------
# ``W_`` is each term's slant, the log odds of the right pole over the left
# one: the terms with the most negative slants are the Democrats' side of the
# axis, the most positive the Republicans'. A term one pole never uses gets
# that pole's floor probability (``exp(-690)``), so the extremes of the list are
# terms only one side of the axis says.
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
