"""Every gallery example in examples/ runs to the end, off-screen.

Each script runs in its own interpreter (as sphinx-gallery would run it), with
matplotlib's Agg backend and a time limit. The Senate example needs the real
corpus and is skipped when it is absent.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from skpolar.datasets import find_senate_speeches  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
# The corpus is documented to live in shared/data beside the checkout.
SHARED_DATA = ROOT.parent / "shared" / "data"
TIMEOUT = 240


def _senate_home():
    for home in (os.environ.get("SKPOLAR_DATA"), SHARED_DATA):
        if home is not None and find_senate_speeches(home) is not None:
            return str(home)
    return None


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
    if script.name == "plot_senate.py":
        home = _senate_home()
        if home is None:
            pytest.skip("the senate-speeches-114 corpus is not available")
        env["SKPOLAR_DATA"] = home
    code = f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=script.parent,  # sphinx-gallery runs examples from their folder
        env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{script.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
