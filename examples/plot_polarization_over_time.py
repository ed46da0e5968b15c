"""
Polarization over time: comparing sessions with ``compare``
===========================================================

A legislature meets in six sessions. Polarization stays at
:math:`\\rho = 0.75` for the first three and rises to 0.85 over the last three.
Each session is simulated with :func:`~skpolar.make_polarized_speech` (its own
random seed), and :func:`skpolar.compare` fits every session with the same
settings on the same vocabulary, tables the estimates with their 95% intervals
and tests whether all sessions share one polarization.

Every session has 3,000 speeches of 30 words over a six-term vocabulary, and the
grid has 100 nodes per side instead of the default 200, so the whole example
runs in well under a minute.
"""

# %%
# Simulate the sessions
# ---------------------
import matplotlib.pyplot as plt
import numpy as np

from skpolar import PolarizationEstimator, compare, make_polarized_speech
from skpolar.plotting import plot_rho_by_group

true_rho = np.array([0.75, 0.75, 0.75, 0.79, 0.82, 0.85])
parts = [
    make_polarized_speech(3_000, rho=rho, n_features=6, speech_len=30, random_state=100 + k)
    for k, rho in enumerate(true_rho)
]
X = np.vstack([part[0] for part in parts])
y = np.concatenate([part[1] for part in parts])
session = np.repeat([f"session {k}" for k in range(1, 7)], 3_000)

# %%
# Fit every session and test for a difference
# -------------------------------------------
# ``compare`` clones the estimator for each session. Its default estimator also
# corrects every estimate for the bias that many word probabilities put into
# ``rho`` (``bias_correction="bootstrap"``, which refits each session twenty
# times); with six terms and thousands of speeches that bias is negligible, so
# a plain estimator keeps the example fast. With a real vocabulary, keep the
# default: sessions of different sizes are biased by different amounts.
result = compare(X, y, session, estimator=PolarizationEstimator(grid_size=100))
table = result.table.assign(truth=true_rho)
print(table[["truth", "rho", "rho_low", "rho_high", "n_speeches"]].round(3).to_string())
print(f"same rho in all sessions? Q = {result.statistic:.1f} on {result.df} df, "
      f"p = {result.p_value:.2g}")

first = compare(X[session <= "session 3"], y[session <= "session 3"],
                session[session <= "session 3"],
                estimator=PolarizationEstimator(grid_size=100))
print(f"same rho in the first three? p = {first.p_value:.2f}")

# %%
# Plot
# ----
# :func:`skpolar.plotting.plot_rho_by_group` draws the estimates and intervals
# and puts the test in the title; the truth is the dashed line. A small p-value
# says the sessions differ by more than their intervals allow; a large one, as
# for the first three sessions, says the data cannot tell them apart (not that
# they are equal). Near :math:`\rho = 0.5` the intervals are lopsided and the
# test is only approximate: read the intervals there.
ax = plot_rho_by_group(result)
ax.plot(np.arange(len(true_rho)), true_rho, "--", color="#D55E00", lw=1.5,
        zorder=0, label="true polarization")
ax.plot([], [], "o", color="black", label="estimate with 95% interval")
ax.set_ylim(0.65, 0.95)
ax.legend(frameon=False, fontsize="small", loc="upper left")
plt.show()
