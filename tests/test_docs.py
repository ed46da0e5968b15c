"""The Sphinx documentation builds without a single warning, and works offline.

The gallery examples are not run here (``-D plot_gallery=0``); each one is run
on its own by ``tests/test_examples.py``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("sphinx-mathjax-offline")  # the extension's import name has hyphens
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
# a script, stylesheet, image or frame fetched from elsewhere, not a link to follow
EXTERNAL_RESOURCE = re.compile(
    r"<(?:script|img|iframe)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
    r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//", re.IGNORECASE
)


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("docs")
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
    return tmp_path / "html"


def test_docs_build_without_warnings(html):
    for page in ["index", "install", "quickstart", "cli", "model", "datasets", "api",
                 "benchmarks",
                 "auto_examples/index", "gen_modules/skpolar.PolarizationEstimator"]:
        assert (html / f"{page}.html").is_file(), page


def test_pages_load_nothing_from_the_network(html):
    pages = sorted(html.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        found = EXTERNAL_RESOURCE.search(page.read_text(encoding="utf-8"))
        assert found is None, f"{page.relative_to(html)} loads {found.group(0)!r}"


def test_maths_render_with_the_bundled_mathjax(html):
    model = (html / "model.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', model, re.IGNORECASE)
    assert scripts, "model.html loads no MathJax"
    for src in scripts:
        assert (html / src.split("?")[0]).is_file(), src
    # pages in a subfolder reach the same copy
    quickstart = (html / "auto_examples" / "plot_quickstart.html").read_text(encoding="utf-8")
    (src,) = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', quickstart)
    assert (html / "auto_examples" / src.split("?")[0]).resolve().is_file()


def test_long_code_lines_wrap_instead_of_being_cut_off(html):
    index = (html / "index.html").read_text(encoding="utf-8")
    assert "_static/custom.css" in index
    css = (html / "_static" / "custom.css").read_text(encoding="utf-8")
    assert re.search(r"div\.highlight pre\s*\{[^}]*white-space:\s*pre-wrap", css)


def test_cli_and_install_pages_are_in_the_index(html):
    index = (html / "index.html").read_text(encoding="utf-8")
    for page in ("install.html", "cli.html", "datasets.html"):
        assert f'href="{page}"' in index, page
    cli = (html / "cli.html").read_text(encoding="utf-8")
    # every option of the parser is documented
    from skpolar.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in cli, f"skpolar {name} {option} missing from cli.rst"
    assert "Exit status" in cli
