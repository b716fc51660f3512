"""The outline's JSON text, written symbol by symbol, is exactly what `encode` makes of the same symbols as dicts
(escapes, lone surrogates, thousands separators, UTF-16 line ends); the real-client tests cover the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tuneline.analysis.lines import utf16_len
from tuneline.lsp.features import symbols
from tuneline.lsp.protocol import encode


@dataclass
class _Result:
    label: str | None
    format: str | None
    tokens: int


class _Dataset:
    results: ClassVar[list[_Result]] = [
        _Result('user: héllo "q" \\ \ud800 ☃ \u2028', None, 1234),
        _Result(None, "chat", 5),
        _Result(None, None, 0),
    ]
    texts: ClassVar[list[str]] = ['{"a": "𝄞"}', "x", "y"]

    def result(self, line: int) -> _Result:
        return self.results[line]

    def text(self, line: int) -> str:
        return self.texts[line]


class _Doc:
    dataset = _Dataset()

    def __init__(self) -> None:
        self.symbol_pieces: dict = {}

    def example_numbers(self, analysis: object) -> list[int]:
        return [1, 0, 3]


class _Analysis:
    generation = 1


def _as_dicts(doc: _Doc) -> list[dict]:
    out = []
    for line, number in enumerate(doc.example_numbers(None)):
        if number:
            r = doc.dataset.result(line)
            out.append(
                {
                    "name": f"#{number} {r.label or r.format or 'example'}",
                    "detail": f"{r.tokens:,} tok",
                    "kind": 19,
                    "range": {
                        "start": {"line": line, "character": 0},
                        "end": {"line": line, "character": utf16_len(doc.dataset.text(line))},
                    },
                    "selectionRange": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}},
                }
            )
    return out


def test_the_text_equals_the_encoded_dicts() -> None:
    doc = _Doc()
    assert symbols.symbols_json(doc, _Analysis()) == encode(_as_dicts(doc))  # type: ignore[arg-type]


def test_no_dataset_is_an_empty_list() -> None:
    doc = _Doc()
    doc.dataset = None  # type: ignore[assignment]
    assert symbols.symbols_json(doc, _Analysis()) == "[]"  # type: ignore[arg-type]


class _EditedDoc:
    """A document's outline state over a real Dataset (Document's own example numbering)."""

    from tuneline.lsp.documents import Document

    example_numbers = Document.example_numbers

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self._numbers = None
        self.symbol_pieces: dict = {}


def test_symbols_kept_between_edits_equal_a_fresh_outline() -> None:
    """Symbols are kept per line between analyses: after edits in place, inserts above, deletions, lines turning
    into non-examples and back, the outline is the one a fresh document gets."""
    import json
    import random

    from tuneline.analysis import Dataset, Engine

    def chat(i: int) -> str:
        return json.dumps(
            {"messages": [{"role": "user", "content": f"Q{i} é"}, {"role": "assistant", "content": "A."}]}
        )

    pool = [chat(i) for i in range(6)] + ["", "{broken", '{"prompt": "p", "completion": "c"}']
    rng = random.Random(5)
    engine = Engine()
    dataset = Dataset(engine, [rng.choice(pool) for _ in range(40)])
    doc = _EditedDoc(dataset)
    for generation in range(1, 60):
        at = rng.randrange(len(dataset) + 1)
        end = min(len(dataset), at + rng.choice((0, 1, 1, 2)))
        dataset.splice(at, end, [rng.choice(pool) for _ in range(rng.choice((0, 1, 1, 2)))])
        analysis = type("A", (), {"generation": generation})()
        fresh = _EditedDoc(Dataset(engine, list(dataset.texts)))
        text = symbols.symbols_json(doc, analysis)  # type: ignore[arg-type]
        assert text == symbols.symbols_json(fresh, analysis)  # type: ignore[arg-type]
        assert all(line < len(dataset) for line in doc.symbol_pieces)
