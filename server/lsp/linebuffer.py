"""The editor's text as a list of lines, edited in place by LSP ranges.

Lines break only on `\\n`, `\\r\\n` and `\\r` (LSP's rule; `str.splitlines` would also break on U+2028 and
friends, which are legal inside JSON strings). Each line keeps its own terminator so that `text()` gives back the
editor's bytes exactly and an edit that joins a lone `\\r` with a following `\\n` is seen as one line break.
Positions arrive in UTF-16 units and are clamped to the document, like editors do.

An edit returns the `LineSplice` that the analysis engine's `Dataset` needs: which of its lines changed. The
dataset mirrors the document's lines except a final empty line after a trailing line break (as
`tuneline.analysis.lines.split_lines` does), so a file ending in a newline has no phantom blank example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tuneline.analysis.lines import from_utf16

_BREAK = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class LineSplice:
    """Dataset lines [start, end) became `lines` (0-based, end exclusive)."""

    start: int
    end: int
    lines: list[str]


def split_with_ends(text: str) -> tuple[list[str], list[str]]:
    """Lines and their terminators; the last line's terminator is always ""."""
    if "\r" not in text:
        lines = text.split("\n")
        ends = ["\n"] * (len(lines) - 1)
        ends.append("")
        return lines, ends
    lines: list[str] = []
    ends: list[str] = []
    pos = 0
    for m in _BREAK.finditer(text):
        lines.append(text[pos : m.start()])
        ends.append(m.group())
        pos = m.end()
    lines.append(text[pos:])
    ends.append("")
    return lines, ends


class LineBuffer:
    """One open document's text. Every method is O(size of the edit), apart from `text()`."""

    __slots__ = ("ends", "lines")

    def __init__(self, text: str = "") -> None:
        self.lines, self.ends = split_with_ends(text)

    def __len__(self) -> int:
        return len(self.lines)

    def text(self) -> str:
        return "".join(line + end for line, end in zip(self.lines, self.ends))

    def dataset_len(self) -> int:
        """How many lines the analysis sees: all but a trailing empty line after a final line break."""
        n = len(self.lines)
        return n - 1 if n > 1 and self.lines[-1] == "" else n

    def dataset_lines(self) -> list[str]:
        return self.lines[: self.dataset_len()]

    def replace_all(self, text: str) -> LineSplice:
        old = self.dataset_len()
        self.lines, self.ends = split_with_ends(text)
        return LineSplice(0, old, self.dataset_lines())

    def _clamp(self, line: int, character: int) -> tuple[int, int]:
        """(line, UTF-16 character) -> (line, code point), clamped to the document."""
        if line < 0:
            return 0, 0
        if line >= len(self.lines):
            last = len(self.lines) - 1
            return last, len(self.lines[last])
        return line, from_utf16(self.lines[line], max(0, character))

    def edit(self, start_line: int, start_char: int, end_line: int, end_char: int, new_text: str) -> LineSplice:
        """Replace the range (UTF-16 positions, end exclusive) with `new_text`."""
        l1, c1 = self._clamp(start_line, start_char)
        l2, c2 = self._clamp(end_line, end_char)
        if (l2, c2) < (l1, c1):
            l1, c1, l2, c2 = l2, c2, l1, c1
        lines, ends = self.lines, self.ends
        old_len = self.dataset_len()
        prefix = lines[l1][:c1]
        if c1 == 0 and l1 > 0 and ends[l1 - 1] == "\r":
            # The previous line ends in a lone \r: new text starting with \n would join it into one \r\n.
            l1 -= 1
            prefix = lines[l1] + "\r"
        region = prefix + new_text + lines[l2][c2:] + ends[l2]
        new_lines, new_ends = split_with_ends(region)
        if ends[l2]:
            # The region ended with a line break: the empty piece after it is the next, untouched line's start.
            new_lines.pop()
            new_ends.pop()
        lines[l1 : l2 + 1] = new_lines
        ends[l1 : l2 + 1] = new_ends
        new_len = self.dataset_len()
        stop = min(l1 + len(new_lines), new_len)
        return LineSplice(l1, min(l2 + 1, old_len), lines[l1:stop])
