"""What the credentials that matter for fine-tuning data look like: one list for the linter and for redaction.

TL401 flags keys in datasets and `tuneline.training.redact` masks them in everything tuneline writes, so both read
this list and cannot drift apart. The shapes follow the providers' published formats (as recorded by gitleaks and
detect-secrets): OpenAI (`sk-proj-`, `sk-svcacct-`, `sk-admin-`, and legacy keys carrying the `T3BlbkFJ` marker),
Anthropic (`sk-ant-api03-`), Together (`tgp_v1_`), Hugging Face (`hf_`, `api_org_`), GitHub (`ghp_` and friends,
`github_pat_`), Google (`AIza`), AWS access key ids (`AKIA`, base32, so often without a digit) and AWS secret access
keys (40 base64 characters with no prefix, so only next to `aws_secret_access_key` or an access key id).

Precision comes from three checks on top of each regex: the key must stand alone (no key character just before or
after it, so `task-proj-...` or a run inside a base64 blob is not a key), it must look random (placeholders like
`sk-proj-xxxx...` or camel-case words are not keys), and prefix-less shapes need context. Speed comes from anchors:
literals every match contains, found with `str.__contains__` at memchr speed, so a line with none of them never
reaches a regex.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

_ALNUM = frozenset(string.ascii_letters + string.digits)
_URLSAFE = _ALNUM | {"_", "-"}  # base64url, the alphabet of most modern keys
_ESCAPE_LETTERS = frozenset("nrtbf")

Accept = Callable[[str, "re.Match[str]"], bool]


@dataclass(frozen=True, slots=True)
class KeyPattern:
    """One credential shape. `regex` finds candidates (the whole match is the key), `accept` keeps the real ones,
    `anchors` are literals every match contains, and `loose` is a more liberal regex fragment that redaction also
    masks: truncated or partly masked keys that providers echo back in error messages."""

    name: str
    anchors: tuple[str, ...]
    regex: re.Pattern[str]
    accept: Accept
    loose: str | None = None
    # False: an anchor may lie outside the line's runs of key characters (context near the key, a label; or a
    # prefix joined to the key by a character that is not a key character), so it is looked for in the whole line
    anchors_in_key: bool = True
    shortest: int = 20  # the least length of a match (every key is a run of 20+ key characters)


@dataclass(frozen=True, slots=True)
class KeyMatch:
    start: int
    end: int
    pattern: KeyPattern


def _stands_alone(text: str, start: int, end: int, before: frozenset[str], after: frozenset[str]) -> bool:
    """No character of `before` just before the key and none of `after` just after it.

    The raw JSON line is searched, so a key that follows a newline reads `\\nsk-...`: a letter after an odd run
    of backslashes belongs to an escape, not to the key.
    """
    if end < len(text) and text[end] in after:
        return False
    if start == 0 or text[start - 1] not in before:
        return True
    if text[start - 1] not in _ESCAPE_LETTERS:
        return False
    run = 0
    i = start - 2
    while i >= 0 and text[i] == "\\":
        run += 1
        i -= 1
    return run % 2 == 1


def _random(body: str, distinct: int, classes: int = 2) -> bool:
    """Random enough to be a generated key: many distinct characters and at least `classes` character classes.

    Generated keys pass with overwhelming probability (36 random base62 characters have ~27 distinct ones);
    placeholders (`xxxx`, `0000`) and lowercase words do not.
    """
    if len(set(body)) < distinct:
        return False
    found = any(c.isupper() for c in body) + any(c.islower() for c in body) + any(c.isdigit() for c in body)
    return found >= classes


def _mixed_case(body: str, each: int) -> bool:
    return sum(c.isupper() for c in body) >= each and sum(c.islower() for c in body) >= each


def _prefixed(prefix_len: int, distinct: int, before: frozenset[str] = _URLSAFE) -> Accept:
    """Accept a prefixed key that stands alone and whose part after the prefix looks random.

    For prefixes with `_` or `-` the left boundary need not exclude `+` and `/`: such prefixes never occur inside
    standard base64, and a key right after a `/` (`https://ghp_...@github.com`) is still a key.
    """

    def accept(text: str, m: re.Match[str]) -> bool:
        return _stands_alone(text, m.start(), m.end(), before, _URLSAFE) and _random(m.group()[prefix_len:], distinct)

    return accept


def _openai(text: str, m: re.Match[str]) -> bool:
    if not _stands_alone(text, m.start(), m.end(), _URLSAFE, _URLSAFE):
        return False
    key = m.group()
    if "T3BlbkFJ" in key:  # base64 of "openai": every generated OpenAI key has it
        return True
    kind = m.group("kind")
    body = key[len(kind) + 4 :] if kind else ""
    return len(body) >= 40 and _random(body, 12)


def _hugging_face(text: str, m: re.Match[str]) -> bool:
    body = m.group()[-34:]
    return _stands_alone(text, m.start(), m.end(), _URLSAFE, _URLSAFE) and _mixed_case(body, 3) and _random(body, 12)


_AWS_ID = r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}"
_AWS_ID_RE = re.compile(_AWS_ID)
_AWS_ANCHORS = ("AKIA", "ASIA", "ABIA", "ACCA", "A3T")


def _aws_id(text: str, m: re.Match[str]) -> bool:
    """Base32 upper case: one character class, and about 1 id in 30 has no digit at all."""
    return _stands_alone(text, m.start(), m.end(), _URLSAFE, _ALNUM) and _random(m.group()[4:], 6, classes=1)


# `aws_secret_access_key = `, `"SecretAccessKey": "`, `AWS_SECRET=`... just before the value, in a raw JSON line.
_AWS_SECRET_LABEL = re.compile(
    r"(?i:secret[_ .-]?access[_ .-]?key|aws[_ .-]?secret(?:[_ .-]?(?:access[_ .-]?)?key)?)"
    r"(?:[\s\"'`:=>,()\[\]]|\\[nrt\"'])*\Z"
)


def _aws_secret(text: str, m: re.Match[str]) -> bool:
    """40 base64 characters with upper and lower case (never a hex digest), named as an AWS secret access key or
    within a few hundred characters of an access key id."""
    key = m.group()
    if not (_mixed_case(key, 1) and _random(key, 15)):
        return False
    start, end = m.start(), m.end()
    if _AWS_SECRET_LABEL.search(text, max(0, start - 64), start):
        return True
    for near in _AWS_ID_RE.finditer(text, max(0, start - 300), min(len(text), end + 300)):
        if _aws_id(text, near):
            return True
    return False


KEY_PATTERNS: tuple[KeyPattern, ...] = (
    KeyPattern(
        "Anthropic API key",
        ("sk-ant-",),
        re.compile(r"sk-ant-(?:[a-z]{2,8}\d\d-)?[A-Za-z0-9_-]{32,}"),
        _prefixed(7, 12),
        # `\d` also takes non-ASCII digits (`api٠٣`), which are no key characters: the prefix can then sit outside
        # every run (the 32+ tail is still one), so the anchor is looked for in the whole line
        anchors_in_key=False,
    ),
    KeyPattern(
        "OpenAI API key",
        ("sk-",),
        re.compile(r"sk-(?:(?P<kind>proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,}"),
        _openai,
        loose=r"sk-[A-Za-z0-9_*\-]{16,}",  # also the masked form OpenAI echoes back: sk-proj-****1234
    ),
    KeyPattern(
        "Together AI API key",
        ("tgp_v1_",),
        re.compile(r"tgp_v1_[A-Za-z0-9_-]{32,}"),
        _prefixed(7, 12),
        loose=r"tgp_v1_[A-Za-z0-9_*\-]{16,}",
    ),
    KeyPattern(
        "Hugging Face token",
        ("hf_", "api_org_"),
        re.compile(r"(?:hf|api_org)_[A-Za-z0-9]{34}"),
        _hugging_face,
        loose=r"hf_[A-Za-z0-9]{20,}",
    ),
    KeyPattern(
        "GitHub token",
        ("github_pat_",),
        re.compile(r"github_pat_[A-Za-z0-9]{20,30}_[A-Za-z0-9]{50,70}"),
        _prefixed(11, 12),
        loose=r"github_pat_[A-Za-z0-9_*]{16,}",
    ),
    KeyPattern(
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36,255}"),
        _prefixed(4, 12),
        loose=r"gh[pousr]_[A-Za-z0-9*]{16,}",
    ),
    KeyPattern(
        "Google API key",
        ("AIza",),
        re.compile(r"AIza[A-Za-z0-9_-]{35}"),
        _prefixed(4, 12),
        loose=r"AIza[A-Za-z0-9_*\-]{16,}",
    ),
    KeyPattern("AWS access key id", _AWS_ANCHORS, re.compile(_AWS_ID), _aws_id),
    KeyPattern(
        "AWS secret access key",
        ("ecret", "ECRET", *_AWS_ANCHORS),
        re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])"),
        _aws_secret,
        anchors_in_key=False,
        shortest=40,
    ),
)


_KEY_ANCHORS = re.compile("|".join(re.escape(a) for p in KEY_PATTERNS if p.anchors_in_key for a in p.anchors))
_CONTEXT_PATTERNS = tuple(p for p in KEY_PATTERNS if not p.anchors_in_key)


def find_keys(text: str, runs: str | None = None) -> list[KeyMatch]:
    """Every key in `text`, in order, without overlaps (the earlier, then the longer match wins).

    `runs`, when the caller has them, are the text's runs of 20+ key characters (newline-joined): every key is made
    of such characters and is at least 20 long, so a key lies inside a run, and an anchor that is part of the key
    needs looking for only there (prose says `task-` and `sk-` far more often than keys do)."""
    found: list[KeyMatch] = []
    seen: dict[str, bool] = {}  # patterns share anchors (the AWS ones): search each once
    seen_runs: dict[str, bool] = {}
    patterns = KEY_PATTERNS
    if runs is not None:
        longest = max(map(len, runs.split("\n")))
        patterns = tuple(
            p
            for p in (KEY_PATTERNS if _KEY_ANCHORS.search(runs) else _CONTEXT_PATTERNS)  # one C search, not a loop
            if p.shortest <= longest
        )
    for pattern in patterns:
        where, cache = (runs, seen_runs) if runs is not None and pattern.anchors_in_key else (text, seen)
        for anchor in pattern.anchors:
            hit = cache.get(anchor)
            if hit is None:
                hit = cache[anchor] = anchor in where
            if hit:
                break
        else:
            continue
        for m in pattern.regex.finditer(text):
            if pattern.accept(text, m):
                found.append(KeyMatch(m.start(), m.end(), pattern))
    if len(found) < 2:
        return found
    found.sort(key=lambda k: (k.start, -k.end))
    kept: list[KeyMatch] = []
    for k in found:
        if not kept or k.start >= kept[-1].end:
            kept.append(k)
    return kept


def mask_keys(text: str, mask: str) -> str:
    """`text` with every key replaced by `mask`."""
    keys = find_keys(text)
    for k in reversed(keys):
        text = text[: k.start] + mask + text[k.end :]
    return text


# Redaction masks more than the linter flags: a wrong mask in a log costs nothing, a leaked key costs a lot.
LOOSE_KEY_FRAGMENTS: tuple[str, ...] = tuple(p.loose for p in KEY_PATTERNS if p.loose)
