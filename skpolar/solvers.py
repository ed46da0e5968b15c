"""Solvers that maximize the objective: L-BFGS-B, EM, and minibatch SGD / Adam.

Every solver takes a :class:`~skpolar.objective.Problem` and a parameter
dict and returns the fitted dict with an ``info`` dict (``n_iter``,
``converged``, ``loss_curve``, ``message``, ``loss``).
"""

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import scipy.optimize
import torch
from sklearn.exceptions import ConvergenceWarning

from .emissions import TwoPoleEmission
from .objective import LOG_SHAPE_BOUNDS, _box_arrays, _to_numpy
from .uncertainty import rho_of

# |log a - log b| below this (rho < 0.55) counts as next to the a = b saddle.
SADDLE_WIDTH = 0.2
# Bound on the SQUAREM step length |s|. On the senate corpus the steps that
# SQUAREM's own rule proposed (3 to 64) made the loss worse by 18 to 98,000
# nats per speech, while s = 2 improved on the plain EM point (by 0.13 nats
# per speech at the fourth iteration). Letting the bound grow fourfold after
# each successful long step (Varadhan and Roland's adaptive scheme) doubled
# the E-steps on 1,000 shared terms: the slow direction there is the stretch,
# which _stretch_search follows instead.
_SQUAREM_MAX_STEP = 2.0
# The stretch search tries stretches of 4, 16, 64, ... times the last cycle's.
_STRETCH_MULTIPLIER = 4.0
_STRETCH_TRIES = 6
# EM stops on a cycle that gained less than tol once rho has moved by less
# than _RHO_TOL over this many cycles and a probe along the stretch path, of
# relative size _PROBE_STEP either way, finds nothing better. Gains come in
# bursts (a successful stretch search every few cycles gains ten times the
# cycles around it) and rho moves with them, so one small gain alone says
# little; on the senate corpus the loss creeps on for hundreds of cycles (pole
# probabilities heading for zero) while rho stays put. There rho also sat
# within 1e-3 for eight cycles, 0.005 short, before a stretch moved it: the
# probe checks the path such stalls hide. With it, a tolerance of 1e-4 ends
# within 4e-5 of the fits a tolerance of 1e-5 without it gave on the senate
# speeches and senators, in about half the E-steps, and within 3e-4 on 2,000
# shared words.
_QUIET_CYCLES = 4
_RHO_TOL = 1e-4
_PROBE_STEP = 1e-3


def minimize_lbfgs(problem, params, *, max_iter, tol, callback=None):
    """Fit with scipy's L-BFGS-B inside the safe parameter box.

    ``callback(loss)`` is called after every iteration.

    Returns
    -------
    params : dict of ndarray
    info : dict
        ``n_iter``, ``converged``, ``loss_curve``, ``message`` and ``loss``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import minimize_lbfgs
    >>> from skpolar.uncertainty import rho_of
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> params, info = minimize_lbfgs(problem, start, max_iter=500, tol=1e-8)
    >>> info["converged"], round(rho_of(params), 1)
    (True, 0.8)
    """
    shapes = problem.layout(params)
    # L-BFGS runs on z = x * scale: per-word parameters are scaled by the
    # square root of their expected curvature (the word's share of the corpus),
    # so frequent and rare words converge together.
    scale = problem.diagonal_scale(shapes)
    bounds = [
        (None if lo is None else lo * s, None if hi is None else hi * s)
        for (lo, hi), s in zip(problem.bounds(shapes), scale, strict=True)
    ]
    curve = []
    objective = problem.objective(shapes)

    def fun(z):
        value, grad = objective(z / scale)
        return value, grad / scale

    def record(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if callback is not None:
            callback(curve[-1])

    result = scipy.optimize.minimize(
        fun,
        problem.pack(params) * scale,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=record,
        options={"maxiter": max_iter, "ftol": tol, "gtol": tol * 1e-2, "maxcor": 20},
    )
    # Stopping on a line search that can make no more progress at the optimum
    # (status 2 with a tiny projected gradient) is convergence too.
    pg = _projected_gradient(result.x, result.jac, bounds)
    converged = bool(result.status == 0 or (result.status == 2 and pg < np.sqrt(tol)))
    info = {
        "n_iter": int(result.nit),
        "converged": converged,
        "loss_curve": curve or [float(result.fun)],
        "message": str(result.message),
        "loss": float(result.fun),
    }
    return _to_numpy(problem.unpack(result.x / scale, shapes)), info


def minimize_em(problem, params, *, max_iter, tol, callback=None):
    """Fit by expectation-maximization (Bock-Aitkin EM over the stance grid), accelerated.

    One EM step is an E-step over the chunks (posterior mass per node and
    expected word counts per node) and closed-form M-steps: the prior's
    ``(a, b, pi)`` maximize ``sum_g mass_g log w_g`` (a small problem of its
    own) and the emission updates in closed form (``emission.m_step``).
    Parameters that run to a boundary (a pole probability of zero) get there
    without the ill-conditioning that slows gradient methods, but plain EM
    crawls where the stance posteriors are wide, so steps are extrapolated
    (SQUAREM, Varadhan and Roland 2008): from ``x``, ``x1 = F(x)`` and
    ``x2 = F(x1)``, the next point is ``x - 2 s r + s**2 v`` with ``r = x1 - x``,
    ``v = x2 - x1 - r`` and step ``s = -|r| / |v|``. An extrapolated point
    that does worse than ``x1`` is pulled back towards ``x2`` (its step
    halved towards -1) and finally replaced by ``x2``, so the loss of the
    accepted points never rises; ``|s|`` is bounded by 2.

    The likelihood of the two-pole family is nearly flat along one path:
    poles moved apart (or together) by a common factor with the stances
    shrunk (or spread) to match. EM crawls along it, and a fit stopped by a
    loss tolerance stops short on it, with ``rho`` off by about 0.01 on a
    vocabulary of a thousand shared words. So after every cycle that moved
    along that path twice in a row, larger moves along it (4, 16, 64, ...
    times the last, stances and prior rescaled to match) are tried, and the
    best that lowers the loss is kept.

    The fit stops when a cycle improves the mean loss by less than ``tol``
    relative, ``rho`` has moved by less than 1e-4 over the last four cycles,
    and stretching the poles by 0.1% (and 0.4%, 1.6%, ...) either way does
    not lower the loss. The loss rule alone stops between two bursts of the
    stretch search: on 2,000 shared words it left ``rho`` 0.004 from the
    optimum.

    Returns
    -------
    params : dict of ndarray
    info : dict
        ``n_iter`` (E-steps taken), ``converged``, ``loss_curve`` (the loss at
        every accepted point after the start), ``message`` and ``loss``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import minimize_em
    >>> X, y = make_polarized_speech(1000, rho=0.8, n_features=30, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 10), emission, 30, 10, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> params, info = minimize_em(problem, start, max_iter=20, tol=1e-8)
    >>> bool(np.all(np.diff(info["loss_curve"]) <= 1e-12))  # the loss never rises
    True
    """
    emission = problem.emission
    shapes = problem.layout(params)
    lo, hi = _box_arrays(problem.bounds(shapes))
    n_prior = sum(int(np.prod(shape)) for name, shape in shapes if name in problem.prior_names)
    floor = getattr(emission, "log_floor", -np.inf)
    n_steps = 0

    def em_map(x):
        """(F(x), loss at x): one E-step and the M-steps."""
        nonlocal n_steps
        n_steps += 1
        tparams = problem.unpack(x, shapes)
        with torch.no_grad():
            (loglik, mass, stats), _ = problem.e_step(tparams)
            loss = -(loglik - float(emission.penalty(tparams))) / problem.n_total
            update = _to_numpy(emission.m_step(tparams, stats, problem.u))
        current = _to_numpy(tparams)
        new = {**current, **problem.prior_m_step(current, mass), **update}
        return problem.pack(new), loss

    def project(x):
        params = _to_numpy(problem.unpack(np.clip(x, lo, hi), shapes))
        return problem.pack({**params, **_to_numpy(emission.normalize(params))})

    can_stretch = hasattr(emission, "stretch") and "log_a" in problem.prior_names
    x = problem.pack(params)
    curve, converged, rates, gains, rhos = [], False, [], [], []
    x1, loss = em_map(x)
    while n_steps < max_iter:
        x2, loss1 = em_map(x1)
        if n_steps >= max_iter:
            # no E-step left to try an extrapolation (one more overran
            # max_iter): take the plain EM step, whose loss is now known
            x, x1, loss = x1, x2, loss1
            curve.append(loss)
            if callback is not None:
                callback(loss)
            break
        r, v = x1 - x, x2 - 2 * x1 + x
        # coordinates at a bound or a floor move by clipping, not by a trend
        free = (x > lo) & (x < hi) & (x2 > lo) & (x2 < hi)
        free[n_prior:] &= np.minimum(x, np.minimum(x1, x2))[n_prior:] > floor + 1.0
        norm_v = np.sqrt(v[free] @ v[free])
        step = -np.sqrt(r[free] @ r[free]) / norm_v if norm_v > 0 else -1.0
        step = float(np.clip(step, -_SQUAREM_MAX_STEP, -1.0))
        # Try the extrapolation; while it does worse than the EM point x1,
        # halve its distance to the plain double step x2 (step -1), then take
        # x2 itself. Each try costs an E-step, which also starts the next cycle.
        while True:
            jump = x2.copy()
            jump[free] = (x - 2 * step * r + step**2 * v)[free]
            candidate = project(jump) if step < -1.0 else x2
            next_x1, next_loss = em_map(candidate)
            if next_loss <= loss1 or step >= -1.0 or n_steps >= max_iter:
                break
            step = (step - 1.0) / 2.0 if step < -1.5 else -1.0
        if next_loss > loss1 and n_steps >= max_iter:
            # the budget ran out before a try beat the EM point x1: keep x1
            candidate, next_x1, next_loss = x1, x2, loss1
        previous_loss = loss
        if can_stretch:
            rates.append(_stretch_rate(emission, problem, shapes, x, candidate))
        x, x1, loss = candidate, next_x1, next_loss
        if can_stretch and len(rates) >= 2 and n_steps < max_iter:
            x, x1, loss = _stretch_search(
                problem, shapes, em_map, x, x1, loss, rates[-2:], max_iter - n_steps
            )
        curve.append(loss)
        if callback is not None:
            callback(loss)
        gains.append(previous_loss - loss)
        rhos.append(_rho_at(problem, shapes, x))
        still = len(rhos) > _QUIET_CYCLES and (
            np.ptp(rhos[-_QUIET_CYCLES - 1:]) <= _RHO_TOL
        )
        if gains[-1] <= tol * max(abs(loss), 1.0) and (still or tol == 0):
            if can_stretch and tol > 0 and n_steps < max_iter:
                # EM creeps along the stretch path by less per cycle than any
                # tolerance sees: before stopping, check both ways along it
                probed = _stretch_probe(problem, shapes, em_map, x, x1, loss,
                                        max_iter - n_steps)
                if probed[2] < loss:
                    x, x1, loss = probed
                    curve.append(loss)
                    rhos.append(_rho_at(problem, shapes, x))
                    continue
            converged = True
            break
    info = {
        "n_iter": n_steps,
        "converged": converged,
        "loss_curve": curve or [loss],
        "message": "" if converged else "maximum number of iterations reached",
        "loss": loss,
    }
    return _to_numpy(problem.unpack(x, shapes)), info


def _rho_at(problem, shapes, x):
    """rho = a / (a + b) at the flat vector ``x`` (the prior's first entries)."""
    values = dict(zip(problem.prior_names, x))
    if "log_kappa" in values:
        return problem.fixed_rho
    return float(1.0 / (1.0 + np.exp(-abs(values["log_a"] - values["log_b"]))))


def _stretch_rate(emission, problem, shapes, before, after):
    """How much a step stretched the poles: ``c`` with ``d_after ~ c d_before``."""
    d_before = emission.stretch(_to_numpy(problem.unpack(before, shapes)))[1]
    d_after = emission.stretch(_to_numpy(problem.unpack(after, shapes)))[1]
    norm = d_before @ d_before
    return float(d_after @ d_before / norm) if norm > 0 else 1.0


def _stretch_search(problem, shapes, em_map, x, x1, loss, rates, budget):
    """Follow the stretch path from ``x`` while the loss falls; returns ``(x, x1, loss)``.

    ``rates`` are the stretch factors of the last two cycles; when both
    moved the same way, the poles are moved apart (or together) by multiples
    of the last rate, and the prior is rescaled to the matching stances: the
    Beta component's mean moves to ``1/2 + (mean - 1/2) / c`` and its
    variance to ``variance / c**2`` (moments matched). Every try costs one
    E-step, which also starts the next cycle.
    """
    first, last = rates
    if (first - 1.0) * (last - 1.0) <= 0 or abs(last - 1.0) < 1e-9:
        return x, x1, loss
    return _stretch_line(problem, shapes, em_map, x, x1, loss,
                         _STRETCH_MULTIPLIER * (last - 1.0), budget)


def _stretch_probe(problem, shapes, em_map, x, x1, loss, budget):
    """Follow the stretch path from ``x`` either way it lowers the loss."""
    best = (x, x1, loss)
    for step in (_PROBE_STEP, -_PROBE_STEP):
        best = _stretch_line(problem, shapes, em_map, x, x1, loss, step, budget)
        budget -= 1
        if best[2] < loss or budget <= 0:
            break
    return best


def _stretch_line(problem, shapes, em_map, x, x1, loss, step, budget):
    """Stretches ``c = 1 + step``, ``1 + 4 step``, ... from ``x`` while the loss falls."""
    emission = problem.emission
    params = _to_numpy(problem.unpack(x, shapes))
    best = (x, x1, loss)
    factor = 1.0 / _STRETCH_MULTIPLIER
    for _ in range(min(_STRETCH_TRIES, budget)):
        factor *= _STRETCH_MULTIPLIER
        c = 1.0 + factor * step
        if c <= 0:
            break
        trial = dict(params, eta=emission.stretched(params, c),
                     **_stretched_prior(params["log_a"], params["log_b"], c))
        trial_x = problem.pack(trial)
        trial_x1, trial_loss = em_map(trial_x)
        if not trial_loss < best[2]:
            break
        best = (trial_x, trial_x1, trial_loss)
    return best


def _stretched_prior(log_a, log_b, c):
    """Beta shapes of the component whose stances ``t - 1/2`` are divided by ``c``."""
    a, b = float(np.exp(log_a)), float(np.exp(log_b))
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1.0))
    mean = 0.5 + (mean - 0.5) / c
    var = var / c**2
    total = mean * (1.0 - mean) / var - 1.0
    if not total > 0:
        return {"log_a": np.asarray(log_a), "log_b": np.asarray(log_b)}
    low, high = LOG_SHAPE_BOUNDS
    return {"log_a": np.asarray(np.clip(np.log(mean * total), low, high)),
            "log_b": np.asarray(np.clip(np.log((1.0 - mean) * total), low, high))}


def leave_saddle(problem, params, info, *, minimize):
    """Refit from polarized starts when a fit ended next to the ``a = b`` line.

    With ``a = b`` the mixture is symmetric and the gradient along ``a - b``
    vanishes, so a fit that drifts there can stop on the saddle although a
    polarized optimum is better. A fit can also end in a neighbouring local
    optimum with ``a, b < 1``: one U-shaped component that puts the camps at
    both poles, with ``rho`` near 0.5. Both are left the same way: refit
    with ``minimize(problem, params)`` (the fit's own solver) from the
    polarized prior a fit starts at, ``a = 3, b = 1`` and its mirror image
    (with ``pi = 1/2`` when ``pi`` is estimated), keeping the emission; the
    best of the three fits is kept. (Restarts at the saddle's own ``a + b``
    fall back into the U-shaped optimum.)

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import leave_saddle, minimize_lbfgs
    >>> from skpolar.uncertainty import rho_of
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> on_saddle = {"log_a": np.log(2.0), "log_b": np.log(2.0), "logit_pi": 0.0,
    ...              **emission.init_params(counts, None)}
    >>> def fit(prob, params):
    ...     return minimize_lbfgs(prob, params, max_iter=500, tol=1e-8)
    >>> params, info = fit(problem, on_saddle)
    >>> round(rho_of(params), 2)  # the symmetric mixture has no gradient along a - b
    0.5
    >>> params, info = leave_saddle(problem, params, info, minimize=fit)
    >>> round(rho_of(params), 1)
    0.8
    """
    if abs(float(params["log_a"] - params["log_b"])) > SADDLE_WIDTH:
        return params, info
    best, best_info = params, info
    for log_a, log_b in ((np.log(3.0), 0.0), (0.0, np.log(3.0))):
        start = dict(params, log_a=np.asarray(log_a), log_b=np.asarray(log_b))
        if "logit_pi" in params:
            start["logit_pi"] = np.asarray(0.0)
        fitted, fitted_info = minimize(problem, start)
        if fitted_info["loss"] < best_info["loss"]:
            best, best_info = fitted, fitted_info
    if best is not params:
        best_info = dict(
            best_info,
            n_iter=info["n_iter"] + best_info["n_iter"],
            loss_curve=info["loss_curve"] + best_info["loss_curve"],
        )
    return best, best_info


def _projected_gradient(x, g, bounds):
    lo, hi = _box_arrays(bounds)
    step = np.clip(x - g, lo, hi) - x
    return float(np.max(np.abs(step))) if len(step) else 0.0


class MinibatchSolver:
    """Plain SGD or Adam over minibatches, with parameters kept in the safe box.

    The state is numpy, so an estimator holding it pickles anywhere; see
    :meth:`get_state`.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.solvers import MinibatchSolver
    >>> solver = MinibatchSolver("sgd", learning_rate=0.5)
    >>> solver.step(np.array([1.0, 1.0]), np.array([1.0, -4.0]), lo=-1.0, hi=2.0)
    array([0.5, 2. ])
    """

    def __init__(self, solver, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.solver = solver
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def get_state(self):
        """The solver as a dict of plain values and numpy arrays (copies).

        An estimator keeps this, not the object, so that persistence formats
        that load only known types (``skops.io``) take it as it is.

        Examples
        --------
        >>> from skpolar.solvers import MinibatchSolver
        >>> state = MinibatchSolver("adam", learning_rate=0.1).get_state()
        >>> MinibatchSolver.from_state(state).get_state() == state
        True
        """
        def copy(a):
            return None if a is None else np.array(a, dtype=np.float64, copy=True)

        return {"solver": self.solver, "learning_rate": float(self.learning_rate),
                "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "m": copy(self.m), "v": copy(self.v), "t": int(self.t)}

    @classmethod
    def from_state(cls, state):
        """A solver continuing from :meth:`get_state`'s dict (which it does not modify)."""
        solver = cls(state["solver"], state["learning_rate"], state["beta1"], state["beta2"],
                     state["eps"])
        for name in ("m", "v"):
            value = state[name]
            setattr(solver, name, None if value is None else np.array(value, copy=True))
        solver.t = int(state["t"])
        return solver

    def step(self, x, grad, lo, hi):
        if self.solver == "sgd":
            x = x - self.learning_rate * grad
        else:
            if self.m is None:
                self.m, self.v = np.zeros_like(x), np.zeros_like(x)
            self.t += 1
            self.m = self.beta1 * self.m + (1 - self.beta1) * grad
            self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
            m_hat = self.m / (1 - self.beta1**self.t)
            v_hat = self.v / (1 - self.beta2**self.t)
            x = x - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)
        return np.clip(x, lo, hi)


def run_epoch(problem, params, solver, data, batch_size, generator):
    """One pass of minibatch updates over ``data``; returns new params and mean loss.

    ``data`` holds the :class:`~skpolar.likelihood.Rows`; ``batch_size=None``
    takes the full batch (one step per epoch, as the research notebook does).

    Examples
    --------
    >>> import torch
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import Rows, make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import MinibatchSolver, run_epoch
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> solver = MinibatchSolver("adam", learning_rate=0.05)
    >>> data = Rows.of(X, y)
    >>> params, loss = run_epoch(problem, start, solver, data, 250, torch.Generator())
    >>> solver.t  # one Adam step per minibatch of 250
    8
    """
    n = data.X.shape[0]
    shapes = problem.layout(params)
    lo, hi = _box_arrays(problem.bounds(shapes))
    x = problem.pack(params)
    if batch_size is None or batch_size >= n:
        batches = [np.arange(n)]
    else:
        order = torch.randperm(n, generator=generator).numpy()
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    losses = []
    total_weight = float(np.sum(data.weight))
    for idx in batches:
        chunks = data.subset(idx).chunks(problem.grid_size, problem.device, problem.dtype)
        # unbiased for the full corpus: the batch is a uniform sample of rows
        scale = n / len(idx)
        value, grad = problem.value_and_grad(x, shapes, chunks, scale=scale)
        losses.append(value)
        x = solver.step(x, grad, lo, hi)
    loss = float(np.mean(losses)) if total_weight else 0.0
    return _to_numpy(problem.unpack(x, shapes)), loss


def minimize_minibatch(
    problem, params, data, *, solver, learning_rate, batch_size, max_iter, tol,
    n_iter_no_change, generator, callback=None
):
    """Epochs of SGD or Adam with sklearn's stopping rule.

    Training stops when the epoch loss has not improved on the best loss by
    more than ``tol`` (relative) for ``n_iter_no_change`` epochs in a row.

    Examples
    --------
    >>> import torch
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import Rows, make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import minimize_minibatch
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> params, info = minimize_minibatch(
    ...     problem, start, Rows.of(X, y), solver="adam", learning_rate=0.05,
    ...     batch_size=250, max_iter=5, tol=1e-4, n_iter_no_change=2,
    ...     generator=torch.Generator())
    >>> len(info["loss_curve"]) <= 5
    True
    """
    opt = MinibatchSolver(solver, learning_rate)
    curve, best, stall = [], np.inf, 0
    best_params = params
    converged, diverged = False, None
    for epoch in range(max_iter):
        start = params
        params, loss = run_epoch(problem, params, opt, data, batch_size, generator)
        curve.append(loss)
        if callback is not None:
            callback(loss)
        if diverges(loss, best):
            diverged = loss
            break
        if loss > best - tol * max(abs(best), 1.0):
            stall += 1
        else:
            stall = 0
        if loss < best:
            # an epoch's loss is that of the steps from its start
            best, best_params = loss, start
        if stall >= n_iter_no_change:
            converged = True
            break
    if diverged is None and not all_finite(params):
        diverged = np.inf
    if diverged is not None:
        # the steps overshoot and grow: keep the best epoch's parameters
        params, converged = best_params, False
        if np.isfinite(best):
            message = (f"the loss diverged, from {best:.6g} to {diverged:.6g} per speech; "
                       "the best epoch's parameters are kept")
        else:
            message = "the loss was not finite; the starting parameters are kept"
    else:
        message = "" if converged else "maximum number of epochs reached"
    info = {
        "n_iter": len(curve),
        "converged": converged,
        "diverged": diverged is not None,
        "loss_curve": curve,
        "message": message,
        "loss": best if diverged is not None and np.isfinite(best) else curve[-1],
        "solver_state": opt,
    }
    return params, info


# A minibatch fit has diverged when an epoch's loss is not finite or exceeds
# the best epoch's by this multiple of max(|best|, 1): steps too long for the
# curvature overshoot further each time (learning_rate=1e6 took the loss from
# 4.3 to 2e9 nats per speech in one epoch, and a loss above twice the best
# never came back down in the cases looked at).
DIVERGENCE_RISE = 1.0


def all_finite(params):
    """Whether every entry of every parameter array is finite.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.solvers import all_finite
    >>> all_finite({"a": np.zeros(2), "b": np.array(1.0)}), all_finite({"a": np.array([np.nan])})
    (True, False)
    """
    return all(np.all(np.isfinite(v)) for v in params.values())


def diverges(loss, best):
    """Whether an epoch's ``loss`` says the fit diverged, given the ``best`` so far.

    Examples
    --------
    >>> from skpolar.solvers import diverges
    >>> diverges(4.0, 3.9), diverges(9.0, 3.9), diverges(float("nan"), 3.9)
    (False, True, True)
    """
    return bool(not np.isfinite(loss) or loss > best + DIVERGENCE_RISE * max(abs(best), 1.0))


def warn_unconverged(info, max_iter):
    """Issue sklearn's ConvergenceWarning for a solver's ``info``.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> from skpolar.solvers import warn_unconverged
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unconverged({"message": "maximum number of iterations reached"}, 10)
    >>> caught[0].category is ConvergenceWarning
    True
    """
    if info.get("diverged"):
        text = (f"The fit diverged ({info['message']}); lower learning_rate, or use "
                "solver='lbfgs' or 'em'.")
    else:
        text = (f"The fit did not converge in {max_iter} iterations ({info['message']}); "
                "increase max_iter or loosen tol.")
    warnings.warn(text, ConvergenceWarning, stacklevel=3)


@dataclasses.dataclass(frozen=True)
class Refitter:
    """How a fitted model is refitted to other rows: the bootstrap's and the bias corrections' refits.

    An estimator builds one from its own methods (so refits use the fit's
    emission, grid, solver and tolerances) and hands it to
    :mod:`skpolar.uncertainty` and :mod:`skpolar.bias`, which need nothing
    else of it. Picklable when the callables are (bound methods of a
    picklable estimator), so refits can run on joblib workers.

    Parameters
    ----------
    problem : callable
        ``problem(rows, for_em=True, zeros=None)``: the objective on ``rows``.
    minimize : callable
        ``minimize(problem, params, coarse_start=False)``: ``(params, info)``.
    start : callable
        ``start(rows)``: the parameters a fit starts from.
    collapse : callable
        ``collapse(rows)``: ``rows`` with duplicates merged where the fit
        would merge them.
    """

    problem: Callable
    minimize: Callable
    start: Callable
    collapse: Callable

    def from_params(self, rows, params, zeros=None, escape_saddle=False):
        """rho refitted to ``rows`` from ``params``; with ``escape_saddle``,
        also from the polarized starts when the fit ends near ``a = b``."""
        problem = self.problem(rows, for_em=True, zeros=zeros)
        fitted, info = self.minimize(problem, dict(params))
        if escape_saddle:
            fitted, _ = leave_saddle(problem, fitted, info, minimize=self.minimize)
        return rho_of(fitted)

    def from_start(self, rows, zeros=None):
        """rho refitted to ``rows`` from the start a fit takes (the saddle escaped)."""
        problem = self.problem(rows, for_em=True, zeros=zeros)
        start = TwoPoleEmission.pinned(self.start(rows), zeros)
        fitted, info = self.minimize(problem, start, coarse_start=True)
        fitted, _ = leave_saddle(problem, fitted, info, minimize=self.minimize)
        return rho_of(fitted)
