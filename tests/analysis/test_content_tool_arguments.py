"""TL122: tool-call arguments that are not an object, or break the declared schema (with the JSON path)."""

from __future__ import annotations

import json
import sys

from tuneline.analysis.types import Severity

from .content_cli import cli, filler, found, marked

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def call(arguments: object, name: str = "get_weather") -> str:
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": name, "arguments": encoded}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "assistant", "content": "It is 18C."},
    ]
    return json.dumps({"messages": messages, "tools": [WEATHER]})


def test_double_encoded_and_non_object_arguments_are_errors():
    lines = [call(json.dumps(json.dumps({"location": "Paris"}))), call("[1, 2]"), call('"Paris"'), *filler()]
    hits = found(lines, "TL122")
    assert [f.line for f in hits] == [0, 1, 2]
    assert "double-encoded" in hits[0].message and all(f.severity is Severity.ERROR for f in hits)
    assert "a list, not a JSON object" in hits[1].message and "are a string" in hits[2].message
    assert marked(lines, hits[0]).startswith('"\\"{')


def test_schema_breaks_are_warnings_with_their_path():
    lines = [
        call({"location": "Paris", "unit": "kelvin"}),
        call({"unit": "celsius"}),
        call({"location": "Paris", "days": "three"}),
        call({"location": "Paris", "wind": True}),
        *filler(),
    ]
    hits = found(lines, "TL122")
    assert [f.severity for f in hits] == [Severity.WARNING] * 4
    assert "at $.unit: 'kelvin' is not one of ['celsius', 'fahrenheit']" in hits[0].message
    assert "at $: 'location' is a required property" in hits[1].message
    assert "at $.days: 'three' is not of type 'integer'" in hits[2].message
    assert "Additional properties are not allowed ('wind' was unexpected)" in hits[3].message


def test_valid_calls_key_order_and_undeclared_tools_are_fine():
    lines = [
        call({"unit": "celsius", "location": "Paris"}),
        call({"location": "Paris", "days": 3}),
        call({"anything": 1}, name="undeclared"),  # TL117's business, not a schema to check against
        *filler(),
    ]
    assert found(lines, "TL122") == []


def test_sharegpt_function_call_turns_are_checked_against_their_tools_string():
    tools = json.dumps([WEATHER["function"]])
    line = json.dumps(
        {
            "conversations": [
                {"from": "human", "value": "Weather?"},
                {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"days": 2}})},
                {"from": "observation", "value": "18C"},
                {"from": "gpt", "value": "It is 18C."},
            ],
            "tools": tools,
        }
    )
    hits = found([line], "TL122")
    assert len(hits) == 1 and "'location' is a required property" in hits[0].message


def test_through_the_cli(tmp_path):
    lines = [call(json.dumps(json.dumps({"location": "Paris"}))), call({"location": 3}), *filler(12)]
    got = cli(tmp_path, lines, "TL122")
    assert [(d.line, d.severity) for d in got] == [(1, "error"), (2, "warning")]
    assert "at $.location: 3 is not of type 'string'" in got[1].message


def test_without_jsonschema_only_the_not_an_object_check_runs(monkeypatch):
    from tuneline.analysis.rules import content_tools

    monkeypatch.setitem(sys.modules, "jsonschema", None)  # `import jsonschema` raises ImportError
    content_tools._validator.cache_clear()
    try:
        lines = [call({"location": 3}), call(json.dumps(json.dumps({"location": "Paris"}))), *filler()]
        fresh = found(lines, "TL122", select=["ALL"])  # a new engine: no cached results from other tests
        assert [(f.line, f.severity) for f in fresh] == [(1, Severity.ERROR)]
    finally:
        content_tools._validator.cache_clear()
