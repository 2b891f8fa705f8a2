"""The cogtensor command and the README quick start that CI runs."""

import json
import re
import subprocess
import sys
from pathlib import Path

from cogtensor import cli

ROOT = Path(__file__).resolve().parents[1]


def test_demo_finds_what_it_planted():
    result = cli.demo(classes=5, per_class=60, train=20, seed=1)
    assert result["prototype_accuracy"] > 0.95
    assert set(result["top10_labels"]) == {3}
    assert result["cascade_recall_at_10"] >= 0.9
    assert result["decoded_ok"]


def test_cli_entry_points():
    out = subprocess.run([sys.executable, "-m", "cogtensor.cli", "info"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "isa" in json.loads(out.stdout)
    bad = subprocess.run([sys.executable, "-m", "cogtensor.cli", "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_ci_runs_the_readme_quick_start():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert block == ['pip install ".[test]" && cogtensor demo', "pytest"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert block[0] in ci and any(line.split("#")[0].strip() == block[1] for line in ci)
