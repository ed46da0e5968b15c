"""Plots of a fitted :class:`~skpolar.PolarizationEstimator`.

matplotlib is an optional dependency (``pip install matplotlib`` or
``pip install skpolar[plot]``); it is imported only when a function here is
called. Every function draws on ``ax`` (a new figure when None), returns the
Axes and never calls ``plt.show()``.
"""

import numpy as np

# Left and right sides of the stance axis, colour-blind safe (blue / vermilion).
LEFT_COLOR = "#0072B2"
RIGHT_COLOR = "#D55E00"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skpolar.plotting needs matplotlib: pip install matplotlib"
        ) from exc
    return plt


def _axes(ax, figsize):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "rho_")


def _rho_text(rho, ci):
    text = rf"$\hat\rho$ = {rho:.3f}"
    if ci is not None and np.all(np.isfinite(ci)):
        text += f"  (95% interval {ci[0]:.3f} to {ci[1]:.3f})"
    return text


def plot_stance_distribution(estimator, X, y, ax=None, bins=40, groups=None, words=True):
    """Histogram of the stances per party, with the fitted prior density.

    Filled bars are each speech's (or, with ``groups``, each speaker's)
    posterior mean stance given the party, ``estimator.stance(X, y)``; the
    outlines are the stances from the words alone (``estimator.transform``),
    which may cross zero where the party-conditioned ones cannot. The
    histograms share one density scale (all bars of one kind integrate to one
    together), so they can be read against the fitted mixture
    ``estimator.prior_pdf`` on [-1, 1]. Posterior means shrink towards the
    middle of each side, so the histograms are narrower than the prior when
    speeches are short.

    Parameters
    ----------
    estimator : PolarizationEstimator
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Word counts.
    y : array-like of shape (n_samples,)
        Party of each speech, labelled as in ``estimator.classes_``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    bins : int, default=40
        Number of equal bins on [-1, 1].
    groups : array-like of shape (n_samples,), default=None
        Speaker of each speech: plot one stance per speaker
        (:meth:`~skpolar.PolarizationEstimator.speaker_stance`).
    words : bool, default=True
        Also draw the words-only stances as outlines.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> from skpolar.plotting import plot_stance_distribution
    >>> X, y = make_polarized_speech(500, random_state=0)
    >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    >>> ax = plot_stance_distribution(est, X, y)
    >>> "rho" in ax.get_title()
    True
    """
    _fitted(estimator)
    ax = _axes(ax, (6.4, 4.0))
    y = np.asarray(y)
    unit = "speech"
    if groups is None:
        stance = np.asarray(estimator.stance(X, y), dtype=float)
        alone = np.asarray(estimator.transform(X), dtype=float)[:, 0]
        party = y
    else:
        table = estimator.speaker_stance(X, y, groups=groups)
        stance = table["stance"].to_numpy(dtype=float)
        alone = table["words_stance"].to_numpy(dtype=float)
        party = table["party"].to_numpy()
        unit = "speaker"
    edges = np.linspace(-1.0, 1.0, int(bins) + 1)
    # weights make both parties together a density, comparable with prior_pdf
    weight = 1.0 / (len(stance) * np.diff(edges)[0])
    top = 0.0
    for label, color in zip(estimator.classes_, (LEFT_COLOR, RIGHT_COLOR), strict=True):
        mine = party == label
        heights, _, _ = ax.hist(
            stance[mine], bins=edges, weights=np.full(mine.sum(), weight), color=color,
            alpha=0.55, label=f"{label} (n={mine.sum():,}), given party",
        )
        top = max(top, float(np.max(heights, initial=0.0)))
        if words:
            heights, _, _ = ax.hist(
                alone[mine], bins=edges, weights=np.full(mine.sum(), weight), color=color,
                histtype="step", lw=1.4, label=f"{label}, words only",
            )
            top = max(top, float(np.max(heights, initial=0.0)))
    # Beta densities can be infinite at the poles; stay just inside them.
    u = np.linspace(-1.0, 1.0, 801)[1:-1]
    pdf = estimator.prior_pdf(u)
    ax.plot(u, pdf, color="black", lw=1.8, label="fitted prior density")
    # scale to the interior so a pole singularity does not flatten the plot
    inner = np.abs(u) <= 0.95
    top = max(top, float(np.max(pdf[inner], initial=0.0)))
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlim(-1.0, 1.0)
    # headroom above the data keeps the legend off the bars
    ax.set_ylim(0.0, (1.45 if words else 1.25) * top if top > 0 else 1.0)
    ax.set_xlabel(f"stance u of each {unit} (posterior mean)")
    ax.set_ylabel("density")
    ax.set_title(_rho_text(estimator.rho_, getattr(estimator, "rho_ci_", None)))
    ax.legend(frameon=False, fontsize="small", loc="upper center", ncols=2 if words else 3)
    return ax


def plot_speaker_stances(table, ax=None, labels=True):
    """Every speaker's stance with its credible interval, sorted, coloured by party.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :meth:`~skpolar.PolarizationEstimator.speaker_stance`
        (with ``y``): filled markers are the stances given the party, hollow
        ones the words-only stances; the bars are the intervals given the party.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure sized to the number of speakers when None.
    labels : bool, default=True
        Write the speakers' names on the y axis.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> from skpolar.plotting import plot_speaker_stances
    >>> X, y = make_polarized_speech(300, random_state=0)
    >>> speaker = np.arange(300) // 10
    >>> y = y[speaker * 10]
    >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y, groups=speaker)
    >>> ax = plot_speaker_stances(est.speaker_stance(X, y, groups=speaker))
    >>> len(ax.get_yticks())
    30
    """
    needed = {"party", "stance", "stance_low", "stance_high", "words_stance"}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(
            f"table lacks the columns {sorted(missing)}: pass speaker_stance(X, y, groups) "
            "with y."
        )
    table = table.sort_values("stance")
    n = len(table)
    ax = _axes(ax, (6.5, max(3.0, 0.15 * n + 1.0)))
    rows = np.arange(n)
    parties = sorted(table["party"].unique().tolist())
    for party, color in zip(parties, (LEFT_COLOR, RIGHT_COLOR), strict=False):
        mine = (table["party"] == party).to_numpy()
        ax.errorbar(
            table["stance"][mine], rows[mine],
            xerr=np.vstack([table["stance"][mine] - table["stance_low"][mine],
                            table["stance_high"][mine] - table["stance"][mine]]),
            fmt="o", color=color, markersize=4, elinewidth=0.8, label=f"{party}: given party",
        )
        ax.plot(table["words_stance"][mine], rows[mine], "o", mfc="none", color=color,
                markersize=4, alpha=0.7, label=f"{party}: words only")
    if labels:
        ax.set_yticks(rows, [str(s) for s in table.index], fontsize=6.5 if n > 40 else 8)
    else:
        ax.set_yticks(rows, [""] * n)
    ax.set_ylim(-1, n)
    ax.set_xlim(-1.0, 1.0)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("stance u (posterior mean, 95% interval given party)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    return ax


def plot_rho(labels, rhos, cis=None, ax=None):
    """Polarization estimates with their intervals across groups or periods.

    Parameters
    ----------
    labels : sequence of str or numbers
        One label per estimate, shown on the x axis in the given order.
    rhos : array-like of shape (n,)
        Polarization estimates.
    cis : array-like of shape (n, 2), default=None
        Lower and upper interval bounds; rows with NaN get no error bar.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    plot_rho_estimators : The same plot from a list of fitted estimators.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skpolar.plotting import plot_rho
    >>> ax = plot_rho(["2010", "2012"], [0.7, 0.8], [[0.68, 0.72], [0.77, 0.83]])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['2010', '2012']
    """
    labels = [str(label) for label in labels]
    rhos = np.asarray(rhos, dtype=float).reshape(-1)
    if len(labels) != len(rhos):
        raise ValueError(f"Got {len(labels)} labels for {len(rhos)} rho values.")
    x = np.arange(len(rhos))
    yerr = None
    if cis is not None:
        cis = np.asarray(cis, dtype=float).reshape(-1, 2)
        if len(cis) != len(rhos):
            raise ValueError(f"Got {len(cis)} intervals for {len(rhos)} rho values.")
        # errorbar wants distances from the point; NaN hides the bar
        yerr = np.vstack([rhos - cis[:, 0], cis[:, 1] - rhos])
    width = min(12.0, max(4.0, 0.6 * len(rhos) + 2.0))
    ax = _axes(ax, (width, 3.8))
    ax.errorbar(
        x, rhos, yerr=yerr, fmt="o", color="black", ecolor="grey", elinewidth=1.5,
        capsize=4, markersize=6,
    )
    ax.set_xticks(x)
    longest = max((len(label) for label in labels), default=0)
    crowded = len(labels) * max(longest, 1) > 60
    ax.set_xticklabels(
        labels, rotation=45 if crowded else 0, ha="right" if crowded else "center"
    )
    ax.set_xlim(-0.5, len(rhos) - 0.5)
    ax.set_ylabel(r"polarization $\rho$")
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_rho_estimators(estimators, labels, ax=None):
    """:func:`plot_rho` from fitted estimators, one per group or period.

    Parameters
    ----------
    estimators : sequence of PolarizationEstimator
        Fitted estimators; their ``rho_`` and ``rho_ci_`` are plotted.
    labels : sequence of str or numbers
        One label per estimator.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> from skpolar.plotting import plot_rho_estimators
    >>> fits = [
    ...     PolarizationEstimator(grid_size=40, interval=None).fit(
    ...         *make_polarized_speech(300, rho=rho, random_state=0))
    ...     for rho in (0.6, 0.8)
    ... ]
    >>> ax = plot_rho_estimators(fits, ["low", "high"])
    >>> len(ax.get_xticks())
    2
    """
    for est in estimators:
        _fitted(est)
    rhos = [est.rho_ for est in estimators]
    cis = [getattr(est, "rho_ci_", (np.nan, np.nan)) for est in estimators]
    return plot_rho(labels, rhos, cis, ax=ax)


def plot_rho_by_group(result, ax=None):
    """:func:`plot_rho` of a :func:`skpolar.compare` result, with its test in the title.

    Parameters
    ----------
    result : Bunch
        The return value of :func:`skpolar.compare`.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skpolar import PolarizationEstimator, compare, make_polarized_speech
    >>> from skpolar.plotting import plot_rho_by_group
    >>> X1, y1 = make_polarized_speech(1000, rho=0.7, random_state=0)
    >>> X2, y2 = make_polarized_speech(1000, rho=0.8, random_state=1)
    >>> result = compare(np.vstack([X1, X2]), np.concatenate([y1, y2]),
    ...                  np.repeat(["a", "b"], 1000),
    ...                  estimator=PolarizationEstimator(grid_size=40))
    >>> "same rho" in plot_rho_by_group(result).get_title()
    True
    """
    table = result.table
    ax = plot_rho(table.index.tolist(), table["rho"].to_numpy(),
                  table[["rho_low", "rho_high"]].to_numpy(), ax=ax)
    if np.isfinite(result.p_value):
        ax.set_title(
            f"test of the same rho in all {len(table)}: "
            f"Q = {result.statistic:.2f} on {result.df} df, p = {result.p_value:.3g}",
            fontsize="medium",
        )
    return ax


def plot_partisan_words(estimator, feature_names=None, n_words=15, ax=None):
    """Bar chart of the most left- and most right-leaning words by slant ``W_``.

    Parameters
    ----------
    estimator : PolarizationEstimator
        A fitted estimator.
    feature_names : array-like of str, default=None
        The vocabulary, for example ``CountVectorizer.get_feature_names_out()``;
        defaults to ``estimator.feature_names_in_`` when it exists, else
        ``word 0``, ``word 1``, ...
    n_words : int, default=15
        Words shown on each side; all words when the vocabulary has fewer
        than ``2 * n_words``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure sized to the number of bars when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skpolar import PolarizationEstimator, make_polarized_speech
    >>> from skpolar.plotting import plot_partisan_words
    >>> X, y = make_polarized_speech(500, n_features=30, random_state=0)
    >>> est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    >>> ax = plot_partisan_words(est, n_words=5)
    >>> len(ax.patches)
    10
    """
    _fitted(estimator)
    slant = np.asarray(estimator.W_, dtype=float)
    n_features = len(slant)
    if feature_names is None:
        feature_names = getattr(estimator, "feature_names_in_", None)
    if feature_names is None:
        feature_names = [f"word {j}" for j in range(n_features)]
    feature_names = np.asarray(feature_names, dtype=object)
    if len(feature_names) != n_features:
        raise ValueError(
            f"feature_names has {len(feature_names)} entries but the estimator "
            f"has {n_features} features."
        )
    n_words = int(n_words)
    if n_words < 1:
        raise ValueError(f"n_words must be >= 1, got {n_words}.")
    order = np.argsort(slant, kind="stable")
    if 2 * n_words < n_features:
        order = np.concatenate([order[:n_words], order[-n_words:]])
    values = slant[order]
    ax = _axes(ax, (6.4, max(3.0, 0.26 * len(order) + 1.2)))
    colors = np.where(values < 0, LEFT_COLOR, RIGHT_COLOR)
    ax.barh(np.arange(len(order)), values, color=colors, height=0.75)
    ax.set_yticks(np.arange(len(order)))
    ax.set_yticklabels(feature_names[order], fontsize=9 if len(order) <= 40 else 7)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel("word slant W (< 0: left, > 0: right)")
    left, right = estimator.classes_
    # proxy artists: legend entries without adding bars to ax.patches
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=LEFT_COLOR, label=f"leans {left}"),
                 Patch(color=RIGHT_COLOR, label=f"leans {right}")],
        frameon=False, fontsize="small", loc="lower right",
    )
    ax.set_title("Most partisan words")
    ax.grid(axis="x", alpha=0.3)
    return ax
