import numpy as np
import pytest

from skpolar import make_polarized_speech
from skpolar.datasets import load_senate_speeches, pole_vocabularies, two_ten_shape


@pytest.mark.parametrize("rho", [0.5, 0.6, 0.7, 0.8, 0.9])
def test_stance_distribution_matches_the_scheme(rho):
    n = 200_000
    X, y, truth = make_polarized_speech(n, rho=rho, random_state=0, return_truth=True)
    a, b, sigma = two_ten_shape(rho)
    assert (truth.a, truth.b) == (a, b)
    assert a / (a + b) == pytest.approx(rho)
    # with pi = 0.5, t = (u + 1) / 2 mixes components of mean rho and 1 - rho
    t = (truth.u + 1) / 2
    mean_t = 0.5 * rho + 0.5 * (1 - rho)
    var_t = sigma + 0.25 * (2 * rho - 1) ** 2
    se_mean = np.sqrt(var_t / n)
    assert abs(t.mean() - mean_t) < 5 * se_mean
    assert t.var() == pytest.approx(var_t, rel=0.02)


def test_component_mean_and_variance_with_pi_one():
    # pi = 1 draws every stance from Beta(a, b): mean rho, variance sigma
    n, rho = 200_000, 0.8
    _, _, truth = make_polarized_speech(n, rho=rho, pi=1.0, random_state=1, return_truth=True)
    t = (truth.u + 1) / 2
    assert abs(t.mean() - rho) < 5 * np.sqrt(truth.sigma / n)
    assert t.var() == pytest.approx(truth.sigma, rel=0.02)


def test_two_ten_shape_at_half_is_two_two():
    a, b, sigma = two_ten_shape(0.5)
    assert a == pytest.approx(2.0) and b == pytest.approx(2.0)
    assert sigma == pytest.approx(0.05)
    assert a * b / ((a + b) ** 2 * (a + b + 1)) == pytest.approx(sigma)


def test_party_is_the_sign_of_the_stance_and_rows_sum_to_length():
    X, y, truth = make_polarized_speech(5000, rho=0.7, random_state=3, return_truth=True)
    np.testing.assert_array_equal(y, (truth.u >= 0).astype(int))
    np.testing.assert_array_equal(X.sum(axis=1), 15)
    assert X.dtype == np.int64 and X.shape == (5000, 3)


def test_phi_is_the_notebook_formula_for_three_words():
    eps = 0.05
    _, _, truth = make_polarized_speech(100, epsilon=eps, random_state=0, return_truth=True)
    p = (truth.u + 1) / 2
    expected = np.column_stack([(1 - p) * (1 - eps), p * (1 - eps), np.full(100, eps)])
    np.testing.assert_allclose(truth.phi, expected, atol=1e-12)


def test_word_frequencies_follow_phi():
    X, _, truth = make_polarized_speech(50_000, rho=0.8, random_state=0, return_truth=True)
    freq = X.sum(axis=0) / X.sum()
    np.testing.assert_allclose(freq, truth.phi.mean(axis=0), atol=0.005)


def test_same_seed_same_data_different_seed_different_data():
    a = make_polarized_speech(300, random_state=7)
    b = make_polarized_speech(300, random_state=7)
    c = make_polarized_speech(300, random_state=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_unequal_parties():
    _, y = make_polarized_speech(100_000, rho=0.9, pi=0.54, random_state=0)
    assert y.mean() == pytest.approx(0.54, abs=0.01)


def test_variable_speech_lengths():
    lengths = np.arange(1, 101)
    X, _ = make_polarized_speech(100, speech_len=lengths, random_state=0)
    np.testing.assert_array_equal(X.sum(axis=1), lengths)


def test_large_vocabulary_design():
    theta = pole_vocabularies(10, 0.1)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0)
    # each pole has words the other never uses, and the neutral words are shared
    assert (theta[0] > 0).sum() == 3 + 4 and (theta[1] > 0).sum() == 3 + 4
    np.testing.assert_array_equal(theta[0, 6:], theta[1, 6:])
    X, _ = make_polarized_speech(50, n_features=10, speech_len=40, random_state=0)
    assert X.shape == (50, 10) and (X.sum(axis=1) == 40).all()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"rho": 0.4}, "rho"),
        ({"rho": 1.0}, "rho"),
        ({"epsilon": 1.0}, "epsilon"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"pi": 1.5}, "pi"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_features": 2}, "n_features"),
        ({"speech_len": -1}, "speech_len"),
        ({"speech_len": [1, 2]}, "speech_len"),
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs, name):
    params = {"n_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        make_polarized_speech(**params)


# ---- the bundled 114th-Senate corpus --------------------------------------------------
@pytest.fixture(scope="module")
def senate():
    return load_senate_speeches()


def test_senate_corpus_shape_and_labels(senate):
    import scipy.sparse as sp

    assert sp.issparse(senate.data) and senate.data.format == "csr"
    assert senate.data.shape == (19_009, 14_503)
    assert senate.data.nnz == 1_854_729
    assert len(senate.target) == len(senate.author) == 19_009
    assert len(senate.feature_names) == 14_503
    assert len(set(senate.feature_names)) == 14_503
    assert len(np.unique(senate.author)) == 99
    assert set(senate.target) == {"D", "R", "I"}
    assert senate.target_names.tolist() == ["D", "I", "R"]
    assert np.isin(senate.target, ["D", "R"]).sum() == 18_686
    # every speech has words and every count is a whole number
    assert (senate.data.getnnz(axis=1) > 0).all()
    np.testing.assert_array_equal(senate.data.data, np.round(senate.data.data))
    assert senate.frame is None


def test_senate_speaker_has_one_party(senate):
    parties = {}
    for name, party in zip(senate.author, senate.target, strict=True):
        parties.setdefault(name, set()).add(party)
    assert all(len(p) == 1 for p in parties.values())
    assert parties["Bernard Sanders"] == {"I"} and parties["Mitch Mcconnell"] == {"R"}


def test_senate_descr_carries_the_attribution_and_licence(senate):
    assert "Vafa" in senate.DESCR and "MIT" in senate.DESCR
    from importlib import resources

    licence = (resources.files("skpolar") / "data" / "senate_speeches_114" / "LICENSE")
    assert "Keyon Vafa, Suresh Naidu, David M Blei" in licence.read_text()


def test_senate_as_frame(senate):
    import pandas as pd

    bunch = load_senate_speeches(as_frame=True)
    assert isinstance(bunch.frame, pd.DataFrame)
    assert list(bunch.frame.columns) == ["author", "party"]
    assert bunch.frame.shape == (19_009, 2)
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == "party"
    assert isinstance(bunch.author, pd.Series) and bunch.author.name == "author"
    np.testing.assert_array_equal(bunch.target.to_numpy(), senate.target)
    np.testing.assert_array_equal(bunch.author.to_numpy(), senate.author)
    # the counts stay sparse: dense they would not fit a small machine
    assert bunch.data.format == "csr" and (bunch.data != senate.data).nnz == 0


def test_senate_return_X_y(senate):
    X, y = load_senate_speeches(return_X_y=True)
    assert (X != senate.data).nnz == 0
    np.testing.assert_array_equal(y, senate.target)


def test_senate_data_home_override(tmp_path, senate):
    from importlib import resources

    import scipy.sparse as sp

    # a two-speech corpus laid out like the real one
    folder = tmp_path / "senate-speeches-114"
    folder.mkdir()
    sp.save_npz(folder / "counts.npz", sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0]])))
    np.save(folder / "author_indices.npy", np.array([1, 0]))
    (folder / "author_map.txt").write_text("Ann Lee (D)\nBo Ray (R)\n")
    (folder / "vocabulary.txt").write_text("tax\nwar\nfarm\n")
    small = load_senate_speeches(data_home=tmp_path)
    assert small.data.shape == (2, 3)
    assert small.author.tolist() == ["Bo Ray", "Ann Lee"]
    assert small.target.tolist() == ["R", "D"]
    assert small.feature_names.tolist() == ["tax", "war", "farm"]
    with pytest.raises(FileNotFoundError, match="senate-speeches-114"):
        load_senate_speeches(data_home=tmp_path / "elsewhere")
    # the packaged copy is the default, whatever the working directory
    assert (resources.files("skpolar") / "data" / "senate_speeches_114" / "counts.npz").is_file()


def test_senate_loads_without_shared_folder(tmp_path):
    # a newcomer's machine: no corpus beside the checkout, run from any folder
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    code = ("from skpolar.datasets import load_senate_speeches; "
            "print(load_senate_speeches().data.shape)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(19009, 14503)"


def test_wheel_ships_the_senate_corpus(tmp_path):
    # a non-editable install gets only what the wheel holds, so build one (from a
    # copy: pip builds in the source tree and would leave build/ behind)
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "skpolar", source / "skpolar",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("skpolar-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = root / "skpolar" / "data" / "senate_speeches_114"
    expected = {f"skpolar/data/senate_speeches_114/{p.name}" for p in data.iterdir()}
    assert {"counts.npz", "author_indices.npy", "author_map.txt", "vocabulary.txt",
            "LICENSE", "README.rst"} <= {p.name for p in data.iterdir()}
    assert expected <= names, sorted(expected - names)


def test_given_pole_vocabularies_make_blocks_of_one_model():
    from skpolar.datasets import shared_vocabularies

    poles = shared_vocabularies(40, 1.0, np.random.default_rng(0))
    X1, y1, truth = make_polarized_speech(300, vocabulary=poles, sparse=True, speech_len=20,
                                          random_state=1, return_truth=True)
    X2, _ = make_polarized_speech(300, vocabulary=poles, sparse=True, speech_len=20,
                                  random_state=2)
    np.testing.assert_allclose(truth.theta, poles)
    assert X1.shape == X2.shape == (300, 40)
    assert (X1 != X2).nnz > 0
    for bad in (np.ones((2, 3)), np.ones(3) / 3, [[0.5, 0.5], [1.5, -0.5]], "mixed"):
        with pytest.raises(ValueError, match="vocabulary"):
            make_polarized_speech(10, vocabulary=bad)
