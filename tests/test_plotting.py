"""skpolar.plotting: each function draws the expected artists and returns the Axes."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skpolar import (  # noqa: E402
    PolarizationEstimator,
    make_polarized_speech,
    plotting,  # noqa: E402
)
from skpolar.plotting import (  # noqa: E402
    plot_partisan_words,
    plot_rho,
    plot_rho_estimators,
    plot_speaker_stances,
    plot_stance_distribution,
)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_polarized_speech(400, rho=0.8, n_features=30, speech_len=20, random_state=0)
    y = np.where(y == 1, "Rep", "Dem")
    est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    return est, X, y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_stance_distribution(fitted):
    est, X, y = fitted
    ax = plot_stance_distribution(est, X, y, bins=20, words=False)
    assert isinstance(ax, matplotlib.axes.Axes)
    # 20 bins per party, plus the fitted density line and the zero line
    assert len(ax.patches) == 40
    assert len(ax.lines) == 2
    u, pdf = ax.lines[0].get_data()
    np.testing.assert_allclose(pdf, est.prior_pdf(u))
    assert "rho" in ax.get_title() and f"{est.rho_:.3f}" in ax.get_title()
    assert "interval" not in ax.get_title()  # interval=None: no interval to show
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("Dem") and labels[1].startswith("Rep")
    # the histograms and the prior are both densities on [-1, 1]
    area = sum(p.get_height() * p.get_width() for p in ax.patches)
    assert area == pytest.approx(1.0)


def test_stance_distribution_shows_the_words_only_stances(fitted):
    est, X, y = fitted
    ax = plot_stance_distribution(est, X, y, bins=20)
    bars = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    outlines = [p for p in ax.patches if isinstance(p, matplotlib.patches.Polygon)]
    assert len(bars) == 40 and len(outlines) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum("words only" in label for label in labels) == 2
    # the outlines trace the words-only histogram, which may cross zero
    words = est.transform(X)[:, 0]
    assert outlines[0].get_xy()[:, 0].min() == pytest.approx(-1.0)
    assert (words[y == "Dem"] > 0).any()


def test_stance_distribution_by_speaker_and_speaker_plot(fitted):
    est, X, y = fitted
    speaker = np.arange(len(y)) // 4
    party = y[speaker * 4]
    ax = plot_stance_distribution(est, X, party, bins=10, groups=speaker)
    bars = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    # one unit of density per speaker: the bars integrate to one
    assert sum(p.get_height() * p.get_width() for p in bars) == pytest.approx(1.0)
    assert "speaker" in ax.get_xlabel()
    table = est.speaker_stance(X, party, groups=speaker)
    ax = plot_speaker_stances(table, labels=False)
    assert len(ax.get_yticks()) == len(table)
    with pytest.raises(ValueError, match="lacks the columns"):
        plot_speaker_stances(est.speaker_stance(X, groups=speaker))


def test_stance_distribution_title_shows_interval(fitted):
    est, X, y = fitted
    est.rho_ci_ = np.array([0.75, 0.85])  # as if fitted with an interval
    try:
        title = plot_stance_distribution(est, X, y).get_title()
    finally:
        est.rho_ci_ = np.full(2, np.nan)
    assert "0.750" in title and "0.850" in title


def test_draws_on_given_axes(fitted):
    est, X, y = fitted
    fig, axes = plt.subplots(1, 3)
    assert plot_stance_distribution(est, X, y, ax=axes[0]) is axes[0]
    assert plot_rho(["a"], [0.7], ax=axes[1]) is axes[1]
    assert plot_partisan_words(est, ax=axes[2]) is axes[2]
    assert len(fig.axes) == 3


def test_plot_rho():
    cis = [[0.65, 0.72], [np.nan, np.nan], [0.8, 0.9]]
    ax = plot_rho([2010, 2012, 2014], [0.7, 0.75, 0.85], cis)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2010", "2012", "2014"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.7, 0.75, 0.85])
    segments = ax.collections[0].get_segments()
    np.testing.assert_allclose(segments[0][:, 1], [0.65, 0.72])
    assert "rho" in ax.get_ylabel()


def test_plot_rho_checks_lengths():
    with pytest.raises(ValueError, match="labels"):
        plot_rho(["a", "b"], [0.7])
    with pytest.raises(ValueError, match="intervals"):
        plot_rho(["a", "b"], [0.7, 0.8], [[0.6, 0.8]])


def test_plot_rho_estimators(fitted):
    est = fitted[0]
    ax = plot_rho_estimators([est, est], ["first", "second"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [est.rho_, est.rho_])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["first", "second"]


def test_partisan_words(fitted):
    est = fitted[0]
    names = [f"w{j}" for j in range(30)]
    ax = plot_partisan_words(est, names, n_words=4)
    assert len(ax.patches) == 8
    widths = [p.get_width() for p in ax.patches]
    assert widths == sorted(widths)  # most left at the bottom, most right on top
    order = np.argsort(est.W_)
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert shown[:4] == [names[j] for j in order[:4]]
    assert shown[-4:] == [names[j] for j in order[-4:]]
    assert widths[0] < 0 < widths[-1]


def test_partisan_words_small_vocabulary_and_default_names():
    X, y = make_polarized_speech(300, random_state=0)
    est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    ax = plot_partisan_words(est)  # 3 words < 2 * 15: all shown once
    assert len(ax.patches) == 3
    assert {t.get_text() for t in ax.get_yticklabels()} == {"word 0", "word 1", "word 2"}


def test_partisan_words_uses_feature_names_in():
    pd = pytest.importorskip("pandas")
    X, y = make_polarized_speech(300, random_state=0)
    X = pd.DataFrame(X, columns=["liberty", "justice", "weather"])
    est = PolarizationEstimator(grid_size=40, interval=None).fit(X, y)
    ax = plot_partisan_words(est)
    assert {t.get_text() for t in ax.get_yticklabels()} == {"liberty", "justice", "weather"}
    with pytest.raises(ValueError, match="feature_names"):
        plot_partisan_words(est, ["only", "two"])


def test_unfitted_estimator_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot_partisan_words(PolarizationEstimator())


def test_missing_matplotlib_message(monkeypatch):
    # None in sys.modules makes the import fail as if matplotlib were absent
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plotting.plot_rho(["a"], [0.7])
