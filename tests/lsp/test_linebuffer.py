"""The line model against a plain-string reference: random edits by UTF-16 ranges, any mix of line breaks."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tuneline.analysis.lines import from_utf16, split_lines
from tuneline.lsp.linebuffer import LineBuffer

_BREAK = re.compile(r"\r\n|\n|\r")
ALPHABET = st.sampled_from(["a", "b", "{", '"', " ", "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "😀", "é"])
TEXT = st.lists(ALPHABET, max_size=30).map("".join)


def reference_offset(text: str, line: int, character: int) -> int:
    """Offset of an LSP position in `text`, clamped the way editors clamp."""
    starts = [0]
    contents = []
    pos = 0
    for m in _BREAK.finditer(text):
        contents.append(text[pos : m.start()])
        pos = m.end()
        starts.append(pos)
    contents.append(text[pos:])
    if line >= len(contents):
        return len(text)
    return starts[line] + from_utf16(contents[line], character)


@given(
    TEXT,
    st.lists(
        st.tuples(st.integers(0, 8), st.integers(0, 12), st.integers(0, 8), st.integers(0, 12), TEXT), max_size=12
    ),
)
@settings(max_examples=400, deadline=None)
def test_random_edits_match_reference(initial: str, edits: list[tuple[int, int, int, int, str]]) -> None:
    buffer = LineBuffer(initial)
    mirror = buffer.dataset_lines()
    text = initial
    for l1, c1, l2, c2, new in edits:
        o1, o2 = reference_offset(text, l1, c1), reference_offset(text, l2, c2)
        if o2 < o1:
            o1, o2 = o2, o1
        text = text[:o1] + new + text[o2:]
        splice = buffer.edit(l1, c1, l2, c2, new)
        mirror[splice.start : splice.end] = splice.lines
        assert buffer.text() == text
        assert buffer.dataset_lines() == split_lines(text)
        assert mirror == split_lines(text)


def test_u2028_is_not_a_line_break() -> None:
    buffer = LineBuffer('{"a": "x\u2028y"}\n{"b": 1}\n')
    assert len(buffer) == 3
    assert buffer.dataset_lines() == ['{"a": "x\u2028y"}', '{"b": 1}']


def test_emoji_positions_count_utf16_units() -> None:
    buffer = LineBuffer('{"a": "😀x"}')
    # 😀 is two UTF-16 units starting at character 7: x sits at 9.
    buffer.edit(0, 9, 0, 10, "y")
    assert buffer.text() == '{"a": "😀y"}'


def test_lone_cr_then_lf_joins_into_one_break() -> None:
    buffer = LineBuffer("a\rX\nb")
    splice = buffer.edit(1, 0, 1, 1, "")
    assert buffer.text() == "a\r\nb"
    assert buffer.dataset_lines() == ["a", "b"]
    assert splice.start == 0
