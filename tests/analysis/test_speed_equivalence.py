"""Speed work changes no verdict: `tuneline check --format json` on a generated 20k-line file is pinned (#14).

Why: the per-file golden outputs (test_golden.py) cover real files of a few hundred lines, analysed in one process.
Fast paths for large files — worker processes, whole-buffer scans, cached counts — only engage on big inputs, so
this file is big enough to use them (over the parallel threshold), mixes the bundled examples' shapes (chat,
tools, preference pairs, broken lines) with exact duplicates and torn lines, and its output is pinned by digest,
with per-code counts beside it so a failure says what moved. `--jobs 1` and the default must agree byte for byte.
Regenerate (only when a change is meant to change output) with TUNELINE_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden") / "generated-20000.json"
LINES = 20_000


def _generate(path: Path) -> None:
    """Deterministic from the bundled examples alone (no randomness, no Python-version-dependent text)."""
    sources = [line for p in sorted((REPO / "examples").glob("*.jsonl")) for line in p.read_text("utf-8").splitlines()]
    out = []
    for i in range(LINES):
        line = sources[i % len(sources)]
        if i % 7 == 0 or not line.strip():
            out.append(line)  # kept verbatim: exact duplicates of earlier copies
            continue
        if i % 97 == 0:
            out.append(line[: len(line) // 2])  # a torn line
            continue
        try:
            value = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        messages = value.get("messages") if isinstance(value, dict) else None
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            if isinstance(messages[-1].get("content"), str):
                messages[-1]["content"] += f" (variant {i})"
        elif isinstance(value, dict) and isinstance(value.get("chosen"), str):
            value["chosen"] += f" (variant {i})"
        out.append(json.dumps(value, ensure_ascii=i % 2 == 0))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _check(path: Path, *jobs: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", *jobs, path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TUNELINE_TODAY": "2026-11-30"},
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speed") / "generated.jsonl"
    _generate(path)
    return path


def test_generated_file_output_is_pinned_and_jobs_agree(generated: Path) -> None:
    default = _check(generated)
    one = _check(generated, "--jobs", "1")
    assert default == one, "the parallel and the one-process check disagree"
    report = json.loads(default)
    codes = collections.Counter(d["code"] for f in report["files"] for d in f["diagnostics"])
    actual = {
        "sha256": hashlib.sha256(default.encode()).hexdigest(),
        "bytes": generated.stat().st_size,
        "codes": dict(sorted(codes.items())),
        "summary": {k: v for f in report["files"] for k, v in f.items() if k != "diagnostics"},
    }
    if os.environ.get("TUNELINE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert actual["codes"] == expected["codes"]
    assert actual["summary"] == expected["summary"]
    assert actual == expected
