"""BayesianPolarizationEstimator: posterior draws of rho by NUTS or variational inference."""

import numbers
import time

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import posterior
from .estimator import PolarizationEstimator, _numpy_rng, check_n_samples, sample_model
from .likelihood import log_marginal_rows
from .utils import torch_threads

# Largest vocabulary whose word probabilities posterior_emission="auto" samples.
AUTO_SAMPLE_MAX_FEATURES = 50
_CI_LEVEL = 0.95

_NOT_BAYESIAN = ("interval", "n_bootstrap", "bias_correction", "n_bias_draws", "pole_zeros")


def _prior_pair(name, value):
    """A (mean, standard deviation) prior, checked: finite, sd > 0."""
    try:
        loc, scale = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (mean, sd) of numbers, got {value!r}.") from None
    if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"{name} needs a finite mean and a finite sd > 0, got {value!r}.")
    return loc, scale


class BayesianPolarizationEstimator(PolarizationEstimator):
    """Posterior of the polarization ``rho`` by NUTS or variational inference.

    The model is :class:`PolarizationEstimator`'s, stances integrated out on
    the same grid; what changes is the inference about the global
    parameters. After the maximum-likelihood fit (which starts the samplers
    and which ``transform`` and the other stance methods keep using), pyro
    draws from the posterior of ``log a``, ``log b``, ``logit pi`` and, with
    ``posterior_emission="sample"``, the two-pole word probabilities
    (:mod:`skpolar.posterior`). Needs ``pip install 'skpolar[bayes]'``.

    Parameters
    ----------
    emission, grid_size, quadrature, pi, solver, learning_rate, batch_size, \
max_iter, tol, n_iter_no_change, l2_penalty, vocabulary_prior, dispersion, \
init, device, verbose
        As in :class:`PolarizationEstimator` (they set the model and its
        maximum-likelihood fit).
    inference : {"nuts", "vi"}, default="nuts"
        ``"nuts"``: ``n_chains`` No-U-Turn chains (pyro), ``n_jobs`` at a
        time. ``"vi"``: stochastic variational inference with a full-rank
        Gaussian guide averaged with its mirror image, started at the
        Laplace approximation of the posterior mode; fast, but its
        intervals are too narrow on small corpora (:doc:`/bayes`).
    posterior_emission : {"auto", "sample", "mode"}, default="auto"
        ``"sample"`` samples both poles' word probabilities with the prior
        parameters (two-pole emission only); ``"mode"`` holds the emission
        at its maximum-likelihood value and samples only ``a``, ``b`` and
        ``pi``, an empirical-Bayes plug-in that leaves out the vocabularies'
        uncertainty and so gives too narrow a posterior of ``rho`` (on the
        seed's three-term task about a quarter of the spread). ``"auto"``
        samples them when the emission is two-pole and the vocabulary has
        at most 50 terms.
    n_chains : int, default=4
    n_warmup : int, default=500
        NUTS warm-up iterations per chain (step size and a dense mass matrix
        are adapted, then discarded).
    n_draws : int, default=500
        Draws kept per chain (NUTS), or drawn from the fitted guide (VI,
        times ``n_chains``).
    n_jobs : int or None, default=None
        NUTS chains run at a time (joblib's meaning: None is one, -1 all
        cores); the draws do not depend on it.
    target_accept : float in (0, 1), default=0.8
        NUTS's target acceptance rate; raise it when there are divergences.
    vi_steps : int, default=1000
        SVI steps (``inference="vi"``).
    vi_learning_rate : float, default=0.03
        Adam's initial learning rate, in the whitened coordinates of the
        Laplace approximation the guide starts from (a step moves the guide
        by about this share of the posterior's spread in every direction);
        it decays a hundredfold over ``vi_steps``.
    vi_psis : bool, default=True
        Correct VI's draws by Pareto-smoothed importance sampling: each is
        weighted by the posterior's density over the guide's, and the draws
        are resampled by those weights (:func:`skpolar.posterior.psis_resample`;
        one evaluation of the likelihood per draw). The fitted Pareto shape,
        ``diagnostics_["pareto_k"]``, says whether VI can be trusted at all;
        above 0.7 it earns a ``PosteriorWarning``.
    log_shape_prior : (float, float), default=(1.0, 2.0)
        Mean and sd of the Gaussian prior on ``log a`` and on ``log b``:
        shapes from about 0.05 to 150 within two sd, symmetric in ``a`` and
        ``b``, so no polarization is favoured.
    logit_pi_prior : (float, float), default=(0.0, 2.0)
        Mean and sd of the Gaussian prior on ``logit pi``.
    vocabulary_concentration : float > 0, default=1.0
        Concentration of the symmetric Dirichlet prior on each pole's word
        probabilities (1: uniform on the simplex).
    random_state : int, RandomState instance or None, default=None
        Seeds the fit and the samplers (a local generator).

    Attributes
    ----------
    rho_ : float
        Posterior mean of ``rho``.
    rho_ci_ : ndarray of shape (2,)
        95% highest-posterior-density interval; it starts at 0.5 when the
        posterior is densest there (:func:`skpolar.posterior.hpd_interval`).
    rho_se_ : float
        Posterior standard deviation.
    rho_samples_ : ndarray of shape (n_chains * n_draws,)
        The draws of ``rho``, chain after chain.
    posterior_samples_ : dict of ndarray of shape (n_chains, n_draws)
        Draws of ``rho``, ``alpha``, ``beta`` and ``pi`` in the ``a >= b``
        orientation (VI: one "chain").
    diagnostics_ : dict
        NUTS: ``r_hat``, ``ess_bulk``, ``ess_tail`` of ``rho``, the worst
        ``r_hat_max`` and ``ess_bulk_min`` over the reported quantities,
        ``divergences``; VI with ``vi_psis``: ``pareto_k`` and
        ``importance_ess`` (:func:`skpolar.posterior.psis_resample`); both:
        ``outside_box`` (the share of draws with
        ``a``, ``b`` or ``pi`` beyond the range where the likelihood is
        evaluated), ``n_evaluations`` of the likelihood and ``seconds``.
    elbo_ : ndarray of shape (vi_steps,)
        ELBO at every SVI step (``inference="vi"`` only).
    rho_mle_ : float
        The maximum-likelihood estimate (``rho_mle_ci_`` is NaN: no profile
        interval is computed).
    alpha_, beta_, pi_, W_, theta_
        The maximum-likelihood fit, which the stance methods use.

    See Also
    --------
    PolarizationEstimator : the maximum-likelihood fit with a profile interval.

    Examples
    --------
    >>> from skpolar import BayesianPolarizationEstimator, make_polarized_speech
    >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
    >>> est = BayesianPolarizationEstimator(grid_size=20, inference="vi", vi_steps=200,
    ...                                     random_state=0).fit(X, y)
    >>> est.rho_samples_.shape
    (2000,)
    >>> bool(est.rho_ci_[0] < est.rho_ < est.rho_ci_[1])
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in PolarizationEstimator._parameter_constraints.items()
           if k not in _NOT_BAYESIAN},
        "inference": [StrOptions({"nuts", "vi"})],
        "posterior_emission": [StrOptions({"auto", "sample", "mode"})],
        "n_chains": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_warmup": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_draws": [Interval(numbers.Integral, 1, None, closed="left")],
        "target_accept": [Interval(numbers.Real, 0, 1, closed="neither")],
        "vi_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "vi_learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "vi_psis": ["boolean"],
        "log_shape_prior": [tuple, list],
        "logit_pi_prior": [tuple, list],
        "vocabulary_concentration": [Interval(numbers.Real, 0, None, closed="neither")],
    }
    # the posterior replaces the interval and any bias correction
    interval = None
    n_bootstrap = 200
    bias_correction = None
    n_bias_draws = 20
    # the posterior samples the poles: pins would need a prior with point masses
    pole_zeros = "free"

    def __init__(
        self,
        emission="two_pole",
        grid_size=200,
        *,
        inference="nuts",
        posterior_emission="auto",
        n_chains=4,
        n_warmup=500,
        n_draws=500,
        target_accept=0.8,
        vi_steps=1000,
        vi_learning_rate=0.03,
        vi_psis=True,
        log_shape_prior=(1.0, 2.0),
        logit_pi_prior=(0.0, 2.0),
        vocabulary_concentration=1.0,
        quadrature="exact",
        pi="fit",
        solver="auto",
        learning_rate=0.1,
        batch_size=None,
        max_iter=500,
        tol=1e-8,
        n_iter_no_change=10,
        l2_penalty=1.0,
        vocabulary_prior=0.0,
        dispersion="auto",
        init="auto",
        n_jobs=None,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        super().__init__(
            emission, grid_size, quadrature=quadrature, pi=pi, solver=solver,
            learning_rate=learning_rate, batch_size=batch_size, max_iter=max_iter, tol=tol,
            n_iter_no_change=n_iter_no_change, l2_penalty=l2_penalty,
            vocabulary_prior=vocabulary_prior, dispersion=dispersion, init=init,
            n_jobs=n_jobs, random_state=random_state, device=device, verbose=verbose,
        )
        for name in _NOT_BAYESIAN:
            # the class attributes hold these; BaseEstimator.get_params must not see them
            del self.__dict__[name]
        self.inference = inference
        self.posterior_emission = posterior_emission
        self.n_chains = n_chains
        self.n_warmup = n_warmup
        self.n_draws = n_draws
        self.target_accept = target_accept
        self.vi_steps = vi_steps
        self.vi_learning_rate = vi_learning_rate
        self.vi_psis = vi_psis
        self.log_shape_prior = log_shape_prior
        self.logit_pi_prior = logit_pi_prior
        self.vocabulary_concentration = vocabulary_concentration

    # the posterior's evaluations need the rows in this process
    _fits_dask_arrays = False

    def _check_settings(self):
        posterior.require_bayes()
        _prior_pair("log_shape_prior", self.log_shape_prior)
        _prior_pair("logit_pi_prior", self.logit_pi_prior)
        if self.posterior_emission == "sample" and self.emission != "two_pole":
            raise ValueError(
                f"posterior_emission='sample' needs emission='two_pole' (its word "
                f"probabilities have the Dirichlet prior); got emission={self.emission!r}. "
                f"Use posterior_emission='mode'."
            )
        super()._check_settings()

    def _samples_emission(self, n_features):
        if self.posterior_emission == "auto":
            return self.emission == "two_pole" and n_features <= AUTO_SAMPLE_MAX_FEATURES
        return self.posterior_emission == "sample"

    def _fit(self, rows, correction):
        # the posterior takes the place of any bias correction
        state = super()._fit(rows, None)
        started = time.perf_counter()
        problem = self._problem(rows)
        target = posterior.LogPosterior(
            problem, state["_params"], self._samples_emission(rows.X.shape[1]),
            _prior_pair("log_shape_prior", self.log_shape_prior),
            _prior_pair("logit_pi_prior", self.logit_pi_prior),
            float(self.vocabulary_concentration),
            # coordinates of the word weights that suit each sampler (LogPosterior)
            weight_map="softplus" if self.inference == "nuts" else "abs",
        )
        rng = _numpy_rng(self.random_state)
        mode = posterior.find_mode(target)
        cov = posterior.laplace_covariance(target, mode)
        seeds = rng.integers(np.iinfo(np.int32).max, size=self.n_chains)
        diagnostics = {}
        if self.inference == "nuts":
            # chains start apart, within the Laplace spread of the mode
            starts = rng.multivariate_normal(mode, cov, size=self.n_chains, method="eigh")
            draws, diverging = posterior.run_nuts(
                target, starts, seeds, self.n_warmup, self.n_draws,
                target_accept=self.target_accept, n_jobs=self.n_jobs, inverse_mass=cov,
            )
        else:
            draws, log_q, state["elbo_"] = posterior.run_vi(
                target, mode, cov, seeds[0], self.vi_steps, self.vi_learning_rate,
                self.n_chains * self.n_draws,
            )
            if self.vi_psis:
                draws, diagnostics = posterior.psis_resample(target, draws, log_q, rng)
            draws, diverging = draws[None], None
        reported = target.reported(draws)
        if self.inference == "nuts":
            diagnostics = posterior.diagnose(reported, diverging)
        diagnostics.update(outside_box=target.outside_box(draws),
                           n_evaluations=target.n_evaluations,
                           seconds=time.perf_counter() - started)
        # VI's diagnostics carry no R-hat or ESS, so the chain count only counts for NUTS
        posterior.warn_if_poor(diagnostics, self.n_chains, self.inference)
        rho = reported["rho"].ravel()
        state.update(
            rho_mle_=state["rho_"], rho_mle_ci_=state["rho_ci_"],
            rho_=float(rho.mean()), rho_se_=float(rho.std(ddof=1)),
            rho_ci_=posterior.hpd_interval(rho, _CI_LEVEL),
            rho_samples_=rho, posterior_samples_=reported, diagnostics_=diagnostics,
            _posterior_draws=draws.reshape(-1, target.dim), _posterior_layout=target.layout,
            _diverging=diverging,
        )
        return state

    def sample(self, n_samples=1, random_state=None):
        """Posterior predictive draw of a corpus: one posterior draw, then speeches from it.

        One draw of the global parameters (with ``posterior_emission``
        ``"sample"``, the word probabilities too) is taken at random from
        the posterior draws, and ``n_samples`` speeches are drawn from the
        model at it as in :meth:`PolarizationEstimator.sample`; repeated
        calls give replicated corpora for posterior predictive checks.

        Parameters
        ----------
        n_samples : int >= 1, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X, y, u
            As in :meth:`PolarizationEstimator.sample`.

        Examples
        --------
        >>> from skpolar import BayesianPolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = BayesianPolarizationEstimator(grid_size=20, inference="vi", vi_steps=100,
        ...                                     random_state=0).fit(X, y)
        >>> X_rep, y_rep, u_rep = est.sample(500, random_state=1)
        >>> X_rep.shape
        (500, 3)
        """
        check_is_fitted(self)
        check_n_samples(n_samples)
        rng = _numpy_rng(random_state)
        draw = self._posterior_draws[rng.integers(len(self._posterior_draws))]
        params = self._posterior_layout.params(draw)
        a, b = np.exp(params["log_a"]), np.exp(params["log_b"])
        pi = 1.0 / (1.0 + np.exp(-params["logit_pi"])) if "logit_pi" in params else self.pi_
        return sample_model(self._config["emission"], params, float(a), float(b), float(pi),
                            self._lengths, self.classes_, n_samples, rng)

    def to_arviz(self, X=None, y=None):
        """The posterior draws as an ``arviz.InferenceData``.

        Group ``posterior`` holds ``rho``, ``alpha``, ``beta`` and ``pi`` by
        chain and draw (VI's draws as one chain); after NUTS,
        ``sample_stats`` holds ``diverging``, whether the transition to each
        draw diverged. Given the speeches ``X`` (and their parties ``y``),
        ``log_likelihood`` holds every speech's log marginal likelihood
        ``log p(x)`` (``log p(x, y)`` with ``y``) at every draw, as
        :meth:`score_samples` computes it at the fit, for ``arviz.loo`` and
        ``arviz.waic``: one scoring pass per draw, and an array of draws x
        speeches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or None
            Speeches to score at every draw (the training speeches, for
            leave-one-out cross-validation); None leaves ``log_likelihood`` out.
        y : array-like of shape (n_samples,) or None
            Their parties.

        Returns
        -------
        arviz.InferenceData

        Examples
        --------
        >>> from skpolar import BayesianPolarizationEstimator, make_polarized_speech
        >>> X, y = make_polarized_speech(1000, rho=0.8, random_state=0)
        >>> est = BayesianPolarizationEstimator(grid_size=20, inference="vi", vi_steps=100,
        ...                                     random_state=0).fit(X, y)
        >>> sorted(est.to_arviz().posterior.data_vars)
        ['alpha', 'beta', 'pi', 'rho']
        >>> est.to_arviz(X, y).log_likelihood["speech"].shape  # chains, draws, speeches
        (1, 2000, 1000)
        """
        check_is_fitted(self)
        posterior.require_bayes()
        import arviz

        groups = {"posterior": {k: np.asarray(v) for k, v in self.posterior_samples_.items()}}
        if self._diverging is not None:
            groups["sample_stats"] = {"diverging": self._diverging}
        if X is not None:
            groups["log_likelihood"] = {"speech": self._draw_logliks(X, y)}
        return arviz.from_dict(**groups)

    def _draw_logliks(self, X, y):
        """Every speech's log marginal likelihood at every draw, shape (chains, draws, n)."""
        scoring = self._scoring_rows(X, y)
        rows, inverse = scoring["rows"], scoring["inverse"]
        chunks = rows.chunks(self._config["grid_size"], self._device())
        n_chains = np.shape(self.posterior_samples_["rho"])[0]
        out = np.empty((len(self._posterior_draws), rows.X.shape[0]))
        layout = self._posterior_layout
        problem, emission = self._scoring_problem()
        with torch.no_grad(), torch_threads(self._work(rows.nnz)):
            for i, draw in enumerate(self._posterior_draws):
                params = {k: torch.as_tensor(v, device=problem.device)
                          for k, v in layout.params(draw).items()}
                log_w = problem.log_weights(params)
                prepared = emission.prepare(params, problem.u)
                for chunk in chunks:
                    values, _ = log_marginal_rows(chunk, emission, prepared, log_w)
                    out[i, chunk.rows] = values.cpu().numpy()
        if inverse is not None:
            out = out[:, inverse]
        return out.reshape(n_chains, -1, out.shape[1])
