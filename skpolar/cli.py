"""Command line interface: ``skpolar demo`` and ``skpolar fit speeches.csv``.

Run as ``skpolar ...`` (the console script) or ``python -m skpolar ...``.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

PROG = "skpolar"


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
        stderr, nothing written), 1 when the fit itself fails.

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
        return 2
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


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
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="fit synthetic speeches with a known rho and compare",
        description="Generate speeches with a known polarization rho, fit "
        "PolarizationEstimator and print the estimate against the truth.",
    )
    demo.add_argument("--n-samples", type=_positive_int, default=10000,
                      help="number of speeches (default: %(default)s)")
    demo.add_argument("--rho", type=float, default=0.8,
                      help="true polarization, in [0.5, 1) (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0,
                      help="seed of the data and the fit (default: %(default)s)")
    demo.add_argument("--interval", choices=("profile", "bootstrap", "none"),
                      default="profile", help="interval for rho (default: %(default)s)")
    demo.set_defaults(func=_run_demo)

    fit = sub.add_parser(
        "fit",
        help="fit speeches from a CSV file and write stances",
        description="Fit PolarizationEstimator to the speeches of a CSV file "
        "(one speech per row) and write stances.csv, speakers.csv (with "
        "--speaker-column) and stance_distribution.png.",
        epilog="With --speaker-column every speaker gets one stance from all their "
        "speeches (a speaker must keep one party) and rho is the polarization of the "
        "speakers; without it every speech is its own speaker. "
        "stances.csv, one row per speech: row (0-based data row of the CSV), party, "
        "speaker, stance_given_party and stance_given_party_sd (posterior mean and sd "
        "of the speech's stance given its party), stance_words_only and "
        "stance_words_only_sd (from its words alone). "
        "speakers.csv, one row per speaker: speaker, n_speeches, n_words, party, "
        "stance_given_party with its sd and 95%% interval (_low, _high), "
        "stance_words_only with its sd and 95%% interval, and p_right (probability, "
        "from the words alone, that the speaker sits on the positive side). Stances "
        "are in [-1, 1]; the party whose label sorts second is the positive side. "
        "Given the party a stance cannot cross zero; the words-only stance can.",
    )
    fit.add_argument("csv", help="CSV file, one speech per row")
    fit.add_argument("--text-column", required=True, metavar="TEXT",
                     help="column holding the speech text")
    fit.add_argument("--party-column", required=True, metavar="PARTY",
                     help="column holding the party; exactly two distinct values")
    fit.add_argument("--speaker-column", metavar="S",
                     help="column naming the speaker; adds speakers.csv")
    fit.add_argument("--output-dir", default=".", metavar="DIR",
                     help="where the outputs go (default: current directory)")
    fit.add_argument("--min-df", type=_min_df, default=2,
                     help="ignore words in fewer speeches than this (a count, or a "
                     "share in (0, 1)) (default: %(default)s)")
    fit.add_argument("--max-features", type=_positive_int, default=None, metavar="N",
                     help="keep only the N most frequent words")
    fit.add_argument("--grid-size", type=_positive_int, default=200,
                     help="grid nodes on each side of zero (default: %(default)s)")
    fit.add_argument("--emission", choices=("two_pole", "loglinear", "softmax"),
                     default="two_pole", help="word model (default: %(default)s)")
    fit.add_argument("--interval", choices=("profile", "bootstrap", "none"),
                     default="profile", help="interval for rho (default: %(default)s)")
    fit.add_argument("--n-bootstrap", type=_positive_int, default=200,
                     help="replicates for --interval bootstrap (default: %(default)s)")
    fit.add_argument("--n-jobs", type=int, default=None,
                     help="parallel workers for --interval bootstrap")
    fit.add_argument("--random-state", type=int, default=0,
                     help="seed of the fit (default: %(default)s)")
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
    fitted = _fit(est, X, y)
    if fitted is None:
        return 1
    est, seconds = fitted
    print(f"true rho = {args.rho:.4f}")
    print(f"rho_hat  = {_format_rho(est)}")
    _print_diagnostics(est, seconds)
    return 0


# ---- fit ---------------------------------------------------------------------------
def _run_fit(args):
    """The ``fit`` subcommand: fit a CSV of speeches and write the stances."""
    from sklearn.feature_extraction.text import CountVectorizer

    from . import PolarizationEstimator

    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise CLIError(f"--output-dir {args.output_dir} exists and is not a directory")
    frame = _read_csv(args.csv)
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

    vectorizer = CountVectorizer(
        stop_words="english", min_df=args.min_df, max_features=args.max_features
    )
    try:
        X = vectorizer.fit_transform(frame[text_col].astype(str))
    except ValueError as exc:
        raise CLIError(
            f"the vocabulary is empty ({exc.args[0].rstrip('.')}); lower --min-df or "
            f"check --text-column {text_col!r}"
        ) from None
    print(f"{X.shape[0]:,} speeches, vocabulary of {X.shape[1]:,} words")
    wordless = int(np.sum(X.getnnz(axis=1) == 0))
    if wordless:
        print(f"note: {wordless:,} speech(es) use no vocabulary word; their stance "
              "comes from the party alone")

    est = PolarizationEstimator(
        emission=args.emission, grid_size=args.grid_size,
        interval=None if args.interval == "none" else args.interval,
        n_bootstrap=args.n_bootstrap, n_jobs=args.n_jobs,
        random_state=args.random_state,
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
    fitted = _fit(est, X, parties, groups=speakers)
    if fitted is None:
        return 1
    est, seconds = fitted
    left, right = est.classes_
    print(f"stance < 0: {left}, stance >= 0: {right}")
    print(f"rho_hat = {_format_rho(est)}")
    _print_diagnostics(est, seconds)

    outputs = _outputs(est, X, parties, frame, speakers)
    written = _write_outputs(outputs, args.output_dir, est, X, parties, speakers)
    for path in written:
        print(f"wrote {path}")
    return 0


def _read_csv(path):
    import pandas as pd

    if not os.path.exists(path):
        raise CLIError(f"file not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory, not a CSV file")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
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


def _write_outputs(outputs, output_dir, est, X, parties, speakers=None):
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
                       speakers)
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


def _save_plot(est, X, parties, path, speakers=None):
    # a headless backend: the CLI saves files and never opens windows
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plotting import plot_stance_distribution

    ax = plot_stance_distribution(est, X, parties, groups=speakers)
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)


# ---- shared ------------------------------------------------------------------------
def _fit(est, X, y, groups=None):
    """Fit with a progress bar on a terminal; returns (est, seconds), or None on failure."""
    start = time.perf_counter()
    if _stderr_is_tty():
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
    seen = set()
    for w in caught:
        text = str(w.message).strip()
        if text and text not in seen and not issubclass(w.category, DeprecationWarning):
            seen.add(text)
            print(f"{PROG}: warning: {text}", file=sys.stderr)
    return est, seconds


def _stderr_is_tty():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _format_rho(est):
    text = f"{est.rho_:.4f}"
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
    return text


def _print_diagnostics(est, seconds):
    print(f"alpha = {est.alpha_:.4g}, beta = {est.beta_:.4g}, pi = {est.pi_:.4f}")
    print(f"iterations: {est.n_iter_}, converged: {'yes' if est.converged_ else 'no'}, "
          f"fit time: {seconds:.2f} s")
