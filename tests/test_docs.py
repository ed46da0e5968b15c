"""The Sphinx documentation builds without a single warning.

The gallery examples are not run here (``-D plot_gallery=0``); each one is run
on its own by ``tests/test_examples.py``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "sphinx",
        "-W", "--keep-going",
        "-b", "html",
        "-D", "plot_gallery=0",
        "-d", str(tmp_path / "doctrees"),
        str(ROOT / "docs"),
        str(tmp_path / "html"),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"sphinx-build failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-5000:]}"
    )
    html = tmp_path / "html"
    for page in ["index", "install", "quickstart", "model", "datasets", "api", "benchmarks",
                 "auto_examples/index", "gen_modules/skpolar.PolarizationEstimator"]:
        assert (html / f"{page}.html").is_file(), page
