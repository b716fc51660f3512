"""Rules that read the raw line text: special tokens (TL119) and secrets (TL401).

Both look for things that appear literally in the JSON text, so they search the line itself and get exact spans
for free, with no JSON walk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from .. import detector_cache
from ..secret_patterns import find_keys
from ..types import Edit, Finding, Fix, Span

# Control tokens of OpenAI encodings and of common open-model chat templates.
_SPECIAL = re.compile(
    r"<\|(?:endoftext|endofprompt|im_start|im_end|im_sep|fim_prefix|fim_middle|fim_suffix|"
    r"begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|python_tag|"
    r"system|user|assistant|end|pad|unk)\|>"
)


def special_tokens(line: str) -> list[Finding]:
    if "<|" not in line:
        return []
    out = []
    for m in _SPECIAL.finditer(line):
        span = Span(m.start(), m.end())
        out.append(
            Finding(
                "TL119",
                f'Special token {m.group()} in the text: OpenAI rejects it ("invalid token") and open-model '
                "trainers read it as a control token.",
                span=span,
                fix=Fix(f"Remove {m.group()}", (Edit(span, ""),), safe=False),
            )
        )
    return out


# --- secrets -----------------------------------------------------------------------------------------------
# Two sources, one finding per key. First the key shapes of `secret_patterns` (the providers that matter for
# fine-tuning: OpenAI, Anthropic, Together, Hugging Face, GitHub, Google, AWS), which redaction shares. Then
# detect-secrets' pattern detectors (two left out, see `_EXCLUDED`); its entropy and keyword detectors are left out
# too: slow, and they flag ordinary text.
#
# The prefilter is one pass over the line for runs of 20+ key characters: every key shape holds such a run, so a
# line without one (most prose) costs that pass and nothing else. detect-secrets runs only where a run holds a digit
# (or on a PEM header or a URL with a password), as before, and then each detector only if its own gate passes:
# literals its regexes cannot match without. A detector this table does not know (a newer detect-secrets) gets no
# gate, so nothing it would find is lost.
# Left out: public IPs (addresses are not credentials), and GitHub tokens, whose key shape here is stricter (its
# regex takes `_` and has no boundary, so it flagged `ghp_placeholder_value_...`) and spans the whole token (its
# capture group yields only the `ghp` prefix).
_EXCLUDED = frozenset({"IPPublicDetector", "GitHubTokenDetector"})
_RUN = re.compile(r"[A-Za-z0-9_\-+/=.]{20,}")
_OTHER = re.compile(r"PRIVATE KEY|://[^\s:/@\"]+:[^\s/@\"]+@")
_AWS_IDS = ("A3T", "ABIA", "ACCA", "AKIA", "ASIA")
# Gates for the costly detectors: a literal-led regex that sre finds at memchr speed, then a cheap check.
_KEYWORDS = ("key", "pw", "pass", "token")
_KEYWORD_VALUE = re.compile(r"(?:key|pwd|password|pass|token)[\"']?\]? *(?:=|:| )")  # on the case-folded line
_CLOUDANT = re.compile(r"cl(?:oudant|ou)?[_-]?(?:api)?(?:key|pw|pass|token)|cloudant\.com")
_SOFTLAYER = re.compile(r"(?:softlayer|sl)[_-]?(?:api)?[_-]?(?:key|pwd|pass|token)|api\.softlayer\.com")
_DISCORD = re.compile(r"\.[a-zA-Z\d_-]{6}\.")
_TELEGRAM = re.compile(r":[0-9A-Za-z_-]{35}")


class _Line:
    """The raw line with two facts computed once, when a gate first asks: its case-folded form (for the
    case-insensitive detectors) and its longest run of key characters (a value of N key characters needs one)."""

    __slots__ = ("_folded", "_longest", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._folded: str | None = None
        self._longest: int | None = None

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = self.text.casefold()
        return self._folded

    @property
    def longest_run(self) -> int:
        if self._longest is None:
            self._longest = max((m.end() - m.start() for m in _RUN.finditer(self.text)), default=0)
        return self._longest

    def has(self, *literals: str) -> bool:
        text = self.text
        return any(a in text for a in literals)

    def has_folded(self, *literals: str) -> bool:
        folded = self.folded
        return any(a in folded for a in literals)


def _telegram(line: _Line) -> bool:
    text = line.text
    return any(m.start() >= 8 and text[m.start() - 8 : m.start()].isdigit() for m in _TELEGRAM.finditer(text))


def _no_gate(line: _Line) -> bool:
    return True


# Necessary conditions read off each detector's regexes (detect-secrets 1.5); case-insensitive ones use `folded`,
# and `longest_run` bounds the length of a value made of key characters.
_GATES: dict[str, Callable[[_Line], bool]] = {
    "ArtifactoryDetector": lambda ln: ln.has("AKC", "AP"),
    "AWSKeyDetector": lambda ln: ln.has(*_AWS_IDS) or ln.has_folded("aws"),
    "AzureStorageKeyDetector": lambda ln: ln.has("AccountKey="),
    "BasicAuthDetector": lambda ln: ln.has("://"),
    "CloudantDetector": lambda ln: (
        ln.has_folded("cl") and _CLOUDANT.search(ln.folded) is not None and ln.longest_run >= 24
    ),
    "DiscordBotTokenDetector": lambda ln: _DISCORD.search(ln.text) is not None and ln.longest_run >= 59,
    "GitLabTokenDetector": lambda ln: ln.has("gl", "GR1348941"),
    "IbmCloudIamDetector": lambda ln: (
        ln.has_folded(*_KEYWORDS) and _KEYWORD_VALUE.search(ln.folded) is not None and ln.longest_run >= 44
    ),
    "IbmCosHmacDetector": lambda ln: ln.has_folded("secret") and ln.longest_run >= 48,
    "JwtTokenDetector": lambda ln: ln.has("eyJ"),
    "MailchimpDetector": lambda ln: ln.has("-us"),
    "NpmDetector": lambda ln: ln.has(":_authToken="),
    "OpenAIDetector": lambda ln: ln.has("T3BlbkFJ"),
    "PrivateKeyDetector": lambda ln: ln.has("PRIVATE KEY", "PuTTY-User-Key-File-2"),
    "PypiTokenDetector": lambda ln: ln.has("pypi-"),
    "SendGridDetector": lambda ln: ln.has("SG."),
    "SlackDetector": lambda ln: ln.has_folded("xox", "hooks.slack.com"),
    "SoftlayerDetector": lambda ln: (
        ln.has_folded("sl", "softlayer") and _SOFTLAYER.search(ln.folded) is not None and ln.longest_run >= 64
    ),
    "SquareOAuthDetector": lambda ln: ln.has("sq0csp-"),
    "StripeDetector": lambda ln: ln.has("k_live_"),
    "TelegramBotTokenDetector": _telegram,
    "TwilioKeyDetector": lambda ln: ln.has("AC", "SK"),
}


@lru_cache(maxsize=1)
def detectors() -> tuple[tuple[detector_cache.CachedDetector, Callable[[_Line], bool], bool], ...]:
    """(detector, its gate, whether it filters its own matches) for every detect-secrets pattern detector, from
    tuneline's cache of their patterns (`detector_cache`: importing detect-secrets costs ~0.24 s a process)."""
    return tuple((d, _GATES.get(d.name, _no_gate), d.own) for d in detector_cache.load(_EXCLUDED))


_EDGE = " \t\"'=:"


def _detector_spans(detector: Any, filters: bool, line: str) -> Iterator[tuple[int, int]]:
    """Where `detector` finds a secret in `line`.

    detect-secrets yields capture groups, which are sometimes the secret after a label (a password, a value after
    `key =`) and sometimes only a label (GitLab's `glpat`), and yields text rather than places. So the regexes run
    here: a group of 8+ characters after the match start is the secret, otherwise the whole match, trimmed of the
    separators some patterns include. A detector that filters its own matches keeps its say.
    """
    if filters:
        for secret in detector.analyze_string(line):
            start = line.find(secret)
            if start >= 0 and secret:
                yield start, start + len(secret)
        return
    for regex in detector.denylist:
        for m in regex.finditer(line):
            start, end = m.span()
            if m.re.groups and m.start(1) > start and m.end(1) - m.start(1) >= 8:
                start, end = m.span(1)
            while start < end and line[start] in _EDGE:
                start += 1
            while end > start and line[end - 1] in _EDGE:
                end -= 1
            if end - start >= 8:
                yield start, end


_KEY_BYTES = bytes(
    ord("a") if chr(b) in "_-+/=." or (chr(b).isascii() and chr(b).isalnum()) else ord(" ") for b in range(256)
)
_TWENTY_KEYS = b"a" * 20


def _other(line: str) -> bool:
    """`_OTHER.search(line)`, behind the substrings every match contains: an alternation sre cannot skip through
    cost 8 µs a line, a substring test (memchr speed) a fraction of that."""
    return ("PRIVATE KEY" in line or "://" in line) and _OTHER.search(line) is not None


def _runs(line: str) -> tuple[str, bool]:
    """(every run of 20+ key characters, joined by newlines; whether any run holds a digit): the maximal matches of
    `_RUN`, without its regex scan (~10 µs on a line with runs).

    The UTF-8 bytes are mapped in C (`bytes.translate`) to "a" for a key character and " " for anything else, and
    the result searched for 20 "a"s (memmem). Key characters are ASCII and every byte of a multi-byte character is
    >= 0x80, so the runs are exactly the regex's, a run's bytes are its characters and a digit in it is an ASCII
    digit; prose, with no run, costs the mapping and one search."""
    raw = line.encode("utf-8", "surrogatepass")
    mask = raw.translate(_KEY_BYTES)
    start = mask.find(_TWENTY_KEYS)
    if start < 0:
        return "", False
    runs = []
    digit = False
    while start >= 0:
        end = mask.find(b" ", start + 20)
        if end < 0:
            end = len(mask)
        run = raw[start:end]
        runs.append(run)
        digit = digit or len(run.translate(None, _DIGITS)) != len(run)
        start = mask.find(_TWENTY_KEYS, end)
    return b"\n".join(runs).decode("ascii"), digit


_DIGITS = b"0123456789"


def _redact(secret: str) -> str:
    return secret[:4] + "…" if len(secret) > 8 else "…"


def _finding(kind: str, secret: str, span: Span) -> Finding:
    return Finding(
        "TL401",
        f"Possible {kind} ({_redact(secret)}) in the data: remove it and rotate the credential.",
        span=span,
    )


def secrets(line: str) -> list[Finding]:
    runs, has_digit_run = _runs(line)
    keys = find_keys(line, runs) if runs else []
    taken = [(k.start, k.end) for k in keys]
    out = [_finding(k.pattern.name, line[k.start : k.end], Span(k.start, k.end)) for k in keys]
    if not has_digit_run and not _other(line):
        return out
    view = _Line(line)
    for detector, gate, filters in detectors():
        if not gate(view):
            continue
        for start, end in _detector_spans(detector, filters, line):
            if any(start < e and s < end for s, e in taken):
                continue  # the same key, already reported (by a key shape, or by an earlier detector)
            taken.append((start, end))
            out.append(_finding(detector.secret_type, line[start:end], Span(start, end)))
    out.sort(key=lambda f: f.span.start if f.span else 0)
    return out
