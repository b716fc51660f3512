"""`example_text`'s typed fast path (one msgspec Struct decode of the commonest chat line) and `squeeze` give what
the general path gives, line for line.

The texts name the stored search results (`TEXTS_FORMAT`), so any difference would be a silent change of every
finding's partner. Held equal on every line of the examples and the shared corpus, and on chat lines mutated to
reach each way out of the fast path: the top-level keys that send a line to the general path, messages that are
not objects, contents that are not strings, tool calls, repeated keys, whitespace of every kind, escapes, BOM,
deep nesting and invalid JSON.
"""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from tests.analysis.helpers import CORPUS, REPO
from tuneline.neardup import texts
from tuneline.neardup.texts import example_text, squeeze

SPACES = [" ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2003", "\u3000", "\u200b"]


def _general(line: str) -> str | None:
    """`example_text` with the typed decoder refusing every line: the general path."""

    def refuse(_: str) -> object:
        raise msgspec.DecodeError("refused")

    saved = texts._CHAT_LINE
    texts._CHAT_LINE = refuse
    try:
        return example_text(line)
    finally:
        texts._CHAT_LINE = saved


def _file_lines() -> list[str]:
    files = sorted((REPO / "examples").glob("*.jsonl"))
    if CORPUS.is_dir():
        files += sorted(CORPUS.glob("*.jsonl"))
    return [line for path in files for line in path.read_text("utf-8").splitlines()]


def _mutated(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    words = ["refund", "the", "café", "naïve", "😀", "a\\u00e9", "x" * 40, "", "don't", "\\ud800"]

    def content() -> object:
        kind = rng.random()
        if kind < 0.7:
            return "".join(rng.choice(words) + rng.choice(SPACES) for _ in range(rng.randint(0, 12)))
        return rng.choice([None, 3, ["a"], [{"type": "text", "text": "hi  there"}], {"a": 1}, ""])

    def message() -> object:
        if rng.random() < 0.05:
            return rng.choice(["text", 1, None, ["a"]])
        m: dict[str, object] = {
            "role": rng.choice(["user", "assistant", "system", "tool", None, 5]),
            "content": content(),
        }
        if rng.random() < 0.1:
            m["tool_calls"] = rng.choice([[{"id": "c1", "function": {"name": "f", "arguments": "{}"}}], [], None])
        if rng.random() < 0.05:
            m["function_call"] = {"name": "g", "arguments": '{"x": 1}'}
        if rng.random() < 0.05:
            del m["content"]
        return m

    out = []
    for _ in range(count):
        obj: dict[str, object] = {"messages": [message() for _ in range(rng.randint(0, 4))]}
        for key in ("system", "schemaVersion", "images", "image", "tools", "metadata"):
            if rng.random() < 0.05:
                obj[key] = rng.choice([None, "x", ["https://example.com/a.png"]])
        if rng.random() < 0.05:
            obj["messages"] = rng.choice([None, "m", {"role": "user"}])
        line = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
        roll = rng.random()
        if roll < 0.05:
            line = line.replace('{"messages"', '{"messages": [], "messages"', 1)  # a repeated key: the last counts
        elif roll < 0.08:
            line = "\ufeff" + line
        elif roll < 0.1:
            line = line[: rng.randint(0, len(line))]  # cut: invalid JSON
        elif roll < 0.12:
            line = line.replace("refund", "re\\u0066und").replace("the", "t\\u0068e")
        out.append(line)
    deep = "[" * 600 + "]" * 600
    out.append(json.dumps({"messages": [{"role": "user", "content": "hi", "tool_calls": "X"}]}).replace('"X"', deep))
    out.append(json.dumps({"messages": [{"role": "user", "content": "a\ud800b"}]}))
    return out


@pytest.mark.parametrize("source", ["files", "mutated"])
def test_the_fast_path_gives_the_general_paths_text(source: str) -> None:
    lines = _file_lines() if source == "files" else _mutated(5, 4000)
    assert lines
    for line in lines:
        assert example_text(line) == _general(line), line[:200]


def test_squeeze_is_split_and_join() -> None:
    rng = random.Random(9)
    samples = ["", " ", "a", " a", "a ", "a  b", "a\tb", "a\x1fb", "a\x85b", "a\xa0b", "é  b", "a\u200bb"]
    samples += ["".join(rng.choice(["w", "wörd", *SPACES]) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    for text in samples:
        assert squeeze(text) == " ".join(text.split()), repr(text)
