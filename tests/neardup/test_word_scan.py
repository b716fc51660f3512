"""Words found in numpy are the words the regexes find, with the hashes Python gives them."""

from __future__ import annotations

import random
import re
import string

import pytest

from tuneline.neardup import word_scan
from tuneline.neardup.lexical import LexicalIndex
from tuneline.neardup.texts import example_text

from .planted import NUMBERS, PARAPHRASE, REORDERED, SUPPORT

ASCII = [
    "",
    "Hello, World! Again?! yes\n\nno... (maybe) [x] {y} a.b c_d 3.14 007 1st",
    "e.g. this. That? No! Fine.\nNew line " + "supercalifragilisticexpialidocious" * 3,
    "one",
    "two words",
    "___ ### --- ~~~",
]


def sample() -> list[str]:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "  \n"
    noise = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200))) for _ in range(100)]
    texts = [t for line in [*SUPPORT, PARAPHRASE, REORDERED, NUMBERS] if (t := example_text(line))]
    return [*texts, *ASCII, *noise]


@pytest.mark.parametrize("bert", [True, False])
def test_words_and_hashes_match_the_regex_and_python(bert):
    texts = [t for t in sample() if word_scan.plain_ascii(t)]  # what the callers send here
    words, sentence = word_scan.scan(texts, bert=bert)
    pattern = re.compile(r"[a-z0-9]+|[^a-z0-9\s]" if bert else r"\w+")
    expected = [(i, w) for i, t in enumerate(texts) for w in pattern.findall(t.lower())]
    got = [(int(o), words.text(k)) for k, o in enumerate(words.owner.tolist())]
    assert got == expected
    assert [int(h) for h in words.hash] == [word_scan.word_hash(w.encode()) for _, w in expected]
    if not bert:  # sentence numbers change exactly where the old splitter split
        splitter = re.compile(r"(?<=[.!?])\s+|\n+")
        runs = [
            (i, tuple(ws)) for i, t in enumerate(texts) for s in splitter.split(t.lower()) if (ws := pattern.findall(s))
        ]
        found: dict[tuple[int, int], list[str]] = {}
        for k, (o, s) in enumerate(zip(words.owner.tolist(), sentence.tolist(), strict=True)):
            found.setdefault((o, s), []).append(words.text(k))
        assert [(o, tuple(ws)) for (o, _), ws in found.items()] == runs


def test_lexical_shingles_are_the_same_by_either_path(monkeypatch):
    texts = sample()
    index = LexicalIndex(0.7)
    fast = index._shingle_hashes(texts)
    monkeypatch.setattr(word_scan, "plain_ascii", lambda _text: False)  # every text by regex
    slow = index._shingle_hashes(texts)
    assert sorted(zip(fast[1].tolist(), fast[0].tolist())) == sorted(zip(slow[1].tolist(), slow[0].tolist()))
