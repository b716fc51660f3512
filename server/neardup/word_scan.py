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

_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A") : ord("Z") + 1] += 32
_BERT_WORD = np.zeros(256, dtype=bool)  # BERT's word characters (after lowercasing)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789":
    _BERT_WORD[_c] = True
_WORD = _BERT_WORD.copy()  # regex \w on ASCII
_WORD[ord("_")] = True
_BERT_SINGLE = np.zeros(256, dtype=bool)  # every other printable character is a token alone
_BERT_SINGLE[0x21:0x7F] = True
_BERT_SINGLE[_BERT_WORD] = False
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_SENTENCE_END = np.zeros(256, dtype=bool)
_SENTENCE_END[[ord("."), ord("!"), ord("?")]] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[ord(" "), ord("\n")]] = True


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
    joined = "\n".join(texts).encode("ascii")
    data = _LOWER[np.frombuffer(joined, dtype=np.uint8)]
    word = (_BERT_WORD if bert else _WORD)[data]
    # +1 where a run of word characters starts, -1 just after it ends.
    edges = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    if bert:  # punctuation: each character a token of its own, in order among the runs
        singles = np.flatnonzero(_BERT_SINGLE[data])
        starts = np.concatenate([run_starts, singles])
        ends = np.concatenate([run_ends, singles + 1])
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
    else:
        starts, ends = run_starts, run_ends
    # Text of each word: texts are separated by one newline each.
    text_starts = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        np.cumsum(
            np.fromiter((len(t) + 1 for t in texts[:-1]), dtype=np.int64, count=len(texts) - 1), out=text_starts[1:]
        )
    owner = np.searchsorted(text_starts, starts, side="right") - 1
    hashes = _hash_spans(data, starts, ends)
    sentence = np.zeros(len(starts), dtype=np.int64)
    if not bert and len(starts):
        boundary = data == ord("\n")
        boundary[:-1] |= _SENTENCE_END[data[:-1]] & _SPACE[data[1:]]
        sentence = np.searchsorted(np.flatnonzero(boundary), starts)  # boundaries before each word
    return Words(data, owner, starts.astype(np.int64), ends.astype(np.int64), hashes), sentence


def all_digits(words: Words) -> np.ndarray:
    """Which words are made of digits only (the lexical tier masks them)."""
    counts = np.zeros(len(words.data) + 1, dtype=np.int32)
    np.cumsum(_DIGIT[words.data], dtype=np.int32, out=counts[1:])
    return counts[words.end] - counts[words.start] == words.end - words.start


def _hash_spans(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`word_hash` of each span, 8 bytes at a time: one unaligned 64-bit load per chunk instead of a pass over
    every byte."""
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    # A little-endian uint64 starting at every byte offset (a strided view: no copy).
    words64 = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    lengths = (ends - starts).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _finish(lengths * np.uint64(_LENGTH))
        todo = np.arange(len(starts))
        offset = 0
        while len(todo):
            left = lengths[todo] - np.uint64(offset)
            chunk = words64[starts[todo] + offset]
            short = left < np.uint64(8)
            chunk[short] &= (np.uint64(1) << (left[short] * np.uint64(8))) - np.uint64(1)
            h[todo] = _finish(h[todo] ^ chunk)
            offset += 8
            todo = todo[lengths[todo] > np.uint64(offset)]
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
