"""The text of an example that near-duplicate detection compares: its user and assistant turns.

The system prompt is left out on purpose: a shared system prompt would make every example look alike.

Images are part of an example's identity: two questions with the same words about different pictures are
different examples. So the text starts with a line naming the example's images (a digest of each URL or inline
data, in order) and the detector pairs only examples whose image lines are equal (`same_images`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec

from ..analysis.formats import detect, message_view
from ..analysis.json_read import read_json, shallow
from ..analysis.lines import BOM
from ..analysis.rules.base import normal_ascii


def _content(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(p.get("text", "") for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


IMAGE_LINE = "[images: "
# What `example_text` makes of a line. A semantic search result is stored under a digest of the file's lines and
# this (so a warm check of an unchanged file reads no text at all): change it whenever `example_text`'s output for
# any line changes. tests/neardup pin its output on a sample to this value.
TEXTS_FORMAT = "texts-v1"


def _image_ids(obj: dict[str, Any], messages: list[dict[str, Any]]) -> list[str]:
    """A short digest per image: image_url parts (URL or data URL), and a top-level `images` / `image` list of
    paths or URLs (LLaMA-Factory's and TRL's vision layouts)."""
    refs: list[str] = []
    for m in messages:
        content = m.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") in ("image_url", "image"):
                ref = part.get("image_url")
                ref = ref.get("url") if isinstance(ref, dict) else ref if isinstance(ref, str) else part.get("image")
                refs.append(ref if isinstance(ref, str) else json.dumps(ref, sort_keys=True, default=str))
    for key in ("images", "image"):
        value = obj.get(key)
        for ref in value if isinstance(value, list) else [value] if isinstance(value, str) else ():
            refs.append(ref if isinstance(ref, str) else json.dumps(ref, sort_keys=True, default=str))
    return [hashlib.blake2b(r.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest() for r in refs]


def same_images(a: str, b: str) -> bool:
    """Whether two comparable texts are about the same images (both about none counts)."""
    return _image_line(a) == _image_line(b)


def _image_line(text: str) -> str:
    return text[: text.find("\n") + 1 or len(text)] if text.startswith(IMAGE_LINE) else ""


def example_text(line: str) -> str | None:
    """The comparable text of one JSONL line, or None for a line that is not an example."""
    if line.startswith(BOM):
        line = line[1:]
    if not line.strip():
        return None
    if '"messages"' in line and shallow(line):
        try:
            typed = _CHAT_LINE(line)
        except (msgspec.DecodeError, RecursionError, UnicodeError):
            pass  # another shape (or invalid JSON): the general path says which
        else:
            fast = _typed_chat_text(typed)
            if fast is not False:
                return fast
    try:
        obj = read_json(line)[0]  # json.loads' value, in about half its time
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    fast = _plain_chat_text(obj)
    if fast is not False:
        return fast
    messages, extra = message_view(obj, detect(obj))
    images = _image_ids(obj, [*messages, *extra])
    parts = [f"{IMAGE_LINE}{' '.join(images)}]"] if images else []
    for m in (*messages, *extra):
        if text := _turn(m.get("role"), _content(m.get("content")), m.get("tool_calls") or m.get("function_call")):
            parts.append(text)
    return "\n".join(parts) if len(parts) > bool(images) else None


class _Message(msgspec.Struct):
    role: Any = None
    content: str | None = None
    tool_calls: Any = None
    function_call: Any = None


class _ChatLine(msgspec.Struct):
    """The commonest line's shape, decoded without building a dict per object (half of msgspec's untyped time):
    the top-level keys that send a line down the general path are decoded only to see that they are there."""

    messages: list[_Message]
    system: Any = msgspec.UNSET
    schemaVersion: Any = msgspec.UNSET
    images: Any = msgspec.UNSET
    image: Any = msgspec.UNSET


_CHAT_LINE = msgspec.json.Decoder(_ChatLine).decode


def _typed_chat_text(line: _ChatLine) -> str | bool | None:
    """`_plain_chat_text` of a line decoded as `_ChatLine` (False for a line it sends to the general path)."""
    if not (line.system is line.schemaVersion is line.images is line.image is msgspec.UNSET):
        return False
    parts = []
    for m in line.messages:
        if text := _turn(m.role, m.content or "", m.tool_calls or m.function_call):
            parts.append(text)
    return "\n".join(parts) if parts else None


def _turn(role: object, content: str, calls: object) -> str:
    """One message's share of the comparable text (every path takes it from here): nothing for the system prompt;
    its words, then its tool calls as JSON, with whitespace squeezed."""
    if role == "system":
        return ""
    if calls:
        content = f"{content} {json.dumps(calls, ensure_ascii=False)}"
    return squeeze(content)


def squeeze(text: str) -> str:
    """`" ".join(text.split())`: runs of whitespace as one space, none at either end. Most texts are ASCII with
    single spaces already (`normal_ascii` tells in a few substring tests): they are not split into a list of words
    and joined again (2.5x faster on the bench's texts)."""
    return text if normal_ascii(text) else " ".join(text.split())


def _plain_chat_text(obj: dict[str, Any]) -> str | bool | None:
    """`example_text` of the commonest line, a `messages` list of string contents without images, in one pass
    (False for any other line: the general path handles it)."""
    messages = obj.get("messages")
    if type(messages) is not list or "system" in obj or "schemaVersion" in obj or "images" in obj or "image" in obj:
        return False
    parts = []
    for m in messages:
        if type(m) is not dict:
            continue
        content = m.get("content")
        if type(content) is not str:
            if content is not None:
                return False
            content = ""
        if text := _turn(m.get("role"), content, m.get("tool_calls") or m.get("function_call")):
            parts.append(text)
    return "\n".join(parts) if parts else None
