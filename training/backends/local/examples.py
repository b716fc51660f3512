"""A user's JSONL lines as `Example`s in TRL's shape: every format the local backend trains on converted (chat,
prompt/completion, text, alpaca, sharegpt; OpenAI, TRL and sharegpt preference pairs), the method the data calls
for, and the held-out split. A bad line raises one sentence naming the file and the line.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneline.analysis.formats import FORMAT_TITLES, RFT_FORMAT, decoded_tools, detect, message_view

from ..base import BackendError

DPO_FORMATS = ("openai-preference", "trl-preference", "sharegpt-preference")


@dataclass
class Example:
    """One usable line: `line` is 1-based, `row` is in TRL's shape, `weights` holds each message's weight."""

    line: int
    format: str
    row: dict[str, Any]
    weights: list[int] = field(default_factory=list)


def read_examples(path: Path) -> list[Example]:
    """Every non-blank line of a JSONL file as an `Example`; the first bad line raises a one-sentence error."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise BackendError(f"{path}: no such file") from None
    except OSError as exc:
        raise BackendError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    text = raw.decode("utf-8-sig", errors="replace")
    out: list[Example] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise BackendError(f"{path}:{number}: not valid JSON; run `tuneline check {path}`") from None
        if not isinstance(obj, dict):
            raise BackendError(f"{path}:{number}: a line must be a JSON object; run `tuneline check {path}`")
        out.append(to_example(obj, number, path))
    if not out:
        raise BackendError(f"{path}: the file holds no examples")
    return out


def to_example(obj: dict[str, Any], line: int, path: Path | str = "") -> Example:
    fmt = detect(obj)
    where = f"{path}:{line}"
    if fmt in ("chat", "alpaca", "sharegpt"):
        msgs, _ = message_view(obj, fmt)
        messages, weights = _clean_messages(msgs, where)
        if not any(m["role"] == "assistant" for m in messages):
            raise BackendError(f"{where}: the example has no assistant message to train on")
        row: dict[str, Any] = {"messages": messages}
        tools = _tools(obj.get("tools"))
        if tools:
            row["tools"] = tools
        return Example(line, "chat", row, weights)
    if fmt == "prompt-completion":
        prompt, completion = obj.get("prompt"), obj.get("completion")
        if isinstance(prompt, str) and isinstance(completion, str):
            return Example(line, fmt, {"prompt": prompt, "completion": completion})
        if isinstance(prompt, list) and isinstance(completion, list):
            p, _ = _clean_messages(prompt, where)
            c, _ = _clean_messages(completion, where)
            # Conversational prompt-completion is a chat whose prompt turns are never trained on.
            weights = [0 if m["role"] == "assistant" else 1 for m in p] + [1] * len(c)
            return Example(line, "chat", {"messages": p + c}, weights)
        raise BackendError(f"{where}: 'prompt' and 'completion' must both be strings or both message lists")
    if fmt == "text":
        if not isinstance(obj.get("text"), str) or not obj["text"]:
            raise BackendError(f"{where}: 'text' must be a non-empty string")
        return Example(line, fmt, {"text": obj["text"]})
    if fmt in DPO_FORMATS:
        return Example(line, "preference", _preference_row(obj, fmt, where))
    if fmt == RFT_FORMAT:  # a conversation that ends on a user turn: an RFT prompt, nothing to imitate
        raise BackendError(
            f"{where}: the example has no assistant message to train on (a conversation ending on a user turn is a "
            "reinforcement fine-tuning prompt, which the local trainer does not train)"
        )
    title = FORMAT_TITLES.get(fmt, fmt)
    raise BackendError(
        f"{where}: the {title} format cannot be trained locally; use chat, prompt/completion or preference"
    )


def _clean_messages(msgs: Sequence[Any], where: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Messages in the shape chat templates expect, and the OpenAI `weight` of each (1 when absent)."""
    out: list[dict[str, Any]] = []
    weights: list[int] = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BackendError(f"{where}: message {i + 1} needs a 'role'")
        content = m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if not all(isinstance(t, str) for t in texts):
                raise BackendError(f"{where}: message {i + 1} has a text part whose 'text' is not a string")
            content = "".join(texts)
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise BackendError(f"{where}: message {i + 1} has content that is not text")
        msg: dict[str, Any] = {"role": m["role"], "content": content}
        for key in ("name", "tool_call_id"):
            if isinstance(m.get(key), str):
                msg[key] = m[key]
        if isinstance(m.get("tool_calls"), list):
            msg["tool_calls"] = [
                _tool_call(c, f"{where}: message {i + 1}") for c in m["tool_calls"] if isinstance(c, dict)
            ]
        weight = m.get("weight", 1)
        if weight not in (0, 1) or isinstance(weight, bool):
            raise BackendError(f"{where}: message {i + 1} has weight {weight!r}; use 0 or 1")
        out.append(msg)
        weights.append(int(weight))
    return out, weights


def _tool_call(call: dict[str, Any], where: str) -> dict[str, Any]:
    """OpenAI sends `arguments` as a JSON string; HF chat templates expect a mapping."""
    fn = call.get("function") or {}
    if not isinstance(fn, dict):
        raise BackendError(f"{where} has a tool call whose 'function' is not an object")
    fn = dict(fn)
    if isinstance(fn.get("arguments"), str):
        with contextlib.suppress(ValueError, RecursionError):  # not JSON (TL115): the template gets the string
            fn["arguments"] = json.loads(fn["arguments"])
    return {"type": call.get("type", "function"), "function": fn, **({"id": call["id"]} if "id" in call else {})}


def _tools(tools: Any) -> list[dict[str, Any]] | None:
    tools = decoded_tools(tools)
    return [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) and tools else None


def _preference_row(obj: dict[str, Any], fmt: str, where: str) -> dict[str, Any]:
    if fmt == "openai-preference":
        inp = obj.get("input")
        prompt = inp.get("messages") if isinstance(inp, dict) else None
        chosen, rejected = obj.get("preferred_output"), obj.get("non_preferred_output")
    elif fmt == "sharegpt-preference":
        prompt, chosen, rejected = (
            message_view({"conversations": obj.get(key)}, "sharegpt")[0]
            for key in ("conversations", "chosen", "rejected")
        )
    else:
        prompt, chosen, rejected = obj.get("prompt"), obj.get("chosen"), obj.get("rejected")
    if prompt is None or chosen is None or rejected is None:
        raise BackendError(f"{where}: a preference example needs a prompt, a preferred and a rejected answer")
    if isinstance(prompt, str) and isinstance(chosen, str) and isinstance(rejected, str):
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    sides = []
    for value in (chosen, rejected):
        if isinstance(value, str):
            value = [{"role": "assistant", "content": value}]
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not value:
            raise BackendError(f"{where}: the preferred and rejected answers must be strings or message lists")
        sides.append(_clean_messages(value, where)[0])
    prompt_msgs, _ = _clean_messages(prompt if isinstance(prompt, list) else [], where)
    if not prompt_msgs:
        raise BackendError(f"{where}: the preference prompt holds no messages")
    return {"prompt": prompt_msgs, "chosen": sides[0], "rejected": sides[1]}


def method_for(examples: Sequence[Example], wanted: str = "auto") -> str:
    """ "sft" or "dpo" from the data; a file mixing both, or a method the data cannot feed, is refused."""

    def kind(e: Example) -> str:
        return "dpo" if e.format == "preference" else "sft"

    found = kind(examples[0])
    odd = next((e for e in examples if kind(e) != found), None)
    if odd is not None:
        raise BackendError(f"line {odd.line} mixes preference pairs with supervised examples; keep one kind per file")
    if wanted != "auto" and wanted != found:
        need = "preference pairs (prompt/chosen/rejected)" if wanted == "dpo" else "chat or prompt/completion lines"
        raise BackendError(f"method {wanted!r} needs {need}, but the file holds {found.upper()} data")
    return found


def split_examples(
    examples: list[Example], share: float, seed: int, validation: list[Example] | None = None
) -> tuple[list[Example], list[Example]]:
    """(train, held out): the validation file when there is one, else a seeded random share of the data."""
    if validation is not None:
        return examples, validation
    n = len(examples)
    held = 0 if share <= 0 or n < 5 else min(n - 1, max(1, round(n * share)))
    if not held:
        return examples, []
    order = list(range(n))
    random.Random(seed).shuffle(order)
    chosen = set(order[:held])
    return [e for i, e in enumerate(examples) if i not in chosen], [e for i, e in enumerate(examples) if i in chosen]
