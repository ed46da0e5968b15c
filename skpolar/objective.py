"""The objective: the grid marginal likelihood of one fit, as a function of a flat vector.

The parameters live in one flat float64 vector: the prior's ``log a``,
``log b`` (or ``log(a + b)`` when ``rho`` is held fixed for a profile), the
logit of ``pi`` when it is estimated, then the emission's arrays. The
objective is the mean negative log marginal likelihood per speech (plus the
emission's penalty); its gradient comes from Fisher's identity, so only the
small prior and emission graphs are differentiated.
"""


import numpy as np
import scipy.optimize
import scipy.sparse
import torch

from .emissions import _LOG_THETA_FLOOR, TwoPoleEmission
from .likelihood import accumulate, is_distributed, log_marginal_rows, on_grid
from .quadrature import log_prior_weights, log_prior_weights_numpy, stance_grid
from .utils import torch_threads

# a and b are kept in [1e-2, 1e4]: wide enough for any polarization a corpus
# shows, narrow enough that lgamma and the quadrature stay accurate.
LOG_SHAPE_BOUNDS = (np.log(1e-2), np.log(1e4))
LOGIT_PI_BOUNDS = (-10.0, 10.0)

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
    >>> from skpolar.objective import Problem
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
        if is_distributed(chunks):
            self.n_total = chunks.n_total
        else:
            self.n_total = sum(float(c.weight.sum()) for c in chunks) if chunks else 0.0
        prior = ["log_kappa"] if fixed_rho is not None else ["log_a", "log_b"]
        if pi is None:
            prior.append("logit_pi")
        self.prior_names = tuple(prior)
        # the prior step's inverse-Hessian estimate, carried from call to call
        self._prior_inv_hessian = None

    def on_grid(self, grid_size):
        """The same problem on ``grid_size`` nodes per side, sharing the data chunks."""
        if is_distributed(self.chunks):
            chunks = self.chunks.on_grid(grid_size)
        else:
            chunks = on_grid(self.chunks, self.grid_size, grid_size)
        return Problem(chunks, self.emission, self.n_features, grid_size, self.quadrature,
                       pi=self.pi, fixed_rho=self.fixed_rho, device=self.device,
                       dtype=self.dtype)

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
            # a copy: scipy hands read-only vectors to its callbacks
            value = torch.tensor(
                np.asarray(vector[start : start + size]), dtype=self.dtype, device=self.device
            ).reshape(shape)
            params[name] = value.requires_grad_(requires_grad)
            start += size
        return params

    def bounds(self, shapes):
        out = []
        for name, shape in shapes:
            size = int(np.prod(shape))
            if name in ("log_a", "log_b"):
                out += [LOG_SHAPE_BOUNDS] * size
            elif name == "log_kappa":
                out += [self.log_kappa_bounds()] * size
            elif name == "logit_pi":
                out += [LOGIT_PI_BOUNDS] * size
            else:
                fixed = getattr(self.emission, "fixed_logits", lambda _: None)(name)
                if fixed is None:
                    out += [(None, None)] * size
                else:
                    out += [(None, None) if np.isnan(v) else (float(v), float(v))
                            for v in np.ravel(fixed)]
        return out

    def log_kappa_bounds(self):
        """Bounds on ``log(a + b)`` that keep ``a`` and ``b`` in the shape box at ``fixed_rho``.

        A profile fit that let ``b = (1 - rho) (a + b)`` fall below the
        box's 0.01 handed the estimate a ``beta_`` of 0.0004.
        """
        low, high = LOG_SHAPE_BOUNDS
        rho = float(self.fixed_rho)
        lower = low - np.log(min(rho, 1.0 - rho))
        upper = high - np.log(max(rho, 1.0 - rho))
        # at the largest rho the box allows the two bounds meet (up to rounding)
        return lower, max(lower, upper)

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
        if is_distributed(self.chunks):
            return self.chunks.word_totals()
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
        """Log prior weight of every node, as a torch vector.

        Without a graph to build, the exact rule runs in NumPy (one
        evaluation there costs a fraction of torch's per-operation overhead).
        """
        needs_graph = torch.is_grad_enabled() and any(
            torch.is_tensor(params[name]) and params[name].requires_grad
            for name in self.prior_names
        )
        if self.quadrature == "exact" and not needs_graph:
            vector = [float(np.asarray(torch.as_tensor(params[n]).detach().cpu())) for n in self.prior_names]
            log_w = self.prior_log_weights_numpy(vector)
            return torch.as_tensor(log_w, dtype=self.dtype, device=self.device)
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

    def value(self, params):
        """Mean penalized negative log likelihood per speech at ``params`` (no gradient)."""
        with torch.no_grad():
            tparams = {k: torch.as_tensor(np.asarray(params[k]), dtype=self.dtype,
                                          device=self.device)
                       for k in self.prior_names + tuple(self.emission.param_names)}
            log_w = self.log_weights(tparams)
            prepared = self.emission.prepare(tparams, self.u)
            loglik, _, _ = accumulate(self.chunks, self.emission, prepared, log_w, self.u,
                                      stats=False)
            penalty = float(torch.as_tensor(self.emission.penalty(tparams)))
        return -(loglik - penalty) / self.n_total

    def value_and_grad(self, vector, shapes, chunks=None, scale=1.0):
        """Mean penalized negative log likelihood and its gradient, as numpy.

        ``chunks`` restricts the sum to a minibatch whose log likelihood is
        multiplied by ``scale`` to stand for the whole corpus.
        """
        params = self.unpack(vector, shapes, requires_grad=True)
        exact = self.quadrature == "exact"
        if exact:
            prior = np.array([float(params[n].detach()) for n in self.prior_names])
            log_w_np, jac = self.prior_log_weights_numpy(prior, grad=True)
            log_w = torch.as_tensor(log_w_np, dtype=self.dtype, device=self.device)
        else:
            log_w = self.log_weights(params)
        (loglik, mass, stats), prepared = self.e_step(params, chunks, log_w)
        # Fisher's identity: the expected complete log likelihood Q has the log
        # likelihood's gradient at these params. Its parts with a closed-form
        # gradient skip autograd, whose per-operation cost dominated an
        # iteration on small corpora (the quadrature's graph above all).
        known = {}
        if exact:
            mass_np = mass.cpu().numpy()
            used = mass_np > 0
            known.update(zip(self.prior_names,
                             -scale * (jac[:, used] @ mass_np[used]) / self.n_total))
        if hasattr(self.emission, "surrogate_grad"):
            q_grad, penalty_grad = self.emission.surrogate_grad(params, stats, self.u)
            known.update({n: (-(scale * q_grad[n] - penalty_grad[n]) / self.n_total).cpu().numpy()
                          for n in q_grad})
        names = [n for n in params if n not in known]
        if names:
            q = self.emission.surrogate(params, prepared, stats, self.u)
            if not exact:
                q = q + mass @ log_w
            objective = -(scale * q - self.emission.penalty(params)) / self.n_total
            grads = torch.autograd.grad(objective, [params[n] for n in names], allow_unused=True)
            known.update({
                n: np.zeros(params[n].numel()) if g is None else g.detach().cpu().numpy()
                for n, g in zip(names, grads, strict=True)
            })
        grad = np.concatenate([np.ravel(known[n]) for n in params])
        penalty = float(torch.as_tensor(self.emission.penalty(params)).detach())
        value = -(scale * loglik - penalty) / self.n_total
        return value, grad

    def objective(self, shapes):
        """:meth:`value_and_grad` as a function of the flat vector alone, the fastest way.

        On corpora of few distinct rows that is the objective's NumPy twin
        (:class:`_NumpyTwoPole`, equal to 1e-12), where torch's
        per-operation cost would be most of an evaluation.
        """
        if _NumpyTwoPole.applies(self, shapes):
            return _NumpyTwoPole(self, shapes).value_and_grad
        return lambda vector: self.value_and_grad(vector, shapes)

    def prior_m_step(self, params, mass):
        """The prior parameters that maximize ``sum_g mass_g log w_g`` (EM's M-step).

        A few evaluations of the quadrature, independent of the corpus size;
        for the exact rule they run in NumPy with analytic gradients, and
        each call after the first starts from the curvature the last one
        learnt (:func:`_warm_quasi_newton`).
        """
        prior = {name: params[name] for name in self.prior_names}
        shapes = [(name, np.shape(prior[name])) for name in self.prior_names]
        mass = mass.detach().cpu().numpy().astype(np.float64)
        # nodes without posterior mass do not enter the objective (their weight
        # may be exactly zero, and 0 * log 0 is not a number)
        used = mass > 0
        scale = 1.0 / max(self.n_total, 1.0)

        if self.quadrature == "exact":

            def fun(vector):
                log_w, jac = self.prior_log_weights_numpy(vector, grad=True)
                value = -scale * (mass[used] @ log_w[used])
                return value, -scale * (jac[:, used] @ mass[used])

        else:
            tmass = torch.as_tensor(mass, dtype=self.dtype, device=self.device)

            def fun(vector):
                p = self.unpack(vector, shapes, requires_grad=True)
                log_w = self.log_weights(p)
                q = -scale * (torch.where(tmass > 0, tmass * log_w, 0.0)).sum()
                grads = torch.autograd.grad(q, list(p.values()))
                return float(q.detach()), np.concatenate([g.cpu().numpy().ravel() for g in grads])

        start = np.concatenate([np.ravel(prior[n]) for n in self.prior_names])
        bounds = self.bounds(shapes)
        # a few hundred quadrature cells: threads would only add hand-off costs
        with torch_threads(0):
            # EM calls this once an E-step with masses that change little, so
            # the curvature the last call learnt starts the next one: a
            # quasi-Newton iteration from it converges in two to four
            # evaluations, where L-BFGS-B, which starts from the identity each
            # time, takes a dozen. L-BFGS-B remains for the first call and
            # whenever a step would leave the box.
            found = None
            if self._prior_inv_hessian is not None:
                lo, hi = _box_arrays(bounds)
                found = _warm_quasi_newton(fun, start, self._prior_inv_hessian, lo, hi,
                                           ftol=_PRIOR_FTOL, gtol=_PRIOR_GTOL)
            if found is None:
                result = scipy.optimize.minimize(
                    fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                    options={"ftol": _PRIOR_FTOL, "gtol": _PRIOR_GTOL, "maxiter": 100},
                )
                x = result.x
                # (no estimate when L-BFGS-B stopped before its first step)
                estimate = getattr(result, "hess_inv", None)
                estimate = None if estimate is None else np.asarray(estimate.todense())
                finite = estimate is not None and np.all(np.isfinite(estimate))
                self._prior_inv_hessian = estimate if finite else None
            else:
                x, self._prior_inv_hessian = found
        return _to_numpy(self.unpack(x, shapes))

    def prior_log_weights_numpy(self, vector, grad=False):
        """Log node weights (exact rule) from the prior part of the flat vector.

        With ``grad=True`` also their Jacobian in that vector, shape
        (len(prior_names), n_nodes).
        """
        values = dict(zip(self.prior_names, np.asarray(vector, dtype=float)))
        if "log_kappa" in values:
            kappa = np.exp(values["log_kappa"])
            a, b = self.fixed_rho * kappa, (1.0 - self.fixed_rho) * kappa
        else:
            a, b = np.exp(values["log_a"]), np.exp(values["log_b"])
        pi = 1.0 / (1.0 + np.exp(-values["logit_pi"])) if "logit_pi" in values else self.pi
        out = log_prior_weights_numpy(a, b, pi, self.grid_size, grad=grad)
        if not grad:
            return out
        log_w, (d_log_a, d_log_b, d_logit_pi) = out
        rows = {"log_a": d_log_a, "log_b": d_log_b, "log_kappa": d_log_a + d_log_b,
                "logit_pi": d_logit_pi}
        return log_w, np.stack([rows[name] for name in self.prior_names])

    def loglik_torch(self, params):
        """Total penalized log likelihood as a differentiable torch scalar (small data)."""
        log_w = self.log_weights(params)
        prepared = self.emission.prepare(params, self.u)
        total = 0.0
        for chunk in self.chunks:
            rows, _ = log_marginal_rows(chunk, self.emission, prepared, log_w)
            total = total + chunk.weight @ rows
        return total - self.emission.penalty(params)


# EM's prior step stops as L-BFGS-B's options say (relative decrease,
# largest gradient entry).
_PRIOR_FTOL = 1e-13
_PRIOR_GTOL = 1e-9


def _box_arrays(bounds):
    """L-BFGS-B style ``(low, high)`` pairs as two arrays, None as infinity."""
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds], dtype=float)
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds], dtype=float)
    return lo, hi


def _warm_quasi_newton(fun, x, inv_hessian, lo, hi, *, ftol, gtol, max_iter=20):
    """Minimize ``fun`` (value and gradient) by BFGS from ``x`` and an inverse-Hessian estimate.

    Returns ``(x, inv_hessian)`` at convergence (the largest gradient entry
    at most ``gtol``, or a relative decrease below ``ftol``), or None when a
    step is not a descent direction, would leave the box ``[lo, hi]``, or
    finds no decrease by backtracking, or ``max_iter`` runs out: the caller
    then falls back on L-BFGS-B.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.objective import _warm_quasi_newton
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]])
    >>> def fun(x):
    ...     return 0.5 * x @ A @ x - x.sum(), A @ x - 1.0
    >>> x, H = _warm_quasi_newton(fun, np.zeros(2), np.eye(2) / 3, np.full(2, -9.0),
    ...                           np.full(2, 9.0), ftol=0.0, gtol=1e-12)
    >>> np.allclose(x, np.linalg.solve(A, np.ones(2)))
    True
    """
    value, grad = fun(x)
    eye = np.eye(len(x))
    for _ in range(max_iter):
        if np.max(np.abs(grad)) <= gtol:
            return x, inv_hessian
        step = -inv_hessian @ grad
        slope = grad @ step
        if not slope < 0:
            return None
        t = 1.0
        for _ in range(30):
            trial = x + t * step
            if np.any(trial < lo) or np.any(trial > hi):
                return None
            trial_value, trial_grad = fun(trial)
            if trial_value <= value + 1e-4 * t * slope:
                break
            t /= 2.0
        else:
            return None
        s, y = trial - x, trial_grad - grad
        sy = s @ y
        if sy > 0:
            # the BFGS update of the inverse Hessian
            rho = 1.0 / sy
            left = eye - rho * np.outer(s, y)
            inv_hessian = left @ inv_hessian @ left.T + rho * np.outer(s, s)
        previous = value
        x, value, grad = trial, trial_value, trial_grad
        if previous - value <= ftol * max(abs(previous), abs(value), 1.0):
            return x, inv_hessian
    return None


def _to_numpy(params):
    return {k: v.detach().cpu().numpy() for k, v in params.items()}


def _by_nodes(chunks, rows, stack):
    """The chunks' rows grouped by the node range they may sit on.

    ``rows(chunk)`` gives a chunk's per-row array, ``stack`` joins a group's
    arrays. Returns ``[(nodes, stacked rows, weight, log_coef)]``.
    """
    groups = {}
    for chunk in chunks:
        groups.setdefault((chunk.nodes.start, chunk.nodes.stop), []).append(chunk)
    return [(slice(*nodes), stack([rows(c) for c in group]),
             np.concatenate([c.weight.double().cpu().numpy() for c in group]),
             np.concatenate([c.log_coef.double().cpu().numpy() for c in group]))
            for nodes, group in groups.items()]


def _row_posteriors(joint, weight, log_coef):
    """Weighted log marginal likelihood of rows and their posteriors times their weights.

    ``joint`` (rows x nodes: log prior weight plus the row's log likelihood)
    is overwritten by the posteriors, as in :func:`skpolar.likelihood.accumulate`.
    """
    peak = np.maximum(joint.max(axis=1), np.finfo(float).min)
    joint -= peak[:, None]
    post = np.exp(joint, out=joint)
    row_total = post.sum(axis=1)
    post *= (weight / row_total)[:, None]
    return float(weight @ (peak + np.log(row_total) + log_coef)), post


class _NumpyTwoPole:
    """The two-pole objective in NumPy, for corpora of few distinct rows.

    Where an E-step's tensors are a few hundred rows by a few hundred nodes
    (the seed task's 10,000 three-term speeches collapse to a few hundred
    distinct rows; the posterior's corpora are small), torch's
    per-operation cost is most of an evaluation: this is
    :meth:`Problem.value_and_grad`, operation for operation, on SciPy
    sparse rows (about twice as fast: 0.7 to 1.3 ms against 1.7 to 2.2 ms
    per evaluation on the Bayesian tests' corpus and the seed task,
    measured on a busy machine). L-BFGS fits and the posterior's samplers
    use it (:meth:`Problem.objective`). Rows that may sit on the same nodes
    share one matrix.
    """

    # more (rows x nodes) entries than this and torch's threads pay for themselves
    MAX_ENTRIES = 4e6
    # vocabularies up to this size hold their rows as dense arrays
    DENSE_MAX_FEATURES = 64

    def __init__(self, problem, shapes):
        self.problem = problem
        self.k = len(problem.prior_names)
        self.shape = tuple(shapes[self.k][1])
        u = problem.u.cpu().numpy()
        self.p = np.clip((u + 1.0) / 2.0, 0.0, 1.0)
        prior = problem.emission.prior_counts
        self.prior_counts = None if prior is None else prior.cpu().numpy()
        groups = _by_nodes(problem.chunks, lambda c: _scipy_rows(c.X),
                           lambda parts: scipy.sparse.vstack(parts, format="csr"))
        # a few columns: dense products cost less than SciPy's sparse ones
        # (1.12 against 0.93 ms an evaluation on the seed task's three terms)
        dense = self.shape[1] <= self.DENSE_MAX_FEATURES
        self.groups = [(nodes, X.toarray(), X.T.toarray(), weight, log_coef) if dense
                       else (nodes, X, X.T.tocsr(), weight, log_coef)
                       for nodes, X, weight, log_coef in groups]

    @classmethod
    def applies(cls, problem, shapes):
        """Whether ``problem`` is the two-pole, exact-rule objective of a small corpus on the CPU."""
        names = [name for name, _ in shapes[len(problem.prior_names):]]
        if is_distributed(problem.chunks):
            return False
        entries = sum(c.X.shape[0] * (c.nodes.stop - c.nodes.start) for c in problem.chunks)
        return (problem.quadrature == "exact" and names == ["eta"]
                and isinstance(problem.emission, TwoPoleEmission)
                and torch.device(problem.device).type == "cpu"
                and problem.dtype == torch.float64
                and entries <= cls.MAX_ENTRIES)

    def value_and_grad(self, full, grad=True):
        """Mean penalized negative log likelihood per speech and its gradient in ``full``.

        With ``grad=False`` the gradient is ``None`` and not computed (about
        half the cost: importance weights need values only).
        """
        k, n = self.k, self.problem.n_total
        if grad:
            log_w, jac = self.problem.prior_log_weights_numpy(full[:k], grad=True)
        else:
            log_w = self.problem.prior_log_weights_numpy(full[:k])
        eta = full[k:].reshape(self.shape)
        # by hand: scipy's logsumexp costs more than the rest of the emission here
        peak = eta.max(axis=1, keepdims=True)
        log_theta = eta - (peak + np.log(np.exp(eta - peak).sum(axis=1, keepdims=True)))
        theta = np.exp(log_theta)
        # the larger pole factored out per word, as in the torch E-step
        top = np.maximum(log_theta[0], log_theta[1])
        left, right = np.exp(log_theta - top)
        floored = np.maximum(theta, np.exp(_LOG_THETA_FLOOR))
        loglik, mass, to_pole = 0.0, np.zeros(len(log_w)), np.zeros(self.shape)
        with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
            for nodes, X, XT, weight, log_coef in self.groups:
                p = self.p[nodes]
                table = np.log(np.outer(left, 1.0 - p) + np.outer(right, p)) + top[:, None]
                part, post = _row_posteriors(X @ table + log_w[nodes], weight, log_coef)
                loglik += part
                if not grad:
                    continue
                mass[nodes] += post.sum(axis=0)
                # expected counts per word and node over the mixture there
                share = (XT @ post) / (np.outer(floored[0], 1.0 - p) + np.outer(floored[1], p))
                to_pole += np.vstack([share @ (1.0 - p), share @ p])
            penalty, penalty_grad = 0.0, 0.0
            if self.prior_counts is not None:
                penalty = -float((self.prior_counts * log_theta).sum())
                penalty_grad = -(self.prior_counts - theta * self.prior_counts.sum())
        if not grad:
            return -(loglik - penalty) / n, None
        used = mass > 0
        grad_eta = theta * (to_pole - (theta * to_pole).sum(axis=1, keepdims=True))
        grad = np.concatenate([-(jac[:, used] @ mass[used]) / n,
                               (-(grad_eta - penalty_grad) / n).ravel()])
        return -(loglik - penalty) / n, grad


def _scipy_rows(X):
    """A chunk's counts (torch, sparse CSR or dense) as a SciPy CSR matrix in double."""
    if X.layout == torch.sparse_csr:
        return scipy.sparse.csr_matrix(
            (X.values().double().cpu().numpy(), X.col_indices().cpu().numpy(),
             X.crow_indices().cpu().numpy()), shape=tuple(X.shape))
    return scipy.sparse.csr_matrix(X.double().cpu().numpy())
