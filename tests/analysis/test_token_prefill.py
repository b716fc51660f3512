"""A chunk's chat lines are read once, ahead, and their message texts counted back to back before the lines are
analysed (`Engine.analyze_lines`, `json_read.read_ahead`, `TokenCounter.prefill`, #14); no result changes for it.

Why a test: the counts come from a side table filled ahead of the lines, so a text counted there must be counted
exactly as `count` would count it, every line must come out as `analyze_line` alone makes it (odd lines included:
a byte order mark, a lone surrogate escape, deep nesting, other formats, content parts, long texts), a value read
ahead must be the one `read_json` reads, and the side table must not outlive the chunk.
"""

from __future__ import annotations

import json

from tuneline.analysis import Engine, Settings
from tuneline.analysis.json_read import message_texts, read_ahead, read_json
from tuneline.analysis.tokens import TokenCounter

from .helpers import CORPUS

LONG = "A long answer that goes on. " * 300  # over the counter's 4,096-character cache bound


def _lines() -> list[str]:
    lines = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        lines += path.read_text(encoding="utf-8").splitlines()
    for i in range(200):
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Question {i}: é, “quotes”, 😀?"},
            {"role": "assistant", "content": LONG if i % 50 == 0 else f"Answer {i}."},
        ]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=i % 2 == 0))
    lines += [
        "\ufeff"
        + json.dumps({"messages": [{"role": "user", "content": "bom"}, {"role": "assistant", "content": "x"}]}),
        '{"messages": [{"role": "user", "content": "lone \\ud800 surrogate"}, {"role": "assistant", "content": "y"}]}',
        '{"messages": ' + "[" * 600 + "]" * 600 + "}",
        '{"messages": [{"role": "user", "content": [{"type": "text", "text": "parts"}]}, {"role": "assistant", "content": "z"}]}',
        '{"prompt": "p", "completion": "c"}',
        "not json at all",
        "",
    ]
    return lines


def test_analyze_lines_gives_what_analyze_line_gives():
    lines = _lines()
    batched = Engine(Settings())
    batched.counter.load()
    one = Engine(Settings())
    one.counter.load()
    assert batched.analyze_lines(lines) == [one.analyze_line(t) for t in lines]
    assert batched.counter._ahead == {}, "the side table does not outlive its chunk"


def test_the_prefilled_counts_are_the_counters_own():
    engine = Engine(Settings())
    engine.counter.load()
    texts = list(message_texts(read_ahead(_lines()).values()))
    assert LONG in texts and "lone \ud800 surrogate" not in texts  # msgspec refuses that line: counted inline
    engine.counter.prefill(texts)
    ahead = dict(engine.counter._ahead)
    fresh = Engine(Settings())
    fresh.counter.load()
    assert ahead and all(n == fresh.counter.count(t) for t, n in ahead.items())


def test_a_value_read_ahead_is_the_one_read_json_reads():
    """Every kept line is one msgspec reads at once (`exact` True); a line it refuses, or one that is no object or
    has no messages, is left for `analyze_line` to read (and to report) itself."""
    lines = _lines()
    ahead = read_ahead(lines)
    assert ahead, "the corpus has chat lines"
    for line, value in ahead.items():
        assert read_json(line) == (value, True)
    skipped = [t for t in lines if t not in ahead]
    assert any(t.startswith("\ufeff") for t in skipped)  # json.loads refuses a BOM: analyze_line says so
    assert any("\\ud800" in t for t in skipped) and "not json at all" in skipped and "" in skipped
    assert '{"prompt": "p", "completion": "c"}' in skipped


def test_message_texts_reads_only_message_contents():
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "name": "n"}]}
        ),
        json.dumps({"prompt": "p", "completion": "c"}),
        json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "t"}]}, "odd", 3]}),
        json.dumps(["messages"]),
    ]
    assert list(message_texts(read_ahead(lines).values())) == ["a", "b"]


def test_nothing_is_counted_ahead_before_the_tokenizer_loads():
    """A small file is counted from the rank index (no tokenizer loaded: `_count` is None): the texts are not even
    read, and counting goes on as before."""
    counter = TokenCounter("o200k_base")
    counter._count = None  # the state of a small file's counter, whatever this process has loaded
    read = []

    def texts():
        read.append(True)
        yield "never"

    counter.prefill(texts())
    assert read == [] and counter._ahead == {}
