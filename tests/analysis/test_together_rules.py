"""Together's turn-order rule through `tuneline check`: a conversation must open with a system or user message.

A file that opens with an assistant turn passed before (a false pass: Together's file check rejects it at upload).
The rule reads `turn_order.starts_with` from providers.toml, so targets without the rule stay quiet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOGETHER = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _example(first: str, i: int) -> str:
    messages = [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]
    if first == "assistant":
        messages.insert(0, {"role": "assistant", "content": "Hello! How can I help?"})
    elif first == "system":
        messages.insert(0, {"role": "system", "content": "Be brief."})
    return json.dumps({"messages": messages})


def _check(path: Path, *target: str) -> tuple[int, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", *target, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)["files"][0]["diagnostics"]


def test_an_opening_assistant_turn_is_an_error_for_together_only(tmp_path):
    path = tmp_path / "chat.jsonl"
    lines = [_example("system" if i % 2 else "user", i) for i in range(12)] + [_example("assistant", 12)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, found = _check(path, "--target", TOGETHER)
    starts = [d for d in found if d["code"] == "TL126"]
    assert code == 1 and [(d["line"], d["severity"]) for d in starts] == [(13, "error")]
    assert "Together" in starts[0]["message"] and "an assistant message" in starts[0]["message"]
    assert lines[12][starts[0]["column"] - 1 :].startswith('"assistant"')  # on the role's value
    _, default = _check(path)  # OpenAI documents no such rule: no finding
    assert not [d for d in default if d["code"] == "TL126"]
