"""Counting o200k tokens of ASCII text without loading tiktoken: what makes `check` of a small file start fast.

Loading tiktoken's o200k encoding costs ~0.22 s (parsing 200k ranks, then the Rust constructor copying them), more
than everything else a 10-line `check` does. A small file needs the ranks of only the few thousand byte strings its
text is made of, so those are looked up in an index on disk instead: an open-addressing hash table over the verified
rank file, built once per machine into tuneline's cache and read in a few milliseconds.

Exactness: the count is tiktoken's own algorithm (split with the encoding's pattern, a piece that is a token is one
token, otherwise byte-pair merges taking the lowest rank, leftmost first). Only ASCII text takes this path: on ASCII
the pattern's Unicode classes (`\\p{L}`, `\\p{N}`, `\\s`) have exact ASCII equivalents, so Python's `re` splits
exactly as tiktoken's Rust regex does (tests compare the two on corpora and on random ASCII strings). Anything else
is counted by tiktoken itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import tempfile
import zlib
from pathlib import Path

_MAGIC = b"TLBPE\x00\x01" + (b"L" if sys.byteorder == "little" else b"B")
_HEADER = 8 + 4 + 4 + 32  # magic, tokens, slots, blake2b-256 of everything after the header

# o200k_base's pattern (tiktoken_ext.openai_public) with each Unicode class written as what it is on ASCII:
# \p{Lu} = [A-Z], \p{Ll} = [a-z], \p{Lt}, \p{Lm}, \p{Lo} and \p{M} hold no ASCII character, \p{N} = [0-9], and
# \s (Unicode White_Space) = [\t\n\x0b\x0c\r ]. Python's own \s would also take \x1c-\x1f, which are not White_Space.
_WS = r"\t\n\x0b\x0c\r "
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_PATTERNS = {
    "o200k_base": "|".join(
        [
            rf"[^\r\nA-Za-z0-9]?[A-Z]*[a-z]+{_CONTRACTION}",
            rf"[^\r\nA-Za-z0-9]?[A-Z]+[a-z]*{_CONTRACTION}",
            r"[0-9]{1,3}",
            rf" ?[^{_WS}A-Za-z0-9]+[\r\n/]*",
            rf"[{_WS}]*[\r\n]+",
            rf"[{_WS}]+(?![^{_WS}])",
            rf"[{_WS}]+",
        ]
    ),
}
_NO_RANK = 1 << 62
_PIECE_CACHE_MAX = 65_536


def supports(encoding_name: str) -> bool:
    return encoding_name in _PATTERNS


def build_index(ranks: dict[bytes, int]) -> bytes:
    """The index file's bytes for `ranks` (token bytes -> rank, ranks 0..n-1)."""
    n = len(ranks)
    by_rank: list[bytes] = [b""] * n
    for token, rank in ranks.items():
        if not 0 <= rank < n or by_rank[rank]:
            raise ValueError("ranks are not 0..n-1, each once")
        by_rank[rank] = token
    slots_n = 1 << max(4, (2 * n).bit_length())  # load factor at most 1/2
    mask = slots_n - 1
    from array import array

    slots = array("I", bytes(4 * slots_n))
    for rank, token in enumerate(by_rank):
        i = zlib.crc32(token) & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = rank + 1
    offsets = array("I", [0]) * (n + 1)
    at = 0
    for rank, token in enumerate(by_rank):
        at += len(token)
        offsets[rank + 1] = at
    body = slots.tobytes() + offsets.tobytes() + b"".join(by_rank)
    head = _MAGIC + n.to_bytes(4, sys.byteorder) + slots_n.to_bytes(4, sys.byteorder)
    return head + hashlib.blake2b(body, digest_size=32).digest() + body


class AsciiCounter:
    """Token counts of ASCII strings for one encoding, from an index file's bytes."""

    def __init__(self, encoding_name: str, index: bytes) -> None:
        if index[:8] != _MAGIC or len(index) < _HEADER:
            raise ValueError("not a tuneline rank index")
        n = int.from_bytes(index[8:12], sys.byteorder)
        slots_n = int.from_bytes(index[12:16], sys.byteorder)
        body = memoryview(index)[_HEADER:]
        if hashlib.blake2b(body, digest_size=32).digest() != index[16:48]:
            raise ValueError("the rank index is damaged")
        self._slots = body[: 4 * slots_n].cast("I")
        self._offsets = body[4 * slots_n : 4 * (slots_n + n + 1)].cast("I")
        self._blob = bytes(body[4 * (slots_n + n + 1) :])
        self._mask = slots_n - 1
        self._split = re.compile(_PATTERNS[encoding_name]).findall
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

    def count(self, text: str) -> int:
        """Tokens of `text`, which must be ASCII (`str.isascii`)."""
        cache = self._pieces
        total = 0
        for piece in self._split(text):
            n = cache.get(piece)
            if n is None:
                data = piece.encode("ascii")
                n = 1 if len(data) == 1 or self.rank(data) != _NO_RANK else self._merge(data)
                if len(cache) < _PIECE_CACHE_MAX:
                    cache[piece] = n
            total += n
        return total


def _index_path(cache_dir: Path, encoding_name: str, source_sha256: str) -> Path:
    return cache_dir / "rank-index" / f"{encoding_name}-{source_sha256[:16]}-{sys.byteorder}.idx"


def load_counter(encoding_name: str, cache_dir: Path, source_sha256: str, read_ranks) -> AsciiCounter | None:
    """The counter from the cached index, building the index first from `read_ranks()` (the verified rank
    file's ranks) when it is missing or damaged. None when the encoding has no ASCII pattern or nothing works:
    the caller then counts with tiktoken."""
    if not supports(encoding_name):
        return None
    path = _index_path(cache_dir, encoding_name, source_sha256)
    with contextlib.suppress(OSError, ValueError):
        return AsciiCounter(encoding_name, path.read_bytes())
    try:
        ranks = read_ranks()
        if ranks is None:
            return None
        data = build_index(ranks)
        counter = AsciiCounter(encoding_name, data)
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):  # a read-only cache: this process still counts from memory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return counter
