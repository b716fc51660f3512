"""Dataset formats: detection per line, and each format seen as a list of chat messages.

The message view gives every format the same token count (OpenAI's chat rule), the same duplicate and
conflicting-answer keys, and the conversion quick fix (alpaca / sharegpt -> chat).
"""

from __future__ import annotations

import json
from typing import Any

FORMAT_TITLES = {
    "chat": "chat (messages)",
    "rft": "reinforcement (OpenAI RFT: messages ending on a user turn)",
    "kto": "unpaired preference (messages + label, KTO)",
    "openai-preference": "preference (OpenAI DPO: input / preferred_output / non_preferred_output)",
    "trl-preference": "preference (TRL: prompt / chosen / rejected)",
    "sharegpt-preference": "preference (sharegpt: conversations / chosen / rejected)",
    "prompt-completion": "prompt / completion",
    "text": "text",
    "alpaca": "alpaca (instruction / input / output)",
    "sharegpt": "sharegpt (conversations)",
    "bedrock": "Amazon Bedrock conversation (schemaVersion / system / messages of content blocks), Bedrock's own format",
    "unknown": "unknown",
}

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
}


RFT_FORMAT = "rft"
# The top-level keys of an OpenAI chat line; any other key beside `messages` on a line that ends on a user turn is a
# grader field (`reference_answer`, ...), which only reinforcement fine-tuning reads.
CHAT_LINE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})


def _last_role(messages: Any) -> str | None:
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        role = messages[-1].get("role")
        return role if isinstance(role, str) else None
    return None


def _roles(messages: list[Any]) -> set[str]:
    """The string roles of the messages (a role of another type is the chat rules' TL105 to report, not a crash)."""
    return {role for m in messages if isinstance(m, dict) and isinstance(role := m.get("role"), str)}


BEDROCK_FORMAT = "bedrock"


def is_bedrock(obj: dict[str, Any]) -> bool:
    """Amazon Bedrock's conversation format: `schemaVersion` "bedrock-conversation-…", or `system` as a list of
    content blocks beside `messages`. It looks like chat, but its content blocks have no `type`."""
    version = obj.get("schemaVersion")
    if isinstance(version, str):
        return version.startswith("bedrock")
    return "messages" in obj and isinstance(obj.get("system"), list)


def _blocks_text(blocks: Any) -> str:
    if isinstance(blocks, list):
        return "\n".join(b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str))
    return blocks if isinstance(blocks, str) else ""


def detect(obj: dict[str, Any]) -> str:
    """The line's format. A `messages` line is an OpenAI reinforcement (RFT) prompt when it ends on a user turn and
    says so in one more way: a `developer` message or grader fields beside `messages` (`reference_answer`, ...), or
    no assistant turn and no system message (a system message with no answer is a supervised line missing its
    answer: RFT takes no system messages). A chat line that merely ends on a user turn stays chat (see
    `also_fits`): in a supervised file that is a missing answer, not a different format."""
    if ("schemaVersion" in obj or "system" in obj) and is_bedrock(obj):
        return BEDROCK_FORMAT
    if "messages" in obj:
        if "label" in obj:
            return "kto"
        messages = obj["messages"]
        if _last_role(messages) == "user":
            roles = _roles(messages)
            if "developer" in roles or any(k not in CHAT_LINE_KEYS for k in obj):
                return RFT_FORMAT
            if "assistant" not in roles and "system" not in roles:
                return RFT_FORMAT
        return "chat"
    if "input" in obj and ("preferred_output" in obj or "non_preferred_output" in obj):
        return "openai-preference"
    if "chosen" in obj or "rejected" in obj:
        return "sharegpt-preference" if "conversations" in obj else "trl-preference"
    if "conversations" in obj:
        return "sharegpt"
    if "completion" in obj:
        return "prompt-completion"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    if "text" in obj:
        return "text"
    return "unknown"


def also_fits(obj: dict[str, Any], fmt: str) -> str | None:
    """A second format the line is valid in: a chat line ending on a user turn is also a multi-turn RFT prompt."""
    if fmt == "chat" and _last_role(obj.get("messages")) == "user":
        return RFT_FORMAT
    return None


def _msgs(value: Any, default_role: str) -> list[dict[str, Any]]:
    """A string or a message list (TRL's conversational variants) as messages."""
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if isinstance(value, list):
        return [m for m in value if isinstance(m, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def _sharegpt(turns: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(turns, dict):
        turns = [turns]
    if not isinstance(turns, list):
        return out
    for t in turns:
        if isinstance(t, dict):
            role = SHAREGPT_ROLES.get(str(t.get("from", "")).lower(), str(t.get("from", "")))
            out.append({"role": role, "content": t.get("value", "")})
    return out


def message_view(obj: dict[str, Any], fmt: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(prompt-and-answer messages, extra answer messages).

    The first list is the conversation a trainer sees; the second holds the other side of a preference pair
    (counted for tokens, kept out of the conversation keys).
    """
    if fmt in ("chat", "kto", RFT_FORMAT):
        msgs = obj.get("messages")
        return ([m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []), []
    if fmt == "openai-preference":
        inp = obj.get("input")
        msgs = inp.get("messages") if isinstance(inp, dict) else None
        base = [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []
        return base + _msgs(obj.get("preferred_output"), "assistant"), _msgs(
            obj.get("non_preferred_output"), "assistant"
        )
    if fmt == "trl-preference":
        return _msgs(obj.get("prompt"), "user") + _msgs(obj.get("chosen"), "assistant"), _msgs(
            obj.get("rejected"), "assistant"
        )
    if fmt == "sharegpt-preference":
        return _sharegpt(obj.get("conversations")) + _sharegpt(obj.get("chosen")), _sharegpt(obj.get("rejected"))
    if fmt == "prompt-completion":
        return _msgs(obj.get("prompt"), "user") + _msgs(obj.get("completion"), "assistant"), []
    if fmt == "text":
        return [{"role": "assistant", "content": obj.get("text")}], []
    if fmt == "alpaca":
        msgs = []
        if isinstance(obj.get("system"), str) and obj["system"]:
            msgs.append({"role": "system", "content": obj["system"]})
        for q, a in alpaca_history(obj)[0]:
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        instruction = obj.get("instruction") or ""
        extra = obj.get("input") or ""
        prompt = f"{instruction}\n\n{extra}" if instruction and extra else instruction or extra
        msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": obj.get("output")}]
        return msgs, []
    if fmt == "sharegpt":
        msgs = []
        if isinstance(obj.get("system"), str) and obj["system"]:
            msgs.append({"role": "system", "content": obj["system"]})
        return msgs + _sharegpt(obj.get("conversations")), []
    if fmt == BEDROCK_FORMAT:
        system = _blocks_text(obj.get("system"))
        msgs = [{"role": "system", "content": system}] if system else []
        turns = obj.get("messages")
        for m in turns if isinstance(turns, list) else ():
            if isinstance(m, dict):
                msgs.append({"role": m.get("role"), "content": _blocks_text(m.get("content"))})
        return msgs, []
    return [], []


CONVERTIBLE = frozenset({"alpaca", "sharegpt", "prompt-completion"})


def decoded_tools(tools: Any) -> Any:
    """An example's `tools` value, with a string holding JSON decoded (None when it is not JSON).

    Some exporters write `tools` as a JSON string rather than a list; the rules, the conversion and the trainers
    read both the same way, so one undecodable string means "no tools" everywhere.
    """
    if isinstance(tools, str):
        try:
            return json.loads(tools)
        except (ValueError, RecursionError):
            return None
    return tools


def alpaca_history(obj: dict[str, Any]) -> tuple[list[list[Any]], bool]:
    """The earlier turns of an alpaca line, LLaMA-Factory's `history` (`[[instruction, response], ...]`): its
    two-item entries, and whether they are all of it, each a pair of strings. Anything else is TL108's to report;
    unpacking every entry blindly crashed on `[[1, 2, 3]]` and split `"ab"` into two turns."""
    history = obj.get("history")
    if history is None or history == "":
        return [], True
    if type(history) is not list:
        return [], False
    pairs = [pair for pair in history if type(pair) is list and len(pair) == 2]
    return pairs, len(pairs) == len(history) and all(type(x) is str for pair in pairs for x in pair)


def to_chat_line(obj: dict[str, Any], fmt: str) -> str | None:
    """The example rewritten as an OpenAI chat line, for the conversion quick fix (alpaca, sharegpt and
    prompt/completion: each has one conversation that chat messages hold without loss)."""
    if fmt not in CONVERTIBLE:
        return None
    if fmt == "prompt-completion" and not all(isinstance(obj.get(k), str) for k in ("prompt", "completion")):
        return None  # message lists may carry tool calls and names that a role/content rewrite would drop
    if fmt == "alpaca" and (
        not alpaca_history(obj)[1]
        or not all(isinstance(obj.get(k, ""), str) for k in ("instruction", "input", "output", "system"))
    ):
        return None  # a field that is no string (TL108 says so), or a `history` a rewrite would drop or garble
    msgs, _ = message_view(obj, fmt)
    if not msgs:
        return None
    out: dict[str, Any] = {"messages": [{"role": m["role"], "content": m.get("content", "")} for m in msgs]}
    tools = decoded_tools(obj.get("tools"))
    if obj.get("tools") not in (None, "", []) and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        return None  # tools that are not a list of objects (an undecodable string, say): a rewrite would drop them
    if isinstance(tools, list) and tools:
        out["tools"] = [
            t if "function" in t else {"type": "function", "function": t} for t in tools if isinstance(t, dict)
        ]
    return json.dumps(out, ensure_ascii=False)
