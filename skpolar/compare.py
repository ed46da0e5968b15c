"""Comparing polarization across corpora: periods, chambers, countries, topics."""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import Bunch

from .speakers import encode_groups


def compare(X, y, by, *, speakers=None, estimator=None, n_jobs=None):
    """Fit one model per corpus and test whether their polarizations differ.

    Every corpus (the rows sharing a value of ``by``) is fitted with a clone
    of ``estimator``, on the same vocabulary (the columns of ``X``), and the
    table lists ``rho`` with its interval per corpus. The test of "same rho"
    is Cochran's heterogeneity test on the estimates: ``Q = sum_g (rho_g -
    rho_bar)**2 / se_g**2`` with ``rho_bar`` the precision-weighted mean,
    referred to a chi-square with one degree of freedom fewer than there are
    corpora.

    When is a difference meaningful? The maximum-likelihood ``rho`` is biased
    upwards by an amount that grows with the vocabulary and shrinks with the
    number of speeches, so corpora of different sizes would differ even at the
    same true polarization. The default estimator therefore corrects the bias
    (``bias_correction="bootstrap"``), and the test uses the corrected
    estimates and their intervals. Near ``rho = 0.5`` the intervals are not
    symmetric and the test is only approximate: read the intervals there.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Word counts of all corpora, over one vocabulary.
    y : array-like of shape (n_samples,)
        Party of each speech; every corpus needs both parties.
    by : array-like of shape (n_samples,)
        The corpus (period, chamber, ...) of each speech.
    speakers : array-like of shape (n_samples,), default=None
        Speaker of each speech: one stance per speaker within a corpus.
    estimator : PolarizationEstimator, default=None
        The settings to fit every corpus with (cloned). None is
        ``PolarizationEstimator(bias_correction="bootstrap", random_state=0)``.
        Its ``bias_correction="auto"`` is resolved once, for the smallest
        corpus, and that one estimator fits them all.
    n_jobs : int, default=None
        Corpora fitted in parallel (joblib).

    Returns
    -------
    result : Bunch
        ``table`` (pandas DataFrame indexed by corpus: ``rho``, ``rho_low``,
        ``rho_high``, ``rho_se``, ``rho_mle``, ``rho_bias``, ``n_speeches``,
        ``n_speakers``), ``statistic``, ``df`` and ``p_value`` of the test,
        and ``estimators`` (the fitted models, by corpus).

    Raises
    ------
    ValueError
        Fewer than two corpora, a corpus with one party only or one speech, or
        ``by`` of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar import PolarizationEstimator, compare, make_polarized_speech
    >>> X1, y1 = make_polarized_speech(2000, rho=0.7, random_state=0)
    >>> X2, y2 = make_polarized_speech(2000, rho=0.85, random_state=1)
    >>> X, y = np.vstack([X1, X2]), np.concatenate([y1, y2])
    >>> period = np.repeat(["2001", "2011"], 2000)
    >>> result = compare(X, y, period, estimator=PolarizationEstimator(grid_size=50))
    >>> result.table.index.tolist(), bool(result.p_value < 0.01)
    (['2001', '2011'], True)
    """
    import pandas as pd

    from .estimator import PolarizationEstimator

    n = X.shape[0] if hasattr(X, "shape") else len(X)
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}.")
    try:
        labels, inverse = encode_groups(by, n)
    except ValueError as exc:
        raise ValueError(str(exc).replace("groups", "by").replace("speaker", "corpus")) from None
    if len(labels) < 2:
        raise ValueError(
            f"compare needs at least two corpora in by; got one ({labels[0]!r})."
        )
    for k, label in enumerate(labels):
        rows = inverse == k
        parties = np.unique(y[rows])
        if len(parties) < 2:
            raise ValueError(
                f"corpus {label!r} holds speeches of one party only ({parties.tolist()}); "
                "every corpus needs both parties."
            )
    if speakers is not None:
        speakers = np.asarray(speakers)
        if speakers.shape != (n,):
            raise ValueError(f"speakers must have shape ({n},) to match X, got {speakers.shape}.")
    if estimator is None:
        estimator = PolarizationEstimator(bias_correction="bootstrap", random_state=0)
    if hasattr(X, "tocsr"):
        X = X.tocsr()
    else:
        X = np.asarray(X)

    # one estimator for every corpus: "auto" would cross-fit the corpora with
    # fewer speeches than terms and not the others, a difference of method
    # the test would read as one of polarization
    settings = {}
    if estimator.get_params().get("bias_correction") == "auto":
        smallest = int(np.bincount(inverse).min())
        settings["bias_correction"] = estimator._bias_correction_for(smallest, X.shape[1])

    def fit_one(k):
        rows = np.flatnonzero(inverse == k)
        model = clone(estimator).set_params(**settings)
        groups = None if speakers is None else speakers[rows]
        return model.fit(X[rows], y[rows], groups=groups)

    fitted = Parallel(n_jobs=n_jobs)(delayed(fit_one)(k) for k in range(len(labels)))
    table = pd.DataFrame(
        {
            "rho": [m.rho_ for m in fitted],
            "rho_low": [m.rho_ci_[0] for m in fitted],
            "rho_high": [m.rho_ci_[1] for m in fitted],
            "rho_se": [m.rho_se_ for m in fitted],
            "rho_mle": [m.rho_mle_ for m in fitted],
            "rho_bias": [m.rho_bias_ for m in fitted],
            "n_speeches": np.bincount(inverse, minlength=len(labels)),
            "n_speakers": [m.n_speakers_ for m in fitted],
        },
        index=pd.Index(labels, name="corpus"),
    )
    statistic, df, p_value = heterogeneity_test(table["rho"].to_numpy(), table["rho_se"].to_numpy())
    return Bunch(table=table, statistic=statistic, df=df, p_value=p_value,
                 estimators=dict(zip(labels.tolist(), fitted, strict=True)))


def heterogeneity_test(estimates, standard_errors):
    """Cochran's Q test that several estimates share one value.

    Parameters
    ----------
    estimates, standard_errors : array-like of shape (n,)

    Returns
    -------
    statistic, df, p_value : float, int, float
        ``nan`` statistic and p-value when a standard error is missing.

    Examples
    --------
    >>> from skpolar.compare import heterogeneity_test
    >>> statistic, df, p = heterogeneity_test([0.70, 0.80], [0.01, 0.01])
    >>> round(statistic, 6), df, p < 1e-6
    (50.0, 1, True)
    """
    from scipy.stats import chi2

    estimates = np.asarray(estimates, dtype=float)
    se = np.asarray(standard_errors, dtype=float)
    df = len(estimates) - 1
    if not np.all(np.isfinite(se)) or np.any(se <= 0):
        return np.nan, df, np.nan
    weight = 1.0 / se**2
    pooled = np.sum(weight * estimates) / np.sum(weight)
    statistic = float(np.sum(weight * (estimates - pooled) ** 2))
    return statistic, df, float(chi2.sf(statistic, df))
