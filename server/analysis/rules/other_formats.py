"""Rules for the formats other than plain chat: preference pairs, prompt/completion, text, alpaca, sharegpt."""

from __future__ import annotations

import math
from typing import Any

from ..formats import SHAREGPT_ROLES, alpaca_history
from ..types import Severity
from .base import Collector, describe, nearest
from .chat import (
    CHAT_KEYS,
    KTO_KEYS,
    PREFERENCE_INPUT_KEYS,
    check_messages,
    check_unknown_keys,
    defined_functions,
    refused_keys,
)
from .content_forms import ContentForms, check_content_forms
from .edits import replace_value
from .platform import DEFAULT_PLATFORM, Platform

# A provider with strict keys (Together's upload check: only `tools` beside `messages`, nothing beside a
# prompt/completion pair or a text) refuses any other key, and a line that fits two formats with it.
_STRICT_CHAT_KEYS = frozenset({"messages", "tools"})
# A chat line's allowed top-level keys by (strict keys, whole-example weight): chosen once a line, not built
_ALLOWED_CHAT_KEYS = {
    (False, False): CHAT_KEYS,
    (True, False): _STRICT_CHAT_KEYS,
    (False, True): CHAT_KEYS | {"weight"},
    (True, True): _STRICT_CHAT_KEYS | {"weight"},
}
_PROMPT_COMPLETION_KEYS = frozenset({"prompt", "completion"})
_TEXT_KEYS = frozenset({"text"})


def _example_weight(obj: dict, c: Collector, p: Platform) -> None:
    """A whole example's `weight` (Fireworks): any finite number; whether every example has one is TL129's."""
    if "weight" not in obj:
        return
    weight = obj["weight"]
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        c.add("TL114", f"The example's `weight` must be a number for {p.title}, not {describe(weight)}.", ("weight",))
    elif not math.isfinite(weight):
        what = "NaN" if weight != weight else "infinite (a number too large for a float)"
        c.add(
            "TL114", f"The example's `weight` must be a finite number for {p.title}; this one is {what}.", ("weight",)
        )


def _example_words(kind: str, p: Platform) -> str:
    return f"a {kind} example ({p.title} refuses every other key)" if p.strict_keys else f"a {kind} example"


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


_MEMO_MAX = 256  # role sequences remembered per platform: a file has a few; a cap bounds a pathological one
_MEMO_ROLE_MAX = 64  # a longer role is no real role (a typo's finding quotes it): walked, not remembered


def _plain_roles(obj: dict) -> tuple[str, ...] | None:
    """The roles of a line that is `{"messages": [...]}` and nothing else, every message `{"role": str, "content":
    str}` with some non-space text; None for any other line. For such a line every chat finding depends on the
    roles alone (and the platform): which roles are taken, their order, the first and last, a tool message's
    missing call id. Content, weights, tools and keys, the checks that read more, find nothing on it."""
    if len(obj) != 1:
        return None
    messages = obj.get("messages")
    if type(messages) is not list or not messages:
        return None
    roles = []
    for m in messages:
        if type(m) is not dict or len(m) != 2:
            return None
        role, content = m.get("role"), m.get("content")
        if type(role) is not str or type(content) is not str or not content or content.isspace():
            return None
        if len(role) > _MEMO_ROLE_MAX:
            return None
        roles.append(role)
    return tuple(roles)


def check_chat(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    """A supervised chat line: only OpenAI's chat keys, and a conversation with an answer to train on.

    A plain conversation (`_plain_roles`) takes its findings from the platform's memo of role sequences: most files
    repeat one or two (system, user, assistant), and the full walk was a sixth of a clean line's time. The memo
    holds the findings as path-addressed `Pending` items, which the engine only reads, placed on each line."""
    roles = _plain_roles(obj)
    if roles is None:
        _check_chat(obj, c, p)
        return
    memo = p.memo
    found = memo.get(roles)
    if found is None:
        own = Collector()
        _check_chat(obj, own, p)
        found = tuple(own.items)
        if len(memo) < _MEMO_MAX:
            memo[roles] = found
    c.items.extend(found)


def _check_chat(obj: dict, c: Collector, p: Platform) -> None:
    if p.example_weight:
        _example_weight(obj, c, p)
    keyed = obj
    if p.strict_keys:  # `tools` / `parallel_tool_calls` the provider refuses are refused_keys' to report, in its words
        refused = {k for k in ("tools", "parallel_tool_calls") if k in obj and getattr(p, k) is False}
        if refused:
            keyed = {k: v for k, v in obj.items() if k not in refused}
    check_unknown_keys(keyed, _ALLOWED_CHAT_KEYS[p.strict_keys, p.example_weight], c, (), _example_words("chat", p))
    refused_keys(obj, c, (), p)
    defined = defined_functions(obj, c, ())
    check_messages(obj.get("messages"), c, ("messages",), mode="sft", defined=defined, platform=p, method="sft")


def check_rft(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    """A reinforcement (RFT) prompt: the conversation ends on a user turn (the model writes the answer, a grader
    scores it), and any top-level key beside `messages` and `tools` is a grader field such as `reference_answer`."""
    refused_keys(obj, c, (), p)
    defined = defined_functions(obj, c, ())
    check_messages(obj.get("messages"), c, ("messages",), mode="rft", defined=defined, platform=p, method="rft")


def check_kto(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    check_unknown_keys(obj, KTO_KEYS, c, (), "a KTO example")
    check_messages(obj.get("messages"), c, ("messages",), mode="sft", platform=p, method="sft")
    if not isinstance(obj.get("label"), bool):
        c.add("TL109", f"`label` must be true or false, not {describe(obj.get('label'))}.", ("label",))


def check_openai_preference(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    """A preference pair: input messages, and one assistant message on each side. The pair is one example: the
    content forms of the input and both outputs are judged together (Together's check holds them to one form)."""
    forms = ContentForms()
    check_unknown_keys(
        obj, frozenset({"input", "preferred_output", "non_preferred_output"}), c, (), "a preference example"
    )
    inp = obj.get("input")
    if not isinstance(inp, dict):
        c.add("TL120", f"`input` must be an object with `messages`, not {describe(inp)}.", ("input",))
    else:
        check_unknown_keys(inp, PREFERENCE_INPUT_KEYS, c, ("input",), "`input`")
        refused_keys(inp, c, ("input",), p)
        defined = defined_functions(inp, c, ("input",))
        check_messages(
            inp.get("messages"),
            c,
            ("input", "messages"),
            mode="prompt",
            defined=defined,
            platform=p,
            method="dpo",
            forms=forms,
        )
    sides = {}
    for side in ("preferred_output", "non_preferred_output"):
        value = obj.get(side)
        if side not in obj:
            c.add("TL120", f"`{side}` is missing.", ())
            continue
        if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
            n = len(value) if isinstance(value, list) else describe(value)
            c.add("TL120", f"`{side}` must hold exactly one assistant message (it holds {n}).", (side,))
            continue
        msg = value[0]
        if msg.get("role") != "assistant":
            c.add("TL120", f"The message in `{side}` must have role 'assistant'.", (side, 0))
        check_messages(value, c, (side,), mode="output", platform=p, method="dpo", forms=forms)
        sides[side] = msg.get("content")
    check_content_forms(forms, c, p, "preference pair")
    if len(sides) == 2 and sides["preferred_output"] == sides["non_preferred_output"]:
        c.add(
            "TL120",
            "The preferred and non-preferred answers are identical: the pair teaches nothing.",
            ("non_preferred_output",),
        )


def check_trl_preference(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    for key in ("chosen", "rejected"):
        if key not in obj:
            c.add("TL120", f"`{key}` is missing: a preference pair needs both `chosen` and `rejected`.", ())
        elif _empty(obj[key]):
            c.add("TL121", f"`{key}` is empty.", (key,))
        elif isinstance(obj[key], list):
            check_messages(obj[key], c, (key,), mode="output", platform=p, method="dpo")
    if "prompt" in obj:
        if _empty(obj["prompt"]):
            c.add("TL121", "`prompt` is empty.", ("prompt",))
        elif isinstance(obj["prompt"], list):
            check_messages(obj["prompt"], c, ("prompt",), mode="prompt", platform=p, method="dpo")
    if "chosen" in obj and obj.get("chosen") == obj.get("rejected") and not _empty(obj.get("chosen")):
        c.add("TL120", "`chosen` and `rejected` are identical: the pair teaches nothing.", ("rejected",))


def check_prompt_completion(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    if p.strict_keys:
        check_unknown_keys(obj, _PROMPT_COMPLETION_KEYS, c, (), _example_words("prompt/completion", p))
    for key in ("prompt", "completion"):
        if key not in obj:
            c.add("TL121", f"`{key}` is missing.", ())
        elif _empty(obj[key]):
            c.add("TL121", f"`{key}` is empty.", (key,))
        elif not isinstance(obj[key], (str, list)):
            c.add("TL108", f"`{key}` must be a string or a list of messages, not {describe(obj[key])}.", (key,))
        elif isinstance(obj[key], list):
            if p.prompt_completion_messages is False and any(isinstance(m, dict) and "role" in m for m in obj[key]):
                c.add(
                    "TL108",
                    f"`{key}` must be text for {p.title} (a string, or content parts), not a list of messages: "
                    "write the conversation as `messages` instead.",
                    (key,),
                )
                continue
            mode = "prompt" if key == "prompt" else "output"
            check_messages(obj[key], c, (key,), mode=mode, platform=p, method="sft")


def check_text(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    if p.strict_keys:
        check_unknown_keys(obj, _TEXT_KEYS, c, (), _example_words("text", p))
    text = obj.get("text")
    if not isinstance(text, str):
        c.add("TL108", f"`text` must be a string, not {describe(text)}.", ("text",))
    elif not text.strip():
        c.add("TL121", "`text` is empty.", ("text",))


def check_alpaca(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    for key in ("instruction", "output"):
        value = obj.get(key)
        if not isinstance(value, str):
            c.add("TL108", f"`{key}` must be a string, not {describe(value)}.", (key,))
        elif not value.strip() and not (key == "instruction" and str(obj.get("input") or "").strip()):
            c.add("TL121", f"`{key}` is empty.", (key,))
    if "input" in obj and not isinstance(obj["input"], str):
        c.add("TL108", f"`input` must be a string, not {describe(obj['input'])}.", ("input",))
    _check_history(obj, c)


def _check_history(obj: dict, c: Collector) -> None:
    """LLaMA-Factory's `history` of earlier turns: a list of [instruction, response] string pairs. It skips a
    `history` that is no list (so those turns never train: a warning) and fails on an entry that is no pair."""
    if alpaca_history(obj)[1]:
        return  # none, or all pairs of strings (the formats module's reading, which the counts and conversion use)
    history = obj["history"]
    if not isinstance(history, list):
        c.add(
            "TL108",
            f"`history` must be a list of [instruction, response] pairs, not {describe(history)}: trainers skip "
            "it, so its turns never train.",
            ("history",),
            severity=Severity.WARNING,
        )
        return
    for i, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            if not isinstance(pair, list):
                what = describe(pair)
            elif len(pair) != 2:
                what = f"a list of {len(pair)}"
            else:
                what = "a pair holding " + describe(next(x for x in pair if not isinstance(x, str)))
            c.add(
                "TL108",
                f"`history` entry {i} must be an [instruction, response] pair of strings, not {what}.",
                ("history", i),
            )


def _check_turns(turns: Any, c: Collector, path: tuple, *, need_answer: bool) -> None:
    if isinstance(turns, dict):
        turns, path = [turns], path
        single = True
    else:
        single = False
    if not isinstance(turns, list) or not turns:
        c.add("TL102", f"`{path[0]}` must be a non-empty list of {{from, value}} turns.", path)
        return
    roles = []
    for i, t in enumerate(turns):
        p = path if single else (*path, i)
        if not isinstance(t, dict):
            c.add("TL103", f"Turn {i} must be an object with `from` and `value`.", p)
            continue
        who = t.get("from")
        if not isinstance(who, str):
            c.add("TL104", f"Turn {i} has no `from`.", p)
        elif who.lower() not in SHAREGPT_ROLES:
            hint = nearest(who, sorted(SHAREGPT_ROLES))
            c.add(
                "TL105",
                f"Unknown speaker {who!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
                + f" (valid: {', '.join(sorted(SHAREGPT_ROLES))}).",
                (*p, "from"),
                fix=replace_value((*p, "from"), hint, f"Change speaker to {hint!r}") if hint else None,
            )
        roles.append(SHAREGPT_ROLES.get(str(who).lower()))
        value = t.get("value")
        if "value" not in t:
            c.add("TL106", f"Turn {i} has no `value`.", p)
        elif not isinstance(value, str):
            c.add("TL108", f"`value` must be a string, not {describe(value)}.", (*p, "value"))
        elif not value.strip():
            c.add("TL107", f"Empty `value` in turn {i}.", (*p, "value"))
    if need_answer and "assistant" not in roles:
        c.add("TL110", "No gpt (assistant) turn: there is nothing to train on.", path, key=True)


def check_sharegpt(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    _check_turns(obj.get("conversations"), c, ("conversations",), need_answer=True)


def check_sharegpt_preference(obj: dict, c: Collector, p: Platform = DEFAULT_PLATFORM) -> None:
    _check_turns(obj.get("conversations"), c, ("conversations",), need_answer=False)
    for key in ("chosen", "rejected"):
        if key not in obj:
            c.add("TL120", f"`{key}` is missing.", ())
        else:
            _check_turns(obj[key], c, (key,), need_answer=False)
    if obj.get("chosen") == obj.get("rejected"):
        c.add("TL120", "`chosen` and `rejected` are identical: the pair teaches nothing.", ("rejected",))


CHECKS = {
    "chat": check_chat,
    "rft": check_rft,
    "kto": check_kto,
    "openai-preference": check_openai_preference,
    "trl-preference": check_trl_preference,
    "sharegpt-preference": check_sharegpt_preference,
    "prompt-completion": check_prompt_completion,
    "text": check_text,
    "alpaca": check_alpaca,
    "sharegpt": check_sharegpt,
}
