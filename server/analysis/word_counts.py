"""Token counts of texts as sums over their words, each word counted by the tokenizer once per process.

Why: the tokenizer (rs-bpe, else tiktoken) spends 20-50 ns on every character, most of it splitting the text with the
encoding's pattern, and it was a third of a chat line's analysis (issue #14). The words of a dataset repeat (" the",
" password", " Settings"): a text cut at its single spaces costs one dict lookup per word, and only a word not seen
before goes to the tokenizer.

Exactness: tiktoken counts a text as the sum of its pieces (the text is split with the encoding's pattern, and each
piece is merged on its own). A single space between two characters that are not white space always starts a piece:
every alternative of the o200k_base and cl100k_base patterns holds a space only as its first character or inside a
run of white space, and the character before this space is not white space, so no piece runs across it. The match
that starts a piece reads nothing before it (no lookbehind) and nothing past the next such space: the one lookahead,
`(?!\\S)`, ends runs of white space, and none ends there. So the text counts as the sum of its parts cut at those
spaces, each part counted alone (after the first, with the space it starts with). Python's `str.isspace` takes every
Unicode White_Space character and a few more (U+001C-U+001F): with those a cut is skipped, never wrongly made. A lone
surrogate goes to the tokenizer inside its word, where the count mends it as it would in the whole text.

`word_table.c` is this module in C, built with the compiled engine and picked by `word_counter`: the same cuts (a
space with a non-white-space character on each side) and bounds, walked in place, so that a word seen before costs a
hash and a probe and no str object. This module stays the reference and what runs without a build.
"""

from __future__ import annotations

from collections.abc import Callable

ENCODINGS = frozenset({"o200k_base", "cl100k_base"})  # the patterns the argument above was checked against
_MAX_WORDS = 1 << 17  # words remembered per process (~11 MB); past that, new words are counted and forgotten
_MAX_WORD = 64  # characters: longer words (a hash, a URL, base64) rarely come back and would only take memory
_MIN_PARTS = 3  # a text of one or two words is counted whole: no lookup saves anything there


class WordCounts:
    """A token count function over `count` (the tokenizer's), remembering each word's count."""

    __slots__ = ("_after", "_count", "_first")

    def __init__(self, count: Callable[[str], int]) -> None:
        self._count = count
        self._first: dict[str, int] = {}  # a text's first word -> its count
        self._after: dict[str, int] = {}  # a later word -> the count of " " + the word

    def __call__(self, text: str) -> int:
        parts = text.split(" ")
        if len(parts) < _MIN_PARTS:
            return self._count(text)
        if text.isprintable() and "  " not in text and parts[0] and parts[-1]:
            # No white space but single spaces between printable characters (every other White_Space character is
            # not printable): each space cuts. Prose without line breaks, the common message.
            after = self._after
            total = self._word(parts[0], self._first, "")
            for word in parts[1:]:
                n = after.get(word)
                total += n if n is not None else self._word(word, after, " ")
            return total
        return self._mixed(parts)

    def _mixed(self, parts: list[str]) -> int:
        """The sum over the parts between the spaces that cut (see the module's docstring); a space next to white
        space, or at either end of the text, joins its neighbours into one part."""
        total = 0
        start = 0  # the first of the parts that make up the current one
        for i in range(1, len(parts)):
            before, word = parts[i - 1], parts[i]
            if before and word and not before[-1].isspace() and not word[0].isspace():
                total += self._part(parts, start, i)
                start = i
        return total + self._part(parts, start, len(parts))

    def _part(self, parts: list[str], start: int, end: int) -> int:
        text = parts[start] if end == start + 1 else " ".join(parts[start:end])
        return self._word(text, self._first, "") if start == 0 else self._word(text, self._after, " ")

    def _word(self, word: str, seen: dict[str, int], space: str) -> int:
        n = seen.get(word)
        if n is None:
            n = self._count(space + word)
            if len(word) <= _MAX_WORD and len(seen) < _MAX_WORDS:
                seen[word] = n
        return n


def word_counter(count: Callable[[str], int]) -> Callable[[str], int]:
    """`WordCounts(count)`, or its equal in C (`word_table.c`: the same cuts, walked in place, with no str made for a
    word seen before) where the compiled engine is built: ~8 us of a chat line's analysis became ~2 (issue #14)."""
    try:
        from ._word_table import WordTable  # type: ignore[import-not-found]
    except ImportError:
        return WordCounts(count)
    table: Callable[[str], int] = WordTable(count)
    return table
