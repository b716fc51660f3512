"""Lines a fuzzing helper found to crash `tuneline check` with a traceback, each now one finding (the promise:
bad input gets one clear sentence, never a crash).

Each case is a line, the finding it must get (code and a piece of its message) and, where the line has a
conversion fix, whether the fix may rewrite it. All run through `tuneline check --format json` in one file.
"""

from __future__ import annotations

import json

import pytest

from tuneline.analysis.rules.edits import chat_conversion

from .helpers import check_json


def chat(*messages: dict, **extra: object) -> str:
    return json.dumps({"messages": list(messages), **extra})


USER = {"role": "user", "content": "Get a."}
ANSWER = {"role": "assistant", "content": "Done."}


def call(arguments: str) -> dict:
    fn = {"name": "f", "arguments": arguments}
    return {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": fn}]}


CASES = {
    # a content part whose `type` is a list: `type in {...}` raised "unhashable type"
    "part type list": (chat({"role": "user", "content": [{"type": []}]}, ANSWER), "TL108", "unknown type []"),
    "part type object": (chat({"role": "user", "content": [{"type": {}}]}, ANSWER), "TL108", "unknown type {}"),
    # `functions` that is no list: unpacked with `*`
    "functions number": (
        chat(
            USER, {"role": "assistant", "content": None, "function_call": {"name": "g", "arguments": "{}"}}, functions=1
        ),
        "TL117",
        "`functions` must be a list, not a number.",
    ),
    # arguments json refuses without a position: a 5,000-digit number, deep nesting
    "arguments digits": (chat(USER, call("9" * 5000)), "TL115", "an integer with 5,000 digits"),
    "arguments nesting": (chat(USER, call("[" * 100_000)), "TL115", "nesting is too deep to parse"),
}


@pytest.fixture(scope="module")
def diagnostics(tmp_path_factory) -> dict[int, list[dict]]:
    path = tmp_path_factory.mktemp("fuzzed") / "data.jsonl"
    path.write_text("\n".join(line for line, _, _ in CASES.values()) + "\n", encoding="utf-8")
    by_line: dict[int, list[dict]] = {}
    for d in check_json(path)["diagnostics"]:
        by_line.setdefault(d["line"], []).append(d)
    return by_line


@pytest.mark.parametrize("number, name", list(enumerate(CASES, start=1)))
def test_each_line_gets_its_finding(diagnostics, number, name):
    _, code, words = CASES[name]
    found = [d["message"] for d in diagnostics.get(number, []) if d["code"] == code]
    assert any(words in m for m in found), (name, diagnostics.get(number))


def test_an_alpaca_line_with_a_field_that_is_no_string_is_not_converted():
    line = json.dumps({"instruction": "do", "input": "this", "output": [{"type": []}]})
    assert chat_conversion(line) is None  # TL108 says `output` must be a string; a rewrite would carry it over
    assert chat_conversion(json.dumps({"instruction": "do", "input": None, "output": "ok"})) is None
    assert chat_conversion(json.dumps({"instruction": "do", "output": "ok"})) is not None


# A tool's `parameters` schema jsonschema cannot use: each raised from jsonschema (or `re`, `fractions`, `referencing`)
# through TL122, and a `$ref` to itself recursed until the line was reported as broken JSON (TL001) and dropped.
SCHEMAS = {
    "$schema object": ({"$schema": {}}, "{}"),
    "$schema number": ({"$schema": 5}, "{}"),
    "pattern overflow": ({"properties": {"a": {"pattern": "a{4294967296}"}}}, '{"a": "x"}'),
    "$ref to nowhere": ({"properties": {"a": {"$ref": "#/definitions/A"}}}, '{"a": 1}'),
    "$ref to itself": ({"$ref": "#"}, '{"a": 1}'),
    "$ref null": ({"$schema": "http://json-schema.org/draft-04/schema#", "$ref": None}, "{}"),
    "multipleOf 1e999": ({"properties": {"a": {"multipleOf": 0.5}}}, '{"a": 1e999}'),
    "draft-03 disallow": ({"$schema": "http://json-schema.org/draft-03/schema#", "disallow": ""}, "{}"),
}


def test_a_schema_jsonschema_cannot_use_is_not_judged(tmp_path):
    lines = []
    for parameters, arguments in SCHEMAS.values():
        fn = {"name": "f", "arguments": arguments}
        lines.append(
            chat(
                USER,
                {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": fn}]},
                tools=[{"type": "function", "function": {"name": "f", "parameters": parameters}}],
            )
        )
    path = tmp_path / "schemas.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = check_json(path)  # no traceback
    assert report["examples"] == len(SCHEMAS)
    assert not [d for d in report["diagnostics"] if d["code"] in ("TL001", "TL122")]
