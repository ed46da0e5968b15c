"""Speakers: one stance shared by all the speeches of a speaker, and overdispersion.

Under the model every speech of a speaker is drawn at the speaker's stance, so
the likelihood of the speeches of speaker ``i`` at a node is that of their
summed counts (times the product of the speeches' multinomial coefficients).
A fit with ``groups`` therefore runs on one row per speaker.

Real speech is burstier than multinomial draws: a speech about the budget says
"budget" many times. A Dirichlet-multinomial speech with precision ``kappa``
carries about as much information about the stance as a multinomial one of
``S (1 + kappa) / (S + kappa)`` words, so with ``dispersion=kappa`` each
speech's counts are weighted by ``(1 + kappa) / (S + kappa)`` (a
quasi-likelihood): short speeches keep their weight, and no single long speech
dominates its speaker.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

# Frequent terms the dispersion estimate looks at; rarer ones add noise (their
# expected counts per speech are far below one) and the rest are pooled.
_DISPERSION_TERMS = 1000


def multinomial_log_coef(X):
    """``log S! - sum_v log x_v!`` of every row.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.speakers import multinomial_log_coef
    >>> np.round(multinomial_log_coef(np.array([[2.0, 1.0], [0.0, 0.0]])), 4)  # log 3, log 1
    array([1.0986, 0.    ])
    """
    if sp.issparse(X):
        X = X.tocsr()
        lengths = np.asarray(X.sum(axis=1)).reshape(-1)
        return gammaln(lengths + 1.0) - np.asarray(
            X._with_data(gammaln(X.data + 1.0)).sum(axis=1)
        ).reshape(-1)
    X = np.asarray(X)
    return gammaln(X.sum(axis=1) + 1.0) - gammaln(X + 1.0).sum(axis=1)


def scale_rows(X, weight):
    """``diag(weight) @ X``, skipped when every weight is one.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.speakers import scale_rows
    >>> scale_rows(np.array([[2.0, 4.0]]), np.array([0.5])).tolist()
    [[1.0, 2.0]]
    """
    if np.all(weight == 1.0):
        return X
    if sp.issparse(X):
        return sp.diags(weight) @ X
    return X * weight[:, None]


def dispersion_weights(lengths, dispersion):
    """Weight ``(1 + kappa) / (S + kappa)`` of each speech's counts (all ones for None).

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.speakers import dispersion_weights
    >>> dispersion_weights(np.array([1.0, 99.0, 1000.0]), 99.0)
    array([1.        , 0.50505051, 0.09099181])
    """
    lengths = np.asarray(lengths, dtype=float)
    if dispersion is None or np.isinf(dispersion):
        return np.ones_like(lengths)
    # an empty speech has no words to weigh: any weight will do, one is simplest
    return (1.0 + dispersion) / (np.maximum(lengths, 1.0) + dispersion)


def encode_groups(groups, n_samples):
    """Check ``groups`` and return ``(labels, inverse)``: sorted speakers and each row's index.

    Raises
    ------
    ValueError
        When ``groups`` does not hold one entry per row, or holds missing values.

    Examples
    --------
    >>> from skpolar.speakers import encode_groups
    >>> encode_groups(["b", "a", "b"], 3)
    (array(['a', 'b'], dtype='<U1'), array([1, 0, 1]))
    """
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(
            f"groups must hold one speaker per row of X: expected shape ({n_samples},), "
            f"got {groups.shape}."
        )
    if groups.dtype.kind == "f" and np.isnan(groups).any():
        raise ValueError("groups holds NaN; every row needs a speaker.")
    if groups.dtype == object and any(g is None for g in groups):
        raise ValueError("groups holds None; every row needs a speaker.")
    try:
        labels, inverse = np.unique(groups, return_inverse=True)
    except TypeError:
        raise ValueError(
            "groups must hold speaker labels of one comparable type (all strings or all "
            "numbers)."
        ) from None
    return labels, inverse.reshape(-1)


def group_sides(side, inverse, labels):
    """The side of every speaker, checking that each speaks for one party only.

    Raises
    ------
    ValueError
        When a speaker's speeches are labelled with both parties.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.speakers import group_sides
    >>> group_sides(np.array([0, 0, 1]), np.array([0, 0, 1]), np.array(["a", "b"]))
    array([0, 1])
    """
    n_groups = len(labels)
    right = np.bincount(inverse, weights=side, minlength=n_groups)
    total = np.bincount(inverse, minlength=n_groups)
    mixed = np.flatnonzero((right > 0) & (right < total))
    if len(mixed):
        shown = ", ".join(repr(labels[i].item() if hasattr(labels[i], "item") else labels[i])
                          for i in mixed[:5])
        more = f" and {len(mixed) - 5} more" if len(mixed) > 5 else ""
        raise ValueError(
            f"{len(mixed)} speaker(s) have speeches labelled with both parties ({shown}{more}); "
            "a speaker has one stance and so one side. Relabel them, or give each "
            "party spell its own group label."
        )
    return (right > 0).astype(np.int64)


def sum_by_group(X, inverse, n_groups, weight=None):
    """Row sums of ``X`` (optionally weighted) per group; sparse stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.speakers import sum_by_group
    >>> sum_by_group(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]), np.array([0, 0, 1]), 2)
    array([[1., 2.],
           [3., 3.]])
    """
    weight = np.ones(len(inverse)) if weight is None else np.asarray(weight, dtype=float)
    indicator = sp.csr_matrix(
        (weight, (inverse, np.arange(len(inverse)))), shape=(n_groups, len(inverse))
    )
    out = indicator @ X
    return out.tocsr() if sp.issparse(out) else np.asarray(out)


def estimate_dispersion(X, inverse, n_terms=_DISPERSION_TERMS):
    """Dirichlet-multinomial precision ``kappa`` of speeches from within-speaker variation.

    Under the model a speaker's speeches are draws at one stance, so their
    variation around the speaker's own word frequencies is sampling noise:
    multinomial noise gives a Pearson statistic of about ``d`` per speech
    (``d`` the degrees of freedom), a Dirichlet-multinomial one
    ``d (S + kappa) / (1 + kappa)``. Matching the two over all speeches of
    two or more words gives ``kappa`` (method of moments, on the most
    frequent terms with the rest pooled). Multinomial speeches give a very
    large ``kappa`` (no reweighting).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    inverse : ndarray of shape (n_samples,)
        Speaker index of each row.
    n_terms : int, default=1000

    Returns
    -------
    kappa : float
        ``inf`` when the speeches are no more variable than multinomial draws.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.speakers import estimate_dispersion
    >>> rng = np.random.default_rng(0)
    >>> phi = rng.dirichlet(np.ones(20), size=10)      # ten speakers
    >>> inverse = np.repeat(np.arange(10), 40)          # forty speeches each
    >>> X = np.array([rng.multinomial(50, rng.dirichlet(30 * phi[i])) for i in inverse])
    >>> bool(15 < estimate_dispersion(X, inverse) < 60)  # true precision 30
    True
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    lengths = np.asarray(X.sum(axis=1)).reshape(-1)
    totals = np.asarray(X.sum(axis=0)).reshape(-1)
    keep = np.argsort(-totals, kind="stable")[: min(n_terms, X.shape[1])]
    counts = X[:, keep].toarray()
    counts = np.column_stack([counts, lengths - counts.sum(axis=1)])
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    group_counts = sum_by_group(counts, inverse, n_groups)
    group_lengths = group_counts.sum(axis=1)
    freq = group_counts / np.maximum(group_lengths, 1.0)[:, None]
    expected = lengths[:, None] * freq[inverse]
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.where(expected > 0, (counts - expected) ** 2 / expected, 0.0).sum(axis=1)
    # degrees of freedom: the categories the speaker uses, less one, shrunk by
    # the speaker's frequencies being estimated from the same speeches
    n_speeches = np.bincount(inverse, minlength=n_groups)[inverse]
    dof = ((freq[inverse] > 0).sum(axis=1) - 1) * (n_speeches - 1) / n_speeches
    use = (lengths >= 2) & (dof > 0)
    observed, dof_sum = pearson[use].sum(), dof[use].sum()
    weighted = (dof[use] * lengths[use]).sum()
    # observed (1 + kappa) = weighted + kappa dof_sum
    if observed <= dof_sum:
        return np.inf
    return float(max((weighted - observed) / (observed - dof_sum), 0.0))
