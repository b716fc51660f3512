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
    symbols_cache = None

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
