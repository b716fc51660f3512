"""Words of many printable-ASCII texts at once, found and hashed in numpy instead of a regex per text.

Both tiers split text into words before anything else (the lexical tier into `\\w+` words and sentences, the
static model into BERT's pre-tokens), and with a regex and a dictionary look-up per word that is most of their
time. Texts made only of printable ASCII and newlines (most datasets) are joined into one byte array here; word
starts, ends and 64-bit hashes of their bytes come from a few passes over it. A word's hash depends only on its
bytes (`word_hash` gives the same value for one word in Python), so callers can mix both paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_PRINTABLE_BYTES = bytes(range(0x20, 0x7F)) + b"\n"


def plain_ascii(text: str) -> bool:
    """Whether `text` is only printable ASCII and newlines (what `scan` takes; any other text goes the callers'
    general path): a third of the time of the regex `[^\x20-\x7e\n]`, exactly its answers. `isascii` is a flag
    CPython keeps, and deleting the printable bytes leaves nothing only when there was nothing else."""
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_BYTES)


_LENGTH = 0x9E3779B97F4A7C15  # mixed with a word's length first, so zero padding never makes two words equal
_M64 = (1 << 64) - 1


def _table(chars: bytes) -> bytes:
    """A `bytes.translate` table mapping `chars` to 1 and every other byte to 0: a flag array from one C pass over
    the bytes, several times faster than numpy's fancy indexing with a lookup array."""
    flags = bytearray(256)
    for c in chars:
        flags[c] = 1
    return bytes(flags)


_BERT_WORD_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789"  # BERT's word characters (after lowercasing)
_BERT_WORD = _table(_BERT_WORD_CHARS)
_WORD = _table(_BERT_WORD_CHARS + b"_")  # regex \w on ASCII
_BERT_SINGLE = _table(bytes(c for c in range(0x21, 0x7F) if c not in _BERT_WORD_CHARS))  # every other printable
_DIGIT = _table(b"0123456789")
_SENTENCE_END = _table(b".!?")
_SPACE = _table(b" \n")
_NEWLINE = _table(b"\n")
_PAD = 8  # zero bytes after the text, so an 8-byte load at any word start stays inside the buffer
# Masks keeping the first 1..8 bytes of a little-endian 64-bit load.
_KEEP = np.array([0] + [(1 << (8 * k)) - 1 for k in range(1, 8)] + [(1 << 64) - 1], dtype=np.uint64)


def _flags(data: bytes, table: bytes) -> np.ndarray:
    return np.frombuffer(data.translate(table), dtype=np.bool_)


@dataclass
class Words:
    """Words in text order: which text, where in `data` (the lowercased, newline-joined texts), and hashes."""

    data: np.ndarray  # uint8
    owner: np.ndarray  # int64 text index of each word
    start: np.ndarray  # int64
    end: np.ndarray  # int64
    hash: np.ndarray  # uint64, word_hash of the word's bytes

    def text(self, i: int) -> str:
        return self.data[self.start[i] : self.end[i]].tobytes().decode("ascii")


def word_hash(word: bytes) -> int:
    """The hash `scan` gives a word with these bytes: its length, then each 8-byte chunk (little-endian, zero
    padded), mixed in turn."""
    h = _finish_int((len(word) * _LENGTH) & _M64)
    for i in range(0, len(word), 8):
        h = _finish_int(h ^ int.from_bytes(word[i : i + 8], "little"))
    return h


def scan(texts: list[str], bert: bool) -> tuple[Words, np.ndarray]:
    """Words of printable-ASCII `texts`, lowercased: runs of letters and digits and every other printable
    character alone (BERT's pre-tokens, `bert`), or `\\w+` runs (letters, digits, underscore). Also returns, for
    the `\\w+` scan, each word's sentence number (a sentence ends at . ! or ? before whitespace, and at a newline);
    for the BERT scan, zeros."""
    low = "\n".join(texts).encode("ascii").lower()
    n = len(low)
    buf = np.frombuffer(low + bytes(_PAD), dtype=np.uint8)
    data = buf[:n]
    # A zero flag on either side, so that every run of word characters has a rising and a falling edge: the edges
    # alternate, start, end, start, end (one pass to find them all instead of one per kind).
    word = _flags(b"\0" + low + b"\0", _BERT_WORD if bert else _WORD)
    edges = np.flatnonzero(np.diff(word.view(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if bert:  # punctuation: each character a token of its own, in order among the runs
        singles = np.flatnonzero(_flags(low, _BERT_SINGLE))
        starts = np.concatenate([starts, singles])
        ends = np.concatenate([ends, singles + 1])
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
    starts, ends = starts.astype(np.int64, copy=False), ends.astype(np.int64, copy=False)
    # Text of each word: texts are separated by one newline each.
    text_starts = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        np.cumsum(
            np.fromiter((len(t) + 1 for t in texts[:-1]), dtype=np.int64, count=len(texts) - 1), out=text_starts[1:]
        )
    owner = np.searchsorted(text_starts, starts, side="right") - 1
    hashes = _hash_spans(buf, starts, ends)
    sentence = np.zeros(len(starts), dtype=np.int64)
    if not bert and len(starts):
        boundary = _flags(low, _NEWLINE).copy()
        boundary[:-1] |= _flags(low[:-1], _SENTENCE_END) & _flags(low[1:], _SPACE)
        sentence = np.searchsorted(np.flatnonzero(boundary), starts)  # boundaries before each word
    return Words(data, owner, starts, ends, hashes), sentence


def all_digits(words: Words) -> np.ndarray:
    """Which words are made of digits only (the lexical tier masks them)."""
    counts = np.zeros(len(words.data) + 1, dtype=np.int32)
    np.cumsum(_flags(words.data.tobytes(), _DIGIT), dtype=np.int32, out=counts[1:])
    return counts[words.end] - counts[words.start] == words.end - words.start


def _hash_spans(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`word_hash` of each span, 8 bytes at a time: one unaligned 64-bit load per chunk instead of a pass over
    every byte. `buf` holds the text and `_PAD` zero bytes after it. Every word has a first chunk; only the few
    longer than 8 bytes go round again."""
    # A little-endian uint64 starting at every byte offset (a strided view: no copy).
    words64 = np.ndarray((len(buf) - _PAD + 1,), dtype="<u8", buffer=buf, strides=(1,))
    lengths = ends - starts
    with np.errstate(over="ignore"):
        h = _finish(lengths.astype(np.uint64) * np.uint64(_LENGTH))
        h ^= words64[starts] & _KEEP[np.minimum(lengths, 8)]
        h = _finish(h)
        offset = 8
        todo = np.flatnonzero(lengths > offset)
        while len(todo):
            left = lengths[todo] - offset
            chunk = words64[starts[todo] + offset] & _KEEP[np.minimum(left, 8)]
            h[todo] = _finish(h[todo] ^ chunk)
            offset += 8
            todo = todo[lengths[todo] > offset]
    return h


def _finish(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, so nearby polynomial values spread over all bits."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def _finish_int(h: int) -> int:
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & _M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & _M64
    return h ^ (h >> 31)
