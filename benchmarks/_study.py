"""What the resumable studies share: a CSV that grows a line per fit, and ``--summary``.

A long study appends each finished fit to its CSV at once, so it can be
stopped and resumed (fits whose key is already in the file are skipped) and
summarized at any time.
"""

import csv
import os
from contextlib import contextmanager


@contextmanager
def results(path, fields, key):
    """``(append, done)``: ``done`` holds ``key(row)`` of every row already in ``path``;
    ``append(row)`` writes one row, flushes it and prints it."""
    done = set()
    if os.path.exists(path):
        with open(path) as handle:
            done = {key(row) for row in csv.DictReader(handle)}
    new_file = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new_file:
            writer.writeheader()

        def append(row):
            writer.writerow(row)
            handle.flush()
            print(", ".join(f"{k}={v}" for k, v in row.items() if k != "commit"), flush=True)

        yield append, done


def run_or_summarize(parser, run, summary, argv, default_out):
    """Add ``--out`` and ``--summary`` to ``parser``, then run the study or summarize ``--out``."""
    parser.add_argument("--out", default=default_out, help="the CSV rows are appended to")
    parser.add_argument("--summary", action="store_true",
                        help="summarize --out instead of running")
    args = parser.parse_args(argv)
    if args.summary:
        summary(args.out)
    else:
        run(args)
