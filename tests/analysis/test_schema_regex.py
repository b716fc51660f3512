"""TL122's schema patterns run with a time limit (`rules/schema_regex.py`).

Why a test: a tool's JSON Schema comes from the dataset, and jsonschema runs its `pattern` with `re`, which has no
time limit. `"pattern": "^(a+)+$"` against 28 a's and a `!` took 13 s in `tuneline check` (a fuzzing helper found
it); `^(a|aa)+$` backtracks past any bound even in the `regex` module. A file must never hang the linter or the
editor: such a pattern is not judged, while every ordinary pattern finds exactly what jsonschema finds, with
jsonschema's messages.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest

from tuneline.analysis.rules import schema_regex

from .helpers import check_json


def example(schema: dict, arguments: dict) -> str:
    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": json.dumps(arguments)}}
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Call f."},
                {"role": "assistant", "content": None, "tool_calls": [call]},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        }
    )


def obj(**properties) -> dict:
    return {"type": "object", "properties": properties}


def tl122(path: Path) -> dict[int, str]:
    return {d["line"]: d["message"] for d in check_json(path)["diagnostics"] if d["code"] == "TL122"}


def test_a_backtracking_pattern_does_not_hang_check(tmp_path):
    path = tmp_path / "redos.jsonl"
    lines = [
        example(obj(a={"type": "string", "pattern": "^(a+)+$"}), {"a": "a" * 40 + "!"}),
        example(obj(a={"type": "string", "pattern": "^(a|aa)+$"}), {"a": "a" * 60 + "!"}),
        example({"type": "object", "patternProperties": {"^(a|aa)+$": {"type": "string"}}}, {"a" * 60 + "!": 1}),
    ]
    path.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")  # the slow pattern is given up on once
    started = time.perf_counter()
    found = tl122(path)
    assert time.perf_counter() - started < 30
    assert 1 in found and "does not match '^(a+)+$'" in found[1]  # regex decides this one at once: judged
    assert 2 not in found and 3 not in found  # out of time: not judged


CASES = [
    (obj(a={"type": "string", "pattern": "^[0-9]{3}$"}), {"a": "12a"}),
    (obj(a={"type": "string", "pattern": "^[0-9]{3}$"}), {"a": "123"}),
    ({"type": "object", "patternProperties": {"^x_": {"type": "integer"}}}, {"x_a": "no", "y": 1}),
    (
        {"type": "object", "properties": {"a": {}}, "patternProperties": {"^x_": {}}, "additionalProperties": False},
        {"a": 1, "x_b": 2, "zz": 3, "yy": 4},
    ),
    (
        {"type": "object", "patternProperties": {"^x_": {}}, "additionalProperties": {"type": "string"}},
        {"x_b": 2, "zz": 3},
    ),
    ({"type": "object", "properties": {"a": {}}, "additionalProperties": False}, {"a": 1, "b": 2}),
    ({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}, {"Bad": 1}),
]


@pytest.mark.parametrize("schema, arguments", CASES)
def test_ordinary_patterns_find_what_jsonschema_finds(schema, arguments):
    plain = jsonschema.Draft202012Validator(schema)
    bounded = schema_regex.bounded(jsonschema.Draft202012Validator)(schema)
    messages = sorted(e.message for e in plain.iter_errors(arguments))
    assert sorted(e.message for e in bounded.iter_errors(arguments)) == messages


def test_through_check_a_pattern_mismatch_is_a_warning(tmp_path):
    path = tmp_path / "pattern.jsonl"
    path.write_text(example(*CASES[0]) + "\n" + example(*CASES[1]) + "\n", encoding="utf-8")
    found = tl122(path)
    assert list(found) == [1] and "'12a' does not match '^[0-9]{3}$'" in found[1]
