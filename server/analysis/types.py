"""Plain data the engine hands to its callers (CLI, language server, training pre-flight).

Positions inside a line are code-point offsets into the decoded line text (0-based, end exclusive). Callers turn
them into what they need: 1-based columns for the CLI, UTF-16 units for LSP.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple


class Severity(IntEnum):
    """Ordered like LSP's DiagnosticSeverity so the server can pass the value through."""

    ERROR = 1
    WARNING = 2
    INFO = 3
    HINT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        key = text.strip().upper()
        aliases = {"WARN": "WARNING", "INFORMATION": "INFO"}
        return cls[aliases.get(key, key)]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of code points inside one line."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace `span` of the finding's line with `text` (an insertion when the span is empty)."""

    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A fix computed with the finding, so an editor's code action needs no re-analysis.

    `delete_line` removes the whole line (with its line break); otherwise `edits` apply to the line's text.
    `safe` fixes are the ones `fixAll` applies without asking.
    """

    title: str
    edits: tuple[Edit, ...] = ()
    delete_line: bool = False
    safe: bool = True


@dataclass(frozen=True, slots=True)
class Related:
    """Another place that explains a finding (the first copy of a duplicate, say). `line` is 0-based."""

    line: int
    message: str
    span: Span | None = None
    path: str | None = None  # another file (train/validation overlap); None: the same file


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem. `line` is 0-based, or None for a file-level finding; `span` lies within that line."""

    code: str
    message: str
    line: int | None = None
    span: Span | None = None
    fix: Fix | None = None
    related: tuple[Related, ...] = ()
    severity: Severity | None = None  # None: the rule's default, resolved by the engine's settings

    def at_line(self, line: int) -> Finding:
        return Finding(self.code, self.message, line, self.span, self.fix, self.related, self.severity)


class MessageTokens(NamedTuple):
    """Tokens one message costs by the chat rule (3 + its values), for hovers and stats. A tuple: results cross
    process boundaries by the hundred thousand, and tuples pickle cheaply."""

    role: str
    tokens: int


@dataclass(slots=True)
class LineResult:
    """Everything the engine knows about one line; a pure function of the line's text and the settings.

    Results are cached by text, so identical lines share one object: never store a line number in here.
    """

    kind: str  # "blank" | "invalid" | "non-object" | "example"
    findings: tuple[Finding, ...] = ()
    format: str | None = None  # detected format of an example, "unknown" when none matches
    also: str | None = None  # a second format the example is valid in (a chat line ending on a user turn: rft)
    images: int = 0  # image content parts (not in `tokens`: the count is a lower bound when there are any)
    tokens: int = 0  # tokens of the example by the OpenAI chat rule
    messages: tuple[MessageTokens, ...] = ()
    assistant_tokens: int = 0
    dup_key: bytes | None = None  # hash of the example's JSON value (exact duplicates)
    system_prompt: str | None = None  # first system message (chat-like formats), "" when there is none
    has_system_slot: bool = False  # the format can carry a system prompt
    prompt_key: bytes | None = None  # conversation up to the last user turn (conflicting answers)
    answer_key: bytes | None = None
    label: str = ""  # a short title for outlines: "user: How do I…"
    content: object = None  # what the file-level content rules aggregate (rules/content_lines.ContentFacts)
    tokens_estimated: bool = False  # the engine's tokenizer could not count this line: `tokens` is o200k_base's
    example_weight: bool = False  # a `weight` beside `messages` (Fireworks weights whole examples: all or none)

    @property
    def is_example(self) -> bool:
        return self.kind == "example"

    def __reduce__(self):
        """Pickle as one flat tuple (worker processes send results back by the hundred thousand), rebuilt by
        calling the class itself: a module-level wrapper cost a Python call a line (1.88 → 1.51 µs to unpickle)."""
        return (LineResult, _line_result_values(self))


_LINE_RESULT_FIELDS = tuple(LineResult.__dataclass_fields__)
_line_result_values = operator.attrgetter(*_LINE_RESULT_FIELDS)  # one C call for the field tuple
