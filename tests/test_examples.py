"""Every gallery example in examples/ runs to the end, off-screen.

Each script runs in its own interpreter (as sphinx-gallery would run it), with
matplotlib's Agg backend and a time limit. The Senate example reads the corpus
that ships with skpolar, so it runs everywhere.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
TIMEOUT = 240


def test_examples_found():
    assert {p.name for p in EXAMPLES} >= {
        "plot_quickstart.py",
        "plot_pipeline_gridsearch.py",
        "plot_senate.py",
        "plot_polarization_over_time.py",
    }


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    code = f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=script.parent,  # sphinx-gallery runs examples from their folder
        env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{script.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
