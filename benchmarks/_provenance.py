"""One line saying which skpolar code a benchmark ran (commit and uncommitted edits)."""

import os
import subprocess


def code_version():
    """``"<short commit>"`` plus ``" + uncommitted changes in skpolar/"`` when dirty."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "skpolar"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in skpolar/" if dirty else "")
