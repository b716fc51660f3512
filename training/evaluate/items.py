"""A held-out JSONL file as evaluation items: the prompt each model answers, and the reference answer.

The prompt is every turn before the last assistant turn (for preference data, `input` / `prompt`); the reference is
that last assistant turn (for preference data, the preferred answer), its text and its tool calls. Lines that cannot
be evaluated (a broken line, a text-only line, a conversation without an assistant turn) are skipped and counted,
each with its reason, so one bad line never stops an evaluation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneline.analysis.formats import decoded_tools, detect, message_view
from tuneline.analysis.lines import decode_bytes
from tuneline.fileio import FileRefused, open_regular

MAX_FILE_BYTES = 1024**3  # a held-out file is small; a larger one is almost certainly the wrong file
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


class ItemsError(Exception):
    """The held-out file cannot be used at all: one sentence."""


@dataclass
class Skipped:
    line: int
    reason: str


@dataclass
class Item:
    """One example to evaluate. `line` is 1-based; `prompt` holds chat messages in the API's shape."""

    line: int
    prompt: list[dict[str, Any]]
    reference: str
    reference_tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{name, arguments}]
    tools: list[dict[str, Any]] | None = None
    raw_prompt: str | None = None  # prompt/completion text: a local model continues it as written (no template)

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "prompt": self.prompt,
            "reference": self.reference,
            "reference_tool_calls": self.reference_tool_calls,
            "tools": self.tools,
            "raw_prompt": self.raw_prompt,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        return cls(
            line=int(data["line"]),
            prompt=list(data["prompt"]),
            reference=str(data.get("reference") or ""),
            reference_tool_calls=list(data.get("reference_tool_calls") or []),
            tools=data.get("tools") or None,
            raw_prompt=data["raw_prompt"] if isinstance(data.get("raw_prompt"), str) else None,
        )


@dataclass
class HeldOut:
    path: Path
    sha256: str
    items: list[Item]
    skipped: list[Skipped]
    lines: int  # non-blank lines read

    def skipped_note(self) -> str | None:
        """One sentence about skipped lines, naming the first, or None."""
        if not self.skipped:
            return None
        first = self.skipped[0]
        more = f" (and {len(self.skipped) - 1} more)" if len(self.skipped) > 1 else ""
        return f"{len(self.skipped)} line(s) skipped: line {first.line}: {first.reason}{more}"


def text_of(content: Any) -> str:
    """A message's content as text: content parts joined (images and audio have no text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def tool_calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{name, arguments}]` of an assistant message (OpenAI's `tool_calls`, or the legacy `function_call`), with
    JSON-string arguments parsed where they parse."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        legacy = message.get("function_call")
        calls = [{"function": legacy}] if isinstance(legacy, dict) else []
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        args = fn.get("arguments")
        if isinstance(args, str):
            with contextlib.suppress(ValueError, RecursionError):
                args = json.loads(args)
        out.append({"name": fn["name"], "arguments": args})
    return out


def _message(m: dict[str, Any]) -> dict[str, Any]:
    """A prompt message with only the keys chat completions accepts (`weight` and the like dropped)."""
    out = {k: m[k] for k in MESSAGE_KEYS if k in m and m[k] is not None}
    out.setdefault("content", "" if not out.get("tool_calls") else None)
    if out.get("content") is None and not out.get("tool_calls"):
        out["content"] = ""
    return out


def _tools(obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = decoded_tools(obj.get("tools"))
    if not isinstance(tools, list) and isinstance(obj.get("functions"), list):  # the legacy field
        tools = [{"type": "function", "function": f} for f in obj["functions"] if isinstance(f, dict)]
    if not isinstance(tools, list):
        return None
    out = [t if "function" in t else {"type": "function", "function": t} for t in tools if isinstance(t, dict)]
    return out or None


def item_of(obj: Any, line: int) -> Item | Skipped:
    """The item for one parsed line, or why it is skipped."""
    if not isinstance(obj, dict):
        return Skipped(line, "not a JSON object")
    fmt = detect(obj)
    if fmt == "text":
        return Skipped(line, "a text line has no prompt and answer to compare")
    if fmt in ("unknown", "kto"):
        return Skipped(line, f"the {fmt} format has no reference answer to compare")
    messages, _ = message_view(obj, fmt)
    messages = [m for m in messages if isinstance(m, dict) and isinstance(m.get("role"), str)]
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return Skipped(line, "no assistant answer to compare with")
    prompt = [_message(m) for m in messages[:last]]
    if not any(m["role"] in ("user", "tool") for m in prompt):
        return Skipped(line, "no user turn before the answer")
    answer = messages[last]
    return Item(
        line=line,
        prompt=prompt,
        reference=text_of(answer.get("content")),
        reference_tool_calls=tool_calls_of(answer),
        tools=_tools(obj),
        raw_prompt=obj["prompt"] if fmt == "prompt-completion" and isinstance(obj.get("prompt"), str) else None,
    )


def read_held_out(path: Path, limit: int | None = None, lines: set[int] | None = None) -> HeldOut:
    """Every usable example of `path` (only the 1-based `lines` when given; the first `limit` of them when given).
    ItemsError when the file cannot be read or holds nothing to evaluate."""
    path = Path(path)
    try:
        with open_regular(path) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileRefused as exc:
        raise ItemsError(str(exc)) from None
    if len(data) > MAX_FILE_BYTES:
        raise ItemsError(f"{path} is larger than 1 GB; sample a held-out file of a few hundred examples")
    decoded = decode_bytes(data)
    items: list[Item] = []
    skipped: list[Skipped] = []
    seen = 0
    for number, text in enumerate(decoded.lines, start=1):
        text = text.lstrip("\ufeff") if number == 1 else text
        if not text.strip() or (lines is not None and number not in lines):
            continue
        seen += 1
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            skipped.append(Skipped(number, f"not valid JSON; run `tuneline check {path}`"))
            continue
        got = item_of(obj, number)
        if isinstance(got, Skipped):
            skipped.append(got)
            continue
        if limit is None or len(items) < limit:
            items.append(got)
    if not items:
        why = f" ({skipped[0].reason} on line {skipped[0].line})" if skipped else ""
        raise ItemsError(f"{path} holds no example that can be evaluated{why}")
    return HeldOut(path, hashlib.sha256(data).hexdigest(), items, skipped, seen)
