"""Rules for OpenAI-style chat examples: the `messages` list, roles, content, weights and tool calls.

Which roles, keys and orders are valid is the target's business (`platform.Platform`, read from providers.toml): the
same line is right for OpenAI's reinforcement fine-tuning and wrong for its supervised fine-tuning.
"""

from __future__ import annotations

import json
from typing import Any

from ..scan import PathItem
from ..types import Severity
from .base import Collector, describe, json_error_words, nearest
from .content_forms import ContentForms, check_content_forms
from .edits import remove_key, replace_value
from .image_parts import check_image_shape
from .images import ImageCount, check_image_part
from .platform import DEFAULT_PLATFORM, Platform, unverified

ROLES = ("system", "user", "assistant", "tool", "function")
KNOWN_ROLES = frozenset({*ROLES, "developer"})  # roles some target accepts: a provider's refusal, not a typo
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
)
CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
KTO_KEYS = frozenset({"messages", "label"})
PREFERENCE_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
CONTENT_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})

Path = tuple[PathItem, ...]


def check_unknown_keys(obj: dict, allowed: frozenset[str], c: Collector, path: Path, where: str) -> None:
    for key in obj:
        if key not in allowed:
            hint = nearest(key, sorted(allowed))
            extra = f" (did you mean {hint!r}?)" if hint and hint != key else ""
            c.add(
                "TL109",
                f"Unknown key {key!r} in {where}{extra}; allowed: {', '.join(sorted(allowed))}.",
                (*path, key),
                key=True,
                fix=remove_key(path, key, f"Remove key {key!r}"),
            )


def refused_keys(obj: dict, c: Collector, path: Path, p: Platform) -> None:
    """Top-level keys the target's provider documents it does not take (Together: `parallel_tool_calls`)."""
    for key, accepted in (("tools", p.tools), ("parallel_tool_calls", p.parallel_tool_calls)):
        if key in obj and accepted is False:
            c.add(
                "TL109",
                f"{p.title} does not accept `{key}` in training data; remove it.",
                (*path, key),
                key=True,
                fix=remove_key(path, key, f"Remove key {key!r}"),
            )


def defined_functions(obj: dict, c: Collector, path: Path) -> set[str] | None:
    """Check `tools` / `functions` and return the names they define (None when the example defines none)."""
    names: set[str] | None = None
    tools = obj.get("tools")
    if "tools" in obj:
        names = set()
        if not isinstance(tools, list):
            c.add("TL117", f"`tools` must be a list of tool definitions, not {describe(tools)}.", (*path, "tools"))
        else:
            for i, tool in enumerate(tools):
                p = (*path, "tools", i)
                if not isinstance(tool, dict):
                    c.add("TL117", f"Tool {i} must be an object, not {describe(tool)}.", p)
                    continue
                if tool.get("type") != "function":
                    c.add("TL117", f'Tool {i} needs "type": "function".', p)
                fn = tool.get("function")
                if not isinstance(fn, dict):
                    c.add("TL117", f"Tool {i} needs a `function` object with a `name`.", p)
                    continue
                name = fn.get("name")
                if not isinstance(name, str) or not name:
                    c.add("TL117", f"Tool {i}'s function has no `name`.", (*p, "function"))
                else:
                    names.add(name)
                params = fn.get("parameters")
                if params is not None and not isinstance(params, dict):
                    c.add(
                        "TL117",
                        f"`parameters` of {name!r} must be a JSON schema object.",
                        (*p, "function", "parameters"),
                    )
    if "functions" in obj:
        names = names if names is not None else set()
        fns = obj.get("functions")
        if not isinstance(fns, list):
            c.add("TL117", f"`functions` must be a list, not {describe(fns)}.", (*path, "functions"))
        else:
            for i, fn in enumerate(fns):
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    names.add(fn["name"])
                else:
                    c.add("TL117", f"Function {i} needs a `name`.", (*path, "functions", i))
    if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
        c.add("TL117", "`parallel_tool_calls` must be true or false.", (*path, "parallel_tool_calls"))
    return names


def _check_tool_calls(calls: Any, c: Collector, p: Path, defined: set[str] | None, call_ids: set[str]) -> None:
    if not isinstance(calls, list):
        c.add("TL115", f"`tool_calls` must be a list, not {describe(calls)}.", (*p, "tool_calls"))
        return
    for j, call in enumerate(calls):
        cp = (*p, "tool_calls", j)
        if not isinstance(call, dict):
            c.add("TL115", f"Tool call {j} must be an object, not {describe(call)}.", cp)
            continue
        cid = call.get("id")
        if not isinstance(cid, str) or not cid:
            c.add("TL115", f"Tool call {j} has no `id` (a string the tool message answers with `tool_call_id`).", cp)
        else:
            call_ids.add(cid)
        if call.get("type") != "function":
            c.add("TL115", f'Tool call {j} needs "type": "function".', (*cp, "type") if "type" in call else cp)
        fn = call.get("function")
        if not isinstance(fn, dict):
            c.add("TL115", f"Tool call {j} needs a `function` object with `name` and `arguments`.", cp)
            continue
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            c.add("TL115", f"Tool call {j}'s function has no `name`.", (*cp, "function"))
        elif defined is not None and name not in defined:
            hint = nearest(name, sorted(defined)) if defined else None
            extra = f" (did you mean {hint!r}?)" if hint else ""
            c.add("TL117", f"Calls function {name!r}, which `tools` does not define{extra}.", (*cp, "function", "name"))
        _check_arguments(fn, c, (*cp, "function"), j)


def _check_arguments(fn: dict, c: Collector, path: Path, j: int | str) -> None:
    if "arguments" not in fn:
        c.add("TL115", f'Tool call {j} has no `arguments` (use "{{}}" for none).', path)
        return
    args = fn["arguments"]
    if isinstance(args, (dict, list)):
        c.add(
            "TL115",
            f"`arguments` of tool call {j} must be a string holding JSON, not {describe(args)}.",
            (*path, "arguments"),
            fix=replace_value(
                (*path, "arguments"), json.dumps(args, ensure_ascii=False), "Encode arguments as a JSON string"
            ),
        )
    elif not isinstance(args, str):
        c.add(
            "TL115", f"`arguments` of tool call {j} must be a JSON string, not {describe(args)}.", (*path, "arguments")
        )
    else:
        try:
            json.loads(args)
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number or deep nesting: no position to give
            where = f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
            c.add(
                "TL115",
                f"`arguments` of tool call {j} is not valid JSON: {json_error_words(exc)}{where}.",
                (*path, "arguments"),
            )


def _content_is_empty(content: Any) -> bool:
    if isinstance(content, str):
        return not content.strip()
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        others = [p for p in content if not (isinstance(p, dict) and p.get("type") == "text")]
        return not others and all(not (isinstance(t, str) and t.strip()) for t in texts)
    return False


def _check_content(
    m: dict, role: Any, c: Collector, p: Path, has_calls: bool, platform: Platform, images: ImageCount
) -> None:
    if "content" not in m:
        if not has_calls:
            c.add(
                "TL106", f"The {role if isinstance(role, str) else ''} message has no `content`.".replace("  ", " "), p
            )
        return
    content = m["content"]
    if isinstance(content, str):  # the common case first, before building any path
        if not content.strip() and not has_calls:
            c.add(
                "TL107", f"Empty {role if isinstance(role, str) else ''} content.".replace("  ", " "), (*p, "content")
            )
        return
    cp = (*p, "content")
    if content is None:
        if not has_calls:
            c.add("TL108", "`content` is null; only an assistant message with `tool_calls` may have null content.", cp)
        return
    if isinstance(content, list):
        for k, part in enumerate(content):
            pp = (*cp, k)
            if not isinstance(part, dict):
                c.add("TL108", f'Content part {k} must be an object like {{"type": "text", "text": ...}}.', pp)
                continue
            ptype = part.get("type")
            if type(ptype) is not str or ptype not in CONTENT_PART_TYPES:  # a list or an object is unhashable
                c.add("TL108", f"Content part {k} has unknown type {ptype!r}.", (*pp, "type") if "type" in part else pp)
            elif ptype == "text" and not isinstance(part.get("text"), str):
                c.add("TL108", f"Text part {k} needs a string `text`.", pp)
            elif ptype == "image_url" and role == "assistant":
                c.add("TL108", "Images are not allowed in assistant messages.", pp)
            elif ptype == "image_url":
                images.count += 1
                check_image_shape(part, k, c, pp, platform)
                check_image_part(part, role, c, pp, platform, first=images.count == 1)
        if not has_calls and _content_is_empty(content):
            c.add("TL107", "Empty content (no text in the content parts).", cp)
        return
    c.add("TL108", f"`content` must be a string or a list of content parts, not {describe(content)}.", cp)


def _check_role(role: str, c: Collector, p: Path, roles: tuple[str, ...], platform: Platform, method: str) -> None:
    """TL105 for a string role the target does not take: a typo gets the nearest valid role as a fix; a role that
    is right elsewhere (developer in supervised data, system in RFT) gets the one this method uses instead."""
    valid = f" (valid: {', '.join(roles)})."
    key = role.strip().lower()
    fix_to, safe = None, True
    if key == "developer" and "system" in roles:
        fix_to = "system"
        rft = platform.roles_for("rft") if "rft" in platform.methods else None
        if rft and "developer" in rft:
            why = "'developer' is accepted only for reinforcement fine-tuning; use 'system'"
        else:
            why = f"{platform.title} does not accept the 'developer' role for {platform.method_words(method)}; use 'system'"
    elif key == "system" and "developer" in roles:
        fix_to, safe = "developer", False
        why = f"{platform.title} takes no system messages for {platform.method_words(method)}; use 'developer'"
    elif key in KNOWN_ROLES and key not in roles:
        why = f"{platform.title} does not accept the {key!r} role for {platform.method_words(method)}"
    else:
        fix_to = nearest(role, roles)
        why = f"unknown role {role!r}" + (f"; did you mean {fix_to!r}?" if fix_to else "")
    c.add(
        "TL105",
        f"{why[0].upper()}{why[1:]}{valid}",
        (*p, "role"),
        fix=replace_value((*p, "role"), fix_to, f"Change role to {fix_to!r}", safe=safe) if fix_to else None,
    )


def _check_weight(w: Any, role: Any, c: Collector, p: Path, platform: Platform, *, with_images: bool) -> None:
    """TL114: a `weight` the target does not take. Which roles may carry one is the provider's fact (OpenAI:
    assistant messages; Together: any message), and Together's upload check refuses a non-zero weight on a message
    that holds images."""
    if platform.weight is False:
        c.add(
            "TL114",
            f"{platform.title} does not accept a per-message `weight`; remove it.",
            (*p, "weight"),
            key=True,
            fix=remove_key(p, "weight", "Remove key 'weight'"),
        )
        return
    roles_ok, roles_verified = platform.weight_roles
    if roles_ok is not None and role not in roles_ok:
        where = " or ".join(roles_ok)
        c.add(
            "TL114",
            f"`weight` is allowed only on {where} messages (this one is {role!r}){unverified(platform, roles_verified)}.",
            (*p, "weight"),
            key=True,
            severity=None if roles_verified else Severity.WARNING,
        )
    elif isinstance(w, bool) or w not in (0, 1) or not isinstance(w, int):
        c.add("TL114", f"`weight` must be the integer 0 or 1, not {json.dumps(w)}.", (*p, "weight"))
    elif w != 0 and with_images and platform.image_weight[0] is False:
        verified = platform.image_weight[1]
        c.add(
            "TL114",
            f"`weight` is 1 on a message with images: {platform.title} refuses a non-zero weight on a message that "
            f"holds images, so set it to 0{unverified(platform, verified)}.",
            (*p, "weight"),
            fix=replace_value((*p, "weight"), 0, "Set weight to 0"),
            severity=None if verified else Severity.WARNING,
        )


def check_messages(
    messages: Any,
    c: Collector,
    path: Path,
    *,
    mode: str = "sft",
    defined: set[str] | None = None,
    platform: Platform = DEFAULT_PLATFORM,
    method: str = "sft",
    forms: ContentForms | None = None,
) -> None:
    """mode: "sft" (a training conversation), "rft" (a reinforcement prompt: it ends on a user turn, the model
    writes the answer), "prompt" (a preference prompt), "output" (one preference answer). `method` picks the
    target's role list; `platform` says which roles, orders and content the target takes. `forms`: the content
    forms of an example with several message lists (a preference pair), judged by the caller once all are in;
    without it these messages are the whole example and are judged here."""
    roles_ok = platform.roles_for(method)
    position = platform.system_position.get(method, "any")
    if not isinstance(messages, list):
        c.add("TL102", f"`messages` must be a list of messages, not {describe(messages)}.", path)
        return
    if not messages:
        c.add("TL102", "`messages` is empty.", path)
        return
    roles: list[str | None] = []
    call_ids: set[str] = set()
    seen_other = False
    images = ImageCount()
    own_forms = forms is None
    example_forms = ContentForms() if forms is None else forms
    for i, m in enumerate(messages):
        p = (*path, i)
        if not isinstance(m, dict):
            c.add("TL103", f"Message {i} must be an object with `role` and `content`, not {describe(m)}.", p)
            roles.append(None)
            continue
        role = m.get("role")
        if "role" not in m:
            c.add("TL104", f"Message {i} has no `role`.", p)
        elif not isinstance(role, str):
            c.add("TL105", f"`role` must be a string, not {describe(role)}.", (*p, "role"))
        elif roles_ok is not None and role not in roles_ok:
            _check_role(role, c, p, roles_ok, platform, method)
        roles.append(role if isinstance(role, str) else None)
        if not MESSAGE_KEYS.issuperset(m):  # one C test; the message's name is built only for a finding
            check_unknown_keys(m, MESSAGE_KEYS, c, p, f"message {i}")
        has_calls = role == "assistant" and bool(m.get("tool_calls") or m.get("function_call"))
        seen_images = images.count
        _check_content(m, role, c, p, has_calls, platform, images)
        if "weight" in m:
            _check_weight(m["weight"], role, c, p, platform, with_images=images.count > seen_images)
        content = m.get("content")
        if isinstance(content, (str, list)):
            example_forms.add(path, i, isinstance(content, list))
        if "tool_calls" in m:
            if role != "assistant":
                c.add("TL115", "Only assistant messages may carry `tool_calls`.", (*p, "tool_calls"), key=True)
            _check_tool_calls(m["tool_calls"], c, p, defined, call_ids)
        if "function_call" in m:
            fc = m["function_call"]
            if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
                c.add("TL115", "`function_call` needs a `name` and `arguments`.", (*p, "function_call"))
            else:
                _check_arguments(fc, c, (*p, "function_call"), "function_call")
                if defined is not None and fc["name"] not in defined:
                    c.add(
                        "TL117",
                        f"Calls function {fc['name']!r}, which the example does not define.",
                        (*p, "function_call", "name"),
                    )
        if role == "tool":
            tid = m.get("tool_call_id")
            if not isinstance(tid, str) or not tid:
                c.add("TL116", "A tool message needs the `tool_call_id` of the call it answers.", p)
            elif tid not in call_ids:
                c.add("TL116", f"`tool_call_id` {tid!r} answers no earlier tool call.", (*p, "tool_call_id"))
        if role == "system" and (seen_other or (position == "first" and i > 0)):
            if position == "first":
                c.add(
                    "TL113",
                    f"System message at position {i}: {platform.title} accepts a system message only as the first "
                    "message.",
                    (*p, "role"),
                    severity=Severity.ERROR,
                )
            else:
                c.add("TL113", f"System message at position {i}; system messages belong at the start.", (*p, "role"))
        if role != "system":
            seen_other = True
        if i > 0 and role in ("user", "assistant") and roles[i - 1] == role:
            if platform.alternate:
                c.add(
                    "TL118",
                    f"Two {role} messages in a row (messages {i - 1} and {i}): {platform.title} requires user and "
                    "assistant turns to alternate.",
                    (*p, "role"),
                    severity=Severity.ERROR,
                )
            else:
                c.add("TL118", f"Two {role} messages in a row (messages {i - 1} and {i}).", (*p, "role"))
    images.check_count(c, path, platform)
    example_forms.images += images.count
    if own_forms:
        check_content_forms(example_forms, c, platform)

    first = roles[0] if roles else None
    if mode == "sft" and platform.starts_with and first is not None and first not in platform.starts_with:
        article = "an" if first[:1] in "aeiou" else "a"
        c.add(
            "TL126",
            f"The conversation opens with {article} {first} message: {platform.title} requires it to open with a "
            f"{' or '.join(platform.starts_with)} message.",
            (*path, 0, "role"),
        )
    if mode == "sft":
        if "assistant" not in roles:
            c.add("TL110", "No assistant message: there is nothing to train on.", (*path[:-1], path[-1]), key=True)
        elif roles[-1] != "assistant" and roles[-1] is not None:
            if platform.last_message.get(method) == "assistant":
                c.add(
                    "TL111",
                    f"The conversation ends with a {roles[-1]} message: {platform.title} expects the last message "
                    "to be the assistant's answer.",
                    (*path, len(messages) - 1),
                    severity=Severity.ERROR,
                )
            else:
                c.add(
                    "TL111",
                    f"The conversation ends with a {roles[-1]} message; it will not be trained on.",
                    (*path, len(messages) - 1),
                )
        if "user" not in roles:
            c.add("TL112", "No user message.", path, key=True)
    elif mode == "prompt" and roles and roles[-1] not in ("user", None):
        c.add(
            "TL120",
            f"A preference prompt should end with a user message, not {roles[-1]!r}.",
            (*path, len(messages) - 1),
        )
