"""Runs tests/e2e/neovim/run.sh: Neovim (headless) against the real server. Skips when nvim is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).with_name("run.sh")


@pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed (apt-get install -y neovim)")
def test_neovim_shows_diagnostics_follows_an_edit_and_hovers() -> None:
    done = subprocess.run(["bash", str(RUN)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[0])
    assert report["ok"]
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["diagnostics"]["col"] == steps["diagnostics"]["expected_col"]
    assert steps["diagnostics"]["source"] == "tuneline"
    assert "**Example 1**" in steps["hover"]["value"]
