"""Emission families: the word distribution phi(u) of a speech at stance u.

Every family turns its parameters into a ``prepared`` form shared by all
speeches (the G x V log table, or the log-linear normalizers), into the
per-speech, per-node log likelihood ``x . log phi(u_g)`` (up to the
multinomial coefficient), into the sufficient statistics of a posterior over
the nodes (added up chunk by chunk with ``add_stats``), and into a surrogate
``Q`` whose gradient at the current parameters is the gradient of the log
marginal likelihood (Fisher's identity). ``prepare`` runs without a graph
for the E-step; ``surrogate(params, prepared, stats, u)`` builds the small
``Q`` graph from the parameters themselves. A family with a
closed-form M-step (``m_step``, the two-pole family) can be fitted by EM.

Identification
--------------
``"two_pole"``: ``phi(u) = (1 - p) theta_L + p theta_R`` with
``p = (u + 1) / 2``. The poles are the parties' pure vocabularies. Stretching
the poles apart and shrinking the stances to match leaves the likelihood
unchanged only while the stretched poles stay valid distributions, so the
family is identified as soon as each pole has words the other never uses
(the generator's design); on real vocabularies with no such words the Beta
shape pins the stretch, weakly.

``"loglinear"``: ``phi(u) = softmax(W u + c)`` with word intercepts ``c``.
Only ``W u`` is seen by the data, so the scale of ``u`` trades against the
scale of ``W``; a Gaussian prior ``W ~ N(0, 1 / l2_penalty)`` pins it. The
stance scale (and so ``rho``) is then relative to that penalty.

``"softmax"``: the research notebook's ``softmax(W u)`` without intercepts.
It is not identified (its maximum-likelihood fit drifts to ``a, b -> inf``,
``rho -> 0.5``); it is kept to reproduce the notebook.
"""

import threading

import numpy as np
import torch

EMISSIONS = ("two_pole", "loglinear", "softmax")

# Additive smoothing of the class word frequencies that start a fit.
_INIT_SMOOTHING = 0.5
# EM drives the pole probability of a word that side never uses to zero; its
# logit is floored here (exp(-690) ~ 1e-300) so tables stay finite.
_LOG_THETA_FLOOR = -690.0
# Inner fixed-point passes of the two-pole M-step per E-step: each costs
# O(G V), a fraction of an E-step, and more than a few do not cut the number
# of E-steps further.
_M_STEP_PASSES = 3
# Posterior weights below this are dropped from single-precision products.
_SINGLE_FLOOR = 1e-30
# a trapped pole probability restarts at this share of the other pole's (see m_step)
_LIFT = 1e-6


def _logsumexp_rows(a):
    top = a.max(axis=1, keepdims=True)
    return top + np.log(np.exp(a - top).sum(axis=1, keepdims=True))


class _Buffers:
    """Work buffers an emission reuses from one pass to the next, per thread.

    Every fresh buffer of a few megabytes costs as much in page faults as the
    arithmetic that fills it (the (nodes, V) tables of a large vocabulary),
    so the tables of each pass are made in the previous pass's buffers. A
    buffer holds until the same thread asks for its ``tag`` again.
    """

    def __init__(self):
        self._store = {}

    def __getstate__(self):
        # an emission sent to a Dask worker travels without its work arrays
        return {"_store": {}}

    def rows(self, tag, n_rows, n_cols, dtype, device):
        """A (n_rows, n_cols) buffer: the first rows of one that grows to the most rows asked for.

        Chunks differ in their number of rows; one buffer per row count
        would keep a buffer per chunk alive (gigabytes on a corpus of
        millions of speeches), and one reshaped per call would be fresh
        every call.
        """
        key = (threading.get_ident(), tag)
        buffer = self._store.get(key)
        if (buffer is None or buffer.shape[0] < n_rows or buffer.shape[1] != n_cols
                or buffer.dtype != dtype or buffer.device != torch.device(device)):
            buffer = self._store[key] = torch.empty((n_rows, n_cols), dtype=dtype,
                                                    device=device)
        return buffer[:n_rows]

    def get(self, tag, shape, dtype, device):
        key = (threading.get_ident(), tag)
        buffer = self._store.get(key)
        if (buffer is None or buffer.shape != tuple(shape) or buffer.dtype != dtype
                or buffer.device != torch.device(device)):
            buffer = self._store[key] = torch.empty(shape, dtype=dtype, device=device)
        return buffer


def make_emission(name, l2_penalty=1.0, prior_counts=None, zeros=None):
    """The emission family called ``name``.

    ``prior_counts`` (two-pole family only) are the Dirichlet pseudo-counts
    of every word in each pole, ``zeros`` the pole probabilities held at
    zero; see :class:`TwoPoleEmission`.

    Examples
    --------
    >>> from skpolar.emissions import make_emission
    >>> make_emission("two_pole").param_names
    ('eta',)
    """
    if name == "two_pole":
        return TwoPoleEmission(prior_counts, zeros)
    return LogLinearEmission(intercept=name == "loglinear", l2_penalty=l2_penalty)


def _node_blocks(stats, n_nodes):
    """Expected counts per node range, ``{(start, stop): (V, stop - start)}``.

    ``stats`` holds them as the E-step leaves them (``blocks``) or as one
    (n_nodes, V) tensor (``counts``).
    """
    if "counts" in stats:
        return {(0, n_nodes): stats["counts"].T}
    return stats["blocks"]


def _pole_sums(theta, p, blocks, buffers=None):
    """``D`` of shape (2, V): ``sum_g C_gv (1 - p_g) / phi_gv`` and ``sum_g C_gv p_g / phi_gv``.

    ``phi_gv = (1 - p_g) theta_Lv + p_g theta_Rv`` with ``theta`` kept above
    zero by the caller; ``blocks`` are the expected counts per node range
    (:func:`_node_blocks`). ``buffers`` (one per range, as ``blocks``) take the
    (V, nodes) quotients, so repeated calls allocate nothing large.
    """
    sums = theta.new_zeros(theta.shape)
    for (start, stop), block in blocks.items():
        q = p[start:stop]
        share = torch.outer(theta[0], 1.0 - q,
                            out=None if buffers is None else buffers[start, stop])
        share.addr_(theta[1], q)
        torch.div(block, share, out=share)
        sums[0] += share @ (1.0 - q)
        sums[1] += share @ q
    return sums


def _factored_poles(eta):
    """``(top, left, right)``: the pole probabilities as ``exp(top) * (left, right)``.

    ``log((1 - p) theta_L + p theta_R)`` is computed with the larger pole
    factored out per word: the exponentials stay in [0, 1] and the mixture is
    at least ``min(p, 1 - p)``, so nothing underflows to ``log(0)``.
    """
    log_theta = torch.log_softmax(eta, dim=1)
    top = torch.maximum(log_theta[0], log_theta[1])
    left, right = torch.exp(log_theta - top)
    return top, left, right


class TwoPoleEmission:
    """``phi(u) = (1 - p) softmax(eta_L) + p softmax(eta_R)``, ``p = (u + 1) / 2``.

    Parameters are the pole logits ``eta`` of shape (2, V). The sufficient
    statistics are the expected word counts at every node, ``P.T @ X``.

    Parameters
    ----------
    prior_counts : array-like of shape (V,) or None
        A Dirichlet prior on each pole, ``theta_k ~ Dirichlet(prior_counts + 1)``:
        the fit maximizes the likelihood times this prior, which adds
        ``prior_counts`` to the expected counts of every pole in the M-step.
        No pole probability can then reach zero. None is the likelihood alone.
    zeros : array-like of bool, shape (2, V), or None
        Pole probabilities held at zero (their logits at the floor): EM never
        restarts them and L-BFGS boxes them there (:meth:`fixed_logits`).

    Examples
    --------
    >>> import torch
    >>> from skpolar.emissions import TwoPoleEmission
    >>> eta = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64))
    >>> table = TwoPoleEmission().log_table({"eta": eta}, torch.tensor([0.0]).double())
    >>> table.exp()
    tensor([[0.5000, 0.5000]], dtype=torch.float64)
    """

    param_names = ("eta",)
    # Pole words one party never uses send their logits to minus infinity, a
    # direction that curvature scaling by word frequency makes L-BFGS stop in
    # early; the two-pole family is optimized unscaled.
    precondition = False

    def __init__(self, prior_counts=None, zeros=None):
        self.prior_counts = (
            None if prior_counts is None else torch.as_tensor(prior_counts, dtype=torch.float64)
        )
        self.zeros = None if zeros is None else np.asarray(zeros, dtype=bool)
        self._buffers = _Buffers()

    def init_params(self, class_counts, generator):
        """Starting parameters from the parties' word counts (``class_counts``, shape (2, V))."""
        theta = class_counts + _INIT_SMOOTHING
        return {"eta": np.log(theta / theta.sum(axis=1, keepdims=True))}

    def random_params(self, n_features, generator, dtype):
        """Random starting parameters (``init="random"``), drawn with ``generator``."""
        return {"eta": torch.randn(2, n_features, generator=generator, dtype=dtype)}

    def log_table(self, params, u):
        """``log phi_v(u_g)`` for every node and word, shape (len(u), V)."""
        # the E-step builds its tables per node range (row_loglik); this
        # whole table serves the surrogate's autograd graph
        top, left, right = _factored_poles(params["eta"])
        p = ((u + 1.0) / 2.0).clamp(0.0, 1.0)[:, None]
        return top + torch.log((1.0 - p) * left + p * right)

    def prepare(self, params, u):
        """What every speech's likelihood shares at these parameters (built once per pass).

        Without a graph to build, the tables ``row_loglik`` makes from it live
        in buffers this emission reuses (:class:`_Buffers`): a ``prepared``
        holds until the thread's next ``prepare``.
        """
        top, left, right = _factored_poles(params["eta"])
        p = ((u + 1.0) / 2.0).clamp(0.0, 1.0)
        # the (V, nodes) tables of the node ranges speeches use, built on first use
        return {"top": top, "left": left, "right": right, "p": p, "by_nodes": {}}

    def row_loglik(self, chunk, prepared, nodes, reuse=False):
        """``x . log phi(u_g)`` for the chunk's rows at ``nodes``, a (rows, nodes) tensor.

        A fresh tensor, or with ``reuse`` one of this emission's buffers,
        valid until the thread's next ``reuse`` call (the E-step's loop).
        """
        X32 = chunk.X32
        single = X32 is not None
        key = (nodes.start, nodes.stop, single)
        table = prepared["by_nodes"].get(key)
        if table is None:
            # built transposed, in place in the last pass's buffer: a sparse
            # product with a contiguous (V, nodes) table is a third faster
            p, left, right = prepared["p"][nodes], prepared["left"], prepared["right"]
            if single:
                p, left, right = (t.to(torch.float32) for t in (p, left, right))
            if torch.is_grad_enabled() and left.requires_grad:
                table = torch.outer(left, 1.0 - p).addr_(right, p).log_()
            else:
                table = self._buffers.get(("table",) + key, (len(left), len(p)), p.dtype,
                                          p.device)
                torch.outer(left, 1.0 - p, out=table).addr_(right, p).log_()
            if not single:
                table.add_(prepared["top"][:, None])
            prepared["by_nodes"][key] = table
        rows = chunk.counts.shape[0]
        reuse = reuse and not table.requires_grad
        out = (self._buffers.rows(("joint",) + key, rows, table.shape[1],
                                  prepared["top"].dtype, table.device) if reuse else None)
        if not single:
            return chunk.X @ table if out is None else torch.mm(chunk.X, table, out=out)
        # Single precision for the product (make_chunks). Without each word's
        # larger log pole probability ``top`` the table lies in [log p, 0]
        # (a few nats), so the float32 sums carry tens of nats a speech,
        # rounded to ~1e-5; the rows' common part ``x . top`` (thousands of
        # nats, which float32 would round to ~1e-3) is added in double.
        top = prepared["top"]
        if table.requires_grad:
            product = X32 @ table
        else:
            product = self._buffers.rows(("product",) + key, X32.shape[0], table.shape[1],
                                         table.dtype, table.device)
            torch.mm(X32, table, out=product)
        # a fresh (rows, nodes) array per chunk costs page faults, and on a
        # Dask worker, whose allocator returns freed memory at once
        # (MALLOC_TRIM_THRESHOLD_), twice the E-step
        joint = product.to(top.dtype) if out is None else out.copy_(product)
        return joint.add_(chunk.X @ top[:, None])

    def add_stats(self, total, chunk, post, nodes, u):
        """Add a chunk's expected-count statistics under posterior ``post`` to ``total``."""
        # one contiguous (V, nodes) sum per node range: a sparse addmm into it
        # is twice as fast as adding transposed products into (nodes, V) rows
        total = {} if total is None else total
        key = (nodes.start, nodes.stop)
        part = total.get(key)
        XT32 = chunk.XT32
        if XT32 is not None:
            # the expected counts in single precision (make_chunks; relative
            # error ~1e-7); posteriors below float32's normal range are
            # dropped first: subnormal operands made the product 3x slower
            post32 = self._buffers.rows(("post32",) + key, *post.shape, torch.float32,
                                        post.device).copy_(post)
            torch.nn.functional.threshold_(post32, _SINGLE_FLOOR, 0.0)
            counts = self._buffers.get(("counts",) + key, (XT32.shape[0], post.shape[1]),
                                       torch.float32, post.device)
            torch.mm(XT32, post32, out=counts)
            if part is None:
                total[key] = counts.to(post.dtype)
            else:
                part.add_(counts)
        elif part is None:
            total[key] = chunk.XT @ post
        else:
            part.addmm_(chunk.XT, post)
        return total

    def finish_stats(self, total, u):
        """Expected word counts per node, as ``blocks``: ``{(start, stop): (V, stop - start)}``."""
        return {"blocks": total}

    @staticmethod
    def node_counts(stats, u):
        """The expected word counts per node as one (n_nodes, V) tensor."""
        if "counts" in stats:
            return stats["counts"]
        counts = None
        for (start, stop), part in stats["blocks"].items():
            if counts is None:
                counts = part.new_zeros((len(u), part.shape[0]))
            counts[start:stop] += part.T
        return counts

    def surrogate(self, params, prepared, stats, u):
        """A scalar whose gradient in ``params`` is the log likelihood's (Fisher's identity)."""
        # nodes no speech reaches carry -inf where p is 0 or 1; mask them out
        counts = self.node_counts(stats, u)
        return torch.where(counts > 0, counts * self.log_table(params, u), 0.0).sum()

    def surrogate_grad(self, params, stats, u):
        """The gradients of :meth:`surrogate` and :meth:`penalty`, without autograd (two dicts).

        With ``phi_gv = (1 - p_g) theta_Lv + p_g theta_Rv`` and ``D_Lv = sum_g
        C_gv (1 - p_g) / phi_gv`` (``D_R`` with ``p_g``), the surrogate's
        gradient in the left logits is ``theta_L * (D_L - theta_L . D_L)``;
        the prior's, ``prior_counts - theta_L * sum(prior_counts)``.
        """
        theta = torch.softmax(params["eta"].detach(), dim=1)
        p = ((u + 1.0) / 2.0).clamp(0.0, 1.0)
        # at the floor rather than zero: nodes no speech reaches would make 0 / 0
        floored = theta.clamp_min(float(np.exp(_LOG_THETA_FLOOR)))
        to_pole = _pole_sums(floored, p, _node_blocks(stats, len(u)))
        grad = theta * (to_pole - (theta * to_pole).sum(dim=1, keepdim=True))
        if self.prior_counts is None:
            return {"eta": grad}, {"eta": torch.zeros_like(theta)}
        prior = self.prior_counts.to(theta)
        return {"eta": grad}, {"eta": -(prior - theta * prior.sum())}

    def m_step(self, params, stats, u):
        """Pole vocabularies that raise the expected complete log likelihood.

        Every token of a speech at node ``g`` came from the right pole with
        probability ``p_g`` and from the left one otherwise. Given the expected
        counts ``C`` per node and word, each pass splits ``C`` between the poles
        in proportion to their current share and renormalizes (an EM step for
        the token's pole); a few passes nearly maximize over the poles. A
        probability near zero that the counts want larger is restarted at a
        millionth of the other pole's, which the multiplicative passes alone
        could never leave.

        Parameters
        ----------
        params : dict of torch.Tensor
            Current parameters (``eta``).
        stats : dict
            ``counts``, expected word counts per node, shape (n_nodes, V).
        u : torch.Tensor of shape (n_nodes,)

        Returns
        -------
        dict
            The new ``eta`` (log pole probabilities, floored).

        Examples
        --------
        >>> import torch
        >>> from skpolar.emissions import TwoPoleEmission
        >>> u = torch.tensor([-0.5, 0.5], dtype=torch.float64)
        >>> counts = torch.tensor([[3.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
        >>> eta = torch.zeros(2, 2, dtype=torch.float64)  # both poles uniform
        >>> theta = TwoPoleEmission().m_step({"eta": eta}, {"counts": counts}, u)["eta"].exp()
        >>> theta.sum(dim=1).tolist()
        [1.0, 1.0]
        >>> bool(theta[0, 0] > 0.5 > theta[1, 0])  # word 0 moves to the left pole
        True
        """
        p = ((u + 1.0) / 2.0).clamp(0.0, 1.0)
        blocks = _node_blocks(stats, len(u))
        # a pole probability that reaches zero would make 0 / 0 below
        tiny = float(np.exp(_LOG_THETA_FLOOR))
        theta = torch.softmax(params["eta"], dim=1).clamp_min(tiny)
        prior = 0.0 if self.prior_counts is None else self.prior_counts.to(theta)
        # one buffer per node range for all passes and M-steps
        shares = {key: self._buffers.get(("share", key), block.shape, block.dtype, block.device)
                  for key, block in blocks.items()}
        for _ in range(_M_STEP_PASSES):
            to_left, to_right = _pole_sums(theta, p, blocks, shares)
            left = theta[0] * to_left + prior
            right = theta[1] * to_right + prior
            theta = torch.stack([left / left.sum(), right / right.sum()]).clamp_min(tiny)
        # A probability at the floor never leaves it under the multiplicative
        # update, and one barely above it grows by a constant factor a step
        # (from 1e-300, hundreds of steps), even where the likelihood wants it
        # back: its gradient beats the pole's multiplier. Such probabilities
        # restart at a millionth of the other pole's, too little to lower the
        # likelihood, from where the updates grow them (20,000 speeches of 300
        # partisan words: rho 0.8126 -> 0.8152, a tight fit's 0.8152).
        wants_in = torch.stack([to_left / left.sum(), to_right / right.sum()]) > 1.0 + 1e-6
        restart = _LIFT * theta.flip(0)
        lift = (theta < restart) & wants_in
        if self.zeros is not None:
            lift &= ~torch.as_tensor(self.zeros, device=lift.device)
        if bool(lift.any()):
            theta = torch.where(lift, restart, theta)
            theta = theta / theta.sum(dim=1, keepdim=True)
        return {"eta": torch.log(theta)}

    log_floor = _LOG_THETA_FLOOR

    @staticmethod
    def pinned(params, zeros):
        """``params`` with the pole logits at ``zeros`` moved to the floor (a copy).

        Examples
        --------
        >>> import numpy as np
        >>> from skpolar.emissions import TwoPoleEmission
        >>> params = {"eta": np.zeros((2, 3))}
        >>> zeros = np.array([[False, True, False], [False, False, False]])
        >>> bool(TwoPoleEmission.pinned(params, zeros)["eta"][0, 1] == TwoPoleEmission.log_floor)
        True
        """
        if zeros is None:
            return dict(params)
        eta = np.array(params["eta"], dtype=np.float64)
        eta[zeros] = _LOG_THETA_FLOOR
        return dict(params, eta=eta)

    def fixed_logits(self, name):
        """Per-entry values of parameter ``name`` that are held fixed (NaN: free), or None."""
        if name != "eta" or self.zeros is None:
            return None
        return np.where(self.zeros, _LOG_THETA_FLOOR, np.nan)

    def stretch(self, params):
        """Midpoint ``m`` and half-difference ``d`` of the poles (numpy): ``theta = m -/+ d``.

        ``phi(u) = m + u d``: moving the poles to ``m -/+ c d`` and every stance
        to ``u / c`` leaves every ``phi`` unchanged.
        """
        theta = np.exp(np.asarray(params["eta"]) - _logsumexp_rows(np.asarray(params["eta"])))
        return (theta[0] + theta[1]) / 2.0, (theta[1] - theta[0]) / 2.0

    def stretched(self, params, c):
        """Pole logits moved to ``m -/+ c d``, renormalized.

        A word a pole does not use (at the floor) stays unused there: EM sends
        such a probability to zero because the likelihood wants it there, so
        moving it off zero is not a move along the flat path.
        """
        eta = np.asarray(params["eta"])
        m, d = self.stretch(params)
        theta = np.vstack([m - c * d, m + c * d])
        unused = eta - _logsumexp_rows(eta) <= _LOG_THETA_FLOOR + 1.0
        theta = np.where(unused | (theta <= 0), 0.0, theta)
        theta = np.maximum(theta / theta.sum(axis=1, keepdims=True), np.exp(_LOG_THETA_FLOOR))
        return np.log(theta)

    def normalize(self, params):
        """Pole logits as floored log probabilities (after an extrapolated EM step)."""
        eta = torch.as_tensor(params["eta"])
        return {"eta": torch.log_softmax(eta, dim=1).clamp_min(_LOG_THETA_FLOOR)}

    def penalty(self, params):
        """Minus the log prior of the emission's parameters (0 when there is none)."""
        if self.prior_counts is None:
            return 0.0
        eta = torch.as_tensor(params["eta"])
        log_theta = torch.log_softmax(eta, dim=1)
        return -(self.prior_counts.to(log_theta) * log_theta).sum()

    def slant(self, params):
        """Per-word log odds of the right pole over the left, ``log theta_R - log theta_L``."""
        log_theta = torch.log_softmax(params["eta"], dim=1)
        return log_theta[1] - log_theta[0]


class LogLinearEmission:
    """``phi(u) = softmax(W u + c)``, with ``c`` fixed at zero without intercept.

    The log likelihood of a speech at node ``g`` is
    ``u_g (x . W) + x . c - S log sum_v exp(W_v u_g + c_v)``: one sparse
    mat-vec per speech and ``O(G V)`` for the normalizers.

    Examples
    --------
    >>> import torch
    >>> from skpolar.emissions import LogLinearEmission
    >>> params = {"W": torch.tensor([1.0, -1.0]).double(), "c": torch.zeros(2).double()}
    >>> LogLinearEmission().log_table(params, torch.tensor([0.0]).double()).exp()
    tensor([[0.5000, 0.5000]], dtype=torch.float64)
    """

    # L-BFGS scales each word's W and c by the root of its frequency
    precondition = True

    def __init__(self, intercept=True, l2_penalty=1.0):
        self.intercept = intercept
        self.l2_penalty = l2_penalty
        self.param_names = ("W", "c") if intercept else ("W",)
        self._buffers = _Buffers()

    def init_params(self, class_counts, generator):
        """Starting parameters from the parties' word counts (``class_counts``, shape (2, V))."""
        theta = class_counts + _INIT_SMOOTHING
        log_theta = np.log(theta / theta.sum(axis=1, keepdims=True))
        # the poles sit at u = -1 and u = +1: slope is half the log odds
        params = {"W": (log_theta[1] - log_theta[0]) / 2.0}
        if self.intercept:
            params["c"] = (log_theta[1] + log_theta[0]) / 2.0
        return params

    def random_params(self, n_features, generator, dtype):
        """Random starting parameters (``init="random"``), drawn with ``generator``."""
        params = {"W": 2.0 * torch.randn(n_features, generator=generator, dtype=dtype)}
        if self.intercept:
            params["c"] = torch.zeros(n_features, dtype=dtype)
        return params

    def _logits(self, params, u):
        logits = u[:, None] * params["W"][None, :]
        if self.intercept:
            logits = logits + params["c"]
        return logits

    def log_table(self, params, u):
        """``log phi_v(u_g)`` for every node and word, shape (len(u), V)."""
        return torch.log_softmax(self._logits(params, u), dim=1)

    def prepare(self, params, u):
        """What every speech's likelihood shares at these parameters (built once per pass).

        Without a graph to build, the (nodes, V) word shares are made in a
        buffer this emission reuses (:class:`_Buffers`), unnormalized:
        ``prepared["share"] / prepared["share_total"][:, None]`` are the
        shares, and they hold until the thread's next ``prepare``.
        """
        W, c = params["W"], params.get("c")
        prepared = {"u": u, "W": W, "c": c}
        if torch.is_grad_enabled() and W.requires_grad:
            prepared["log_norm"] = torch.logsumexp(self._logits(params, u), dim=1)
            return prepared
        # The logits, their maximum, the exponentials and the shares in one
        # buffer, in place: on the Senate corpus (400 nodes x 14,503 words)
        # fresh temporaries made this 82 ms, page faults mostly, against 14 ms.
        share = self._buffers.get("share", (len(u), len(W)), W.dtype, W.device)
        torch.outer(u, W, out=share)
        if c is not None:
            share.add_(c)
        top = share.amax(dim=1, keepdim=True)
        total = share.sub_(top).exp_().sum(dim=1)
        # the shares are exp(logits - top) / total: the division is left to
        # the node weights that meet them (surrogate), one pass fewer
        prepared["share"], prepared["share_total"] = share, total
        prepared["log_norm"] = top[:, 0] + total.log()
        return prepared

    def row_loglik(self, chunk, prepared, nodes, reuse=False):
        """``x . log phi(u_g)`` for the chunk's rows at ``nodes``: a fresh (rows, nodes) tensor."""
        slope = chunk.X @ prepared["W"]
        # u_g (x . W) - S log Z(u_g) (+ x . c) as two rank-one updates of one buffer
        out = torch.outer(slope, prepared["u"][nodes])
        out.addr_(chunk.lengths, prepared["log_norm"][nodes], alpha=-1.0)
        if prepared["c"] is not None:
            out.add_((chunk.X @ prepared["c"])[:, None])
        return out

    def finish_stats(self, total, u):
        """The statistics summed over all chunks, in the form the M-step and surrogate use."""
        return total

    def add_stats(self, total, chunk, post, nodes, u):
        """Add a chunk's expected-count statistics under posterior ``post`` to ``total``."""
        if total is None:
            total = {"x_u": post.new_zeros(chunk.X.shape[1]), "node_length": post.new_zeros(len(u))}
            if self.intercept:
                total["x_total"] = post.new_zeros(chunk.X.shape[1])
        total["node_length"][nodes] += chunk.lengths @ post
        total["x_u"] += chunk.XT @ (post @ u[nodes])
        if self.intercept:
            total["x_total"] += chunk.XT @ post.sum(dim=1)
        return total

    def surrogate(self, params, prepared, stats, u):
        """A scalar whose gradient in ``params`` is the log likelihood's (Fisher's identity)."""
        # Linear in (W, c) with the gradient of the expected complete log
        # likelihood: d/dW_v of -sum_g L_g log Z(u_g) is -sum_g L_g share_gv u_g.
        # Differentiating the (nodes x V) normalizers by autograd instead
        # costs more than the whole E-step on a large vocabulary.
        # both node-weighted sums of the shares in one pass over the table
        length = stats["node_length"] / prepared["share_total"]
        expected = torch.stack([length * u, length]) @ prepared["share"]
        q = params["W"] @ (stats["x_u"] - expected[0])
        if self.intercept:
            q = q + params["c"] @ (stats["x_total"] - expected[1])
        return q

    def penalty(self, params):
        """The log prior penalty on the emission's parameters (0 when there is none)."""
        if not self.intercept:
            return 0.0
        return 0.5 * self.l2_penalty * (params["W"] ** 2).sum()

    def slant(self, params):
        """Per-word slope ``W``: how much a word's log rate rises from left to right."""
        return params["W"]

