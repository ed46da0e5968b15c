"""Command line interface: ``skpolar demo`` and ``skpolar fit speeches.csv``.

Run as ``skpolar ...`` (the console script) or ``python -m skpolar ...``.

Exit status: 0 when the fit is fine; 1 when the fit failed (nothing written);
2 for bad input or usage (nothing written); 3 when the fit finished but is
degenerate or did not converge (outputs written, the figure marked); 130 when
interrupted.
"""

import argparse
import codecs
import os
import shutil
import sys
import tempfile
import textwrap
import time
import warnings

import numpy as np

PROG = "skpolar"

# exit statuses, documented in the module docstring, the --help epilog and docs/cli.rst
EXIT_OK = 0
EXIT_FIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNTRUSTED_FIT = 3
EXIT_INTERRUPTED = 130

# the warning drawn across the figure of an untrusted fit; no plot uses this red
WARNING_COLOR = "#B00000"

EXIT_STATUS_HELP = """\
exit status:
  0    success
  1    the fit failed; nothing written
  2    bad input or usage; nothing written
  3    the fit finished but is degenerate or did not converge: the outputs are
       written and the figure says so, but the numbers are not to be trusted
  130  interrupted
"""


class CLIError(Exception):
    """A problem with the user's input, reported as one line and exit code 2.

    Examples
    --------
    >>> from skpolar.cli import CLIError
    >>> str(CLIError("column 'party' not found"))
    "column 'party' not found"
    """


def main(argv=None):
    """Run the ``skpolar`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    code : int
        0 on success, 2 for bad input (one ``skpolar: error: ...`` line on
        stderr, nothing written), 1 when the fit itself fails, 3 when the fit
        finished but is degenerate or did not converge (outputs written, with
        a plain-English warning on stderr and in the figure).

    Examples
    --------
    >>> import contextlib, io
    >>> from skpolar.cli import main
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     code = main(["demo", "--n-samples", "500", "--interval", "none"])
    >>> code, "rho_hat" in out.getvalue()
    (0, True)
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits on --help and on usage errors; a caller of main()
        # wants the code back instead
        return 0 if exc.code is None else int(exc.code)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser():
    """The argument parser of the ``skpolar`` command.

    Returns
    -------
    parser : argparse.ArgumentParser

    Examples
    --------
    >>> from skpolar.cli import build_parser
    >>> args = build_parser().parse_args(["demo", "--rho", "0.7"])
    >>> args.command, args.rho, args.n_samples
    ('demo', 0.7, 10000)
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Polarization and stances of a two-party population from speech.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="fit synthetic speeches with a known rho and compare",
        description="""\
Generate speeches with a known polarization rho, fit PolarizationEstimator and
print the estimate against the truth.""",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--n-samples", type=_positive_int, default=10000,
                      help="number of speeches (default: %(default)s)")
    demo.add_argument("--rho", type=float, default=0.8,
                      help="true polarization, in [0.5, 1) (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0,
                      help="seed of the data and the fit (default: %(default)s)")
    demo.add_argument("--interval", choices=("profile", "bootstrap", "none"),
                      default="profile", help="interval for rho (default: %(default)s)")
    demo.add_argument("--verbose", action="store_true",
                      help="show progress bars on stderr even when it is not a terminal")
    demo.set_defaults(func=_run_demo)

    senate = sub.add_parser(
        "senate",
        help="fit the bundled 114th-Senate speeches and write senator stances",
        description="""Fit PolarizationEstimator to the 114th US Senate floor speeches that ship with
skpolar (Vafa, Naidu and Blei, 2020; Democrats and Republicans, 18,686
speeches, 14,503 terms) with one stance per senator, and write speakers.csv,
stances.csv and stance_distribution.png to --output-dir (see `skpolar fit
--help` for their columns).""",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    senate.add_argument("--output-dir", default=".", metavar="DIR",
                        help="where the outputs go (default: current directory)")
    senate.add_argument("--speech-level", action="store_true",
                        help="give every speech its own stance instead of one per senator")
    senate.add_argument("--interval", choices=("profile", "bootstrap", "none"),
                        default="profile", help="interval for rho (default: %(default)s)")
    senate.add_argument("--bias-correction",
                        choices=("auto", "none", "crossfit", "bootstrap", "jackknife"),
                        default="auto",
                        help="estimate rho by cross-fitting the stance axis, or correct it by "
                        "a parametric bootstrap or a split-half jackknife; auto cross-fits "
                        "when there are at least as many terms as speeches; see "
                        "PolarizationEstimator's bias_correction (default: %(default)s)")
    senate.add_argument("--grid-size", type=_positive_int, default=200,
                        help="grid nodes on each side of zero (default: %(default)s)")
    senate.add_argument("--random-state", type=int, default=0,
                        help="seed of the fit (default: %(default)s)")
    senate.add_argument("--verbose", action="store_true",
                        help="show progress bars on stderr even when it is not a terminal")
    senate.set_defaults(func=_run_senate)

    fit = sub.add_parser(
        "fit",
        help="fit speeches from a CSV file and write stances",
        description="""\
Fit PolarizationEstimator to the speeches of a CSV file (one speech per row,
with a text column and a party column holding exactly two parties) and write
stances.csv, speakers.csv (with --speaker-column) and stance_distribution.png
to --output-dir.

The text is lower-cased and split into words of two or more letters or digits,
and English stop words (scikit-learn's list of 318, such as "the", "and",
"of") are removed; --keep-stop-words keeps them.""",
        epilog="""\
speakers:
  With --speaker-column every speaker gets one stance from all of their
  speeches (a speaker must keep one party) and rho is the polarization of the
  speakers; without it every speech is its own speaker.

outputs:
  stances.csv   one row per speech: row (0-based data row of the CSV), party,
                speaker (with --speaker-column), stance_given_party and
                stance_given_party_sd (posterior mean and sd of the speech's
                stance given its party), stance_words_only and
                stance_words_only_sd (from its words alone)
  speakers.csv  one row per speaker (with --speaker-column): speaker,
                n_speeches, n_words, party, stance_given_party with its sd and
                95% interval (_low, _high), stance_words_only with its sd and
                95% interval, p_right (the words-only probability that the
                speaker sits on the positive side)
  stance_distribution.png
                the stances by party, given the party (bars) and from the
                words alone (outlines), against the fitted prior density
                (needs matplotlib)
  Stances are in [-1, 1]; the party whose label sorts second is the positive
  side. Given the party a stance cannot cross zero; the words-only stance can.

""" + EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("csv", help="CSV file, one speech per row")
    fit.add_argument("--text-column", default="text", metavar="TEXT",
                     help="column holding the speech text (default: %(default)s)")
    fit.add_argument("--party-column", default="party", metavar="PARTY",
                     help="column holding the party; exactly two distinct values "
                     "(default: %(default)s)")
    fit.add_argument("--speaker-column", metavar="S",
                     help="column naming the speaker; adds speakers.csv")
    fit.add_argument("--encoding", type=_encoding, default="utf-8",
                     help="text encoding of the CSV file, e.g. latin-1 or cp1252 "
                     "(default: %(default)s)")
    fit.add_argument("--output-dir", default=".", metavar="DIR",
                     help="where the outputs go (default: current directory)")
    fit.add_argument("--min-df", type=_min_df, default=2,
                     help="ignore words in fewer speeches than this (a count, or a "
                     "share in (0, 1)) (default: %(default)s)")
    fit.add_argument("--max-features", type=_positive_int, default=None, metavar="N",
                     help="keep only the N most frequent words")
    fit.add_argument("--keep-stop-words", action="store_true",
                     help="keep English stop words such as 'the' and 'and' (by "
                     "default they are removed)")
    fit.add_argument("--grid-size", type=_positive_int, default=200,
                     help="grid nodes on each side of zero (default: %(default)s)")
    fit.add_argument("--emission", choices=("two_pole", "loglinear", "softmax"),
                     default="two_pole", help="word model (default: %(default)s)")
    fit.add_argument("--max-iter", type=_positive_int, default=None, metavar="N",
                     help="most solver iterations of the fit (default: "
                     "PolarizationEstimator's max_iter)")
    fit.add_argument("--interval", choices=("profile", "bootstrap", "none"),
                     default="profile", help="interval for rho (default: %(default)s)")
    fit.add_argument("--bias-correction",
                     choices=("auto", "none", "crossfit", "bootstrap", "jackknife"),
                     default="auto",
                     help="estimate rho by cross-fitting the stance axis, or correct it by "
                     "a parametric bootstrap or a split-half jackknife; auto cross-fits "
                     "when there are at least as many terms as speeches; see "
                     "PolarizationEstimator's bias_correction (default: %(default)s)")
    fit.add_argument("--pole-zeros", choices=("free", "test"), default="free",
                     help="test: hold each pole's line-end word at zero unless the data "
                     "reject it, for vocabularies where each side has words the other never "
                     "says; see PolarizationEstimator's pole_zeros (default: %(default)s)")
    fit.add_argument("--n-bootstrap", type=_positive_int, default=200,
                     help="replicates for --interval bootstrap (default: %(default)s)")
    fit.add_argument("--n-jobs", type=int, default=None,
                     help="parallel workers for --interval bootstrap")
    fit.add_argument("--random-state", type=int, default=0,
                     help="seed of the fit (default: %(default)s)")
    fit.add_argument("--verbose", action="store_true",
                     help="show progress bars on stderr even when it is not a "
                     "terminal (a log file, a pipe)")
    fit.set_defaults(func=_run_fit)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _encoding(text):
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {text!r}") from None


def _min_df(text):
    # CountVectorizer reads an int as a count and a float as a share of documents
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"must be a count >= 1 or a share in (0, 1], got {text!r}"
        )
    return value


# ---- demo --------------------------------------------------------------------------
def _run_demo(args):
    """The ``demo`` subcommand: fit synthetic data and print the estimate."""
    from . import PolarizationEstimator, make_polarized_speech

    try:
        X, y = make_polarized_speech(args.n_samples, rho=args.rho,
                                     random_state=args.random_state)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    est = PolarizationEstimator(
        interval=None if args.interval == "none" else args.interval,
        random_state=args.random_state,
    )
    print(f"Synthetic speeches: {args.n_samples:,}, {X.shape[1]} words, "
          f"{int(X.sum(axis=1).mean())} words each")
    fitted = _fit(est, X, y, verbose=args.verbose)
    if fitted is None:
        return EXIT_FIT_FAILED
    est, seconds, problems = fitted
    print(f"true rho = {args.rho:.4f}")
    print(f"rho_hat  = {_format_rho(est, problems)}")
    _print_diagnostics(est, seconds)
    return _report_problems(problems)


# ---- senate ------------------------------------------------------------------------
def _run_senate(args):
    """The ``senate`` subcommand: the bundled corpus, one stance per senator."""
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise CLIError(f"--output-dir {args.output_dir} exists and is not a directory")
    import pandas as pd

    from . import PolarizationEstimator
    from .datasets import load_senate_speeches

    corpus = load_senate_speeches()
    keep = np.isin(corpus.target, ["D", "R"])
    X, parties, authors = corpus.data[keep], corpus.target[keep], corpus.author[keep]
    print(f"114th Senate: {X.shape[0]:,} speeches by {len(np.unique(authors))} Democrats "
          f"and Republicans, vocabulary of {X.shape[1]:,} terms")
    est = PolarizationEstimator(
        grid_size=args.grid_size,
        interval=None if args.interval == "none" else args.interval,
        bias_correction=_bias_correction(args),
        random_state=args.random_state,
    )
    frame = pd.DataFrame(index=pd.RangeIndex(X.shape[0]))
    groups = None if args.speech_level else authors
    return _fit_and_write(est, X, parties, frame, authors, groups, args)


# ---- fit ---------------------------------------------------------------------------
def _run_fit(args):
    """The ``fit`` subcommand: fit a CSV of speeches and write the stances."""
    # Everything about the input is checked before torch is imported (by the
    # estimator), which takes seconds: a typo in a column name should not.
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise CLIError(f"--output-dir {args.output_dir} exists and is not a directory")
    for option, value in (("--bias-correction", args.bias_correction),
                          ("--pole-zeros", args.pole_zeros)):
        if value in ("crossfit", "test") and args.emission != "two_pole":
            raise CLIError(f"{option} {value} needs --emission two_pole (got {args.emission})")
    frame = _read_csv(args.csv, args.encoding)
    text_col, party_col, speaker_col = (
        args.text_column, args.party_column, args.speaker_column
    )
    for option, column in (("--text-column", text_col), ("--party-column", party_col),
                           ("--speaker-column", speaker_col)):
        if column is not None and column not in frame.columns:
            available = ", ".join(repr(str(c)) for c in frame.columns)
            raise CLIError(
                f"{option}: column {column!r} not found in {args.csv}; "
                f"available columns: {available}"
            )

    text = frame[text_col]
    empty = text.isna() | text.astype(str).str.strip().eq("")
    if empty.all():
        raise CLIError(f"column {text_col!r} holds no text: every row is empty or missing")
    no_party = frame[party_col].isna()
    keep = ~(empty | no_party)
    if empty.any():
        print(f"note: dropped {int(empty.sum()):,} row(s) with empty text")
    if (no_party & ~empty).any():
        print(f"note: dropped {int((no_party & ~empty).sum()):,} row(s) with no party")
    frame = frame[keep]
    if frame.empty:
        raise CLIError("no rows remain after dropping rows with empty text or no party")

    parties = frame[party_col].to_numpy()
    found = sorted({str(p) for p in parties})
    if len(found) != 2:
        shown = ", ".join(repr(p) for p in found[:10]) + (", ..." if len(found) > 10 else "")
        raise CLIError(
            f"column {party_col!r} must hold exactly two parties, found {len(found)}: "
            f"{shown}; filter the CSV to two parties first"
        )

    speakers = None
    if speaker_col is not None:
        speakers = frame[speaker_col].astype(str).to_numpy()
        sides = frame.groupby(speakers)[party_col].nunique()
        mixed = sides.index[sides > 1].tolist()
        if mixed:
            shown = ", ".join(repr(m) for m in mixed[:5]) + (", ..." if len(mixed) > 5 else "")
            raise CLIError(
                f"{len(mixed)} speaker(s) in {speaker_col!r} have speeches under both "
                f"parties ({shown}); a speaker has one stance and so one party: fix "
                "the labels or give each spell its own speaker name"
            )
        print(f"speakers: {len(sides):,} (one stance each, from all their speeches)")

    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        stop_words=None if args.keep_stop_words else "english",
        min_df=args.min_df, max_features=args.max_features,
    )
    try:
        X = vectorizer.fit_transform(frame[text_col].astype(str))
    except ValueError as exc:
        hint = "" if args.keep_stop_words else " or pass --keep-stop-words"
        raise CLIError(
            f"the vocabulary is empty ({exc.args[0].rstrip('.')}); lower --min-df{hint}, "
            f"or check --text-column {text_col!r}"
        ) from None
    print(f"{X.shape[0]:,} speeches, vocabulary of {X.shape[1]:,} words")
    wordless = int(np.sum(X.getnnz(axis=1) == 0))
    if wordless:
        print(f"note: {wordless:,} speech(es) use no vocabulary word; their stance "
              "comes from the party alone")

    from . import PolarizationEstimator

    est = PolarizationEstimator(
        emission=args.emission, grid_size=args.grid_size,
        interval=None if args.interval == "none" else args.interval,
        n_bootstrap=args.n_bootstrap, n_jobs=args.n_jobs,
        bias_correction=_bias_correction(args), pole_zeros=args.pole_zeros,
        random_state=args.random_state,
    )
    if args.max_iter is not None:
        est.set_params(max_iter=args.max_iter)
    return _fit_and_write(est, X, parties, frame, speakers, speakers, args)


def _fit_and_write(est, X, parties, frame, speakers, groups, args):
    """Fit (one stance per group when ``groups`` is given), report, write the outputs."""
    fitted = _fit(est, X, parties, verbose=args.verbose, groups=groups)
    if fitted is None:
        return EXIT_FIT_FAILED
    est, seconds, problems = fitted
    left, right = est.classes_
    print(f"stance < 0: {left}, stance >= 0: {right}")
    print(f"rho_hat = {_format_rho(est, problems)}")
    _print_diagnostics(est, seconds)
    outputs = _outputs(est, X, parties, frame, speakers)
    written = _write_outputs(outputs, args.output_dir, est, X, parties, problems, groups)
    for path in written:
        print(f"wrote {path}")
    return _report_problems(problems)


def _read_csv(path, encoding="utf-8"):
    import pandas as pd

    if not os.path.exists(path):
        raise CLIError(f"file not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory, not a CSV file")
    if not os.access(path, os.R_OK):
        raise CLIError(f"cannot read {path}: permission denied")
    try:
        frame = pd.read_csv(path, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise CLIError(
            f"cannot read {path} as {encoding} text ({exc.reason} at byte "
            f"{exc.start}); pass the file's encoding, e.g. --encoding latin-1"
        ) from None
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CLIError(f"cannot read {path} as CSV: {reason}") from None
    if frame.empty:
        raise CLIError(f"{path} holds no rows")
    return frame


def _outputs(est, X, parties, frame, speakers):
    """The tables to write, as {file name: DataFrame}."""
    import pandas as pd

    mean, sd = est.stance(X, parties, return_std=True)
    words, words_sd = est.stance(X, return_std=True)
    table = {"row": frame.index.to_numpy(), "party": parties}
    if speakers is not None:
        table["speaker"] = speakers
    table["stance_given_party"] = mean
    table["stance_given_party_sd"] = sd
    table["stance_words_only"] = words
    table["stance_words_only_sd"] = words_sd
    outputs = {"stances.csv": pd.DataFrame(table)}
    if speakers is not None:
        per_speaker = est.speaker_stance(X, parties, groups=speakers)
        # the CSV spells out which posterior each column summarizes
        names = {"stance": "stance_given_party", "words_stance": "stance_words_only"}
        per_speaker = per_speaker.rename(columns={
            column: names[stem] + column[len(stem):]
            for column in per_speaker.columns
            for stem in ("words_stance", "stance")
            if column.startswith(stem)
        })
        outputs["speakers.csv"] = per_speaker.reset_index()
    return outputs


def _write_outputs(outputs, output_dir, est, X, parties, problems=(), speakers=None):
    """Write every output to a temporary folder, then move them all into place."""
    try:
        os.makedirs(output_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".skpolar-", dir=output_dir)
    except OSError as exc:
        raise CLIError(f"cannot write to --output-dir {output_dir}: {exc.strerror}") from None
    try:
        for name, table in outputs.items():
            table.to_csv(os.path.join(staging, name), index=False)
        if _has_matplotlib():
            _save_plot(est, X, parties, os.path.join(staging, "stance_distribution.png"),
                       note=" ".join(problems), speakers=speakers)
        else:
            print("note: matplotlib is not installed, so stance_distribution.png was "
                  "not drawn (pip install matplotlib)")
        written = []
        for name in sorted(os.listdir(staging)):
            target = os.path.join(output_dir, name)
            os.replace(os.path.join(staging, name), target)
            written.append(target)
        return written
    except OSError as exc:
        raise CLIError(f"cannot write to --output-dir {output_dir}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _save_plot(est, X, parties, path, note="", speakers=None):
    # a headless backend: the CLI saves files and never opens windows
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plotting import plot_stance_distribution

    ax = plot_stance_distribution(est, X, parties, groups=speakers)
    metadata = None
    if note:
        # A figure travels without the terminal output beside it, so an untrusted
        # fit must not look like a clean one: the warning goes across the plot.
        ax.text(0.5, 0.5, "WARNING\n" + textwrap.fill(note, 58), transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color=WARNING_COLOR, zorder=10,
                bbox=dict(boxstyle="round", facecolor="white", edgecolor=WARNING_COLOR,
                          linewidth=2, alpha=0.93))
        metadata = {"Description": note}
    ax.figure.savefig(path, dpi=120, metadata=metadata)
    plt.close(ax.figure)


# ---- shared ------------------------------------------------------------------------
def _fit(est, X, y, verbose=False, groups=None):
    """Fit, with a progress bar on a terminal or with ``verbose``.

    Returns ``(est, seconds, problems)``, where ``problems`` lists plain-English
    sentences on why the result is not to be trusted (empty when it is fine), or
    None when the fit failed.
    """
    start = time.perf_counter()
    if verbose or _stderr_is_tty():
        est.set_params(verbose=1)  # tqdm bars for the fit and the interval
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # torch's notice about its sparse tensors says nothing about the fit
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            est.fit(X, y, groups=groups)
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{PROG}: error: the fit failed: {message}", file=sys.stderr)
        return None
    seconds = time.perf_counter() - start

    from sklearn.exceptions import ConvergenceWarning

    from .estimator import DegenerateFitWarning

    degenerate = any(issubclass(w.category, DegenerateFitWarning) for w in caught)
    unconverged = not est.converged_ or any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    seen = set()
    for w in caught:
        text = str(w.message).strip()
        # the two warnings a user must act on get a plain sentence instead
        known = issubclass(w.category, (DegenerateFitWarning, ConvergenceWarning))
        if text and text not in seen and not known and not issubclass(
            w.category, DeprecationWarning
        ):
            seen.add(text)
            print(f"{PROG}: warning: {text}", file=sys.stderr)
    return est, seconds, _problems(est, degenerate, unconverged)


def _problems(est, degenerate, unconverged):
    """Plain-English sentences on why a finished fit is not to be trusted."""
    problems = []
    if degenerate:
        spread = 2 * est.rho_ - 1
        where = (
            "onto a single point, u = 0" if spread < 0.005
            else f"onto two points, u = -{spread:.3f} and u = +{spread:.3f}"
        )
        if est.emission == "softmax":
            cause = ("The softmax emission is not identified: use --emission "
                     "two_pole or loglinear.")
        else:
            cause = ("This happens when the words tell the parties apart too easily, "
                     "typically when most words occur in a single speech: raise "
                     "--min-df, lower --max-features or add speeches.")
        problems.append(
            f"The fit is degenerate: the stances collapsed {where}, so rho_hat = "
            f"{est.rho_:.4f} says nothing about how polarized the speakers are. {cause}"
        )
    if unconverged:
        problems.append(
            f"The fit did not converge in {est.max_iter} iterations, so rho_hat and "
            "the stances may still be far from the optimum: rerun with a larger "
            "--max-iter."
        )
    return problems


def _report_problems(problems):
    """Print the sentences of an untrusted fit and return the exit status."""
    if not problems:
        return EXIT_OK
    for sentence in problems:
        print(f"{PROG}: warning: {sentence}", file=sys.stderr)
    print(f"{PROG}: the results above are not to be trusted (exit status "
          f"{EXIT_UNTRUSTED_FIT}).", file=sys.stderr)
    return EXIT_UNTRUSTED_FIT


def _stderr_is_tty():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _bias_correction(args):
    return None if args.bias_correction == "none" else args.bias_correction


def _format_rho(est, problems=()):
    text = f"{est.rho_:.4f}"
    correction = getattr(est, "bias_correction_", None)
    if correction is not None:
        text += f" ({correction}; maximum likelihood {est.rho_mle_:.4f})"
    ci = np.asarray(getattr(est, "rho_ci_", [np.nan, np.nan]), dtype=float)
    kind = {"profile": "profile", "bootstrap": "bootstrap"}.get(est.interval)
    if kind is not None and np.all(np.isfinite(ci)):
        text += f"  95% {kind} interval [{ci[0]:.4f}, {ci[1]:.4f}]"
    elif kind is None:
        text += "  (no interval: --interval none)"
    else:
        text += "  (interval could not be computed)"
    if np.isfinite(getattr(est, "rho_se_", np.nan)):
        text += f"  se {est.rho_se_:.4f}"
    if problems:
        text += "  [not to be trusted: see the warning]"
    return text


def _print_diagnostics(est, seconds):
    print(f"alpha = {est.alpha_:.4g}, beta = {est.beta_:.4g}, pi = {est.pi_:.4f}")
    print(f"iterations: {est.n_iter_}, converged: {'yes' if est.converged_ else 'no'}, "
          f"fit time: {seconds:.2f} s")
    if getattr(est, "pole_zeros", "free") == "test":
        pinned = int(est.pole_zeros_.sum())
        print(f"pole zeros: {pinned} pinned (likelihood-ratio statistic "
              f"{est.pole_zero_statistic_:.3f})")
