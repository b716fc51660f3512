"""Splitting text into lines the way LSP and editors do, and decoding raw bytes line by line.

Only `\\n`, `\\r\\n` and `\\r` end a line. U+2028, U+2029 and U+0085 are legal inside JSON strings and are data:
`str.splitlines` would break on them and shift every position after them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple, cast

from .types import Finding, Span

_BREAK = re.compile(r"\r\n|\n|\r")
BOM = "\ufeff"


def split_lines(text: str) -> list[str]:
    """Lines without their terminators. A trailing line break does not start an empty last line."""
    lines = text.split("\n") if "\r" not in text else _BREAK.split(text)  # one C split for most files
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


def decode_line(raw: bytes, number: int | None = None) -> tuple[str, Finding | None]:
    """One line's bytes as text, and a TL004 finding at the first bad byte when they are not UTF-8.

    Bad bytes become U+FFFD (what editors show), so the rest of the line is still checked; callers that need the
    line's real content keep its bytes.
    """
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        col = len(raw[: exc.start].decode("utf-8", errors="replace"))
        bad = raw[exc.start : exc.end]
        finding = Finding(
            "TL004",
            f"Invalid UTF-8: byte {bad[:4].hex(' ')} at column {col + 1} is not valid UTF-8; "
            "training APIs reject the whole file. Re-save the file as UTF-8.",
            number,
            Span(col, col + 1),
        )
        return raw.decode("utf-8", errors="replace"), finding


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
            line, finding = decode_line(raw, number)
            lines.append(line)
            if finding is not None:
                findings.append(finding)
    # A BOM stays in the first line's text: the line analysis reports it (TL004), so the editor and the CLI
    # agree, and positions on that line stay true to the file.
    return DecodedFile(lines, findings)


_BREAK_BYTES = re.compile(rb"(\r\n|\n|\r)")
READ_BLOCK = 1 << 20


class RawLine(NamedTuple):
    """One line of a byte stream: its bytes (None when it is longer than the reader's cap and was not kept), its
    length in bytes and its own line ending (b"" for a last line without one)."""

    data: bytes | None
    size: int
    ending: bytes


def iter_raw_lines(stream: BinaryIO, max_line_bytes: int, block_size: int = READ_BLOCK) -> Iterator[RawLine]:
    """The lines of `stream`, split exactly like `split_lines`, reading a block at a time.

    Memory stays at one block plus the line being read: a line longer than `max_line_bytes` is counted to its
    end but not kept, so a 2 GB file without line breaks (or `/dev/zero` behind a pipe) costs no more than a
    short one. Each line keeps its own ending (CRLF, LF and lone CR may mix), so a writer can copy the file back
    byte for byte.
    """
    return cast(Iterator[RawLine], _split(stream, max_line_bytes, block_size, runs=False))  # runs=False: lines only


def iter_line_runs(stream: BinaryIO, max_line_bytes: int, block_size: int = READ_BLOCK) -> Iterator[RawLine | bytes]:
    """`iter_raw_lines`, except that the lines a block holds whole come as one `bytes` run: lines that each end
    with b"\n", with no b"\r" among them and within the cap (`run.split(b"\n")` gives them, its last piece
    empty). A reader decodes and splits a run in two C calls where a line at a time costs ~3 µs each (issue #14:
    0.36 s of a 100k-line check's serial start)."""
    return _split(stream, max_line_bytes, block_size, runs=True)


def _split(stream: BinaryIO, max_line_bytes: int, block_size: int, *, runs: bool) -> Iterator[RawLine | bytes]:
    parts: list[bytes] = []  # the unfinished line, while it is within the cap
    size = 0  # its length so far
    over = False  # it passed the cap: only its length is counted
    carry = b""  # a CR at the end of a block: the next block may start with its LF
    while True:
        block = stream.read(block_size)
        eof = not block
        if carry:
            block, carry = carry + block, b""
        if not eof and block.endswith(b"\r"):
            block, carry = block[:-1], b"\r"
        run = b""
        if b"\r" in block:
            pieces = _BREAK_BYTES.split(block)
            segments, endings = pieces[0::2], pieces[1::2]
        else:
            first, last = block.find(b"\n"), block.rfind(b"\n")
            if runs and first < last and last - first <= max_line_bytes:
                # Every line between the first and the last break is whole and within the cap.
                segments, run = [block[:first], block[last + 1 :]], block[first + 1 : last + 1]
            else:  # the common case without runs: bytes.split is many times faster than a regex
                segments = block.split(b"\n")
            endings = None
        for i in range(len(segments) - 1):
            piece, ending = segments[i], b"\n" if endings is None else endings[i]
            if i == 0 and size:
                total = size + len(piece)
                if over or total > max_line_bytes:
                    yield RawLine(None, total, ending)
                else:
                    parts.append(piece)
                    yield RawLine(b"".join(parts), total, ending)
                parts, size, over = [], 0, False
            elif len(piece) > max_line_bytes:
                yield RawLine(None, len(piece), ending)
            else:
                yield RawLine(piece, len(piece), ending)
            if i == 0 and run:
                yield run
        tail = segments[-1]
        if tail:
            size += len(tail)
            if not over:
                parts.append(tail)
                if size > max_line_bytes:
                    parts, over = [], True
        if eof:
            break
    if size:
        yield RawLine(None if over else b"".join(parts), size, b"")
