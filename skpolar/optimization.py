"""Maximizing the grid marginal likelihood: parameters, solvers, intervals.

The parameters live in one flat float64 vector: the prior's ``log a``,
``log b`` (or ``log(a + b)`` when ``rho`` is held fixed for a profile), the
logit of ``pi`` when it is estimated, then the emission's arrays. The
objective is the mean negative log marginal likelihood per speech (plus the
emission's penalty); its gradient comes from Fisher's identity, so only the
small prior and emission graphs are differentiated.
"""

import warnings

import numpy as np
import scipy.optimize
import torch
from sklearn.exceptions import ConvergenceWarning

from .likelihood import accumulate, log_marginal_rows, make_chunks
from .quadrature import log_prior_weights, stance_grid
from .utils import torch_threads

# a and b are kept in [1e-2, 1e4]: wide enough for any polarization a corpus
# shows, narrow enough that lgamma and the quadrature stay accurate.
LOG_SHAPE_BOUNDS = (np.log(1e-2), np.log(1e4))
LOGIT_PI_BOUNDS = (-10.0, 10.0)
# |log a - log b| below this (rho < 0.55) counts as next to the a = b saddle.
SADDLE_WIDTH = 0.2
# Largest rho a profile explores: 1 - 1e-4.
RHO_MAX = 1.0 - 1e-4
# Bound on the SQUAREM step length |s|. On the senate corpus the steps that
# SQUAREM's own rule proposed (3 to 64) made the loss worse by 18 to 98,000
# nats per speech, while s = 2 improved on the plain EM point (by 0.13 nats
# per speech at the fourth iteration).
_SQUAREM_MAX_STEP = 2.0
# A profile probe aims this far past the predicted interval end, to bracket it.
_PROFILE_OVERSHOOT = 1.05


class Problem:
    """The objective of one fit: data chunks, emission, grid and fixed settings.

    Parameters
    ----------
    chunks : list of Chunk
        The data (see :func:`skpolar.likelihood.make_chunks`).
    emission : object
        An emission family from :mod:`skpolar.emissions`.
    n_features : int
    grid_size : int
    quadrature : {"exact", "density"}
    pi : float or None
        Fixed mixture weight, or None to estimate it.
    fixed_rho : float or None
        Hold ``a / (a + b)`` at this value (profile likelihood).
    device, dtype
        Where the torch work runs.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.optimization import Problem
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> value, grad = problem.value_and_grad(problem.pack(start), problem.layout(start))
    >>> grad.shape  # log a, log b, logit pi, then the 2 x 3 pole logits
    (9,)
    """

    def __init__(
        self,
        chunks,
        emission,
        n_features,
        grid_size,
        quadrature,
        pi=None,
        fixed_rho=None,
        device="cpu",
        dtype=torch.float64,
    ):
        self.chunks = chunks
        self.emission = emission
        self.n_features = n_features
        self.grid_size = grid_size
        self.quadrature = quadrature
        self.pi = pi
        self.fixed_rho = fixed_rho
        self.device = device
        self.dtype = dtype
        self.u = torch.as_tensor(
            stance_grid(grid_size, quadrature), dtype=dtype, device=device
        )
        self.n_total = sum(float(c.weight.sum()) for c in chunks) if chunks else 0.0
        prior = ["log_kappa"] if fixed_rho is not None else ["log_a", "log_b"]
        if pi is None:
            prior.append("logit_pi")
        self.prior_names = tuple(prior)

    # ---- packing ---------------------------------------------------------------
    def layout(self, params):
        """Names and shapes of the flat vector, in order."""
        names = self.prior_names + tuple(self.emission.param_names)
        return [(name, np.shape(params[name])) for name in names]

    def pack(self, params):
        names = self.prior_names + tuple(self.emission.param_names)
        return np.concatenate([np.ravel(np.asarray(params[n], dtype=float)) for n in names])

    def unpack(self, vector, shapes, requires_grad=False):
        params, start = {}, 0
        for name, shape in shapes:
            size = int(np.prod(shape))
            value = torch.as_tensor(
                vector[start : start + size], dtype=self.dtype, device=self.device
            ).reshape(shape)
            params[name] = value.clone().requires_grad_(requires_grad)
            start += size
        return params

    def bounds(self, shapes):
        out = []
        for name, shape in shapes:
            size = int(np.prod(shape))
            if name in ("log_a", "log_b"):
                out += [LOG_SHAPE_BOUNDS] * size
            elif name == "log_kappa":
                out += [(LOG_SHAPE_BOUNDS[0] + np.log(2), LOG_SHAPE_BOUNDS[1])] * size
            elif name == "logit_pi":
                out += [LOGIT_PI_BOUNDS] * size
            else:
                out += [(None, None)] * size
        return out

    def diagonal_scale(self, shapes):
        """Square-root curvature guess per parameter: word share for per-word arrays."""
        if not getattr(self.emission, "precondition", False):
            return np.ones(sum(int(np.prod(shape)) for _, shape in shapes))
        totals = self.word_totals()
        share = totals / max(float(totals.sum()), 1.0)
        per_speech = float(totals.sum()) / max(self.n_total, 1.0)
        out = []
        for name, shape in shapes:
            size = int(np.prod(shape))
            if len(shape) and shape[-1] == self.n_features and name in self.emission.param_names:
                # expected count of the word per speech, floored for unseen words
                word = np.sqrt(share * per_speech + 1e-2)
                out.append(np.broadcast_to(word, shape).ravel())
            else:
                out.append(np.ones(size))
        return np.concatenate(out)

    def word_totals(self):
        """Weighted count of every word over the corpus (numpy)."""
        total = np.zeros(self.n_features)
        for c in self.chunks:
            total += (c.XT @ c.weight).cpu().numpy()
        return total

    # ---- model pieces ------------------------------------------------------------
    def shapes(self, params):
        """``(a, b, pi)`` as torch scalars."""
        if "log_kappa" in params:
            kappa = torch.exp(params["log_kappa"])
            a, b = self.fixed_rho * kappa, (1.0 - self.fixed_rho) * kappa
        else:
            a, b = torch.exp(params["log_a"]), torch.exp(params["log_b"])
        if "logit_pi" in params:
            pi = torch.sigmoid(params["logit_pi"])
        else:
            pi = torch.as_tensor(self.pi, dtype=self.dtype, device=self.device)
        return a, b, pi

    def log_weights(self, params):
        a, b, pi = self.shapes(params)
        return log_prior_weights(a, b, pi, self.grid_size, self.quadrature)

    # ---- objective ----------------------------------------------------------------
    def e_step(self, params, chunks=None, log_w=None):
        """E-step over ``chunks`` (all by default), without a graph.

        ``log_w`` passes the prior's log node weights when the caller has them.
        Returns ``(loglik, mass, stats)`` from :func:`accumulate` and the
        prepared emission.
        """
        chunks = self.chunks if chunks is None else chunks
        with torch.no_grad():
            params = {k: v.detach() for k, v in params.items()}
            log_w = self.log_weights(params) if log_w is None else log_w.detach()
            prepared = self.emission.prepare(params, self.u)
            sums = accumulate(chunks, self.emission, prepared, log_w, self.u)
        return sums, prepared

    def value_and_grad(self, vector, shapes, chunks=None, scale=1.0):
        """Mean penalized negative log likelihood and its gradient, as numpy.

        ``chunks`` restricts the sum to a minibatch whose log likelihood is
        multiplied by ``scale`` to stand for the whole corpus.
        """
        params = self.unpack(vector, shapes, requires_grad=True)
        log_w = self.log_weights(params)
        (loglik, mass, stats), prepared = self.e_step(params, chunks, log_w)
        # Fisher's identity: Q has the log likelihood's gradient at these params
        q = mass @ log_w + self.emission.surrogate(params, prepared, stats, self.u)
        objective = -(scale * q - self.emission.penalty(params)) / self.n_total
        grads = torch.autograd.grad(objective, list(params.values()), allow_unused=True)
        grad = np.concatenate(
            [
                np.zeros(p.numel()) if g is None else g.detach().cpu().numpy().ravel()
                for p, g in zip(params.values(), grads, strict=True)
            ]
        )
        penalty = float(torch.as_tensor(self.emission.penalty(params)).detach())
        value = -(scale * loglik - penalty) / self.n_total
        return value, grad

    def prior_m_step(self, params, mass):
        """The prior parameters that maximize ``sum_g mass_g log w_g`` (EM's M-step).

        A few dozen evaluations of the quadrature, independent of the corpus size.
        """
        prior = {name: params[name] for name in self.prior_names}
        shapes = [(name, np.shape(prior[name])) for name in self.prior_names]
        mass = mass.to(self.dtype)

        def fun(vector):
            p = self.unpack(vector, shapes, requires_grad=True)
            q = -(mass @ self.log_weights(p)) / max(self.n_total, 1.0)
            grads = torch.autograd.grad(q, list(p.values()))
            return float(q.detach()), np.concatenate([g.cpu().numpy().ravel() for g in grads])

        # a few hundred quadrature cells: threads would only add hand-off costs
        with torch_threads(0):
            result = scipy.optimize.minimize(
                fun, np.concatenate([np.ravel(prior[n]) for n in self.prior_names]),
                jac=True, method="L-BFGS-B", bounds=self.bounds(shapes),
                options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 100},
            )
        return _to_numpy(self.unpack(result.x, shapes))

    def loglik_torch(self, params):
        """Total penalized log likelihood as a differentiable torch scalar (small data)."""
        log_w = self.log_weights(params)
        prepared = self.emission.prepare(params, self.u)
        total = 0.0
        for chunk in self.chunks:
            rows, _ = log_marginal_rows(chunk, self.emission, prepared, log_w)
            total = total + chunk.weight @ rows
        return total - self.emission.penalty(params)


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
    >>> from skpolar.optimization import Problem, minimize_lbfgs, rho_of
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

    def fun(z):
        value, grad = problem.value_and_grad(z / scale, shapes)
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
    ``v = x2 - x1 - r`` and step ``s = -|r| / |v|``. An extrapolated point that
    does worse than ``x1`` is replaced by ``x2``, so the loss of the accepted
    points never rises; ``|s|`` is bounded by 2. The fit stops when a cycle
    improves the mean loss by less than ``tol`` relative.

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
    >>> from skpolar.optimization import Problem, minimize_em
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
    lo, hi = _box(problem.bounds(shapes))
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

    x = problem.pack(params)
    curve, previous, converged, loss = [], None, False, None
    while True:
        x1, loss_x = em_map(x)
        if previous is not None:
            if loss_x > previous["loss1"]:
                # the extrapolation overshot: fall back to the plain EM point
                x = previous["x2"]
                x1, loss_x = em_map(x)
            curve.append(loss_x)
            if callback is not None:
                callback(loss_x)
            if previous["loss"] - loss_x <= tol * max(abs(loss_x), 1.0):
                converged = True
        loss = loss_x
        if converged or n_steps >= max_iter:
            break
        x2, loss1 = em_map(x1)
        r, v = x1 - x, x2 - 2 * x1 + x
        # coordinates at a bound or a floor move by clipping, not by a trend
        free = (x > lo) & (x < hi) & (x2 > lo) & (x2 < hi)
        free[n_prior:] &= np.minimum(x, np.minimum(x1, x2))[n_prior:] > floor + 1.0
        norm_v = np.sqrt(v[free] @ v[free])
        step = -np.sqrt(r[free] @ r[free]) / norm_v if norm_v > 0 else -1.0
        step = float(np.clip(step, -_SQUAREM_MAX_STEP, -1.0))
        jump = x2.copy()
        jump[free] = (x - 2 * step * r + step**2 * v)[free]
        previous = {"loss": loss_x, "loss1": loss1, "x2": x2}
        x = project(jump)
    info = {
        "n_iter": n_steps,
        "converged": converged,
        "loss_curve": curve or [loss],
        "message": "" if converged else "maximum number of iterations reached",
        "loss": loss,
    }
    return _to_numpy(problem.unpack(x, shapes)), info


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
    >>> from skpolar.optimization import Problem, leave_saddle, minimize_lbfgs, rho_of
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


def _box(bounds):
    """L-BFGS-B style ``(low, high)`` pairs as two arrays, None as infinity."""
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    return lo, hi


def _projected_gradient(x, g, bounds):
    lo, hi = _box(bounds)
    step = np.clip(x - g, lo, hi) - x
    return float(np.max(np.abs(step))) if len(step) else 0.0


class MinibatchSolver:
    """Plain SGD or Adam over minibatches, with parameters kept in the safe box.

    The state is numpy, so an estimator holding it pickles anywhere.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.optimization import MinibatchSolver
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

    ``data`` is ``(X, side, weight)``; ``batch_size=None`` takes the full batch
    (one step per epoch, as the research notebook does).

    Examples
    --------
    >>> import torch
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.optimization import Problem, MinibatchSolver, run_epoch
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> solver = MinibatchSolver("adam", learning_rate=0.05)
    >>> data = (X, y, np.ones(len(y)))
    >>> params, loss = run_epoch(problem, start, solver, data, 250, torch.Generator())
    >>> solver.t  # one Adam step per minibatch of 250
    8
    """
    X, side, weight = data
    n = X.shape[0]
    shapes = problem.layout(params)
    lo, hi = _box(problem.bounds(shapes))
    x = problem.pack(params)
    if batch_size is None or batch_size >= n:
        batches = [np.arange(n)]
    else:
        order = torch.randperm(n, generator=generator).numpy()
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    losses = []
    total_weight = float(np.sum(weight))
    for idx in batches:
        chunks = make_chunks(
            X[idx],
            None if side is None else side[idx],
            weight[idx],
            problem.grid_size,
            device=problem.device,
            dtype=problem.dtype,
        )
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
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.optimization import Problem, minimize_minibatch
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> params, info = minimize_minibatch(
    ...     problem, start, (X, y, np.ones(len(y))), solver="adam", learning_rate=0.05,
    ...     batch_size=250, max_iter=5, tol=1e-4, n_iter_no_change=2,
    ...     generator=torch.Generator())
    >>> len(info["loss_curve"]) <= 5
    True
    """
    opt = MinibatchSolver(solver, learning_rate)
    curve, best, stall = [], np.inf, 0
    converged = False
    for epoch in range(max_iter):
        params, loss = run_epoch(problem, params, opt, data, batch_size, generator)
        curve.append(loss)
        if callback is not None:
            callback(loss)
        if not np.isfinite(loss):
            break
        if loss > best - tol * max(abs(best), 1.0):
            stall += 1
        else:
            stall = 0
        best = min(best, loss)
        if stall >= n_iter_no_change:
            converged = True
            break
    info = {
        "n_iter": len(curve),
        "converged": converged,
        "loss_curve": curve,
        "message": "" if converged else "maximum number of epochs reached",
        "loss": curve[-1],
        "solver_state": opt,
    }
    return params, info


def _to_numpy(params):
    return {k: v.detach().cpu().numpy() for k, v in params.items()}


def warn_unconverged(info, max_iter):
    """Issue sklearn's ConvergenceWarning for a solver's ``info``.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> from skpolar.optimization import warn_unconverged
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unconverged({"message": "maximum number of iterations reached"}, 10)
    >>> caught[0].category is ConvergenceWarning
    True
    """
    warnings.warn(
        f"The fit did not converge in {max_iter} iterations ({info['message']}); "
        "increase max_iter or loosen tol.",
        ConvergenceWarning,
        stacklevel=3,
    )


# ---- uncertainty -------------------------------------------------------------------
def rho_of(params):
    """Polarization ``max(a, b) / (a + b)`` of a parameter dict (no fixed rho).

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.optimization import rho_of
    >>> round(rho_of({"log_a": np.log(1.0), "log_b": np.log(3.0)}), 6)
    0.75
    """
    return float(1.0 / (1.0 + np.exp(-abs(params["log_a"] - params["log_b"]))))


def wald_se(problem, params):
    """Standard error of rho from the autograd Hessian of the log likelihood.

    The gauge directions of the emission (a constant added to all logits of a
    pole) make the Hessian singular; they carry no information about rho, so
    the pseudo-inverse gives the right variance.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.optimization import Problem, minimize_lbfgs, wald_se
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> params, info = minimize_lbfgs(problem, start, max_iter=500, tol=1e-8)
    >>> se = wald_se(problem, params)
    >>> bool(0 < se < 0.05)
    True
    """
    shapes = problem.layout(params)
    x = torch.as_tensor(problem.pack(params), dtype=problem.dtype, device=problem.device)

    def negloglik(vec):
        start, p = 0, {}
        for name, shape in shapes:
            size = int(np.prod(shape))
            p[name] = vec[start : start + size].reshape(shape)
            start += size
        return -problem.loglik_torch(p)

    hess = torch.autograd.functional.hessian(negloglik, x).detach().cpu().numpy()
    if not np.all(np.isfinite(hess)):
        return np.nan
    # rho = sigmoid(|log a - log b|)
    r, sign = rho_of(params), np.sign(params["log_a"] - params["log_b"])
    grad = np.zeros(len(x))
    grad[0], grad[1] = sign * r * (1 - r), -sign * r * (1 - r)
    try:
        cov = np.linalg.pinv(hess, rcond=1e-10, hermitian=True)
    except np.linalg.LinAlgError:
        return np.nan
    var = float(grad @ cov @ grad)
    return np.sqrt(var) if var > 0 else np.nan


def profile_interval(problem_at, params, loss_hat, n_total, *, minimize, level=0.95,
                     callback=None):
    """Profile-likelihood interval for rho.

    ``problem_at(rho)`` builds the problem with ``a / (a + b)`` held at
    ``rho`` and ``minimize(problem, params)`` fits it (the fit's own solver);
    ``callback(rho)`` is called after every profile point. The interval holds every rho whose likelihood-ratio statistic
    ``2 (l_hat - l_profile(rho))`` stays below the chi-square(1) quantile; at
    the ``rho = 0.5`` boundary the lower end is 0.5 itself when the data
    cannot exclude it.

    Returns
    -------
    (low, high) : tuple of float
    better : dict or None
        Parameters (in ``log_a, log_b`` form) of a profile point whose
        likelihood beats the estimate's: the fit stopped short of the maximum.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.optimization import Problem, minimize_lbfgs, profile_interval, rho_of
    >>> X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    >>> emission = make_emission("two_pole")
    >>> problem = Problem(make_chunks(X, y, None, 20), emission, 3, 20, "exact")
    >>> counts = np.vstack([X[y == 0].sum(axis=0), X[y == 1].sum(axis=0)])
    >>> start = {"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0,
    ...          **emission.init_params(counts, None)}
    >>> def fit(prob, params):
    ...     return minimize_lbfgs(prob, params, max_iter=500, tol=1e-8)
    >>> params, info = fit(problem, start)
    >>> chunks = problem.chunks
    >>> def at(rho):
    ...     return Problem(chunks, emission, 3, 20, "exact", fixed_rho=rho)
    >>> (low, high), better = profile_interval(at, params, info["loss"], 2000, minimize=fit)
    >>> bool(low < rho_of(params) < high), better is None
    (True, True)
    """
    from scipy.stats import chi2

    threshold = chi2.ppf(level, df=1)
    rho_hat = rho_of(params)
    sign = 1.0 if params["log_a"] >= params["log_b"] else -1.0
    first = {k: v for k, v in params.items() if k not in ("log_a", "log_b")}
    first["log_kappa"] = np.asarray(np.logaddexp(params["log_a"], params["log_b"]))
    # rho -> (LR statistic - threshold, fitted params); the estimate itself is known
    evaluated = {rho_hat: (-threshold, first)}

    def statistic(rho):
        if rho in evaluated:
            return evaluated[rho][0]
        # Start every profile fit at the estimate: chaining warm starts from
        # far profile points left fits near the estimate unconverged, and an
        # unconverged profile point overstates the LR statistic (too short an
        # interval). The profile keeps the fit's orientation (a >= b if d >= 0).
        problem = problem_at(rho if sign > 0 else 1.0 - rho)
        fitted, info = minimize(problem, dict(first))
        value = 2.0 * n_total * (info["loss"] - loss_hat) - threshold
        evaluated[rho] = (value, fitted)
        if callback is not None:
            callback(rho)
        return value

    def signed_root(rho):
        # sqrt of the LR statistic is close to linear in rho, so Brent's
        # method needs two or three profile fits to find its crossing where
        # the statistic itself, close to quadratic, needs five or six
        return np.sqrt(max(statistic(rho) + threshold, 0.0)) - np.sqrt(threshold)

    def search(direction, limit):
        # Bracket the crossing, then let Brent's method close in. Each probe
        # past the first aims just beyond the crossing that the line through
        # the estimate (signed root -1.96) and the last probe predicts, so a
        # near-linear signed root is bracketed tightly in one or two probes.
        step, inside = 0.01, rho_hat
        while True:
            probe = rho_hat + direction * step
            if (probe - limit) * direction >= 0:
                probe = limit
            root = signed_root(probe)
            if root >= 0:
                return scipy.optimize.brentq(signed_root, inside, probe, xtol=1e-4)
            if probe == limit:
                return limit
            inside = probe
            rise = root + np.sqrt(threshold)  # since the estimate, >= 0
            predicted = step * np.sqrt(threshold) / rise if rise > 0 else np.inf
            step = min(max(_PROFILE_OVERSHOOT * predicted, 1.2 * step), 4.0 * step)

    high = search(+1.0, RHO_MAX) if rho_hat < RHO_MAX else RHO_MAX
    low = search(-1.0, 0.5) if rho_hat > 0.5 else 0.5
    # a profile point more likely than the estimate by more than solver noise
    # (0.001 in log likelihood) means the fit stopped short of the maximum
    rho_best = min(evaluated, key=lambda r: evaluated[r][0])
    better = None
    if evaluated[rho_best][0] + threshold < -2e-3:
        better = dict(evaluated[rho_best][1])
        log_kappa = better.pop("log_kappa")
        oriented = rho_best if sign > 0 else 1.0 - rho_best
        better["log_a"] = np.asarray(log_kappa + np.log(oriented))
        better["log_b"] = np.asarray(log_kappa + np.log1p(-oriented))
    return (float(low), float(high)), better
