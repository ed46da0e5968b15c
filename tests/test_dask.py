"""Fits and scoring on Dask arrays give the in-memory answers."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import skpolar.likelihood  # noqa: E402
import skpolar.objective  # noqa: E402
from skpolar import PolarizationEstimator, make_polarized_speech  # noqa: E402
from skpolar.dask_backend import aligned_sizes, speeches_to_dask  # noqa: E402


@pytest.fixture
def small_windows(monkeypatch):
    # windows of ~200 rows at 20 nodes a side, so a few thousand speeches
    # span many blocks and windows
    monkeypatch.setattr(skpolar.likelihood, "CHUNK_BYTES", 64 * 2**10)
    # and the in-memory fit evaluates the objective in torch, as the blocks
    # do, not with the NumPy twin it uses on small corpora (equal to 1e-12,
    # which along a flat likelihood moves where L-BFGS stops)
    monkeypatch.setattr(skpolar.objective._NumpyTwoPole, "MAX_ENTRIES", 0)


@pytest.fixture(scope="module")
def corpus():
    X, y = make_polarized_speech(3000, rho=0.75, n_features=40, vocabulary="shared",
                                 speech_len=20, sparse=True, random_state=3)
    return X, y


def _dask(X, y, rows):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)


def _assert_same_fit(a, b, atol):
    assert abs(a.rho_ - b.rho_) <= atol
    assert abs(a.alpha_ - b.alpha_) <= atol * max(1.0, a.alpha_)
    assert abs(a.beta_ - b.beta_) <= atol * max(1.0, a.beta_)
    assert abs(a.pi_ - b.pi_) <= atol
    np.testing.assert_allclose(b.W_, a.W_, rtol=0, atol=atol)
    np.testing.assert_allclose(b.theta_, a.theta_, rtol=0, atol=atol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("solver", ["em", "lbfgs"])
def test_fit_on_a_dask_array_is_the_in_memory_fit(corpus, small_windows, solver):
    X, y = corpus
    settings = dict(solver=solver, grid_size=20, interval=None, max_iter=60)
    in_memory = PolarizationEstimator(**settings).fit(X, y)
    # blocks of 700 rows: none starts at a multiple of the 204-row window, and
    # none holds a power of two windows
    Xd, yd = _dask(X, y, 700)
    on_dask = PolarizationEstimator(**settings).fit(Xd, yd)
    _assert_same_fit(in_memory, on_dask, atol=1e-8)
    assert on_dask.n_features_in_ == X.shape[1]
    assert on_dask.classes_.tolist() == [0, 1]


def test_dense_blocks_numpy_labels_and_the_profile_interval(small_windows):
    X, y = make_polarized_speech(2000, rho=0.8, random_state=0)
    settings = dict(grid_size=20, max_iter=100)
    in_memory = PolarizationEstimator(**settings).fit(X, y)
    on_dask = PolarizationEstimator(**settings).fit(da.from_array(X, chunks=(450, 3)), y)
    _assert_same_fit(in_memory, on_dask, atol=1e-8)
    np.testing.assert_allclose(on_dask.rho_ci_, in_memory.rho_ci_, atol=1e-6)
    # sample() draws lengths from those of the training speeches
    Xs, ys, u = on_dask.sample(50, random_state=0)
    assert Xs.shape == (50, 3) and np.all(Xs.sum(axis=1) == 15)


def test_auto_keeps_the_maximum_likelihood_rho_on_a_dask_array():
    # more terms than speeches: in memory "auto" cross-fits, which Dask
    # arrays do not support, so there it keeps maximum likelihood
    X, y = make_polarized_speech(60, rho=0.8, n_features=80, vocabulary="shared",
                                 speech_len=30, random_state=0)
    settings = dict(grid_size=20, interval=None, random_state=0)
    assert PolarizationEstimator(**settings).fit(X, y).bias_correction_ == "crossfit"
    on_dask = PolarizationEstimator(**settings).fit(da.from_array(X, chunks=(30, 80)), y)
    plain = PolarizationEstimator(**settings, bias_correction=None).fit(X, y)
    assert on_dask.bias_correction_ is None
    assert on_dask.rho_ == pytest.approx(plain.rho_, abs=1e-6)


def test_scoring_is_lazy_and_matches(corpus, small_windows):
    X, y = corpus
    est = PolarizationEstimator(grid_size=20, interval=None, max_iter=40).fit(X, y)
    Xd, yd = _dask(X, y, 700)
    lazy = {
        "transform": est.transform(Xd),
        "predict_proba": est.predict_proba(Xd),
        "predict": est.predict(Xd),
        "score_samples": est.score_samples(Xd, yd),
        "stance": est.stance(Xd, y),
    }
    assert all(isinstance(value, da.Array) for value in lazy.values())
    np.testing.assert_allclose(lazy["transform"].compute(), est.transform(X), atol=1e-12)
    np.testing.assert_allclose(lazy["predict_proba"].compute(), est.predict_proba(X),
                               atol=1e-12)
    np.testing.assert_array_equal(lazy["predict"].compute(), est.predict(X))
    np.testing.assert_allclose(lazy["score_samples"].compute(), est.score_samples(X, y),
                               atol=1e-10)
    np.testing.assert_allclose(lazy["stance"].compute(), est.stance(X, y), atol=1e-12)
    assert lazy["predict_proba"].shape == (X.shape[0], 2)


def test_partial_fit_on_a_dask_array_streams_its_blocks():
    X, y = make_polarized_speech(2400, rho=0.8, random_state=1)
    settings = dict(solver="adam", batch_size=300, grid_size=20, random_state=0)
    by_hand = PolarizationEstimator(**settings)
    for start in range(0, 2400, 600):
        by_hand.partial_fit(X[start:start + 600], y[start:start + 600], classes=[0, 1])
    streamed = PolarizationEstimator(**settings).partial_fit(*_dask(X, y, 600))
    assert streamed.n_iter_ == by_hand.n_iter_ == 4
    assert streamed.rho_ == by_hand.rho_
    np.testing.assert_array_equal(streamed.theta_, by_hand.theta_)


def test_dask_ml_incremental_and_parallel_post_fit():
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = make_polarized_speech(2400, rho=0.8, random_state=1)
    Xd, yd = _dask(X, y, 600)
    settings = dict(solver="adam", batch_size=300, grid_size=20, random_state=0)
    incremental = wrappers.Incremental(PolarizationEstimator(**settings), shuffle_blocks=False)
    incremental.fit(Xd, yd, classes=[0, 1])
    by_hand = PolarizationEstimator(**settings)
    for start in range(0, 2400, 600):
        by_hand.partial_fit(X[start:start + 600], y[start:start + 600], classes=[0, 1])
    assert incremental.estimator_.rho_ == by_hand.rho_

    post = wrappers.ParallelPostFit(PolarizationEstimator(grid_size=20, interval=None))
    post.fit(X, y)
    proba = post.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), post.estimator.predict_proba(X), atol=1e-12)


def test_bad_dask_input_is_refused_and_leaves_the_fit_alone(corpus):
    X, y = corpus
    Xd, yd = _dask(X, y, 1000)
    est = PolarizationEstimator(grid_size=20, interval=None, max_iter=30).fit(X, y)
    before = dict(est.__dict__)
    X_bad = X.astype(float).tocsr(copy=True)
    X_bad.data[X_bad.indptr[2500]] = -1.0
    bad = da.from_array(X_bad, chunks=(1000, X.shape[1]))
    with pytest.raises(ValueError, match="Negative values"):
        est.fit(bad, yd)
    with pytest.raises(ValueError, match="groups"):
        est.fit(Xd, yd, groups=np.arange(X.shape[0]) // 2)
    with pytest.raises(ValueError, match="partial_fit"):
        PolarizationEstimator(solver="adam").fit(Xd, yd)
    with pytest.raises(ValueError, match="exactly two parties"):
        est.fit(Xd, da.zeros(X.shape[0], chunks=1000))
    with pytest.raises(ValueError, match="shape"):
        est.fit(Xd, y[:-1])
    unknown = Xd[da.from_array(np.ones(X.shape[0], dtype=bool), chunks=1000)]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        est.fit(unknown, yd)
    with pytest.raises(ValueError, match="features"):
        est.transform(Xd[:, :10])
    assert est.__dict__.keys() == before.keys()
    assert all(est.__dict__[k] is before[k] for k in before)


def test_fit_on_a_local_cluster_of_two_processes():
    distributed = pytest.importorskip("distributed")
    X, y = make_polarized_speech(24000, rho=0.75, n_features=30, vocabulary="shared",
                                 speech_len=10, sparse=True, random_state=5)
    Xd, yd = _dask(X, y, 8000)
    settings = dict(interval=None, max_iter=20)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        for solver in ("em", "lbfgs"):
            on_dask = PolarizationEstimator(solver=solver, **settings).fit(Xd, yd)
            in_memory = PolarizationEstimator(solver=solver, **settings).fit(X, y)
            _assert_same_fit(in_memory, on_dask, atol=1e-8)
        stances = on_dask.transform(Xd).compute()
    np.testing.assert_allclose(stances, on_dask.transform(X), atol=1e-12)


def test_aligned_sizes_hold_a_power_of_two_windows():
    assert aligned_sizes((1000,), 300) == (1000,)
    assert aligned_sizes((400, 400, 400), 100) == (400, 400, 400)
    assert aligned_sizes((100, 100, 100), 300) == (300,)
    sizes = aligned_sizes((700,) * 5, 204)
    assert sum(sizes) == 3500 and set(sizes[:-1]) == {816} and sizes[-1] <= 816


def test_speeches_to_dask_vectorizes_each_partition():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    from sklearn.feature_extraction.text import HashingVectorizer

    frame = pd.DataFrame({"speech": ["cut taxes", "fund schools", "taxes", "schools"] * 5,
                          "side": ["R", "D", "R", "D"] * 5})
    X, y = speeches_to_dask(dd.from_pandas(frame, npartitions=3),
                            HashingVectorizer(n_features=32, alternate_sign=False, norm=None),
                            text="speech", party="side")
    assert X.shape == (20, 32) and not np.isnan(X.chunks[0]).any()
    assert y.compute().tolist() == frame["side"].tolist()
    est = PolarizationEstimator(grid_size=10, interval=None, max_iter=20).fit(X, y)
    assert est.classes_.tolist() == ["D", "R"]
    with pytest.raises(ValueError, match="no column"):
        speeches_to_dask(dd.from_pandas(frame, npartitions=2),
                         HashingVectorizer(n_features=8), text="text", party="side")


def test_the_large_corpora_page_example_runs(tmp_path):
    pytest.importorskip("distributed")
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "large_corpora.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", page)
    assert blocks, "the page has no Python example"
    script = tmp_path / "example.py"
    script.write_text("\n".join(line[4:] for line in blocks[0].splitlines()))
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rho = float(re.search(r"rho = ([0-9.]+)", result.stdout).group(1))
    assert 0.7 < rho < 0.95


def test_the_bayesian_estimator_refuses_dask_arrays(corpus):
    pytest.importorskip("pyro")
    from skpolar import BayesianPolarizationEstimator

    X, y = corpus
    with pytest.raises(ValueError, match="does not fit Dask arrays"):
        BayesianPolarizationEstimator(grid_size=10).fit(*_dask(X, y, 1000))
