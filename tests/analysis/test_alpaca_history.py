"""An alpaca line's `history` (LLaMA-Factory's earlier turns, `[[instruction, response], ...]`) in any other shape.

Before, `"history": [[1, 2, 3]]`, `[1]` or `"ab"` crashed `tuneline check` with a traceback (the token count
unpacked every entry as a pair), and `["ab"]` was counted as two one-letter turns. Now an entry that is no pair of
strings is a TL108 error at that entry, a `history` that is no list a TL108 warning (LLaMA-Factory skips it, so its
turns never train), the line's tokens count only its pairs, and the conversion to chat refuses such a line rather
than drop or garble its history. Through `tuneline check`, the conversion fix and `message_view` (the local
trainer's view of a line).
"""

from __future__ import annotations

import json

import pytest

from tuneline.analysis import Engine, Settings
from tuneline.analysis.formats import message_view
from tuneline.analysis.rules.edits import chat_conversion

from .helpers import check_json


def line(history: object) -> str:
    return json.dumps({"instruction": "Add them.", "input": "2 and 3", "output": "5", "history": history})


CASES = {
    "triple": (
        [[1, 2, 3]],
        "error",
        "`history` entry 0 must be an [instruction, response] pair of strings, not a list of 3.",
    ),
    "number": ([1], "error", "`history` entry 0 must be an [instruction, response] pair of strings, not a number."),
    "half": (
        [["What is 1+1?", "2"], ["and 2+2?", 4]],
        "error",
        "`history` entry 1 must be an [instruction, response] pair of strings, not a pair holding a number.",
    ),
    "one string": (
        ["ab"],
        "error",
        "`history` entry 0 must be an [instruction, response] pair of strings, not a string.",
    ),
    "string": (
        "ab",
        "warning",
        "`history` must be a list of [instruction, response] pairs, not a string: trainers skip it",
    ),
    "object": ({"q": "a"}, "warning", "not an object: trainers skip it"),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("alpaca") / "data.jsonl"
    lines = [line(history) for history, _, _ in CASES.values()]
    lines += [line([["What is 1+1?", "2"]]), line([]), line(None), line("")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return check_json(path)


def test_each_bad_history_is_one_tl108_at_its_place(report):
    by_line: dict[int, list[dict]] = {}
    for d in report["diagnostics"]:
        if d["code"] == "TL108":
            by_line.setdefault(d["line"], []).append(d)
    for number, (name, (_, severity, message)) in enumerate(CASES.items(), start=1):
        found = by_line.get(number, [])
        assert len(found) == 1, (name, found)
        assert found[0]["severity"] == severity and message in found[0]["message"], (name, found[0])
    assert not set(by_line) - set(range(1, len(CASES) + 1)), "a well-formed, empty or absent history is fine"


def test_tokens_count_only_the_pairs():
    engine = Engine(Settings())
    good = engine.analyze_line(line([["What is 1+1?", "2"]])).tokens
    bare = engine.analyze_line(line([])).tokens
    assert good > bare
    assert engine.analyze_line(line([["What is 1+1?", "2"], [1, 2, 3]])).tokens == good  # the pair counts
    assert engine.analyze_line(line("ab")).tokens == bare  # not two one-letter turns
    assert message_view(json.loads(line(["ab"])), "alpaca")[0] == message_view(json.loads(line([])), "alpaca")[0]


def test_conversion_refuses_to_drop_a_history():
    assert chat_conversion(line([[1, 2, 3]])) is None
    assert chat_conversion(line("ab")) is None
    assert chat_conversion(line([["What is 1+1?", 2]])) is None  # a number where a chat message takes text
    converted = json.loads(chat_conversion(line([["What is 1+1?", "2"]])))
    assert [m["content"] for m in converted["messages"]] == ["What is 1+1?", "2", "Add them.\n\n2 and 3", "5"]
