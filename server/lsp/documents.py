"""Open documents: the editor's text (the truth once a file is open), its analysis, and what is queued for it.

Threading rule: `buffer`, `version` and `pending` belong to the event loop; `dataset` is touched only by the
scheduler's single analysis thread (readers run there too, see `Scheduler.read`). Edits are applied to the buffer
at once, in order, and queued as `LineSplice`s for the dataset, which catches up when the debounced analysis runs.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from tuneline.analysis import Dataset, Finding

from .linebuffer import LineBuffer, LineSplice

if TYPE_CHECKING:
    from tuneline.analysis import Engine

COST_SAMPLES = 5  # analyses remembered per document for the debounce (Scheduler.delay)


@dataclass(frozen=True, slots=True)
class Reset:
    """Rebuild the dataset from these lines (document opened, or recovering from a failed analysis)."""

    lines: list[str]


@dataclass(frozen=True, slots=True)
class Refresh:
    """Nothing changed in the text; re-run analysis (settings changed, say)."""


Op = LineSplice | Reset | Refresh


@dataclass(slots=True)
class Analysis:
    """One completed analysis of a document, consistent with the text at `version`."""

    version: int
    generation: int
    findings: list[Finding]
    diagnostics: Sequence[dict[str, Any]]  # convert.EncodedDiagnostics after a real analysis
    by_line: dict[int, list[int]]  # line -> indexes into findings/diagnostics
    engine: Engine | None = None
    seconds: float = 0.0
    diagnostics_json: str = "[]"  # `diagnostics` encoded once, on the analysis thread
    edit_seconds: float = 0.0  # the part of `seconds` an edit's analysis repeats (all of it unless rebuilt)
    capped: bool = False  # some code had more findings than the editor shows: `all_findings` reads them all

    def all_findings(self, dataset: Dataset) -> list[Finding]:
        """Every finding, also past the editor's bound (for fix-all and statistics): `findings` unless capped."""
        return dataset.findings() if self.capped else self.findings

    @property
    def result_id(self) -> str:
        return str(self.generation)

    def at_line(self, line: int) -> list[tuple[Finding, dict[str, Any]]]:
        return [(self.findings[i], self.diagnostics[i]) for i in self.by_line.get(line, ())]


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


@dataclass(eq=False)
class Document:
    uri: str
    version: int
    buffer: LineBuffer
    language_id: str = "jsonl"
    path: Path | None = None
    dataset: Dataset | None = None
    analysis: Analysis | None = None
    pending: list[Op] = field(default_factory=list)
    # scheduling state (event loop only)
    timer: asyncio.TimerHandle | None = None
    job: asyncio.Task | None = None
    rerun: bool = False
    waiters: list[asyncio.Future] = field(default_factory=list)
    edit_started: list[tuple[str, int, float, float]] = field(default_factory=list)  # kind, version, loop s, t0
    costs: deque[float] = field(default_factory=lambda: deque(maxlen=COST_SAMPLES))  # recent analyses, seconds
    debounce: float = 0.0  # the last debounce scheduled, seconds (reported by tuneline/debugTimings)

    _numbers: tuple[int, list[int]] | None = None
    # line -> (its text, example number, result, symbol JSON), kept between analyses (`features/symbols.py`)
    symbol_pieces: dict[int, tuple[str, int, object, str]] = field(default_factory=dict)

    def text(self) -> str:
        """The editor's current text, exactly (line breaks included)."""
        return self.buffer.text()

    def example_numbers(self, analysis: Analysis) -> list[int]:
        """1-based example number of each dataset line (0 for lines that are not examples). Analysis thread only."""
        if self._numbers is not None and self._numbers[0] == analysis.generation:
            return self._numbers[1]
        dataset = self.dataset
        numbers: list[int] = []
        if dataset is not None:
            # a running count of examples, kept only on example lines (True * n == n); the counting runs in C
            flags = [r.kind == "example" for r in dataset.results]
            numbers = list(map(operator.mul, flags, itertools.accumulate(flags)))
        self._numbers = (analysis.generation, numbers)
        return numbers

    def record_cost(self, seconds: float) -> None:
        self.costs.append(seconds)

    def analysis_cost(self) -> float | None:
        """What analysing an edit of this document costs: the median of its last few analyses (one slow outlier,
        a garbage collection say, does not stretch the next debounce), None before the first."""
        return statistics.median(self.costs) if self.costs else None

    @property
    def current(self) -> bool:
        """The last analysis reflects the current text."""
        return self.analysis is not None and not self.pending


class DocumentStore:
    """Open documents by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __iter__(self):
        return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def open(self, uri: str, version: int, text: str, language_id: str = "jsonl") -> Document:
        doc = Document(uri, version, LineBuffer(text), language_id, uri_to_path(uri))
        doc.pending.append(Reset(doc.buffer.dataset_lines()))
        self._docs[uri] = doc
        return doc

    def close(self, uri: str) -> Document | None:
        return self._docs.pop(uri, None)

    def text(self, uri: str) -> str | None:
        doc = self._docs.get(uri)
        return doc.text() if doc else None
