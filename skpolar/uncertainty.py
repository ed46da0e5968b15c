"""Uncertainty about rho: observed information, profile likelihood, the speech bootstrap.

"""

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state

from .objective import LOG_SHAPE_BOUNDS

# The largest rho the shape box allows, a = 1e4 and b = 0.01: the profile
# explores every value the estimate can take (it stopped at 1 - 1e-4, below
# estimates of 1 - 1e-6 on corpora that separate the parties perfectly).
RHO_MAX = float(1.0 / (1.0 + np.exp(LOG_SHAPE_BOUNDS[0] - LOG_SHAPE_BOUNDS[1])))
# The standard normal's 97.5% quantile: a 95% interval's half-width in standard errors.
Z95 = 1.959963984540054
# A profile probe aims this far past the predicted interval end, to bracket it.
_PROFILE_OVERSHOOT = 1.05
# Accuracy of a profile interval's end in rho (well below its sampling error).
_PROFILE_XTOL = 1e-4


def rho_of(params):
    """Polarization ``max(a, b) / (a + b)`` of a parameter dict (no fixed rho).

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.uncertainty import rho_of
    >>> round(rho_of({"log_a": np.log(1.0), "log_b": np.log(3.0)}), 6)
    0.75
    """
    return float(1.0 / (1.0 + np.exp(-abs(params["log_a"] - params["log_b"]))))


def holding(ci, rho):
    """The interval ``ci`` widened, if need be, to hold the estimate ``rho``.

    Bootstrap percentiles can both fall on one side of the estimate, and a
    profile's ends can miss it in the last bit; an interval of NaNs (none
    computed) is returned as it is.

    Examples
    --------
    >>> from skpolar.uncertainty import holding
    >>> holding([0.55, 0.57], 0.6).tolist()
    [0.55, 0.6]
    """
    ci = np.asarray(ci, dtype=float)
    if not np.all(np.isfinite(ci)):
        return ci
    return np.array([min(ci[0], rho), max(ci[1], rho)])


def wald_se(problem, params):
    """Standard error of rho from the observed information (Hessian of the log likelihood).

    The Hessian is the central finite difference of the analytic gradient
    (Fisher's identity, :meth:`~skpolar.objective.Problem.objective`):
    two gradient passes per parameter, where an autograd Hessian built the
    whole likelihood's graph and differentiated it twice (seed task: 46 ms
    of a 0.14 s fit). The gauge directions of the emission (a constant added
    to all logits of a pole) make the Hessian singular; they carry no
    information about rho, so the pseudo-inverse gives the right variance.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import make_polarized_speech
    >>> from skpolar.emissions import make_emission
    >>> from skpolar.likelihood import make_chunks
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import minimize_lbfgs
    >>> from skpolar.uncertainty import wald_se
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
    x = problem.pack(params)
    # the objective's fastest form (its NumPy twin on few distinct rows: the
    # seed task's 18 gradients took 29 ms of an 80 ms fit through torch)
    objective = problem.objective(shapes)
    # steps of ~1e-5 relative: the gradient is exact to ~1e-14, so the
    # difference quotient is accurate to ~1e-9 and its truncation error smaller
    steps = 1e-5 * np.maximum(np.abs(x), 1.0)
    hess = np.empty((len(x), len(x)))
    for j, h in enumerate(steps):
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (objective(up)[1] - objective(down)[1]) / (2.0 * h)
    hess = problem.n_total * (hess + hess.T) / 2.0
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


def profile_form(params):
    """``params`` as the profile's fits take them: ``log(a + b)`` in place of ``log a, log b``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.uncertainty import profile_form
    >>> form = profile_form({"log_a": np.log(3.0), "log_b": 0.0, "logit_pi": 0.0})
    >>> sorted(form), round(float(np.exp(form["log_kappa"])), 6)
    (['log_kappa', 'logit_pi'], 4.0)
    """
    out = {k: v for k, v in params.items() if k not in ("log_a", "log_b")}
    out["log_kappa"] = np.asarray(np.logaddexp(params["log_a"], params["log_b"]))
    return out


def profile_interval(problem_at, params, loss_hat, n_total, *, minimize, level=0.95,
                     callback=None, warm_start=True, restart=None):
    """Profile-likelihood interval for rho.

    ``problem_at(rho)`` builds the problem with ``a / (a + b)`` held at
    ``rho`` and ``minimize(problem, params)`` fits it (the fit's own solver);
    ``callback(rho)`` is called after every profile point; with
    ``warm_start`` each profile fit starts at the nearest profile point on
    the estimate's side of it, else at the estimate; with ``restart``
    (parameters in the form of ``params``) each profile point is also
    fitted from there, and the better fit counts. The likelihood can have a
    second optimum along the flat path (poles that share more words,
    stances spread wider, lower rho): fits chained from the estimate stay
    on its branch and overstate the statistic wherever the other branch is
    the higher. On 1,000 speeches of the three-term task at rho = 0.7
    (seeds 1-3), the other branch held the statistic below the chi-square
    quantile from rho = 0.5 to 0.65 while fits from the estimate put it at
    4.5 to 26, and the interval's lower end at 0.66-0.70. Every restart fit
    begins at ``restart`` itself: chained from the previous restart fit, as
    the other fits are, it fell back onto the estimate's branch near the
    estimate and stayed there (seeds 2 and 3). The interval holds every rho
    whose likelihood-ratio statistic ``2 (l_hat - l_profile(rho))`` stays
    below the chi-square(1) quantile; at
    the ``rho = 0.5`` boundary the lower end is 0.5 itself when the data
    cannot exclude it, and at the other end ``RHO_MAX``, the largest rho the
    bounds on ``a`` and ``b`` allow (``1e4 / (1e4 + 0.01)``). It always
    contains the estimate.

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
    >>> from skpolar.objective import Problem
    >>> from skpolar.solvers import minimize_lbfgs
    >>> from skpolar.uncertainty import profile_interval, rho_of
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
    first = profile_form(params)
    restart = None if restart is None else profile_form(restart)
    # rho -> (LR statistic - threshold, fitted params); the estimate itself is known
    evaluated = {rho_hat: (-threshold, first)}

    def statistic(rho):
        if rho in evaluated:
            return evaluated[rho][0]
        # With warm_start, every profile fit starts at the profile point
        # nearest to rho on the estimate's side of it (the estimate itself at
        # first): the walk out follows one branch of the profile and each fit
        # starts close to its answer. Starts from points *beyond* rho
        # (chaining back in from far points) left fits near the estimate
        # unconverged, which overstates the LR statistic (too short an
        # interval). Without it every fit starts at the estimate: a solver
        # that stops short of the optimum by a little (EM, 1e-6 nats per
        # speech) then errs smoothly in rho, where warm starts made the
        # statistic jitter and Brent's method take twice the fits (the Senate
        # corpus: 14 against 7). The profile keeps the fit's orientation
        # (a >= b if d >= 0).
        problem = problem_at(rho if sign > 0 else 1.0 - rho)
        if warm_start:
            inside = [r for r in evaluated if (r - rho_hat) * (rho - r) >= 0]
            start = dict(evaluated[min(inside, key=lambda r: abs(rho - r))][1])
        else:
            start = dict(first)
        fitted, info = None, None
        for begin in (start, restart) if restart is not None else (start,):
            begin = dict(begin)
            # the start's a + b can leave the box at this rho (b below 0.01)
            begin["log_kappa"] = np.asarray(
                np.clip(begin["log_kappa"], *problem.log_kappa_bounds()))
            other, other_info = minimize(problem, begin)
            if info is None or other_info["loss"] < info["loss"]:
                fitted, info = other, other_info
        value = 2.0 * n_total * (info["loss"] - loss_hat) - threshold
        evaluated[rho] = (value, fitted)
        if callback is not None:
            callback(rho)
        return value

    def signed_root(rho):
        # sqrt of the LR statistic is close to linear in rho, so interpolation
        # finds its crossing in one or two profile fits where the statistic
        # itself, close to quadratic, needs five or six
        return np.sqrt(max(statistic(rho) + threshold, 0.0)) - np.sqrt(threshold)

    def search(direction, limit):
        # Bracket the crossing, then close in (_close_in). Each probe past the
        # first aims just beyond the crossing that the secant through the
        # last two points predicts (the estimate, at signed root -1.96, is
        # the first), so a near-linear signed root is bracketed tightly in
        # one or two probes. A root that rises steeply and then crawls (an
        # estimate near rho = 1) is followed by its recent slope: the chord
        # from the estimate took 1.2x steps there, 9 probes for one end on
        # 100 speeches of 5,000 terms.
        step = 0.01
        points = [(0.0, -np.sqrt(threshold))]  # (distance from the estimate, root)
        while True:
            probe = rho_hat + direction * step
            if (probe - limit) * direction >= 0:
                probe = limit
                step = (limit - rho_hat) * direction
            root = signed_root(probe)
            points.append((step, root))
            if root >= 0:
                distance = _close_in(
                    lambda d: signed_root(rho_hat + direction * d), points, _PROFILE_XTOL
                )
                return rho_hat + direction * distance
            if probe == limit:
                return limit
            last_step, last_root = points[-2]
            slope = (root - last_root) / (step - last_step)
            predicted = step - root / slope if slope > 0 else np.inf
            step = min(max(_PROFILE_OVERSHOOT * predicted, 1.2 * step), 4.0 * step)

    high = search(+1.0, RHO_MAX) if rho_hat < RHO_MAX else RHO_MAX
    low = search(-1.0, 0.5) if rho_hat > 0.5 else 0.5
    # the searches start at the estimate, so only rounding could leave it out
    low, high = min(low, rho_hat), max(high, rho_hat)
    # a profile point more likely than the estimate by more than solver noise
    # (0.001 in log likelihood) means the fit stopped short of the maximum
    rho_best = min(evaluated, key=lambda r: evaluated[r][0])
    better = None
    if evaluated[rho_best][0] + threshold < -2e-3:
        better = dict(evaluated[rho_best][1])
        log_kappa = better.pop("log_kappa")
        oriented = rho_best if sign > 0 else 1.0 - rho_best
        # 1 - rho carries rounding near rho = 1: keep the shapes in their box
        better["log_a"] = np.asarray(np.clip(log_kappa + np.log(oriented), *LOG_SHAPE_BOUNDS))
        better["log_b"] = np.asarray(np.clip(log_kappa + np.log1p(-oriented), *LOG_SHAPE_BOUNDS))
    return (float(low), float(high)), better


def _close_in(f, points, xtol, max_evals=30):
    """The zero of an increasing ``f`` bracketed by ``points``, to about ``xtol``.

    ``points`` holds ``(x, f(x))`` pairs already known, at least one on each
    side of the zero. The profile's signed root is close to linear, so the
    zero that a quadratic through the three points nearest to it predicts
    (inverse interpolation, as in Brent's method) is usually right to far
    better than ``xtol`` as soon as the zero is bracketed: where it agrees
    with the linear interpolation between the bracket's ends within
    ``xtol``, it is returned without a further evaluation of ``f`` (each is
    a refit). Brent's method, which always evaluates its last step, took two
    or three more refits per end on the Senate corpus.

    Examples
    --------
    >>> from skpolar.uncertainty import _close_in
    >>> f = lambda x: x + 0.1 * x ** 2 - 1.0
    >>> x = _close_in(f, [(0.0, f(0.0)), (2.0, f(2.0))], 1e-8)
    >>> round(x, 8), round(f(x), 7)
    (0.91607978, 0.0)
    """
    points, widths = sorted(set(points)), []
    for _ in range(max_evals):
        below = max((p for p in points if p[1] < 0), key=lambda p: p[0])
        above = min((p for p in points if p[1] >= 0), key=lambda p: p[0])
        if above[1] == 0:
            return above[0]
        width = above[0] - below[0]
        linear = below[0] - below[1] * width / (above[1] - below[1])
        if width <= xtol:
            return linear
        quadratic = _inverse_quadratic(sorted(points, key=lambda p: abs(p[1]))[:3])
        inside = quadratic is not None and below[0] < quadratic < above[0]
        if inside and abs(quadratic - linear) <= xtol:
            return quadratic
        guess = quadratic if inside else linear
        if len(widths) >= 2 and width > widths[-2] / 2:
            guess = (below[0] + above[0]) / 2  # interpolation stalls: bisect
        # never closer than xtol / 2 to an end: each step must shrink the bracket
        margin = min(xtol / 2, width / 4)
        guess = min(max(guess, below[0] + margin), above[0] - margin)
        widths.append(width)
        points.append((guess, f(guess)))
    return linear


def _inverse_quadratic(points):
    """Where the quadratic ``x(f)`` through three ``(x, f)`` points has ``f = 0``."""
    if len(points) < 3:
        return None
    (x0, f0), (x1, f1), (x2, f2) = points
    if f0 == f1 or f1 == f2 or f0 == f2:
        return None
    return (x0 * f1 * f2 / ((f0 - f1) * (f0 - f2)) + x1 * f0 * f2 / ((f1 - f0) * (f1 - f2))
            + x2 * f0 * f1 / ((f2 - f0) * (f2 - f1)))


def bootstrap_rhos(refit, rows, params, n_bootstrap, random_state, n_jobs, zeros=None):
    """rho refitted to ``n_bootstrap`` resamples of the rows (with replacement), from ``params``.

    Parameters
    ----------
    refit : skpolar.solvers.Refitter
        The fitted estimator's refits.
    rows : skpolar.likelihood.Rows
    params : dict
        The estimate every replicate starts from.
    n_bootstrap : int
    random_state : int, RandomState instance or None
        Seeds the resamples (one independent stream each).
    n_jobs : int or None
        joblib workers.
    zeros : ndarray of bool or None
        Pole probabilities every refit holds at zero.

    Returns
    -------
    ndarray of shape (n_bootstrap,)
    """
    seeds = np.random.SeedSequence(
        check_random_state(random_state).randint(np.iinfo(np.int32).max)
    ).spawn(n_bootstrap)
    return np.asarray(Parallel(n_jobs=n_jobs)(
        delayed(_bootstrap_replicate)(refit, rows, params, seed, zeros) for seed in seeds
    ))


def _bootstrap_replicate(refit, rows, params, seed, zeros=None):
    """rho refitted to one bootstrap draw of the rows, from the estimate."""
    return refit.from_params(rows.resampled(np.random.default_rng(seed)), params, zeros)
