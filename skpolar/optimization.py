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

# a and b are kept in [1e-2, 1e4]: wide enough for any polarization a corpus
# shows, narrow enough that lgamma and the quadrature stay accurate.
LOG_SHAPE_BOUNDS = (np.log(1e-2), np.log(1e4))
LOGIT_PI_BOUNDS = (-10.0, 10.0)
# |log a - log b| below this (rho < 0.55) counts as next to the a = b saddle.
SADDLE_WIDTH = 0.2
# Largest rho a profile explores: 1 - 1e-4.
RHO_MAX = 1.0 - 1e-4


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
    def value_and_grad(self, vector, shapes, chunks=None, scale=1.0):
        """Mean penalized negative log likelihood and its gradient, as numpy.

        ``chunks`` restricts the sum to a minibatch whose log likelihood is
        multiplied by ``scale`` to stand for the whole corpus.
        """
        chunks = self.chunks if chunks is None else chunks
        params = self.unpack(vector, shapes, requires_grad=True)
        log_w = self.log_weights(params)
        prepared = self.emission.prepare(params, self.u)
        with torch.no_grad():
            loglik, mass, stats = accumulate(
                chunks, self.emission, _detach(prepared), log_w.detach(), self.u
            )
        # Fisher's identity: Q has the log likelihood's gradient at these params
        q = mass @ log_w + self.emission.surrogate(prepared, stats)
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

    def loglik_torch(self, params):
        """Total penalized log likelihood as a differentiable torch scalar (small data)."""
        log_w = self.log_weights(params)
        prepared = self.emission.prepare(params, self.u)
        total = 0.0
        for chunk in self.chunks:
            rows, _ = log_marginal_rows(chunk, self.emission, prepared, log_w)
            total = total + chunk.weight @ rows
        return total - self.emission.penalty(params)


def minimize_lbfgs(problem, params, *, max_iter, tol, verbose=0):
    """Fit with scipy's L-BFGS-B inside the safe parameter box.

    Returns
    -------
    params : dict of ndarray
    info : dict
        ``n_iter``, ``converged``, ``loss_curve`` and ``message``.
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

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if verbose:
            print(f"iteration {len(curve)}: loss {curve[-1]:.8f}")

    result = scipy.optimize.minimize(
        fun,
        problem.pack(params) * scale,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
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


def leave_saddle(problem, params, info, *, max_iter, tol):
    """Refit from polarized starts when a fit ended next to the ``a = b`` line.

    With ``a = b`` the mixture is symmetric and the gradient along ``a - b``
    vanishes, so a fit that drifts there can stop on the saddle although a
    polarized optimum is better. Both orientations are tried from
    ``rho = 0.75`` at the same ``a + b``; the best of the three fits is kept.
    """
    if abs(float(params["log_a"] - params["log_b"])) > SADDLE_WIDTH:
        return params, info
    log_kappa = float(np.logaddexp(params["log_a"], params["log_b"]))
    best, best_info = params, info
    for lean in (0.75, 0.25):
        start = dict(
            params, log_a=np.asarray(log_kappa + np.log(lean)),
            log_b=np.asarray(log_kappa + np.log(1 - lean)),
        )
        fitted, fitted_info = minimize_lbfgs(problem, start, max_iter=max_iter, tol=tol)
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
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    step = np.clip(x - g, lo, hi) - x
    return float(np.max(np.abs(step))) if len(step) else 0.0


class MinibatchSolver:
    """Plain SGD or Adam over minibatches, with parameters kept in the safe box.

    The state is numpy, so an estimator holding it pickles anywhere.
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
    """
    X, side, weight = data
    n = X.shape[0]
    shapes = problem.layout(params)
    bounds = problem.bounds(shapes)
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
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
    n_iter_no_change, generator, verbose=0
):
    """Epochs of SGD or Adam with sklearn's stopping rule.

    Training stops when the epoch loss has not improved on the best loss by
    more than ``tol`` (relative) for ``n_iter_no_change`` epochs in a row.
    """
    opt = MinibatchSolver(solver, learning_rate)
    curve, best, stall = [], np.inf, 0
    converged = False
    for epoch in range(max_iter):
        params, loss = run_epoch(problem, params, opt, data, batch_size, generator)
        curve.append(loss)
        if verbose:
            print(f"epoch {epoch + 1}: loss {loss:.8f}")
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


def _detach(prepared):
    if isinstance(prepared, dict):
        return {k: None if v is None else v.detach() for k, v in prepared.items()}
    return prepared.detach()


def _to_numpy(params):
    return {k: v.detach().cpu().numpy() for k, v in params.items()}


def warn_unconverged(info, max_iter):
    warnings.warn(
        f"The fit did not converge in {max_iter} iterations ({info['message']}); "
        "increase max_iter or loosen tol.",
        ConvergenceWarning,
        stacklevel=3,
    )


# ---- uncertainty -------------------------------------------------------------------
def rho_of(params):
    """Polarization ``max(a, b) / (a + b)`` of a parameter dict (no fixed rho)."""
    return float(1.0 / (1.0 + np.exp(-abs(params["log_a"] - params["log_b"]))))


def wald_se(problem, params):
    """Standard error of rho from the autograd Hessian of the log likelihood.

    The gauge directions of the emission (a constant added to all logits of a
    pole) make the Hessian singular; they carry no information about rho, so
    the pseudo-inverse gives the right variance.
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


def profile_interval(problem_at, params, loss_hat, n_total, *, level=0.95, tol=1e-9,
                     max_iter=500):
    """Profile-likelihood interval for rho.

    ``problem_at(rho)`` builds the problem with ``a / (a + b)`` held at
    ``rho``. The interval holds every rho whose likelihood-ratio statistic
    ``2 (l_hat - l_profile(rho))`` stays below the chi-square(1) quantile; at
    the ``rho = 0.5`` boundary the lower end is 0.5 itself when the data
    cannot exclude it.

    Returns
    -------
    (low, high) : tuple of float
    better : dict or None
        Parameters (in ``log_a, log_b`` form) of a profile point whose
        likelihood beats the estimate's: the fit stopped short of the maximum.
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
        fitted, info = minimize_lbfgs(problem, dict(first), max_iter=max_iter, tol=tol)
        value = 2.0 * n_total * (info["loss"] - loss_hat) - threshold
        evaluated[rho] = (value, fitted)
        return value

    def search(direction, limit):
        step, inside = 0.01, rho_hat
        while True:
            probe = rho_hat + direction * step
            if (probe - limit) * direction >= 0:
                probe = limit
            if statistic(probe) >= 0:
                return scipy.optimize.brentq(statistic, inside, probe, xtol=1e-4)
            if probe == limit:
                return limit
            inside = probe
            step *= 2.0

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
