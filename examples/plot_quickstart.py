"""
Quickstart: polarization and stances of simulated speeches
===========================================================

Simulate 10,000 speeches from a population with a known polarization
:math:`\\rho = 0.8`, fit :class:`~skpolar.PolarizationEstimator`, compare the
estimate and its 95% interval with the truth, and draw the speakers' stances by
party against the fitted prior density.
"""

# %%
# Simulate
# --------
# Every speech has 15 words over three terms: a left-wing word, a right-wing
# word and a neutral one. ``truth`` holds the latent stances the estimator will
# not see.
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import beta

from skpolar import PolarizationEstimator, make_polarized_speech
from skpolar.plotting import plot_stance_distribution

X, y, truth = make_polarized_speech(10_000, rho=0.8, random_state=0, return_truth=True)
print("first speeches:\n", X[:3])
print("parties:", y[:3])

# %%
# Fit
# ---
# The default settings: the two-pole emission, 200 grid nodes per side and a
# profile-likelihood interval.
est = PolarizationEstimator(random_state=0).fit(X, y)
print(f"true rho      {truth.rho:.3f}")
print(f"estimated rho {est.rho_:.3f}, 95% interval [{est.rho_ci_[0]:.3f}, {est.rho_ci_[1]:.3f}]")
print(f"Beta shapes a={est.alpha_:.2f} b={est.beta_:.2f} (truth a={truth.a:.2f} b={truth.b:.2f})")
print(f"share of the right-leaning camp pi={est.pi_:.3f} (truth {truth.pi})")

# %%
# Stances
# -------
# ``stance(X, y)`` is the posterior mean of each speaker's stance given the
# speech and the party. With only 15 words per speech the posterior means are
# shrunk towards the middle of each side, so their histogram is narrower than the
# prior, but they track the true stances closely. Three terms and 15 words
# allow only about a hundred distinct speeches, so the posterior means take
# few distinct values and their histogram looks like a comb.
stance = est.stance(X, y)
print(f"correlation with the true stances: {np.corrcoef(stance, truth.u)[0, 1]:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot_stance_distribution(est, X, y, ax=axes[0])

# On the right: the true stances, the density they were drawn from and the
# fitted one.
u = np.linspace(-0.999, 0.999, 400)
t = (u + 1) / 2
true_pdf = 0.5 * (truth.pi * beta.pdf(t, truth.a, truth.b)
                  + (1 - truth.pi) * beta.pdf(t, truth.b, truth.a))
axes[1].hist(truth.u, bins=40, range=(-1, 1), density=True, color="0.82",
             label="true stances")
axes[1].plot(u, true_pdf, color="0.35", lw=1.5, ls="--", label="true density")
axes[1].plot(u, est.prior_pdf(u), color="black", lw=1.8, label="fitted density")
axes[1].set_xlim(-1, 1)
axes[1].set_xlabel("stance u")
axes[1].set_ylabel("density")
axes[1].set_title("The fitted prior against the true stances")
axes[1].legend(frameon=False, fontsize="small")
plt.show()
