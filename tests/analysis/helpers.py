"""Small builders for engine tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tuneline.analysis import Dataset, Engine, Finding, Settings

# The shared sample data sits beside the repository (in CI too: shared/ is copied next to the clone).
CORPUS = Path(os.environ.get("TUNELINE_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "corpus"))

_ENGINE = Engine(Settings())


def engine(**settings) -> Engine:
    return Engine(Settings().merged(settings)) if settings else _ENGINE


def chat(*turns: tuple[str, str], system: str | None = "Be helpful.", **extra) -> str:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": r, "content": c} for r, c in turns]
    return json.dumps({"messages": messages, **extra}, ensure_ascii=False)


def json_strings(value: object, keys: bool = False) -> Iterator[str]:
    """Every string in a JSON value, in order (object keys too, with `keys`): what token counters are tested on."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if keys:
                yield key
            yield from json_strings(item, keys)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item, keys)


def ok_line(i: int = 0) -> str:
    return chat(("user", f"Question number {i}?"), ("assistant", f"Answer number {i}."))


def findings(lines: list[str], **settings) -> list[Finding]:
    return Dataset(engine(**settings), lines).findings()


FILE_LEVEL = ["TL101", "TL202", "TL203", "TL301", "TL305", "TL308"]


def line_findings(line: str, **settings) -> list[Finding]:
    """Per-line findings on one line, placed among clean lines; file-level rules are tested on their own."""
    settings.setdefault("ignore", FILE_LEVEL)
    lines = [line, *(ok_line(i) for i in range(1, 60))]
    return [f for f in findings(lines, **settings) if f.line == 0]


def codes(found: list[Finding]) -> list[str]:
    return [f.code for f in found]


def spanned(line: str, f: Finding) -> str:
    assert f.span is not None
    return line[f.span.start : f.span.end]


REPO = Path(__file__).resolve().parents[2]


def check_process(
    path: Path, *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, python_flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`python [python_flags] -m tuneline check --format json [args] path` in a fresh process, through the front
    door. A finding exits 1, a clean file 0; anything else (a traceback, a usage error) fails the test with its
    stderr."""
    done = subprocess.run(
        [sys.executable, *python_flags, "-m", "tuneline", "check", "--format", "json", *args, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    return done


def run_check(path: Path, *args: str, cwd: Path = REPO) -> tuple[int, dict]:
    """`check_process`'s exit code and its one file's report."""
    done = check_process(path, *args, cwd=cwd)
    return done.returncode, json.loads(done.stdout)["files"][0]


def check_json(path: Path, *args: str) -> dict:
    """`run_check`'s report alone."""
    return run_check(path, *args)[1]
