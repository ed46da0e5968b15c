"""The ``skpolar`` command line: demo, fit, outputs and one-line errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skpolar import make_polarized_speech
from skpolar.cli import main

FAST = ["--grid-size", "40", "--interval", "none"]
FILLER = np.array(["budget", "senate", "vote", "policy", "today", "people"])


def speeches_frame(n=300, random_state=0):
    """Speeches as text: counts of three words become repeated tokens, plus filler."""
    X, y = make_polarized_speech(n, rho=0.8, speech_len=20, random_state=random_state)
    rng = np.random.default_rng(random_state)
    texts = [
        " ".join(["left"] * a + ["right"] * b + ["neutral"] * c + list(rng.choice(FILLER, 3)))
        for a, b, c in X
    ]
    party = np.where(y == 1, "R", "D")
    # a speaker keeps one party: twelve speakers per party share its speeches
    return pd.DataFrame(
        {
            "text": texts,
            "party": party,
            "speaker": [f"{p}-senator{i % 12}" for i, p in enumerate(party)],
        }
    )


@pytest.fixture(scope="module")
def speeches_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "speeches.csv"
    speeches_frame().to_csv(path, index=False)
    return path


def run_fit(csv, out, *extra):
    return main(["fit", str(csv), "--text-column", "text", "--party-column", "party",
                 "--output-dir", str(out), *FAST, *extra])


def assert_one_line_error(capsys, code, out_dir, *fragments):
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("skpolar: error: ")
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_demo_prints_truth_and_estimate(capsys):
    code = main(["demo", "--n-samples", "400", "--rho", "0.7", "--interval", "none"])
    out = capsys.readouterr().out
    assert code == 0
    assert "true rho = 0.7000" in out
    assert "rho_hat" in out
    for word in ("alpha", "beta", "pi", "iterations", "converged", "fit time"):
        assert word in out


def test_demo_prints_interval(capsys):
    assert main(["demo", "--n-samples", "400", "--random-state", "2"]) == 0
    out = capsys.readouterr().out
    assert "95% profile interval [" in out


def test_demo_bad_rho_is_one_line_error(capsys, tmp_path):
    code = main(["demo", "--rho", "1.5"])
    assert_one_line_error(capsys, code, tmp_path / "none", "rho")


def test_fit_writes_outputs(speeches_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = run_fit(speeches_csv, out_dir, "--speaker-column", "speaker")
    out = capsys.readouterr().out
    assert code == 0
    assert "rho_hat = 0." in out
    assert "300 speeches" in out
    assert "vocabulary of 9 words" in out
    assert "iterations" in out and "converged" in out and "fit time" in out

    stances = pd.read_csv(out_dir / "stances.csv")
    assert list(stances.columns) == [
        "row", "party", "speaker", "stance_given_party", "stance_given_party_sd",
        "stance_words_only", "stance_words_only_sd",
    ]
    assert len(stances) == 300
    assert stances["row"].tolist() == list(range(300))
    # given the party, the stance lies on that party's side (R is classes_[1])
    right = stances["party"] == "R"
    assert (stances.loc[right, "stance_given_party"] >= 0).all()
    assert (stances.loc[~right, "stance_given_party"] <= 0).all()
    assert (stances["stance_given_party_sd"] > 0).all()
    assert stances["stance_words_only"].between(-1, 1).all()

    speakers = pd.read_csv(out_dir / "speakers.csv")
    assert list(speakers.columns) == [
        "speaker", "n_speeches", "n_words", "party",
        "stance_given_party", "stance_given_party_sd", "stance_given_party_low",
        "stance_given_party_high", "stance_words_only", "stance_words_only_sd",
        "stance_words_only_low", "stance_words_only_high", "p_right",
    ]
    assert len(speakers) == 24
    assert speakers["n_speeches"].sum() == 300
    assert set(speakers["party"]) == {"D", "R"}
    assert (speakers["stance_given_party_low"] <= speakers["stance_given_party"]).all()
    assert speakers["p_right"].between(0, 1).all()
    assert "speakers: 24" in out

    pytest.importorskip("matplotlib")
    assert (out_dir / "stance_distribution.png").stat().st_size > 0
    # the staging folder is gone
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "speakers.csv", "stance_distribution.png", "stances.csv"
    ]


def test_fit_without_speaker_column(speeches_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert run_fit(speeches_csv, out_dir, "--max-features", "5") == 0
    assert "vocabulary of 5 words" in capsys.readouterr().out
    stances = pd.read_csv(out_dir / "stances.csv")
    assert "speaker" not in stances.columns
    assert not (out_dir / "speakers.csv").exists()


def test_fit_drops_empty_texts(tmp_path, capsys):
    frame = speeches_frame(120)
    frame.loc[[3, 7], "text"] = np.nan
    frame.loc[10, "text"] = "   "
    csv = tmp_path / "speeches.csv"
    frame.to_csv(csv, index=False)
    out_dir = tmp_path / "out"
    assert run_fit(csv, out_dir) == 0
    assert "dropped 3 row(s) with empty text" in capsys.readouterr().out
    stances = pd.read_csv(out_dir / "stances.csv")
    assert len(stances) == 117
    assert not {3, 7, 10} & set(stances["row"])


def write_csv(tmp_path, frame):
    path = tmp_path / "speeches.csv"
    frame.to_csv(path, index=False)
    return path


def test_missing_file(tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = run_fit(tmp_path / "nope.csv", out_dir)
    assert_one_line_error(capsys, code, out_dir, "file not found", "nope.csv")


def test_unreadable_csv(tmp_path, capsys):
    path = tmp_path / "speeches.csv"
    path.write_bytes(b'text,party\n"unclosed quote,D\n')
    out_dir = tmp_path / "out"
    code = run_fit(path, out_dir)
    assert_one_line_error(capsys, code, out_dir, "cannot read")


def test_empty_csv(tmp_path, capsys):
    path = tmp_path / "speeches.csv"
    path.write_text("")
    out_dir = tmp_path / "out"
    code = run_fit(path, out_dir)
    assert_one_line_error(capsys, code, out_dir, "cannot read")


def test_missing_column(tmp_path, capsys):
    csv = write_csv(tmp_path, speeches_frame(50).rename(columns={"party": "affiliation"}))
    out_dir = tmp_path / "out"
    code = run_fit(csv, out_dir)
    assert_one_line_error(
        capsys, code, out_dir, "'party'", "--party-column", "'text'", "'affiliation'"
    )


def test_missing_speaker_column(speeches_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = run_fit(speeches_csv, out_dir, "--speaker-column", "author")
    assert_one_line_error(capsys, code, out_dir, "'author'", "available columns")


@pytest.mark.parametrize("parties, found", [(["D"], "found 1: 'D'"),
                                            (["D", "R", "I"], "found 3: 'D', 'I', 'R'")])
def test_not_two_parties(tmp_path, capsys, parties, found):
    frame = speeches_frame(60)
    frame["party"] = [parties[i % len(parties)] for i in range(len(frame))]
    out_dir = tmp_path / "out"
    code = run_fit(write_csv(tmp_path, frame), out_dir)
    assert_one_line_error(capsys, code, out_dir, "exactly two parties", found, "filter")


def test_all_texts_empty(tmp_path, capsys):
    frame = speeches_frame(20)
    frame["text"] = ""
    out_dir = tmp_path / "out"
    code = run_fit(write_csv(tmp_path, frame), out_dir)
    assert_one_line_error(capsys, code, out_dir, "no text")


@pytest.mark.parametrize("texts, extra", [
    (["the and of", "it is the"] * 5, []),  # stop words only
    ([f"word{i}" for i in range(10)], ["--min-df", "2"]),  # every word is rare
])
def test_empty_vocabulary(tmp_path, capsys, texts, extra):
    frame = pd.DataFrame({"text": texts, "party": ["D", "R"] * 5})
    out_dir = tmp_path / "out"
    code = run_fit(write_csv(tmp_path, frame), out_dir, *extra)
    assert_one_line_error(capsys, code, out_dir, "vocabulary is empty", "--min-df")


def test_output_dir_is_a_file(speeches_csv, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    code = run_fit(speeches_csv, target)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().startswith("skpolar: error: --output-dir")
    assert target.read_text() == "not a folder"


def test_usage_error_and_help(capsys):
    assert main(["fit"]) == 2
    assert "required" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
    assert main([]) == 2


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "skpolar", "fit", str(tmp_path / "missing.csv"),
         "--text-column", "text", "--party-column", "party"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"skpolar: error: file not found: {tmp_path / 'missing.csv'}"
    ]
    assert list(tmp_path.iterdir()) == []


def test_fit_without_matplotlib(speeches_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("skpolar.cli._has_matplotlib", lambda: False)
    out_dir = tmp_path / "out"
    assert run_fit(speeches_csv, out_dir) == 0
    assert "pip install matplotlib" in capsys.readouterr().out
    assert sorted(p.name for p in out_dir.iterdir()) == ["stances.csv"]


def test_failed_fit_is_one_line_and_writes_nothing(speeches_csv, tmp_path, capsys,
                                                   monkeypatch):
    def broken_fit(self, X, y, groups=None):
        raise ValueError("the optimizer gave up\nsecond line")

    monkeypatch.setattr("skpolar.PolarizationEstimator.fit", broken_fit)
    out_dir = tmp_path / "out"
    assert run_fit(speeches_csv, out_dir) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["skpolar: error: the fit failed: the optimizer gave up"]
    assert not out_dir.exists()


def test_help_answers_without_importing_torch():
    code = (
        "import sys; from skpolar.cli import main; "
        "main(['--help']); main(['--version']); "
        "sys.exit(3 if 'torch' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout and "skpolar 0.1.0" in result.stdout


def test_fit_a_speaker_under_both_parties_is_one_line_error(tmp_path, capsys):
    frame = speeches_frame()
    frame.loc[0, "speaker"] = frame.loc[frame["party"] != frame.loc[0, "party"], "speaker"].iloc[0]
    csv = tmp_path / "mixed.csv"
    frame.to_csv(csv, index=False)
    out_dir = tmp_path / "out"
    code = run_fit(csv, out_dir, "--speaker-column", "speaker")
    assert_one_line_error(capsys, code, out_dir, "both parties", frame.loc[0, "speaker"])
