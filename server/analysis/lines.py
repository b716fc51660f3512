"""Splitting text into lines the way LSP and editors do, and decoding raw bytes line by line.

Only `\\n`, `\\r\\n` and `\\r` end a line. U+2028, U+2029 and U+0085 are legal inside JSON strings and are data:
`str.splitlines` would break on them and shift every position after them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .types import Finding, Span

_BREAK = re.compile(r"\r\n|\n|\r")
BOM = "\ufeff"


def split_lines(text: str) -> list[str]:
    """Lines without their terminators. A trailing line break does not start an empty last line."""
    lines = _BREAK.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (what LSP positions count)."""
    # Characters outside the BMP take two units; the fast path is pure ASCII/BMP text.
    n = len(text)
    if text.isascii():
        return n
    return n + sum(1 for ch in text if ord(ch) > 0xFFFF)


def to_utf16(text: str, offset: int) -> int:
    """Code-point offset -> UTF-16 offset within `text`."""
    prefix = text[:offset]
    return utf16_len(prefix)


def from_utf16(text: str, units: int) -> int:
    """UTF-16 offset -> code-point offset within `text` (clamped to the line)."""
    if text.isascii():
        return min(units, len(text))
    count = 0
    for i, ch in enumerate(text):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


@dataclass(slots=True)
class DecodedFile:
    """A file's lines as text, with the findings that decoding itself produced (TL004)."""

    lines: list[str]
    findings: list[Finding]


def decode_bytes(data: bytes) -> DecodedFile:
    """Decode a JSONL file line by line so one bad byte costs one finding, not the file.

    Lines are split on the same breaks as `split_lines`. A line with invalid UTF-8 is reported at the first bad
    byte and decoded with U+FFFD replacements so the rest of it is still checked.
    """
    findings: list[Finding] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        lines = split_lines(text)
    else:
        raw_lines = re.split(rb"\r\n|\n|\r", data)
        if len(raw_lines) > 1 and raw_lines[-1] == b"":
            raw_lines.pop()
        lines = []
        for number, raw in enumerate(raw_lines):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                good = raw[: exc.start].decode("utf-8", errors="replace")
                col = len(good)
                bad = raw[exc.start : exc.end]
                findings.append(
                    Finding(
                        "TL004",
                        f"Invalid UTF-8: byte {bad[:4].hex(' ')} at column {col + 1} is not valid UTF-8; "
                        "training APIs reject the whole file. Re-save the file as UTF-8.",
                        number,
                        Span(col, col + 1),
                    )
                )
                lines.append(raw.decode("utf-8", errors="replace"))
    # A BOM stays in the first line's text: the line analysis reports it (TL004), so the editor and the CLI
    # agree, and positions on that line stay true to the file.
    return DecodedFile(lines, findings)
