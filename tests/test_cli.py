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


def warning_pixels(png):
    """Pixels in the CLI's warning red: a plot of a fit that went well has none."""
    import matplotlib.colors
    import matplotlib.image

    from skpolar.cli import WARNING_COLOR

    rgb = matplotlib.image.imread(png)[..., :3]
    red = np.array(matplotlib.colors.to_rgb(WARNING_COLOR))
    return int(np.sum(np.all(np.abs(rgb - red) < 0.12, axis=-1)))


def png_description(png):
    from PIL import Image

    with Image.open(png) as image:
        return image.text.get("Description")


def test_fit_writes_outputs(speeches_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = run_fit(speeches_csv, out_dir, "--speaker-column", "speaker")
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0
    assert "not to be trusted" not in out + captured.err
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
    # a fit that went well carries no warning in its figure
    assert warning_pixels(out_dir / "stance_distribution.png") == 0
    assert png_description(out_dir / "stance_distribution.png") is None
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


# ---- options ---------------------------------------------------------------------------
def test_text_and_party_columns_default_to_text_and_party(speeches_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["fit", str(speeches_csv), "--output-dir", str(out_dir), *FAST]) == 0
    assert "300 speeches" in capsys.readouterr().out
    assert (out_dir / "stances.csv").is_file()


def test_encoding(tmp_path, capsys):
    frame = speeches_frame(120)
    frame["text"] = frame["text"] + " d\u00e9fense r\u00e9forme"
    path = tmp_path / "speeches.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    out_dir = tmp_path / "out"
    # read as UTF-8, the accented bytes are invalid: the error names the option
    code = run_fit(path, out_dir)
    assert_one_line_error(capsys, code, out_dir, "cannot read", "--encoding")
    assert run_fit(path, out_dir, "--encoding", "latin-1") == 0
    assert "vocabulary of 11 words" in capsys.readouterr().out  # 9 + d\u00e9fense, r\u00e9forme


def test_unknown_encoding_is_a_usage_error(speeches_csv, capsys):
    assert main(["fit", str(speeches_csv), "--encoding", "klingon"]) == 2
    assert "unknown encoding 'klingon'" in capsys.readouterr().err


def test_stop_words_removed_unless_kept(tmp_path, capsys):
    frame = speeches_frame(120)
    frame["text"] = frame["text"] + " the and of"
    csv = write_csv(tmp_path, frame)
    assert run_fit(csv, tmp_path / "a") == 0
    assert "vocabulary of 9 words" in capsys.readouterr().out
    assert run_fit(csv, tmp_path / "b", "--keep-stop-words") == 0
    assert "vocabulary of 12 words" in capsys.readouterr().out


def test_help_says_stop_words_are_removed_and_lists_exit_statuses(capsys):
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "English stop words" in text and "removed" in text
    assert "--keep-stop-words" in text
    assert "--verbose" in text and "--encoding" in text and "--max-iter" in text
    assert "(default: text)" in text and "(default: party)" in text
    for status in ("0 success", "1 the fit failed", "2 bad input", "3 the fit finished"):
        assert status in text


@pytest.mark.parametrize("flag, expected", [([], 0), (["--verbose"], 1)])
def test_verbose_forces_the_progress_bar(speeches_csv, tmp_path, monkeypatch, capsys,
                                         flag, expected):
    # pytest's stderr is not a terminal, so only --verbose turns the bar on
    from skpolar import PolarizationEstimator

    seen = []
    original = PolarizationEstimator.fit

    def recording_fit(self, X, y, groups=None):
        seen.append(self.verbose)
        return original(self, X, y, groups=groups)

    monkeypatch.setattr(PolarizationEstimator, "fit", recording_fit)
    assert run_fit(speeches_csv, tmp_path / "out", *flag) == 0
    assert seen == [expected]


def test_max_iter_reaches_the_estimator_and_unconverged_fit_exits_3(
    speeches_csv, tmp_path, capsys
):
    out_dir = tmp_path / "out"
    code = run_fit(speeches_csv, out_dir, "--max-iter", "2")
    captured = capsys.readouterr()
    assert code == 3
    assert "iterations: 2, converged: no" in captured.out
    assert "not to be trusted" in captured.out  # on the rho_hat line
    assert "did not converge in 2 iterations" in captured.err
    assert "--max-iter" in captured.err and "exit status 3" in captured.err
    # the outputs are still written, and the figure says what went wrong
    assert (out_dir / "stances.csv").is_file()
    pytest.importorskip("matplotlib")
    png = out_dir / "stance_distribution.png"
    assert "did not converge" in png_description(png)
    assert warning_pixels(png) > 500


def garbage_frame(n=200, random_state=0):
    """Random letter strings: nearly every word occurs in one speech only."""
    rng = np.random.default_rng(random_state)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))

    def word():
        return "".join(rng.choice(letters, rng.integers(3, 8)))

    texts = [" ".join(word() for _ in range(rng.integers(5, 15))) for _ in range(n)]
    return pd.DataFrame({"text": texts, "party": rng.choice(["D", "R"], n)})


def test_degenerate_fit_exits_3_with_a_plain_sentence_and_a_marked_figure(tmp_path,
                                                                          capsys):
    # Before: rho_hat 0.999, exit 0, a clean figure and the warning on stderr only.
    csv = write_csv(tmp_path, garbage_frame())
    out_dir = tmp_path / "out"
    code = run_fit(csv, out_dir, "--min-df", "1")
    captured = capsys.readouterr()
    assert code == 3
    assert "not to be trusted" in captured.out
    err = captured.err
    assert "The fit is degenerate" in err
    assert "says nothing about how polarized" in err and "--min-df" in err
    assert "exit status 3" in err
    assert "Traceback" not in err
    assert (out_dir / "stances.csv").is_file()
    pytest.importorskip("matplotlib")
    png = out_dir / "stance_distribution.png"
    assert "The fit is degenerate" in png_description(png)
    assert warning_pixels(png) > 500


# ---- input errors come before torch ------------------------------------------------------
@pytest.mark.parametrize("case", ["missing column", "one party", "bad encoding",
                                  "empty vocabulary"])
def test_input_errors_do_not_import_torch(tmp_path, case):
    frame = speeches_frame(40)
    if case == "missing column":
        frame = frame.rename(columns={"party": "affiliation"})
    elif case == "one party":
        frame["party"] = "D"
    elif case == "bad encoding":
        frame["text"] = frame["text"] + " r\u00e9forme"
    else:
        frame["text"] = "the and of"
    path = tmp_path / "speeches.csv"
    frame.to_csv(path, index=False, encoding="latin-1" if case == "bad encoding" else "utf-8")
    code = (
        "import sys; from skpolar.cli import main; "
        f"code = main(['fit', {str(path)!r}]); "
        "sys.exit(10 if 'torch' in sys.modules else code)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("skpolar: error: ")


def test_senate_fits_the_bundled_corpus(tmp_path, capsys):
    out_dir = tmp_path / "senate"
    code = main(["senate", "--output-dir", str(out_dir), "--interval", "none",
                 "--grid-size", "40"])
    out = capsys.readouterr().out
    assert code in (0, 3), out  # 3: a warning about the fit, outputs still written
    assert "18,686 speeches by 97 Democrats and Republicans" in out
    speakers = pd.read_csv(out_dir / "speakers.csv")
    assert len(speakers) == 97 and set(speakers["party"]) == {"D", "R"}
    assert speakers["n_speeches"].sum() == 18686
    stances = pd.read_csv(out_dir / "stances.csv")
    assert len(stances) == 18686 and "stance_words_only" in stances


def test_pole_zeros_reaches_the_estimator_and_the_report(speeches_csv, tmp_path, capsys):
    assert run_fit(speeches_csv, tmp_path / "out", "--pole-zeros", "test") == 0
    assert "pole zeros: " in capsys.readouterr().out
    code = run_fit(speeches_csv, tmp_path / "other", "--pole-zeros", "test",
                   "--emission", "loglinear")
    assert_one_line_error(capsys, code, tmp_path / "other", "--pole-zeros test")


def test_bias_correction_reaches_the_estimator_and_the_report(speeches_csv, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert run_fit(speeches_csv, out_dir, "--bias-correction", "crossfit") == 0
    out = capsys.readouterr().out
    assert "(crossfit; maximum likelihood " in out
    # the cross-fit needs the two-pole emission: a one-line error, nothing written
    code = run_fit(speeches_csv, tmp_path / "other", "--bias-correction", "crossfit",
                   "--emission", "loglinear")
    assert_one_line_error(capsys, code, tmp_path / "other", "crossfit")
