"""`tuneline check --format json` on every bundled example and every shared/corpus file, byte for byte.

Why: refactors of the engine, the rules and the CLI must not change a verdict by accident. A change that is meant
to change output regenerates the files with `TUNELINE_UPDATE_GOLDEN=1 pytest tests/analysis/test_golden.py` and
the diff shows in review. TL204 (model shut down) depends on today's date, so it is left out of the comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import CORPUS

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden")
FILES = sorted((REPO / "examples").glob("*.jsonl")) + (sorted(CORPUS.glob("*.jsonl")) if CORPUS.exists() else [])


def _check_json(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", "--jobs", "1", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    out = []
    for entry in report["files"]:
        diagnostics = [d for d in entry.pop("diagnostics") if d["code"] != "TL204"]
        out.append(json.dumps(entry, ensure_ascii=False))
        out.extend(json.dumps(d, ensure_ascii=False) for d in diagnostics)  # one per line: readable diffs
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_check_json_is_unchanged(path: Path) -> None:
    golden = GOLDEN / (path.stem + ".json")
    actual = _check_json(path)
    if os.environ.get("TUNELINE_UPDATE_GOLDEN") == "1":
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"no golden file for {path.name}: run with TUNELINE_UPDATE_GOLDEN=1"
    assert actual == golden.read_text(encoding="utf-8")
