"""What the README and the install page promise a newcomer is what happens.

``.ci/run`` runs the README's two commands verbatim in a fresh environment; these
tests keep the text around them honest: the constraint file they name, the CPU
install line matching its pin, and the demo output they show.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
INSTALL = (ROOT / "docs" / "install.rst").read_text(encoding="utf-8")
CLI_PAGE = (ROOT / "docs" / "cli.rst").read_text(encoding="utf-8")


def block(text, name):
    """The fenced lines between ``<!-- name -->`` and ``<!-- /name -->``."""
    match = re.search(rf"<!-- {name} -->\n```\w*\n(.*?)```\n<!-- /{name} -->", text, re.S)
    assert match, f"README.md has no {name} block"
    return match.group(1).splitlines()


def torch_pin():
    lines = (ROOT / "requirements" / "torch.txt").read_text().splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    assert len(pins) == 1 and pins[0].startswith("torch=="), pins
    return pins[0].removeprefix("torch==")


def test_readme_has_the_two_commands_and_their_constraint_file_exists():
    commands = block(README, "commands")
    assert len(commands) == 2
    install, tests = commands
    constraint = re.search(r"-c (\S+)", install).group(1)
    assert (ROOT / constraint).is_file()
    assert "python -m skpolar demo" in install
    # the suite runs on every core (pytest-xdist, in the test extra)
    assert tests == "python -m pytest -n auto"


def test_cpu_install_line_matches_the_pin():
    # a CPU torch of another version would be replaced by the pinned (CUDA) one
    version = torch_pin()
    cpu_line = (f"pip install torch=={version} --index-url "
                "https://download.pytorch.org/whl/cpu")
    assert cpu_line in README
    assert cpu_line in INSTALL
    assert "-c requirements/torch.txt" in INSTALL


def test_readme_says_what_rho_means_and_how_to_run_the_cli():
    text = " ".join(README.split())
    assert "0.5 is one population centred" in text
    assert "two camps" in text and "interval" in text
    assert "skpolar fit speeches.csv" in text
    assert re.search(r"`python -m pytest -n auto` takes about \d+ minutes", text)


def test_idle_torch_threads_sleep_during_the_tests():
    # conftest.py: spinning OpenMP threads made the suite 2-10x slower on a busy
    # 2-core machine; subprocesses of the tests inherit the setting
    import os

    assert os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


def test_demo_output_shown_is_what_the_demo_prints():
    result = subprocess.run([sys.executable, "-m", "skpolar", "demo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()

    def without_time(lines):
        # the fit time is the one line that changes from run to run
        return [re.sub(r"fit time: [\d.]+ s", "fit time: ...", line) for line in lines]

    assert without_time(block(README, "demo-output")) == without_time(printed)
    shown = [line.strip() for line in CLI_PAGE.split("$ python -m skpolar demo\n")[1]
             .split("\n\n")[0].splitlines()]
    assert without_time(shown) == without_time(printed)
