"""Counting o200k tokens without loading tiktoken: what makes `check` of a small file start fast.

Loading tiktoken's o200k encoding costs ~0.22 s (parsing 200k ranks, then the Rust constructor copying them), more
than everything else a 10-line `check` does. A small file needs the ranks of only the few thousand byte strings its
text is made of, so those are looked up in an index on disk instead: an open-addressing hash table over the verified
rank file, built once per machine into tuneline's cache and read in a few milliseconds.

Exactness: the count is tiktoken's own algorithm (split with the encoding's pattern, a piece that is a token is one
token, otherwise byte-pair merges taking the lowest rank, leftmost first, on the piece's UTF-8 bytes). The split is
Python's `re`, which has no `\\p{...}` classes: each character is replaced, for splitting only, by an ASCII
stand-in of the same classes (a capital, a small letter, a letter that is both (Lo, Lm), a mark, a digit, white
space, anything else), and the pattern is written over the stand-ins. A character takes this path only when its
classes cannot differ from those of tiktoken's regex, whatever Unicode version that was built with: ASCII, characters
whose general category is the same in Unicode 3.2 and in Python's tables (unchanged for 20 years), and the emoji
blocks, which only ever hold symbols. Any other character (one unassigned in Python's Unicode, a lone surrogate,
one of `_CHANGED`) sends its string to tiktoken. Tests compare the stand-ins with the
`regex` module's classes for every such character and the counts with tiktoken's on corpora and random strings.
"""

from __future__ import annotations

import contextlib
import re
import sys
import unicodedata
import zlib
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate
from pathlib import Path

from .cache_files import write_cache_file

_MAGIC = b"TLBPE\x00\x02" + (b"L" if sys.byteorder == "little" else b"B")
# magic, tokens, slots, CRC-32 of everything after the header. CRC-32, not a cryptographic hash: it is there to catch
# a damaged file (a cut-off write, a bad disk), and it reads the 4 MB index in ~1 ms where blake2b took ~6 ms of every
# small file's `check`. The file is the user's own cache, as trusted as the rest of their home folder.
_HEADER = 8 + 4 + 4 + 4

# Stand-ins: "A" Lu/Lt, "a" Ll, U+E000 Lm/Lo (in both of the pattern's letter classes), U+E001 a mark (in both, but
# not a letter), "0" a number, "\t" white space other than CR, LF and space, "!" anything else; U+E002 marks a
# character this path cannot vouch for. ASCII text is split as it is; the private-use stand-ins never occur
# untranslated (a private-use character of the text is itself translated, to "!").
_BOTH, _MARK, _UNSURE = "\ue000", "\ue001", "\ue002"
_STAND_IN = {
    "Lu": "A", "Lt": "A", "Ll": "a", "Lm": _BOTH, "Lo": _BOTH, "Mn": _MARK, "Mc": _MARK, "Me": _MARK,
    "Nd": "0", "Nl": "0", "No": "0", "Zs": "\t", "Zl": "\t", "Zp": "\t",
}  # fmt: skip
# ſ case-folds to the "s" of "'s"; U+0295 ʕ is Ll in Python's tables but Lo in Unicode 16 (the tests compare every
# character with the `regex` module's newer tables and fail on any other such change).
_CHANGED = frozenset("\u017f\u0295")
_EMOJI_BLOCKS = ((0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF))  # symbols and pictographs only


def stand_in(char: str) -> str:
    """The character the split sees for `char`."""
    code = ord(char)
    if code < 0x80:
        return char
    if char == "\x85":
        return "\t"  # NEXT LINE is White_Space although a control
    category = unicodedata.category(char)
    if any(lo <= code <= hi for lo, hi in _EMOJI_BLOCKS) and category in ("So", "Sk", "Cn"):
        return "!"
    if char in _CHANGED or category in ("Cn", "Cs") or unicodedata.ucd_3_2_0.category(char) != category:
        return _UNSURE
    return _STAND_IN.get(category, "!")


class _StandIns(dict):
    """str.translate's table, filled on first sight of each character."""

    def __missing__(self, code: int) -> str:
        self[code] = value = stand_in(chr(code))
        return value


# o200k_base's pattern (tiktoken_ext.openai_public) over the stand-ins: \p{L} = [A-Za-z\ue000], the capital-ish
# class [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] = [A-Z\ue000\ue001], the small-ish one [a-z\ue000\ue001], \p{N} = [0-9], and \s
# (White_Space) = [\t\n\x0b\x0c\r ]. Python's own \s would also take \x1c-\x1f, which are not White_Space.
_WS = r"\t\n\x0b\x0c\r "
_LN = r"A-Za-z\ue0000-9"
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_PATTERNS = {
    "o200k_base": "|".join(
        [
            rf"[^\r\n{_LN}]?[A-Z\ue000\ue001]*[a-z\ue000\ue001]+{_CONTRACTION}",
            rf"[^\r\n{_LN}]?[A-Z\ue000\ue001]+[a-z\ue000\ue001]*{_CONTRACTION}",
            r"[0-9]{1,3}",
            rf" ?[^{_WS}{_LN}]+[\r\n/]*",
            rf"[{_WS}]*[\r\n]+",
            rf"[{_WS}]+(?![^{_WS}])",
            rf"[{_WS}]+",
        ]
    ),
}
_NO_RANK = 1 << 62
_LONGEST_MERGE = 128  # bytes; words and numbers are far shorter (a 9,000-letter run would take 0.4 s here)
_PIECE_CACHE_MAX = 65_536


def supports(encoding_name: str) -> bool:
    return encoding_name in _PATTERNS


def build_index(tokens: Sequence[bytes]) -> bytes:
    """The index file's bytes for `tokens`, listed by rank (the token of rank r at r, each once).

    Why a list in rank order, not tiktoken's token -> rank dict: the verified rank files already list their tokens
    that way, and decoding 200k rank numbers into a dict was ~0.11 s of a machine's first `check`. The slots are
    placed in one loop; the offsets and the blob are C-level accumulations."""
    n = len(tokens)
    slots_n = 1 << max(4, (2 * n).bit_length())  # load factor at most 1/2
    mask = slots_n - 1
    slots = array("I", bytes(4 * slots_n))
    for entry, code in enumerate(map(zlib.crc32, tokens), 1):  # entry: rank + 1, as 0 is an empty slot
        i = code & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = entry
    offsets = array("I", [0])
    offsets.extend(accumulate(map(len, tokens)))
    body = slots.tobytes() + offsets.tobytes() + b"".join(tokens)
    head = _MAGIC + n.to_bytes(4, sys.byteorder) + slots_n.to_bytes(4, sys.byteorder)
    return head + zlib.crc32(body).to_bytes(4, sys.byteorder) + body


class IndexCounter:
    """Token counts of strings for one encoding, from an index file's bytes."""

    def __init__(self, encoding_name: str, index: bytes) -> None:
        if index[:8] != _MAGIC or len(index) < _HEADER:
            raise ValueError("not a tuneline rank index")
        n = int.from_bytes(index[8:12], sys.byteorder)
        slots_n = int.from_bytes(index[12:16], sys.byteorder)
        body = memoryview(index)[_HEADER:]
        if zlib.crc32(body) != int.from_bytes(index[16:20], sys.byteorder):
            raise ValueError("the rank index is damaged")
        self._slots = body[: 4 * slots_n].cast("I")
        self._offsets = body[4 * slots_n : 4 * (slots_n + n + 1)].cast("I")
        self._blob = bytes(body[4 * (slots_n + n + 1) :])
        self._mask = slots_n - 1
        pattern = re.compile(_PATTERNS[encoding_name])
        self._split, self._spans = pattern.findall, pattern.finditer
        self._stand_ins = _StandIns()
        self._pieces: dict[str, int] = {}

    def rank(self, token: bytes) -> int:
        """The token's rank, or a number above every rank when it is not a token."""
        slots, offsets, blob, mask = self._slots, self._offsets, self._blob, self._mask
        i = zlib.crc32(token) & mask
        while entry := slots[i]:
            r = entry - 1
            if blob[offsets[r] : offsets[r + 1]] == token:
                return r
            i = (i + 1) & mask
        return _NO_RANK

    def _merge(self, piece: bytes) -> int:
        """How many tokens byte-pair merging makes of `piece` (tiktoken's `_byte_pair_merge`, counted)."""
        rank = self.rank
        bounds = list(range(len(piece) + 1))
        ranks = [rank(piece[i : i + 2]) for i in range(len(piece) - 1)]
        while ranks:
            low = min(ranks)
            if low == _NO_RANK:
                break
            i = ranks.index(low)  # the leftmost of equals, as tiktoken
            del bounds[i + 1]
            del ranks[i]
            if i < len(ranks):
                ranks[i] = rank(piece[bounds[i] : bounds[i + 2]])
            if i > 0:
                ranks[i - 1] = rank(piece[bounds[i - 1] : bounds[i + 1]])
        return len(bounds) - 1

    def pieces(self, text: str) -> list[str] | None:
        """`text` split as the encoding's pattern splits it, or None when a character is not one to vouch for."""
        if text.isascii():
            return self._split(text)
        shadow = text.translate(self._stand_ins)
        if _UNSURE in shadow:
            return None
        return [text[m.start() : m.end()] for m in self._spans(shadow)]

    def count(self, text: str) -> int | None:
        """Tokens of `text`, or None when tiktoken must count it (see `stand_in`)."""
        pieces = self.pieces(text)
        if pieces is None:
            return None
        cache = self._pieces
        total = 0
        for piece in pieces:
            n = cache.get(piece)
            if n is None:
                data = piece.encode("utf-8")
                if len(data) == 1 or self.rank(data) != _NO_RANK:
                    n = 1
                elif len(data) > _LONGEST_MERGE:
                    return None  # merging here is quadratic in the piece: tiktoken's Rust does long ones
                else:
                    n = self._merge(data)
                if len(cache) < _PIECE_CACHE_MAX:
                    cache[piece] = n
            total += n
        return total


def index_path(cache_dir: Path, encoding_name: str, source_sha256: str) -> Path:
    return cache_dir / "rank-index" / f"{encoding_name}-{source_sha256[:16]}-{sys.byteorder}.idx"


def open_counter(encoding_name: str, cache_dir: Path, source_sha256: str) -> IndexCounter | None:
    """The counter from the cached index, or None when it is not built yet, is damaged, or has no pattern here."""
    if not supports(encoding_name):
        return None
    with contextlib.suppress(OSError, ValueError):
        return IndexCounter(encoding_name, index_path(cache_dir, encoding_name, source_sha256).read_bytes())
    return None


def load_counter(
    encoding_name: str, cache_dir: Path, source_sha256: str, read_tokens: Callable[[], Sequence[bytes] | None]
) -> IndexCounter | None:
    """The counter from the cached index, building the index first from `read_tokens()` (the verified rank
    file's tokens, by rank) when it is missing or damaged. None when the encoding has no pattern here or nothing
    works: the caller then counts with tiktoken."""
    if not supports(encoding_name):
        return None
    counter = open_counter(encoding_name, cache_dir, source_sha256)
    if counter is not None:
        return counter
    try:
        tokens = read_tokens()
        if tokens is None:
            return None
        data = build_index(tokens)
        counter = IndexCounter(encoding_name, data)
    except (OSError, ValueError):
        return None
    write_cache_file(index_path(cache_dir, encoding_name, source_sha256), data)  # read-only: counts from memory
    return counter
