"""TL122: tool-call arguments that are not a JSON object, or that break the called tool's declared JSON Schema.

Why: a trainer learns the arguments exactly as written. A double-encoded string (`"\\"{\\\\\\"city\\\\\\": …}\\""`)
teaches the model to emit a string where the API expects an object, and arguments that break the declared schema
(a wrong type, a missing required property, a value outside `enum`, an unknown property where
`additionalProperties` is false) teach calls that fail at run time.

Calls are read from chat `tool_calls` and legacy `function_call` (arguments: a string holding JSON), and from
sharegpt `function_call` turns (LLaMA-Factory's `{"name", "arguments"}` with arguments as an object), against the
`tools` / `functions` the example declares. Schemas are validated with `jsonschema` when it is installed (one
validator per distinct schema, cached); without it only the not-an-object check runs. A schema that is itself
invalid is TL117's business and is skipped here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from ..formats import decoded_tools
from ..scan import PathItem
from ..types import Severity
from .base import Collector, describe, short

Path = tuple[PathItem, ...]
_MAX_ERRORS = 3


class Call(NamedTuple):
    name: str | None
    arguments: Any  # the decoded arguments (or the raw value when they are not a string)
    encoded: bool  # arguments came as a string holding JSON (OpenAI's rule)
    path: Path  # of the arguments value


def _declared(obj: dict[str, Any]) -> dict[str, Any]:
    """Function name -> parameters schema, from `tools` (a list, or a string holding one) and `functions`."""
    out: dict[str, Any] = {}
    tools, functions = decoded_tools(obj.get("tools")), obj.get("functions")
    for entry in [*(tools if isinstance(tools, list) else ()), *(functions if isinstance(functions, list) else ())]:
        if not isinstance(entry, dict):
            continue
        fn: dict[str, Any] = entry["function"] if isinstance(entry.get("function"), dict) else entry
        name, params = fn.get("name"), fn.get("parameters")
        if isinstance(name, str) and isinstance(params, dict):
            out[name] = params
    return out


def _openai_calls(messages: Any, path: Path) -> Iterator[Call]:
    if not isinstance(messages, list):
        return
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        calls = m.get("tool_calls")
        for j, call in enumerate(calls if isinstance(calls, list) else ()):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                yield Call(fn.get("name"), fn["arguments"], True, (*path, i, "tool_calls", j, "function", "arguments"))
        fc = m.get("function_call")
        if isinstance(fc, dict) and isinstance(fc.get("arguments"), str):
            yield Call(fc.get("name"), fc["arguments"], True, (*path, i, "function_call", "arguments"))


def _sharegpt_calls(turns: Any, path: Path) -> Iterator[Call]:
    for i, t in enumerate(turns if isinstance(turns, list) else ()):
        if not isinstance(t, dict) or str(t.get("from", "")).lower() != "function_call":
            continue
        try:
            call = json.loads(t.get("value") or "")
        except (ValueError, TypeError, RecursionError):
            continue  # not JSON at all: the format rules' business
        if isinstance(call, dict) and "arguments" in call:
            args = call["arguments"]
            yield Call(call.get("name"), args, isinstance(args, str), (*path, i, "value"))


def _calls(obj: dict[str, Any], fmt: str) -> tuple[dict[str, Any], list[Call]]:
    if fmt in ("chat", "rft"):
        return _declared(obj), list(_openai_calls(obj.get("messages"), ("messages",)))
    if fmt == "openai-preference":
        inp: dict[str, Any] = obj["input"] if isinstance(obj.get("input"), dict) else {}
        calls = [*_openai_calls(inp.get("messages"), ("input", "messages"))]
        calls += _openai_calls(obj.get("preferred_output"), ("preferred_output",))
        return _declared(inp), calls
    if fmt in ("sharegpt", "sharegpt-preference"):
        calls = list(_sharegpt_calls(obj.get("conversations"), ("conversations",)))
        return _declared(obj), calls
    return {}, []


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    """A compiled validator for one schema, or None (no jsonschema installed, or the schema is not valid)."""
    try:
        import jsonschema
    except ImportError:
        return None
    from .schema_regex import bounded  # here, not at the top: importing `regex` costs a small file's check ~20 ms

    schema = json.loads(schema_json)
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except Exception:  # the schema is the file's, and jsonschema refuses odd ones in many ways (a `$schema` of 5,
        return None  # a pattern re cannot compile: OverflowError): such a schema is not judged
    return bounded(cls)(schema)  # the schema's regular expressions under a time limit (`schema_regex`)


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}" if str(p).isidentifier() else f"[{json.dumps(p)}]"
    return out


def _schema_errors(schema: dict[str, Any], args: dict[str, Any]) -> list[str]:
    try:
        key = json.dumps(schema, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return []
    validator = _validator(key)
    if validator is None:
        return []
    try:
        errors = sorted(validator.iter_errors(args), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    except Exception:  # a `$ref` to nowhere or to itself (RecursionError), `multipleOf` against 1e999, a type no
        return []  # draft knows: the schema cannot judge these arguments, and the line is no less an example

    return [f"at {_json_path(e.absolute_path)}: {short(e.message, 100)}" for e in errors[:_MAX_ERRORS]]


def check_tool_arguments(obj: dict[str, Any], fmt: str, c: Collector) -> None:
    """TL122 on every call of the example (error: not an object; warning: breaks the declared schema)."""
    declared, calls = _calls(obj, fmt)
    for call in calls:
        who = f"{call.name!r}" if isinstance(call.name, str) else "the call"
        args = call.arguments
        if call.encoded:
            try:
                args = json.loads(args)
            except (ValueError, RecursionError):
                continue  # not JSON at all: TL115 reports it
        if isinstance(args, str):
            inner: Any = None
            with contextlib.suppress(ValueError, RecursionError):
                inner = json.loads(args)
            what = "double-encoded: a JSON string holding JSON" if isinstance(inner, (dict, list)) else "a string"
            c.add(
                "TL122",
                f"Arguments of {who} are {what}, not a JSON object: the model learns to emit a string where the "
                "API expects an object. Decode them once.",
                call.path,
            )
            continue
        if not isinstance(args, dict):
            c.add("TL122", f"Arguments of {who} are {describe(args)}, not a JSON object.", call.path)
            continue
        schema = declared.get(call.name) if isinstance(call.name, str) else None
        if schema is None:
            continue
        errors = _schema_errors(schema, args)
        if errors:
            more = "; ".join(errors)
            c.add(
                "TL122",
                f"Arguments of {who} break its declared parameters schema {more}.",
                call.path,
                severity=Severity.WARNING,
            )
