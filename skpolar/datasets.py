"""Synthetic polarized speech and loaders for real corpora."""

import numbers
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state


def two_ten_shape(rho):
    """Beta shapes of the "2/10" scheme, where the variance is tied to ``rho``.

    The scheme sets the variance of the right-hand Beta component to
    ``sigma = 0.175 rho**2 - 0.3625 rho + 0.1875`` and solves the Beta
    moment equations for the shapes, so ``rho = 0.5`` gives ``a = b = 2`` and
    the component sharpens as ``rho`` grows.

    Parameters
    ----------
    rho : float in [0.5, 1)
        Polarization: the mean of the right-hand Beta component.

    Returns
    -------
    a, b, sigma : float
        Shapes with ``a / (a + b) = rho`` and variance ``sigma``.

    Examples
    --------
    >>> from skpolar.datasets import two_ten_shape
    >>> a, b, sigma = two_ten_shape(0.5)
    >>> round(a, 6), round(b, 6)
    (2.0, 2.0)
    """
    _check_range("rho", rho, 0.5, 1.0, closed_right=False)
    sigma = 0.175 * rho**2 - 0.3625 * rho + 0.1875
    scale = rho * (1.0 - rho) / sigma - 1.0
    return rho * scale, (1.0 - rho) * scale, sigma


def pole_vocabularies(n_features, epsilon):
    """Word distributions of the two poles used by :func:`make_polarized_speech`.

    Columns are split into a left vocabulary, a right vocabulary of the same
    size and a neutral vocabulary (``n_features // 3`` words, at least one).
    Each pole puts mass ``1 - epsilon`` on its own partisan words and
    ``epsilon`` on the neutral words; within a group, word frequencies follow
    Zipf's law (weight ``1 / rank``), as in real vocabularies. With
    ``n_features=3`` this is the notebook's ``[1 - eps, 0, eps]`` and
    ``[0, 1 - eps, eps]``.

    Parameters
    ----------
    n_features : int >= 3
        Vocabulary size.
    epsilon : float in [0, 1)
        Share of neutral words in every speech.

    Returns
    -------
    theta : ndarray of shape (2, n_features)
        Row 0 is the left pole, row 1 the right pole; each sums to one.

    Examples
    --------
    >>> from skpolar.datasets import pole_vocabularies
    >>> pole_vocabularies(3, 0.05)
    array([[0.95, 0.  , 0.05],
           [0.  , 0.95, 0.05]])
    """
    n_neutral = max(1, n_features // 3)
    n_side = (n_features - n_neutral) // 2
    n_neutral = n_features - 2 * n_side

    def zipf(k):
        w = 1.0 / np.arange(1, k + 1)
        return w / w.sum()

    theta = np.zeros((2, n_features))
    theta[0, :n_side] = (1.0 - epsilon) * zipf(n_side)
    theta[1, n_side : 2 * n_side] = (1.0 - epsilon) * zipf(n_side)
    theta[:, 2 * n_side :] = epsilon * zipf(n_neutral)
    return theta


def shared_vocabularies(n_features, partisanship, rng, zipf_exponent=1.0):
    """Pole vocabularies in which both sides use every word, at different rates.

    Word ``v`` has a base frequency following Zipf's law (weight
    ``1 / rank**zipf_exponent``) and a partisan lean ``z_v ~ N(0, 1)``; the
    poles are ``theta_R ∝ base exp(partisanship z / 2)`` and
    ``theta_L ∝ base exp(-partisanship z / 2)``, so the log odds of a word
    between the poles is ``partisanship * z_v`` and no probability is zero.

    Parameters
    ----------
    n_features : int >= 2
    partisanship : float >= 0
        Standard deviation of the words' log odds between the poles; 0 makes
        the poles identical.
    rng : numpy.random.Generator
    zipf_exponent : float, default=1.0

    Returns
    -------
    theta : ndarray of shape (2, n_features)
        Row 0 is the left pole, row 1 the right pole; each sums to one.

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.datasets import shared_vocabularies
    >>> theta = shared_vocabularies(1000, 1.0, np.random.default_rng(0))
    >>> theta.shape, bool(theta.min() > 0), np.round(theta.sum(axis=1), 12).tolist()
    ((2, 1000), True, [1.0, 1.0])
    """
    base = 1.0 / np.arange(1, n_features + 1) ** zipf_exponent
    lean = partisanship * rng.standard_normal(n_features) / 2.0
    theta = np.vstack([base * np.exp(-lean), base * np.exp(lean)])
    return theta / theta.sum(axis=1, keepdims=True)


def _check_poles(vocabulary):
    """Two rows of word probabilities, as ``make_polarized_speech`` takes them."""
    try:
        theta = np.array(vocabulary, dtype=np.float64)
    except (TypeError, ValueError):
        theta = None
    if (theta is None or theta.ndim != 2 or theta.shape[0] != 2 or theta.shape[1] < 2
            or not np.all(np.isfinite(theta)) or np.any(theta < 0)
            or not np.allclose(theta.sum(axis=1), 1.0, atol=1e-9)):
        raise ValueError(
            "vocabulary must be 'partisan', 'shared' or an array of shape (2, n_words) whose "
            "rows are word probabilities (non-negative, each summing to one)."
        )
    return theta / theta.sum(axis=1, keepdims=True)


def make_polarized_speech(
    n_samples=1000,
    *,
    rho=0.8,
    epsilon=0.05,
    pi=0.5,
    speech_len=15,
    n_features=3,
    vocabulary="partisan",
    partisanship=1.0,
    length_distribution="fixed",
    sparse=False,
    random_state=None,
    return_truth=False,
):
    """Generate word counts and party labels of a polarized population.

    Each speaker draws a stance ``u = 2 t - 1`` with
    ``t ~ pi Beta(a, b) + (1 - pi) Beta(b, a)``, where ``a`` and ``b`` come
    from ``rho`` by the "2/10" scheme (:func:`two_ten_shape`); the party is
    ``y = 1(u >= 0)`` and the speech is
    ``Multinomial(S, (1 - p) theta_L + p theta_R)`` with ``p = (u + 1) / 2``.
    With ``vocabulary="partisan"`` the poles are those of
    :func:`pole_vocabularies` (each side has words the other never says; for
    ``n_features=3`` the word probabilities are exactly
    ``[(1 - p)(1 - epsilon), p (1 - epsilon), epsilon]``); with
    ``vocabulary="shared"`` every word is used by both sides, at rates whose
    log odds are ``partisanship`` times a standard normal draw
    (:func:`shared_vocabularies`), as in real speech.

    Parameters
    ----------
    n_samples : int >= 1, default=1000
        Number of speeches (one per speaker).
    rho : float in [0.5, 1), default=0.8
        Polarization, the mean of the right-hand Beta component.
    epsilon : float in [0, 1), default=0.05
        Share of neutral words (``vocabulary="partisan"`` only).
    pi : float in [0, 1], default=0.5
        Weight of the right-leaning component ``Beta(a, b)``: the population
        share of the right-hand camp.
    speech_len : int >= 0 or array-like of shape (n_samples,), default=15
        Words per speech: the length of every speech, or its mean when
        ``length_distribution`` draws lengths; or one length per speech.
    n_features : int, default=3
        Vocabulary size (at least 3 for ``"partisan"``, 2 for ``"shared"``).
    vocabulary : {"partisan", "shared"} or array-like of shape (2, n_words), default="partisan"
        The design of the two pole vocabularies (see above), or the two
        pole vocabularies themselves (rows of word probabilities, left pole
        first; ``n_features`` is then their width): corpora drawn in blocks,
        each from its own seed, then come from one model.
    partisanship : float >= 0, default=1.0
        Spread of the words' log odds between the poles (``"shared"`` only).
    length_distribution : "fixed", "poisson" or float > 0, default="fixed"
        ``"fixed"``: every speech has ``speech_len`` words; ``"poisson"``:
        Poisson lengths of mean ``speech_len``; a float ``r``: negative
        binomial lengths of mean ``speech_len`` and variance
        ``speech_len + speech_len**2 / r`` (real speeches: a few long, many
        short).
    sparse : bool, default=False
        Return ``X`` as a CSR sparse matrix, drawn token by token: needed for
        large corpora, whose dense count matrix would not fit in memory.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (vocabulary included); the same seed gives the same data.
    return_truth : bool, default=False
        Also return the latent quantities.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype int64, or CSR matrix
        Word counts; row ``i`` sums to its speech length.
    y : ndarray of shape (n_samples,), dtype int64
        Party, ``1`` where ``u >= 0``.
    truth : Bunch
        Only with ``return_truth=True``: ``u`` (stances), ``a``, ``b``,
        ``rho``, ``sigma``, ``pi``, ``epsilon``, ``theta`` (the two pole
        vocabularies), ``lengths`` and, unless ``sparse``, ``phi`` (the
        per-speech word probabilities).

    Raises
    ------
    ValueError
        When a parameter is outside its valid range; the message names it.

    Examples
    --------
    >>> from skpolar import make_polarized_speech
    >>> X, y = make_polarized_speech(5, rho=0.9, random_state=0)
    >>> X.shape, X.sum(axis=1).tolist()
    ((5, 3), [15, 15, 15, 15, 15])
    >>> X, y = make_polarized_speech(2000, n_features=5000, vocabulary="shared",
    ...                              speech_len=60, length_distribution=1.0,
    ...                              sparse=True, random_state=0)
    >>> X.format, X.shape
    ('csr', (2000, 5000))
    """
    if (
        not isinstance(n_samples, numbers.Integral)
        or isinstance(n_samples, bool)
        or n_samples < 1
    ):
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")
    theta = None
    if not isinstance(vocabulary, str):
        theta = _check_poles(vocabulary)
        n_features = theta.shape[1]
    elif vocabulary not in ("partisan", "shared"):
        raise ValueError(f"vocabulary must be 'partisan' or 'shared', got {vocabulary!r}.")
    min_features = 3 if isinstance(vocabulary, str) and vocabulary == "partisan" else 2
    if (
        not isinstance(n_features, numbers.Integral)
        or isinstance(n_features, bool)
        or n_features < min_features
    ):
        raise ValueError(
            f"n_features must be an integer >= {min_features}, got {n_features!r}."
        )
    _check_range("epsilon", epsilon, 0.0, 1.0, closed_right=False)
    _check_range("pi", pi, 0.0, 1.0)
    _check_range("partisanship", partisanship, 0.0, np.inf, closed_right=False)
    a, b, sigma = two_ten_shape(rho)

    rng = _numpy_generator(random_state)
    lengths = _speech_lengths(speech_len, length_distribution, n_samples, rng)
    if theta is None and vocabulary == "partisan":
        theta = pole_vocabularies(n_features, epsilon)
    elif theta is None:
        theta = shared_vocabularies(n_features, partisanship, rng)
    right = rng.random(n_samples) < pi
    t = np.where(right, rng.beta(a, b, n_samples), rng.beta(b, a, n_samples))
    u = 2.0 * t - 1.0
    y = (u >= 0).astype(np.int64)
    if sparse:
        X = sample_two_pole_counts(theta, t, lengths, rng)
        phi = None
    else:
        p = t[:, None]
        phi = (1.0 - p) * theta[0] + p * theta[1]
        # Rounding can push a row sum a hair above one, which the sampler rejects.
        phi /= phi.sum(axis=1, keepdims=True)
        X = rng.multinomial(lengths, phi).astype(np.int64)
    if not return_truth:
        return X, y
    truth = Bunch(
        u=u, a=a, b=b, rho=rho, sigma=sigma, pi=pi, epsilon=epsilon, theta=theta,
        lengths=lengths,
    )
    if phi is not None:
        truth.phi = phi
    return X, y, truth


def sample_two_pole_counts(theta, t, lengths, rng):
    """Word counts of speeches at pole weights ``t``, drawn token by token, as CSR.

    Each token comes from the right pole with probability ``t`` and from the
    left one otherwise, then is a draw from that pole: the same distribution
    as ``Multinomial(S, (1 - t) theta_L + t theta_R)``, at a cost that grows
    with the number of tokens rather than with ``n_samples * n_features``.

    Parameters
    ----------
    theta : ndarray of shape (2, n_features)
    t : ndarray of shape (n_samples,)
        Weight of the right pole, ``(u + 1) / 2``.
    lengths : ndarray of shape (n_samples,) of int
    rng : numpy.random.Generator

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), dtype int64

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.datasets import sample_two_pole_counts
    >>> theta = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> X = sample_two_pole_counts(theta, np.array([0.0, 1.0]), np.array([3, 2]),
    ...                            np.random.default_rng(0))
    >>> X.toarray().tolist()
    [[3, 0], [0, 2]]
    """
    import scipy.sparse as sp

    lengths = np.asarray(lengths, dtype=np.int64)
    n_samples, n_features = len(lengths), theta.shape[1]
    rows = np.repeat(np.arange(n_samples), lengths)
    from_right = rng.random(len(rows)) < np.repeat(t, lengths)
    cdf = np.cumsum(theta, axis=1)
    cdf /= cdf[:, -1:]
    words = np.empty(len(rows), dtype=np.int64)
    for pole, mask in ((0, ~from_right), (1, from_right)):
        draws = rng.random(int(mask.sum()))
        words[mask] = np.minimum(np.searchsorted(cdf[pole], draws, side="right"), n_features - 1)
    X = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int64), (rows, words)), shape=(n_samples, n_features)
    )
    X.sum_duplicates()
    return X


def _speech_lengths(speech_len, distribution, n_samples, rng):
    """Speech lengths: fixed, Poisson or negative binomial around ``speech_len``."""
    lengths = np.asarray(speech_len)
    if lengths.ndim == 0:
        lengths = np.full(n_samples, lengths)
    if (
        lengths.shape != (n_samples,)
        or not np.issubdtype(lengths.dtype, np.integer)
        or (lengths < 0).any()
    ):
        raise ValueError(
            "speech_len must be an integer >= 0 or an integer array of shape "
            f"(n_samples,) = ({n_samples},) with entries >= 0."
        )
    if isinstance(distribution, str) and distribution == "fixed":
        return lengths.astype(np.int64)
    if isinstance(distribution, str) and distribution == "poisson":
        return rng.poisson(lengths).astype(np.int64)
    if (
        isinstance(distribution, numbers.Real)
        and not isinstance(distribution, bool)
        and distribution > 0
    ):
        r = float(distribution)
        return rng.negative_binomial(r, r / (r + lengths)).astype(np.int64)
    raise ValueError(
        "length_distribution must be 'fixed', 'poisson' or a float > 0 (the negative "
        f"binomial shape), got {distribution!r}."
    )


def load_senate_speeches(data_home=None, *, as_frame=False, return_X_y=False):
    """Load the floor speeches of the 114th US Senate (Vafa, Naidu and Blei, 2020).

    The corpus ships with skpolar (about 4 MB, MIT licence), so this works
    offline: 19,009 speeches by 99 senators, as counts of 14,503 terms. Read
    more in ``DESCR`` or in :ref:`senate_speeches_114`.

    =================   ==========================
    Speeches            19,009
    Terms               14,503 (uni- and bigrams)
    Senators            99
    Parties             D (7,366), R (11,320), I (323)
    =================   ==========================

    Parameters
    ----------
    data_home : str or path-like, default=None
        A folder holding ``senate-speeches-114/`` with the same files
        (``counts.npz``, ``author_indices.npy``, ``author_map.txt``,
        ``vocabulary.txt``), read instead of the copy in the package; for a
        corpus prepared the same way from another source.
    as_frame : bool, default=False
        Also return ``frame``, a pandas DataFrame with the columns ``author``
        and ``party`` (one row per speech); ``target`` and ``author`` are then
        its columns, as pandas Series. ``data`` stays a sparse matrix: dense,
        it would take over 1 GB.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : scipy.sparse.csr_matrix of shape (19009, 14503), dtype float32
            Term counts, one row per speech.
        target : ndarray of shape (19009,) or pandas Series
            Party of each speech's speaker: ``"D"``, ``"R"`` or ``"I"``.
        author : ndarray of shape (19009,) or pandas Series
            Name of each speech's speaker, e.g. ``"Bernard Sanders"``.
        feature_names : ndarray of shape (14503,)
            The term of each column.
        target_names : ndarray of shape (3,)
            The parties, sorted: ``["D", "I", "R"]``.
        frame : pandas DataFrame of shape (19009, 2) or None
            Columns ``author`` and ``party``; None unless ``as_frame=True``.
        DESCR : str
            Description of the corpus, its source and licence.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> import numpy as np
    >>> from skpolar.datasets import load_senate_speeches
    >>> senate = load_senate_speeches()
    >>> senate.data.shape
    (19009, 14503)
    >>> keep = np.isin(senate.target, ["D", "R"])   # the model takes two parties
    >>> int(keep.sum())
    18686
    >>> frame = load_senate_speeches(as_frame=True).frame
    >>> frame.groupby("party")["author"].nunique().to_dict()
    {'D': 44, 'I': 2, 'R': 53}
    """
    import scipy.sparse as sp

    if data_home is None:
        folder = resources.files("skpolar") / "data" / "senate_speeches_114"
    else:
        folder = Path(data_home) / "senate-speeches-114"
        if not (folder / "counts.npz").is_file():
            raise FileNotFoundError(
                f"{folder / 'counts.npz'} not found: data_home must be the folder "
                "that holds senate-speeches-114/; leave it out to load the copy "
                "that ships with skpolar."
            )
    # as_file gives real paths even when the package is imported from a zip
    with resources.as_file(folder / "counts.npz") as path:
        counts = sp.load_npz(path).tocsr()
    with resources.as_file(folder / "author_indices.npy") as path:
        authors = np.load(path)
    names = (folder / "author_map.txt").read_text(encoding="utf-8").splitlines()
    vocabulary = (folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    descr = (
        resources.files("skpolar") / "data" / "senate_speeches_114" / "README.rst"
    ).read_text(encoding="utf-8")

    # author_map.txt lines read "First Last (P)"
    speaker = np.asarray([line.rsplit(" (", 1)[0] for line in names], dtype=object)
    speaker_party = np.asarray([line.rsplit("(", 1)[1].rstrip(")") for line in names])
    author, party = speaker[authors], speaker_party[authors]
    if counts.shape != (len(authors), len(vocabulary)):
        raise ValueError(
            f"the corpus files disagree: counts.npz is {counts.shape[0]} x "
            f"{counts.shape[1]}, with {len(authors)} author indices and "
            f"{len(vocabulary)} terms"
        )

    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame({"author": author, "party": party})
        author, party = frame["author"], frame["party"]
    if return_X_y:
        return counts, party
    return Bunch(
        data=counts,
        target=party,
        author=author,
        feature_names=np.asarray(vocabulary),
        target_names=np.unique(speaker_party),
        frame=frame,
        DESCR=descr,
    )


def _check_range(name, value, low, high, closed_right=True):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and low <= value and (value <= high if closed_right else value < high)
    if not ok:
        bracket = "]" if closed_right else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}.")


def _numpy_generator(random_state):
    """A local numpy Generator drawn from an sklearn-style ``random_state``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral):
        return np.random.default_rng(int(random_state))
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)
