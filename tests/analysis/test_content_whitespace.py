"""TL503: whitespace around answers and system prompts, with a safe trim that changes nothing else."""

from __future__ import annotations

import json

from tuneline.analysis.types import Severity

from .content_cli import chat, cli, filler, found, marked


def _apply(line: str, fix) -> str:
    for edit in sorted(fix.edits, key=lambda e: e.span.start, reverse=True):
        line = line[: edit.span.start] + edit.text + line[edit.span.end :]
    return line


def test_answers_and_system_prompts_are_trimmed_exactly():
    lines = [
        chat("Sum?", "  The total is 72.\n\n"),
        chat("Hi", "Hello é!", system="You are kind.\n"),
        *filler(),
    ]
    hits = found(lines, "TL503")
    assert [f.line for f in hits] == [0, 1]
    assert hits[0].message.startswith("The answer starts with 2 spaces and ends with 2 line breaks")
    assert marked(lines, hits[0]) == "  " and hits[0].severity is Severity.INFO
    fixed = _apply(lines[0], hits[0].fix)
    assert hits[0].fix.safe and json.loads(fixed)["messages"][2]["content"] == "The total is 72."
    assert fixed.replace("The total is 72.", "") == lines[0].replace("  The total is 72.\\n\\n", "")
    assert marked(lines, hits[1]) == "\\n" and "system prompt" in hits[1].message
    assert json.loads(_apply(lines[1], hits[1].fix))["messages"][0]["content"] == "You are kind."


def test_inner_whitespace_user_turns_and_blank_answers_are_left_alone():
    lines = [
        chat("  Sum?  ", "Line one.\n\nLine two."),  # user turns are not answers
        chat("Code?", "```\n  indented\n```"),
        *filler(),
    ]
    assert found(lines, "TL503") == []


def test_through_the_cli(tmp_path):
    got = cli(tmp_path, [chat("Sum?", "72\n"), *filler(12)], "TL503")
    assert [(d.line, d.text, d.severity) for d in got] == [(1, "\\n", "info")]
