"""OpenAI's chat token rule: 3 tokens per message plus its values (`name` adds 1), plus 3 for the reply primer.

Tool definitions and tool calls are counted as their JSON text, image parts by the target's image rule
(image_tokens.py) when it has one. The rule matches the API's own counts in OpenAI's cookbook test (124 tokens with
o200k_base for its example).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from sys import intern
from typing import Any

from .tokens import TokenCounter
from .types import MessageTokens

PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMER = 3


# Tokens of one image content part (image_tokens.ImageTally for OpenAI's formula); None: images are not counted.
ImageCounter = Callable[[dict[str, Any]], int]


def _value_tokens(value: Any, counter: TokenCounter, images: ImageCounter | None = None) -> int:
    if isinstance(value, str):
        return counter.count(value)
    if isinstance(value, list):  # content parts: text counts; images by the target's image rule, when it has one
        total = 0
        for part in value:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    total += counter.count(text)
                elif images is not None and part.get("type") == "image_url":
                    total += images(part)
            elif isinstance(part, str):
                total += counter.count(part)
        return total
    return 0


def count_message(message: dict[str, Any], counter: TokenCounter, images: ImageCounter | None = None) -> int:
    if len(message) == 2:  # the common {"role", "content"} message, without the general loop
        role, content = message.get("role"), message.get("content")
        if isinstance(role, str) and isinstance(content, str):
            return PER_MESSAGE + counter.count(role) + counter.count(content)
    n = PER_MESSAGE
    for key, value in message.items():
        if key in ("tool_calls", "function_call") and value is not None:
            n += counter.count(json.dumps(value, ensure_ascii=False))
        elif key == "weight":
            continue
        else:
            n += _value_tokens(value, counter, images)
            if key == "name":
                n += PER_NAME
    return n


def count_example(
    messages: list[dict[str, Any]],
    counter: TokenCounter,
    *,
    extra: list[dict[str, Any]] = (),  # type: ignore[assignment]
    tools: Any = None,
    images: ImageCounter | None = None,
) -> tuple[int, tuple[MessageTokens, ...]]:
    per: list[MessageTokens] = []
    total = REPLY_PRIMER
    for m in messages + extra if extra else messages:
        n = count_message(m, counter, images)
        total += n
        role = m.get("role")
        per.append(_message_tokens(role if isinstance(role, str) else "?", n))
    if tools:
        total += counter.count(json.dumps(tools, ensure_ascii=False))
    return total, tuple(per)


_SHARED_TOKENS: dict[tuple[str, int], MessageTokens] = {}


def _message_tokens(role: str, n: int) -> MessageTokens:
    """One object per (role, count): a file's messages repeat a few roles and counts (~20 MB fewer at 100k)."""
    key = (role, n)
    shared = _SHARED_TOKENS.get(key)
    if shared is None:
        if len(_SHARED_TOKENS) >= 65_536:
            _SHARED_TOKENS.clear()
        shared = _SHARED_TOKENS[key] = MessageTokens(intern(role), n)  # one "user" string for all lines
    return shared
