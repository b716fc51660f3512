"""Content checks on one line: what the example's texts say, beyond the format.

Reported here, per line: TL503 (whitespace around an answer or system prompt, with a safe trim), TL504 (an empty
reasoning block), TL505 (personal data) and TL122 (tool-call arguments). Collected here but reported by file-level
rules, because whether they are problems depends on the rest of the file: TL501 placeholders (a `{name}` slot is a
placeholder only in a file that otherwise has no braces), TL502 truncated answers (an answer without closing
punctuation is suspect only where most answers have it), TL506 generation leftovers (HTML and role labels count
when they repeat) and TL507 answer formats (an odd one out needs a majority). Those travel in `ContentFacts`.

Speed: every check starts with a substring test (`"{{" in text`, `"<" in text`, ...) that runs at C speed, so a
text without the trigger characters costs a few scans and no regex. Spans are placed only for lines with hits.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

from ..sharing import Shared
from ..types import Edit, Finding, Fix
from .base import Collector, short
from .content_personal import find_personal, has_number_run
from .content_texts import ASSISTANT, REJECTED, SYSTEM, TEXT, TOOL, USER, Locator, Text, example_texts
from .content_tools import check_tool_arguments


class Gated(NamedTuple):
    """A finding whose report depends on the file: `kind` names the condition its file-level rule checks."""

    code: str
    kind: str
    finding: Finding


class ContentFacts(NamedTuple):
    """What the file-level content rules aggregate about one example (`LineResult.content`)."""

    gated: tuple[Gated, ...] = ()
    code_braces: bool = False  # braces used as code or JSON somewhere in the example (TL501's `{name}` gate)
    end: str | None = None  # the answer ends "closed" (punctuation, a number, a closed fence) or "open"
    group: str | None = None  # the kind of prompt: the start of the system prompt ("" without one)
    shape: str | None = None  # the answer's format: "json" | "list" | "prose"
    keys: tuple[str, ...] | None = None  # sorted top-level keys of a JSON-object answer
    script: str | None = None  # the answer's writing system
    prompt_scripts: tuple[str, ...] = ()  # the writing systems of the user turn it answers ("*": a translation)
    path: tuple | None = None  # JSON path of the answer, to place a TL507 finding


class ContentResult(NamedTuple):
    findings: list[Finding]
    facts: ContentFacts | None


_shared_facts: Shared[ContentFacts] = Shared()


def _intern(facts: ContentFacts) -> ContentFacts:
    """Most lines share the same facts (closed prose in one script): share one object, as results are kept for
    every line of a file."""
    return facts if facts.gated else _shared_facts(facts)


# --- code regions ------------------------------------------------------------------------------------------------
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)", re.MULTILINE)
_INLINE = re.compile(r"`[^`\n]+`")


def _fences(text: str) -> list[int]:
    if ("`" not in text or "```" not in text) and ("~" not in text or "~~~" not in text):
        return []
    return [m.start() for m in _FENCE.finditer(text)]


def code_ranges(text: str) -> list[tuple[int, int]]:
    """Fenced blocks (an unclosed one runs to the end) and inline `code` spans."""
    fences = _fences(text)
    out = [(fences[i], fences[i + 1] if i + 1 < len(fences) else len(text)) for i in range(0, len(fences), 2)]
    if "`" in text:
        out += [m.span() for m in _INLINE.finditer(text)]
    return out


class _Code:
    """Code regions of one text, computed on the first question."""

    __slots__ = ("_ranges", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._ranges: list[tuple[int, int]] | None = None

    def inside(self, pos: int) -> bool:
        if self._ranges is None:
            self._ranges = code_ranges(self.text)
        return any(s <= pos < e for s, e in self._ranges)


# --- TL501 placeholders ------------------------------------------------------------------------------------------
_DOUBLE = re.compile(r"(?<![$#%])\{\{\s*[A-Za-z_][\w.\- ]{0,40}?\s*\}\}")  # not GitHub's ${{ expr }}
_SINGLE = re.compile(r"(?<![{\w$%#])\{([A-Za-z_][A-Za-z0-9_]{0,39})\}(?!\})")
# `[Insert …]` and the like. Not `[Your Name]` at the foot of a letter (an answer that leaves the user's own name to
# the user is what a letter-writing assistant should learn) and not `[Enter ALEXANDER]` (a stage direction).
_BRACKETED = re.compile(
    r"\[(?:INSERT|Insert|insert|FILL IN|Fill in|fill in|PLACEHOLDER|Placeholder|placeholder)\b[^\]\n]{0,60}\](?!\()"
)
_ANGLED = re.compile(r"<(?:PLACEHOLDER|INSERT[ _A-Z]*|YOUR[ _][ _A-Z]+|FILL[ _]IN[ _A-Z]*)>")
_UNFINISHED = re.compile(r"\b(?:TODO|TBD|FIXME)\b|\b[Ll]orem ipsum\b")
_COMMENT = re.compile(r"(?:#|//|/\*|--|<!--|;)\s*$")


def _unfinished(v: str) -> bool:
    return "TODO" in v or "TBD" in v or "FIXME" in v or "ipsum" in v


def _line_before(text: str, pos: int) -> str:
    return text[text.rfind("\n", 0, pos) + 1 : pos]


def _placeholders(t: Text, loc: Locator, gated: list[Gated]) -> int:
    """TL501 candidates in one text; returns how many braces the slots found account for."""
    v = t.value
    code = _Code(v)
    used = 0
    hits: list[tuple[str, int, int, str]] = []
    if "{" in v:
        if "{{" in v:
            for m in _DOUBLE.finditer(v):
                used += 2
                if not code.inside(m.start()):
                    hits.append(("slot", m.start(), m.end(), f"Unfilled template slot {m.group()}"))
        if t.role in (SYSTEM, ASSISTANT, TEXT):
            for m in _SINGLE.finditer(v):
                used += 1
                if not code.inside(m.start()):
                    hits.append(("brace", m.start(), m.end(), f"Unfilled template slot {m.group()}"))
    if "[" in v:
        for m in _BRACKETED.finditer(v):
            if not code.inside(m.start()):
                hits.append(("slot", m.start(), m.end(), f"Placeholder {m.group()}"))
    if "<" in v and _ANGLED.search(v):
        for m in _ANGLED.finditer(v):
            if not code.inside(m.start()):
                hits.append(("slot", m.start(), m.end(), f"Placeholder {m.group()}"))
    if t.role in (ASSISTANT, TEXT) and ("TODO" in v or "TBD" in v or "FIXME" in v or "orem ipsum" in v):
        for m in _UNFINISHED.finditer(v):
            if code.inside(m.start()) or _COMMENT.search(_line_before(v, m.start())):
                continue
            hits.append(("slot", m.start(), m.end(), f"Unfinished text {m.group()!r}"))
    where = "system prompt" if t.role == SYSTEM else "prompt" if t.role == USER else "answer"
    for kind, start, end, what in hits:
        gated.append(
            Gated(
                "TL501",
                kind,
                Finding(
                    "TL501",
                    f"{what} in the {where}: the model learns to repeat it. Fill it in or drop the example.",
                    span=loc.span(t.path, start, end),
                ),
            )
        )
    return used


# --- TL502 truncation --------------------------------------------------------------------------------------------
_CLOSERS = ")]}"
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_OPEN_END = frozenset(",;:-–—([{/\\&+=")
_LONG_ANSWER = 300  # characters: a length limit cuts long answers; a short one without a period is a style


def _open_brackets(code: str) -> int:
    """Brackets left open at the end of a code fragment, skipping quoted strings and line comments."""
    depth, quote, i, n = [], "", 0, len(code)
    while i < n:
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote or ch == "\n":
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch == "#" or code.startswith("//", i):
            nl = code.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif ch in _OPENERS:
            depth.append(_OPENERS[ch])
        elif ch in _CLOSERS and depth and depth[-1] == ch:
            depth.pop()
        i += 1
    return len(depth)


def _truncation(t: Text, loc: Locator, gated: list[Gated]) -> str | None:
    """TL502 candidates on the answer; returns how it ends ("closed" / "open")."""
    v = t.value.rstrip()
    if not v:
        return None
    fences = _fences(v)
    if len(fences) % 2:
        last = fences[-1]
        body = v[v.find("\n", last) + 1 :] if "\n" in v[last:] else ""
        brackets = _open_brackets(body)
        extra = f", with {brackets} bracket{'s' if brackets > 1 else ''} still open" if brackets else ""
        gated.append(
            Gated(
                "TL502",
                "fence",
                Finding(
                    "TL502",
                    f"The answer ends inside a code block (its ``` is never closed{extra}): it was probably cut off.",
                    span=loc.span(t.path, last, len(v)),
                ),
            )
        )
        return "open"
    if v[0] in "{[" and v[-1] not in "}]":
        try:
            json.loads(v)
        except json.JSONDecodeError as exc:
            if (exc.pos >= len(v) - 2 or exc.msg.startswith("Unterminated string")) and _open_brackets(v):
                gated.append(
                    Gated(
                        "TL502",
                        "json",
                        Finding(
                            "TL502",
                            "The answer is JSON that stops before its closing bracket: it was probably cut off.",
                            span=loc.span(t.path, max(0, len(v) - 20), len(v)),
                        ),
                    )
                )
                return "open"
        except (ValueError, RecursionError):
            pass
    end = v[-1]
    if not (end.isalpha() or end in _OPEN_END):
        return "closed"
    tail = v[v.rfind("\n") + 1 :]
    if len(v) < _LONG_ANSWER or _LIST_ITEM.match(tail) or tail.lstrip().startswith(("#", "|")) or len(tail.split()) < 4:
        return "closed"  # a short answer, or one ending on a list item, heading or table row: complete as it is
    last_word = tail.split()[-1]
    if last_word.startswith(("#", "@")) or len(tail.rpartition(": ")[2].split()) <= 2:
        return "closed"  # a hashtag or handle, or a short verdict after a colon ("the answer is: True")
    start = max(v.rfind(" ", 0, len(v) - 1) + 1, len(v) - 30)
    gated.append(
        Gated(
            "TL502",
            "open",
            Finding(
                "TL502",
                f'The answer ends without closing punctuation ("…{short(v[-30:], 30)}"), unlike {{share}} of this '
                "file's answers: it may be cut off.",
                span=loc.span(t.path, start, len(v)),
            ),
        )
    )
    return "open"


# --- TL506 artifacts ---------------------------------------------------------------------------------------------
_CALCULATOR = re.compile(r"<<[^<>\n]{1,80}=[^<>\n]{0,40}>>")
_AI_DISCLAIMER = re.compile(
    r"\b[Aa]s an AI(?: language)? model\b|\bI(?:'m| am) (?:just |only )?an AI language model\b|"
    r"\b[Aa]s an AI (?:developed|created|trained) by OpenAI\b"
)
_HTML = re.compile(
    r"</?(?:p|br|div|span|b|i|u|strong|em|ul|ol|li|h[1-6]|table|tr|td|th|a|img|hr|sup|sub|blockquote)"
    r"(?:\s[^<>\n]{0,200})?\s*/?>"
)
_ROLE_LABEL = re.compile(
    r"^[ \t]*(?:#{1,3}[ \t]*)?(?:User|Assistant|Human|AI|System|USER|ASSISTANT|HUMAN|SYSTEM|Instruction|Response)"
    r"[ \t]*:",
    re.MULTILINE,
)
_LABELS = frozenset(
    {"User", "Assistant", "Human", "AI", "System", "USER", "ASSISTANT", "HUMAN", "SYSTEM", "Instruction", "Response"}
)


def _has_label(text: str, limit: int = 64) -> bool:
    """Whether a line of `text` starts with a role label and a colon: a walk over the colons (prose has few),
    cheaper than a multi-line regex over the whole text."""
    pos = text.find(":")
    while pos >= 0 and limit:
        start = text.rfind("\n", 0, pos) + 1
        if text[start:pos].strip(" \t#") in _LABELS:
            return True
        pos = text.find(":", pos + 1)
        limit -= 1
    return False


_DIALOGUE_WORDS = re.compile(r"dialog|conversation|script|transcript|interview|role-?play|chat", re.IGNORECASE)
_HTML_WORDS = re.compile(r"html|markup|\btags?\b|xml|<[a-z]", re.IGNORECASE)


def _artifacts(t: Text, prompt: str, loc: Locator, gated: list[Gated]) -> None:
    v = t.value
    code = _Code(v)
    hits: list[tuple[str, int, int, str]] = []
    if "<<" in v:
        hits += [
            ("calculator", m.start(), m.end(), f"Calculator annotation {short(m.group(), 40)}")
            for m in _CALCULATOR.finditer(v)
            if not code.inside(m.start())
        ]
    if "an AI" in v:
        hits += [("ai-disclaimer", m.start(), m.end(), f'"{m.group()}"') for m in _AI_DISCLAIMER.finditer(v)]
    if "<" in v and _HTML.search(v) and not _HTML_WORDS.search(prompt):
        hits += [
            ("html", m.start(), m.end(), f"HTML tag {short(m.group(), 30)}")
            for m in _HTML.finditer(v)
            if not code.inside(m.start())
        ]
    if ":" in v and _has_label(v) and not _DIALOGUE_WORDS.search(prompt) and not _has_label(prompt):
        hits += [
            ("role-prefix", m.start(), m.end(), f"Role label {m.group().strip()!r}")
            for m in _ROLE_LABEL.finditer(v)
            if not code.inside(m.start())
        ]
    for kind, start, end, what in hits:
        fix = None
        if kind == "calculator":
            span = loc.span(t.path, start, end)
            fix = Fix("Remove the calculator annotation", (Edit(span, ""),), safe=False)
        gated.append(
            Gated(
                "TL506",
                kind,
                Finding("TL506", f"{what}: {_ARTIFACT_WHY[kind]}", span=loc.span(t.path, start, end), fix=fix),
            )
        )


_ARTIFACT_WHY = {
    "calculator": "a generation leftover (GSM8K's tool markup); the model learns to write it.",
    "ai-disclaimer": "a leftover of the model that generated the data; the tuned model learns to say it.",
    "html": "markup in a plain-text answer; the model learns to emit tags.",
    "role-prefix": "a role label inside the content; the template adds roles, so the model learns to write them.",
}


# --- TL503 whitespace --------------------------------------------------------------------------------------------
def _describe_ws(ws: str) -> str:
    newlines = ws.count("\n")
    if newlines:
        return f"{newlines} line break{'s' if newlines > 1 else ''}" + (
            " and spaces" if len(ws.replace("\n", "").replace("\r", "")) else ""
        )
    return f"{len(ws)} space{'s' if len(ws) > 1 else ''}" if ws.strip(" ") == "" else "whitespace"


def _whitespace(t: Text, loc: Locator, out: list[Finding]) -> None:
    v = t.value
    if not (v[:1].isspace() or v[-1:].isspace()) or not v.strip():
        return
    lead = len(v) - len(v.lstrip())
    trail = len(v) - len(v.rstrip())
    edits = []
    parts = []
    if lead:
        edits.append(Edit(loc.span(t.path, 0, lead), ""))
        parts.append(f"starts with {_describe_ws(v[:lead])}")
    if trail:
        edits.append(Edit(loc.span(t.path, len(v) - trail, len(v)), ""))
        parts.append(f"ends with {_describe_ws(v[len(v) - trail :])}")
    where = "system prompt" if t.role == SYSTEM else "answer"
    out.append(
        Finding(
            "TL503",
            f"The {where} {' and '.join(parts)}: the chat template adds its own separators, so the model learns "
            "to emit stray whitespace.",
            span=edits[0].span if lead else edits[-1].span,
            fix=Fix(f"Trim the {where}", tuple(edits)),
        )
    )


# --- TL504 empty reasoning ---------------------------------------------------------------------------------------
_EMPTY_THINK = re.compile(r"<(think|thinking|reasoning)>\s*</\1>")


def _empty_reasoning(t: Text, loc: Locator, out: list[Finding]) -> None:
    if "<think" not in t.value and "<reasoning>" not in t.value:
        return
    for m in _EMPTY_THINK.finditer(t.value):
        out.append(
            Finding(
                "TL504",
                f"Empty reasoning block {short(m.group(), 30)}: the model learns to skip reasoning. Fill it in, or "
                "drop the block if the model should not reason.",
                span=loc.span(t.path, m.start(), m.end()),
            )
        )


# --- TL505 personal data -----------------------------------------------------------------------------------------
def _personal(t: Text, loc: Locator, out: list[Finding]) -> None:
    for p in find_personal(t.value):
        out.append(
            Finding(
                "TL505",
                f"Possible {p.kind} ({p.masked}) in the {'prompt' if t.role == USER else 'answer'}: personal data "
                "can be memorised and repeated by the tuned model. Remove or replace it.",
                span=loc.span(t.path, p.start, p.end),
            )
        )


# --- TL507 facts -------------------------------------------------------------------------------------------------
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
_JSON_FENCE = re.compile(r"^```(?:json)?[ \t]*\n(.*)\n```$", re.DOTALL)
_SCRIPT_CLASSES = (
    ("Han", r"[\u4e00-\u9fff\u3400-\u4dbf]"),
    ("Kana", r"[\u3040-\u30ff]"),
    ("Hangul", r"[\uac00-\ud7af]"),
    ("Cyrillic", r"[\u0400-\u04ff]"),
    ("Arabic", r"[\u0600-\u06ff]"),
    ("Hebrew", r"[\u0590-\u05ff]"),
    ("Devanagari", r"[\u0900-\u097f]"),
    ("Thai", r"[\u0e00-\u0e7f]"),
    ("Greek", r"[\u0370-\u03ff]"),
    ("Latin", r"[A-Za-z\u00c0-\u024f]"),
)


@lru_cache(maxsize=1)
def _scripts() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The writing systems' patterns, compiled when a text that is not ASCII first needs them: compiling these wide
    character ranges takes ~6 ms, half of what importing this module cost every process."""
    return tuple((name, re.compile(cls)) for name, cls in _SCRIPT_CLASSES)


_ASCII_LETTER = re.compile(r"[A-Za-z]")


def script(text: str) -> str | None:
    """The writing system most of the text's letters use (ASCII text is Latin without counting)."""
    if text.isascii():
        return "Latin" if _ASCII_LETTER.search(text) else None
    counts = [(len(rx.findall(text)), name) for name, rx in _scripts()]
    best = max(counts)
    if not best[0]:
        return None
    if best[1] == "Han" and dict((n, c) for c, n in counts)["Kana"]:
        return "Kana"  # Japanese mixes kanji and kana
    return best[1]


def scripts(text: str) -> tuple[str, ...]:
    """Every writing system with a few letters in the text; "*" when the text asks for a translation."""
    if "ranslat" in text or "翻" in text:
        return ("*",)
    if text.isascii():
        return ("Latin",) if _ASCII_LETTER.search(text) else ()
    return tuple(name for name, rx in _scripts() if len(rx.findall(text)) >= 3)


def _shape(answer: str) -> tuple[str, tuple[str, ...] | None]:
    v = answer.strip()
    if v[:1] in "{[" or v.startswith("```"):
        m = _JSON_FENCE.match(v)
        body = m.group(1) if m else v
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, (dict, list)):
            return "json", tuple(sorted(value)) if isinstance(value, dict) else None
    if "\n" in v and len(_LIST_ITEM.findall(v, 0, 4000)) >= 2:
        return "list", None
    return "prose", None


# --- the line ----------------------------------------------------------------------------------------------------
def check(obj: dict[str, Any], fmt: str, text: str, offset: int, c: Collector) -> ContentResult:
    """All content checks of one example. `text` is the line without its byte order mark, `offset` its columns.

    The loop is the hot path: each check is behind substring tests on the text, and a `Text` (with its path) is
    built only for a text that passes one."""
    if "arguments" in text:
        check_tool_arguments(obj, fmt, c)
    texts, answer_at = example_texts(obj, fmt)
    if not texts:
        return _NOTHING
    loc = Locator(text, offset)
    out: list[Finding] = []
    gated: list[Gated] = []
    braces = slots = 0
    system = prompt = answer_prompt = ""
    answer: Text | None = None
    for i, (role, path, v) in enumerate(texts):
        if not v:
            continue
        if role == USER:
            prompt = v
        elif role == SYSTEM:
            if not system:
                system = v
            if _quiet_system(v):
                continue  # the same system prompt as on earlier lines, with nothing to report
        t = Text(role, path, v, i == answer_at) if i == answer_at else None
        if role in (SYSTEM, ASSISTANT) and (v[0].isspace() or v[-1].isspace()):
            t = t or Text(role, path, v, False)
            _whitespace(t, loc, out)
        if role != REJECTED:
            if "{" in v:
                braces += v.count("{")
            if "{" in v or "[" in v or "<" in v or (role in (ASSISTANT, TEXT) and _unfinished(v)):
                t = t or Text(role, path, v, False)
                slots += _placeholders(t, loc, gated)
            if role in (ASSISTANT, TEXT) and ("<" in v or "an AI" in v or (":" in v and _has_label(v))):
                t = t or Text(role, path, v, False)
                _artifacts(t, prompt, loc, gated)
                if "<think" in v or "<reasoning>" in v:
                    _empty_reasoning(t, loc, out)
        if role != SYSTEM and role != TOOL and ("@" in v or has_number_run(v)):
            _personal(t or Text(role, path, v, False), loc, out)
        if i == answer_at:
            answer, answer_prompt = t, prompt
    end = shape = keys = answer_script = None
    prompt_scripts: tuple[str, ...] = ()
    if answer is not None:
        end = _truncation(answer, loc, gated)
        shape, keys = _shape(answer.value)
        answer_script = script(answer.value)
        prompt_scripts = scripts(answer_prompt) if answer_prompt else ()
    facts = ContentFacts(
        tuple(gated),
        braces > slots,
        end,
        _group(system) if fmt != "text" else None,
        shape,
        keys,
        answer_script,
        prompt_scripts,
        answer.path if answer is not None else None,
    )
    return ContentResult(out, _intern(facts))


_NOTHING = ContentResult([], None)
_QUIET_SYSTEMS: dict[str, bool] = {}


def _quiet_system(v: str) -> bool:
    """Whether this system prompt has nothing for the checks to look at (cached: a file usually repeats one)."""
    quiet = _QUIET_SYSTEMS.get(v)
    if quiet is None:
        quiet = not (v[0].isspace() or v[-1].isspace() or "{" in v or "[" in v or "<" in v)
        if len(_QUIET_SYSTEMS) < 1024:
            _QUIET_SYSTEMS[v] = quiet
    return quiet


_GROUPS: dict[str, str] = {}


def _group(system: str) -> str:
    """The kind of prompt an example answers: its system prompt's first 64 characters, spaces normalised
    (cached: a file usually has one system prompt, repeated on every line)."""
    group = _GROUPS.get(system)
    if group is None:
        group = " ".join(system[:400].split())[:64]
        if len(_GROUPS) < 1024:
            _GROUPS[system] = group
    return group
