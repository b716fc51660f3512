"""Per-line analysis: a pure function of one line's text and the settings, so results cache by content."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import msgspec

from .counting import count_example
from .formats import RFT_FORMAT, also_fits, detect, message_view
from .image_tokens import ImageTally, ImageTokenRule
from .json_read import read_json, shallow
from .lines import BOM
from .local_tokens import ExampleCounter, TrainedCount
from .rules import content_lines, other_formats, text_scan
from .rules.base import Collector, Pending, json_error_words, normal_ascii, short
from .rules.platform import DEFAULT_PLATFORM, Platform
from .scan import ScanError, locate, scan
from .sharing import Shared
from .tokens import TokenCounter
from .types import Edit, Finding, Fix, LineResult, MessageTokens, Severity, Span

# Keys the message view already covers; anything else on the line (tools, label, extra fields) joins the keys.
_VIEWED_KEYS = frozenset(
    {
        "messages",
        "input",
        "preferred_output",
        "non_preferred_output",
        "prompt",
        "chosen",
        "rejected",
        "completion",
        "text",
        "instruction",
        "output",
        "conversations",
        "system",
        "history",
    }
)
_KEYED_FORMATS = frozenset({"chat", "prompt-completion", "alpaca", "sharegpt", "kto"})
_SYSTEM_FORMATS = frozenset({"chat", "kto", "openai-preference", "sharegpt", RFT_FORMAT})
_TOOL_FORMATS = frozenset({"chat", RFT_FORMAT})


@dataclass(frozen=True, slots=True)
class LineContext:
    """What per-line analysis depends on besides the text. Part of the cache key."""

    counter: TokenCounter
    limit: int | None  # tokens per example; None: the target documents none, so TL201 stays quiet
    model: str
    secrets: bool = True
    platform: Platform = DEFAULT_PLATFORM
    images: ImageTokenRule | None = None  # how the target counts image parts; None: they stay uncounted
    # Counts through the model's tokenizer and chat template (a local:PATH target's, or an open model's at a hosted
    # provider), by the local trainer's own code; None: tiktoken, or o200k_base as an estimate
    examples: ExampleCounter | None = None
    # What only an editor shows (the outline's label, each message's tokens in a hover): a batch `check` skips them,
    # ~2 µs a line with the pickling a worker's results take
    details: bool = True


_BOM_WORDS = {
    "reject": ("{title}'s checker rejects it", Severity.ERROR),
    "warn": ("some uploaders reject it", Severity.WARNING),
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_FAST_ENCODE = msgspec.json.Encoder(order="sorted").encode


def _loads(text: str) -> tuple[Any, bool]:
    """The line's value and whether msgspec read it (`json_read`); a line json.loads refuses fails with its error.
    The BOM check is json.loads' own."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return read_json(text, _DECODER.decode)


def _hash(text: str) -> bytes:
    """A 16-byte key of `text`. SHA-256 because CPUs hash it in hardware (x86's SHA extensions, ARMv8's): 0.8 µs
    for a 600-byte line where BLAKE2b took 1.3–1.8 µs, and a line takes three of these keys."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


def _dup_key(obj: dict[str, Any], exact: bool) -> bytes:
    """The key of exact duplicates (TL301): a hash of the example's value with only JSON spelling taken out (key
    order, spacing, escapes). Every field that can reach a trainer counts (a message's `weight`, `name`,
    `tool_calls`, whitespace inside a string), so deleting a duplicate never loses anything that trains.

    The value is written by msgspec with sorted keys (5× faster than json.dumps). It writes infinities as null and
    cannot write lone surrogates, so a value that may hold one (json.loads read it) is written by json.dumps, under
    another prefix: msgspec's text of an object starts with `{`, json.dumps' is hashed after a NUL, so the key
    stays a function of the value alone. (`try`, not `contextlib.suppress`: entering that costs 1 µs a line.)"""
    if exact or _plain(obj):
        try:
            return hashlib.sha256(_FAST_ENCODE(obj)).digest()[:16]
        except UnicodeEncodeError:
            pass
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(b"\x00json" + text.encode("utf-8", "surrogatepass")).digest()[:16]


def _plain(value: Any) -> bool:
    """No infinite or NaN number anywhere in `value`. A walk with its own stack, not recursion: the answer (and so
    the key) must not depend on how deep the caller's stack is, which differs between a worker and the server."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return False
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


def _norm(value: Any) -> str:
    """A message's content with its whitespace normalised (runs to one space, none at the ends), as duplicate and
    conflict keys compare it; other values as sorted JSON. An ASCII text that is normal already comes back as it is
    (`normal_ascii`: cheaper than splitting and joining it, twice a line)."""
    if isinstance(value, str):
        return value if normal_ascii(value) else " ".join(value.split())
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


_shared: Shared[str] = Shared()  # one string for a file's system prompt, not one per line (~15 MB at 100k)
_SYSTEMS: dict[str, str] = {}  # a system prompt as written → normalised and shared: a file repeats one or a few


def _system_norm(content: str) -> str:
    norm = _SYSTEMS.get(content)
    if norm is None:
        norm = _shared(_norm(content))
        if len(_SYSTEMS) < 1024 and len(content) <= 8192:  # at most ~16 MB for the life of a server
            _SYSTEMS[content] = norm
    return norm


def _message_keys(messages: list[dict[str, Any]]) -> list[str]:
    """Each message as a whitespace-normalised string: the unit of duplicate and conflict keys."""
    out = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        text = _system_norm(content) if role == "system" and type(content) is str else _norm(content)
        calls = m.get("tool_calls") or m.get("function_call")
        out.append(f"{role}\x1f{text}" + (f"\x1f{_norm(calls)}" if calls else ""))
    return out


def _label(messages: list[dict[str, Any]], fmt: str) -> str:
    for role in ("user", None):
        for m in messages:
            content = m.get("content")
            if content and (role is None or m.get("role") == role):
                text = content[:200] if isinstance(content, str) else _norm(content)[:200]
                return f"{m.get('role')}: {short(text, 50)}"
    return fmt


def _images(messages: list[dict[str, Any]]) -> int:
    """Image parts in the messages, for a target whose image tokens are unknown: a count with them is a lower
    bound."""
    n = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            n += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image_url")
    return n


def _trained_findings(count: TrainedCount, local: ExampleCounter, c: Collector) -> None:
    """TL205/TL206: what truncation at max_length and masking leave of the answer, for a local target."""
    if count.trained == 0:
        why = (
            f"truncation at max_length {local.max_length:,} cuts every answer token ({count.full:,} tokens)"
            if count.cut_trained
            else "every answer is masked (prompt only, or weight 0)"
        )
        c.add("TL205", f"No trained tokens: {why}; the example trains on nothing.", ())
    elif count.cut_trained:
        c.add(
            "TL206",
            f"{count.full:,} tokens, over max_length {local.max_length:,}: {count.cut_trained:,} answer tokens are "
            "cut and never trained on.",
            (),
        )


def _resolve(pending: list[Pending], text: str, offset: int) -> list[Finding]:
    """Turn path-addressed findings into spans with one scan of the line."""
    try:
        root = scan(text)
    except (ScanError, RecursionError):
        root = None
    out = []
    whole = Span(offset, offset + len(text))
    for p in pending:
        if root is None:
            out.append(Finding(p.code, p.message, span=whole, severity=p.severity))
            continue
        span = locate(root, p.path, key=p.key) or whole
        fix = p.fix(root, text) if p.fix else None
        if offset:
            span = Span(span.start + offset, span.end + offset)
            if fix:
                fix = Fix(
                    fix.title,
                    tuple(Edit(Span(e.span.start + offset, e.span.end + offset), e.text) for e in fix.edits),
                    fix.delete_line,
                    fix.safe,
                )
        out.append(Finding(p.code, p.message, span=span, fix=fix, severity=p.severity))
    return out


def analyze_line(raw: str, ctx: LineContext, value: dict[str, Any] | None = None) -> LineResult:
    """The findings, counts and keys of one line. `value`: the line's JSON value as msgspec reads it, when the
    caller has read it already (`json_read.read_ahead`, which keeps only what msgspec reads: finite numbers and
    valid strings, which the duplicate key's `exact` path relies on), so that a line is decoded once."""
    offset = 0
    findings: list[Finding] = []
    text = raw
    if text.startswith(BOM):
        policy = _BOM_WORDS.get(ctx.platform.bom)  # "accept": the target reads it (Azure asks for one)
        if policy is not None:
            why, severity = policy
            findings.append(
                Finding(
                    "TL004",
                    f"Byte order mark (U+FEFF) at the start of the file; {why.format(title=ctx.platform.title)}. "
                    "Save as UTF-8 without BOM.",
                    span=Span(0, 1),
                    fix=Fix("Remove the byte order mark", (Edit(Span(0, 1), ""),)),
                    severity=severity,
                )
            )
        text, offset = text[1:], 1
    if not text.strip():
        findings.append(
            Finding(
                "TL003",
                "Blank line: JSONL has one example per line.",
                span=Span(0, len(raw)),
                fix=Fix("Delete blank line", delete_line=True),
            )
        )
        return LineResult("blank", tuple(findings))
    try:
        obj, exact = (value, True) if value is not None and not offset else _loads(text)
    except json.JSONDecodeError as exc:
        col = exc.pos + offset
        end = min(col + 1, len(raw)) if col < len(raw) else col
        findings.append(Finding("TL001", f"Invalid JSON: {exc.msg} (column {col + 1}).", span=Span(col, max(end, col))))
        return LineResult("invalid", tuple(findings))
    except (ValueError, RecursionError) as exc:
        message = json_error_words(exc)
        findings.append(Finding("TL001", f"Invalid JSON: {message}.", span=Span(offset, len(raw))))
        return LineResult("invalid", tuple(findings))
    if not isinstance(obj, dict):
        kind = "an array" if isinstance(obj, list) else "a string" if isinstance(obj, str) else "a scalar value"
        findings.append(
            Finding(
                "TL002",
                f"The line is {kind}, not a JSON object: every example must be an object.",
                span=Span(offset, len(raw)),
            )
        )
        return LineResult("non-object", tuple(findings))
    try:
        return _example(raw, text, offset, obj, exact, list(findings), ctx)
    except RecursionError:  # json read it, but it nests too deep for the rules (or json.dumps) to walk
        findings.append(Finding("TL001", "Invalid JSON: nesting is too deep to parse.", span=Span(offset, len(raw))))
        return LineResult("invalid", tuple(findings))


def _count(
    obj: dict[str, Any], fmt: str, messages: list[dict[str, Any]], extra: list[dict[str, Any]], ctx: LineContext
) -> tuple[int, tuple[MessageTokens, ...], ImageTally | None, TrainedCount | None]:
    """The example's tokens and each message's, its image tally, and what the trainer's own count found (a local
    target's `examples`; None otherwise, or for a format it does not template, where the count stands in)."""
    tools = (
        obj.get("tools")
        if fmt in _TOOL_FORMATS
        else (obj.get("input") or {}).get("tools")
        if fmt == "openai-preference" and isinstance(obj.get("input"), dict)
        else None
    )
    tally = ImageTally(ctx.images) if ctx.images is not None else None
    tokens, per_message = count_example(messages, ctx.counter, extra=extra, tools=tools, images=tally)
    trained = ctx.examples.count(obj) if ctx.examples is not None else None
    return (trained.fed if trained is not None else tokens), per_message, tally, trained


def line_tokens(raw: str, ctx: LineContext, value: dict[str, Any] | None = None) -> int | None:
    """`analyze_line(raw, ctx).tokens` for an example, None for any other line, without the rules: the count a
    cost table needs for another model's tokenizer (`Engine.count_lines`), at about a third of a line's analysis.
    `value`: as for `analyze_line`.

    A line `json_read.shallow` cannot vouch for (800+ characters and 400+ brackets, those inside strings counted
    too) is analysed in full, so that a line the rules find too deep to walk (TL001) counts as no example here too;
    a flat line with many brackets only takes the slower path."""
    text = raw[1:] if raw.startswith(BOM) else raw
    if not text.strip():
        return None
    if not shallow(text):
        result = analyze_line(raw, ctx)
        return result.tokens if result.kind == "example" else None
    try:
        obj = value if value is not None and text is raw else _loads(text)[0]
    except (ValueError, RecursionError):  # json.JSONDecodeError is a ValueError
        return None
    if not isinstance(obj, dict):
        return None
    fmt = detect(obj)
    messages, extra = message_view(obj, fmt)
    return _count(obj, fmt, messages, extra, ctx)[0]


def _example(
    raw: str, text: str, offset: int, obj: dict[str, Any], exact: bool, findings: list[Finding], ctx: LineContext
) -> LineResult:
    """The rules, counts and keys of a line that holds a JSON object."""
    fmt = detect(obj)
    c = Collector()
    platform = ctx.platform
    checks = other_formats.CHECKS.get(RFT_FORMAT if platform.line_method(fmt) == "rft" else fmt)
    if checks is not None:
        checks(obj, c, platform)
    content = content_lines.check(obj, fmt, text, offset, c)  # TL122 and TL501-TL507

    messages, extra = message_view(obj, fmt)
    tokens, per_message, tally, trained = _count(obj, fmt, messages, extra, ctx)
    estimated = ctx.examples is not None and trained is None  # a format the counter does not template: o200k_base
    if trained is not None and ctx.examples is not None and ctx.examples.trainer_findings:
        _trained_findings(trained, ctx.examples, c)
    if ctx.limit is not None and tokens > ctx.limit:
        c.add(
            "TL201",
            f"{tokens:,} tokens, over the {ctx.limit:,}-token limit of {ctx.model}: "
            f"{tokens - ctx.limit:,} tokens at the end will be truncated.",
            (),
        )

    findings.extend(_resolve(c.items, text, offset) if c.items else ())
    findings.extend(content.findings)
    findings.extend(text_scan.special_tokens(raw))
    if ctx.secrets:
        findings.extend(text_scan.secrets(raw))

    keys = _message_keys(messages)
    others = obj.keys() - _VIEWED_KEYS  # a set difference in C; usually empty
    result = LineResult(
        "example",
        tuple(findings),
        format=fmt,
        also=also_fits(obj, fmt),
        # images whose tokens are not exactly in `tokens` (uncounted, or an https URL counted at its least)
        images=tally.inexact if tally is not None else _images(messages) + _images(extra),
        tokens=tokens,
        tokens_estimated=estimated,
        messages=per_message if ctx.details else (),
        assistant_tokens=sum(m.tokens for m in per_message[: len(messages)] if m.role == "assistant"),
        dup_key=_dup_key(obj, exact),
        label=(_label(messages, fmt) if messages else fmt) if ctx.details else "",
    )
    result.content = content.facts
    if "weight" in obj:
        result.example_weight = True
    if fmt in _SYSTEM_FORMATS:
        first = messages[0] if messages else {}
        result.has_system_slot = True
        if first.get("role") == "system":
            prompt = first.get("content")
            result.system_prompt = _system_norm(prompt) if type(prompt) is str else _shared(_norm(prompt))
        else:
            result.system_prompt = ""
    if fmt in _KEYED_FORMATS:
        last_user = len(messages) - 1
        while last_user >= 0 and messages[last_user].get("role") != "user":
            last_user -= 1
        if 0 <= last_user < len(messages) - 1:
            rest = _norm({k: obj[k] for k in others}) if others else ""
            result.prompt_key = _hash("\x1e".join(keys[: last_user + 1]) + "\x1d" + rest)
            result.answer_key = _hash("\x1e".join(keys[last_user + 1 :]))
    return result
