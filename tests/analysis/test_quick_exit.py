"""A one-shot `check` ends its process without tearing down its heap, and loses no output doing so.

Why: freeing a 100k-line check's objects one by one took 45-76 ms after the report was out (#14). `os._exit` skips
Python's own flushing, so every byte written must still arrive, through a pipe bigger than its buffer, and a reader
that goes away early must still get a quiet exit, not a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ORDINARY = "import sys; from tuneline.cli import main; raise SystemExit(main())"


def _noisy_file(tmp_path: Path) -> Path:
    """A file whose report is far larger than a pipe's buffer (64 KB): 3,000 lines cut off mid-object."""
    path = tmp_path / "noisy.jsonl"
    path.write_text(
        "".join(f'{{"messages": [{{"role": "user", "content": "line {i}"}}\n' for i in range(3000)), "utf-8"
    )
    return path


def test_the_whole_report_arrives_as_with_an_ordinary_exit(tmp_path: Path) -> None:
    path = _noisy_file(tmp_path)
    for fmt in ("json", "text"):
        args = ["check", "--format", fmt, str(path)]
        quick = subprocess.run([sys.executable, "-m", "tuneline", *args], capture_output=True, timeout=120)
        ordinary = subprocess.run([sys.executable, "-c", ORDINARY, *args], capture_output=True, timeout=120)
        assert len(quick.stdout) > 200_000
        assert (quick.returncode, quick.stdout, quick.stderr) == (
            ordinary.returncode,
            ordinary.stdout,
            ordinary.stderr,
        )


def test_a_reader_that_leaves_early_gets_a_quiet_exit(tmp_path: Path) -> None:
    path = _noisy_file(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneline", "check", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()  # `tuneline check | head -c 100`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) in (0, 1)
    assert b"Traceback" not in err and b"Exception ignored" not in err
