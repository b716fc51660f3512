"""The collector's thresholds: rarer passes for one-shot commands, the measured ones for the server's analyses.

Why: a 100k-line `check` spent ~115 ms in collector passes at a young generation of 50,000 (#14), the server's peak
RSS bound was measured with those thresholds, and `relaxed` must give the server back what it had.
"""

from __future__ import annotations

import gc
import subprocess
import sys

from tuneline.analysis import collector


def test_relaxed_uses_the_server_thresholds_and_restores_them() -> None:
    saved = gc.get_threshold()
    with collector.relaxed():
        assert gc.get_threshold() == collector.SERVER_THRESHOLDS
    assert gc.get_threshold() == saved


def test_a_one_shot_command_collects_rarely_and_freezes_what_is_imported() -> None:
    code = (
        "import gc; from tuneline.analysis import collector; collector.tune_for_batch(); "
        "print(gc.get_threshold(), gc.get_freeze_count() > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split("\n")[0]
    assert out == f"{collector.BATCH_THRESHOLDS} True"
    assert collector.BATCH_THRESHOLDS[0] > collector.SERVER_THRESHOLDS[0]
