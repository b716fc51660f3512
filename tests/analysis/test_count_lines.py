"""`Engine.count_lines`: a file's token counts for another model's tokenizer, without the rules (the language
server's cost table, `tuneline.stats`, #14).

Why a test: the counts skip the rules, so they must still be exactly `analyze_line`'s `tokens` for every example
and None for every other line (blank, invalid, not an object, nested too deep for the rules), on every encoding the
cost table counts with and for a target whose image parts are counted. The server-side test of the table itself is
`tests/lsp/test_commands.py::test_stats_markdown`.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tuneline.analysis import Engine, Settings

from .helpers import CORPUS

IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def _lines() -> list[str]:
    lines = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        lines += path.read_text(encoding="utf-8").splitlines()
    for i in range(120):
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Question {i}: é, “quotes”, 😀?"},
            {"role": "assistant", "content": f"Answer {i}.", **({"weight": 0} if i % 7 == 0 else {})},
        ]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=i % 2 == 0))
    image = {"type": "image_url", "image_url": {"url": IMAGE}}
    tool_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    lines += [
        "\ufeff"
        + json.dumps({"messages": [{"role": "user", "content": "bom"}, {"role": "assistant", "content": "x"}]}),
        '{"messages": [{"role": "user", "content": "lone \\ud800 surrogate"}, {"role": "assistant", "content": "y"}]}',
        '{"messages": ' + "[" * 600 + "]" * 600 + "}",
        '{"messages": [' + '{"role": "user", "content": ' * 300 + '"deep"' + "}" * 300 + "]}",
        json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, image]}]}),
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "call f"},
                    {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                ],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            }
        ),
        '{"prompt": "p", "completion": "c"}',
        '{"instruction": "do", "input": "this", "output": "done"}',
        '{"text": "raw text"}',
        '{"messages": [], "n": 1e999}',
        '{"messages": [{"role": "user", "content": "x"}], "big": ' + "9" * 5000 + "}",
        "[1, 2]",
        '"a string"',
        "not json at all",
        "",
        "   ",
    ]
    return lines


@pytest.mark.parametrize("model", [None, "gpt-3.5-turbo-0125", "gpt-4o-2024-08-06"])
def test_count_lines_gives_analyze_lines_tokens(model):
    settings = Settings() if model is None else replace(Settings(), model=model)
    lines = _lines()
    counted = Engine(settings)
    counted.counter.load()
    analysed = Engine(settings)
    analysed.counter.load()
    want = [r.tokens if r.kind == "example" else None for r in (analysed.analyze_line(t) for t in lines)]
    assert counted.count_lines(lines) == want
    assert None in want and any(w is not None and w > 0 for w in want)
    assert counted.counter._ahead == {}, "the side table does not outlive the call"
    assert not counted._cache, "counting remembers no results: they would lack the rules' findings"


def test_count_lines_takes_results_already_analysed():
    engine = Engine(Settings())
    lines = _lines()[-20:]
    results = [engine.analyze_line(t) for t in lines]
    assert engine.count_lines(lines) == [r.tokens if r.kind == "example" else None for r in results]
