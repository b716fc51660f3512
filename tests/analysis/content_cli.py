"""Shared by the content-rule tests: files built from example shapes, checked through `tuneline check`."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tuneline.analysis import Finding

from .helpers import findings


def chat(user: str, answer: str, system: str | None = "You answer questions.", **extra: object) -> str:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": messages, **extra}, ensure_ascii=False)


def filler(n: int = 30, start: int = 0) -> list[str]:
    """Clean, distinct examples whose answers end with a period."""
    return [chat(f"Question number {i}?", f"This is the complete answer to question {i}.") for i in range(start, n)]


def found(lines: list[str], code: str, **settings: object) -> list[Finding]:
    return [f for f in findings(lines, **settings) if f.code == code]


def marked(lines: list[str], f: Finding) -> str:
    """The text of the line the finding's span covers."""
    assert f.line is not None and f.span is not None
    return lines[f.line][f.span.start : f.span.end]


@dataclass
class Diagnostic:
    code: str
    line: int | None  # 1-based, as printed
    text: str  # the marked text
    message: str
    severity: str


def cli(tmp_path: Path, lines: list[str], select: str, name: str = "data.jsonl") -> list[Diagnostic]:
    """`tuneline check --format json --select CODES` on a file of `lines`, as a user runs it."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", "--select", select, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    out = []
    for d in json.loads(done.stdout)["files"][0]["diagnostics"]:
        text = ""
        if d["line"] and d["end_line"] == d["line"]:
            text = lines[d["line"] - 1][d["column"] - 1 : d["end_column"] - 1]
        out.append(Diagnostic(d["code"], d["line"], text, d["message"], d["severity"]))
    return out
