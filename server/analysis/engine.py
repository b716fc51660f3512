"""The engine: per-line results cached by text, and the file-level rules kept up to date as lines come and go.

`Dataset.splice` replaces a range of lines. It re-analyses only the new lines and tells every file-level rule
(`rules/file_rule.py`: format mix, duplicates, system prompts, conflicting answers, token spread, …) which
examples left and which arrived, so the work per edit grows with the edit, not with the file. Line numbers are
resolved only for lines that have something to report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import RULES
from .config import Settings
from .formats import FORMAT_TITLES
from .linecheck import LineContext, analyze_line
from .models import CostEstimate, ModelInfo, ModelTable, auto_epochs, estimate_cost
from .rules.conflicting_answers import ConflictingAnswers
from .rules.exact_duplicates import ExactDuplicates
from .rules.example_count import ExampleCount
from .rules.file_rule import FileRule, FileView
from .rules.format_mix import FormatMix
from .rules.model_shutdown import ModelShutdown
from .rules.multi_line_records import MultiLineRecords
from .rules.system_prompts import SystemPrompts
from .rules.token_spread import TokenSpread, quantile
from .tokens import TokenCounter
from .types import Finding, LineResult, Related, Severity

_CACHE_MAX = 250_000
_SUPPRESSED_IN_ARRAY_FILE = frozenset({"TL001", "TL002", "TL003", "TL101", "TL102", "TL303", "TL304"})


class Engine:
    """Settings plus the caches that depend on them. Make a new Engine when settings change."""

    def __init__(self, settings: Settings | None = None, *, today: dt.date | None = None) -> None:
        self.settings = settings or Settings()
        files = [Path(self.settings.models_file)] if self.settings.models_file else None
        self.models = ModelTable(self.settings.models, files)
        self.model: ModelInfo = self.models.resolve(self.settings.model)
        self.counter = TokenCounter(self.model.encoding)
        self.context = LineContext(self.counter, self.model.limit, self.model.name, self.settings.secrets)
        self.enabled = self.settings.enabled_codes()
        self.today = today or dt.date.today()
        self._cache: dict[str, LineResult] = {}

    def analyze_line(self, text: str) -> LineResult:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        result = analyze_line(text, self.context)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[text] = result
        return result

    def remember(self, text: str, result: LineResult) -> None:
        """Adopt a result computed elsewhere (a worker process) for the same text and settings."""
        if len(self._cache) < _CACHE_MAX:
            self._cache[text] = result

    def severity(self, finding: Finding) -> Severity:
        if finding.code in self.settings.severity:
            return self.settings.severity[finding.code]
        if finding.severity is not None:
            return finding.severity
        rule = RULES.get(finding.code)
        return rule.severity if rule else Severity.WARNING

    def epochs_for(self, examples: int) -> int:
        return self.settings.epochs or auto_epochs(examples)

    def cost(self, billed_per_epoch: int, examples: int) -> CostEstimate:
        return estimate_cost(self.model, self.epochs_for(examples), billed_per_epoch)


@dataclass(slots=True)
class Summary:
    """Dataset-level numbers for the CLI summary, hovers, the code lens and the pre-flight."""

    format: str
    format_counts: dict[str, int]
    lines: int
    examples: int
    tokens_total: int
    tokens_p50: int
    tokens_p95: int
    tokens_max: int
    billed_per_epoch: int
    over_limit: int
    cost: CostEstimate
    model: ModelInfo
    histogram: list[tuple[str, int]] = field(default_factory=list)

    @property
    def format_title(self) -> str:
        return FORMAT_TITLES.get(self.format, self.format)


class Dataset:
    """One file's lines, their results, and the file-level rules' state, updated incrementally."""

    def __init__(self, engine: Engine, lines: Iterable[str] = (), extra_rules: Iterable[FileRule] = ()) -> None:
        self.engine = engine
        self._texts: list[str] = []
        self._results: list[LineResult] = []
        self._slots: list[int] = []
        self._next_slot = 0
        self._pos: dict[int, int] | None = {}
        self._external: dict[str, list[Finding]] = {}
        self._finding_slots: set[int] = set()
        self._examples = 0
        # The file-level rules, in the order their findings are produced (ties in position keep this order).
        self._format_mix = FormatMix()
        self._tokens = TokenSpread(engine.model.limit)
        self._multi_line = MultiLineRecords()
        self.rules: list[FileRule] = [
            self._format_mix,
            ExampleCount(),
            ExactDuplicates(),
            ConflictingAnswers(),
            SystemPrompts(),
            self._tokens,
            ModelShutdown(),
            self._multi_line,
            *extra_rules,
        ]
        lines = list(lines)
        if lines:
            self.splice(0, 0, lines)

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def texts(self) -> list[str]:
        return self._texts

    def text(self, line: int) -> str:
        return self._texts[line]

    def result(self, line: int) -> LineResult:
        return self._results[line]

    def splice(self, start: int, end: int, new_lines: list[str], results: list[LineResult] | None = None) -> None:
        """Replace lines [start, end) with `new_lines` (0-based). `results` may carry precomputed results."""
        finding_slots = self._finding_slots
        gone = []
        for slot, result in zip(self._slots[start:end], self._results[start:end]):
            finding_slots.discard(slot)
            if result.kind == "example":
                gone.append((slot, result))
        if gone:
            self._examples -= len(gone)
            for rule in self.rules:
                rule.remove(gone)
        if self._external:
            self._shift_external(start, end, len(new_lines))
        if results is None:
            analyze = self.engine.analyze_line
            results = [analyze(t) for t in new_lines]
        if len(new_lines) == end - start:
            slots = self._slots[start:end]
        else:
            slots = list(range(self._next_slot, self._next_slot + len(new_lines)))
            self._next_slot += len(new_lines)
            self._pos = None
        self._texts[start:end] = new_lines
        self._results[start:end] = results
        self._slots[start:end] = slots
        came = []
        for slot, result in zip(slots, results):
            if result.findings:
                finding_slots.add(slot)
            if result.kind == "example":
                came.append((slot, result))
        if came:
            self._examples += len(came)
            for rule in self.rules:
                rule.add(came)

    def _positions(self) -> dict[int, int]:
        if self._pos is None:
            self._pos = {slot: i for i, slot in enumerate(self._slots)}
        return self._pos

    # --- findings ------------------------------------------------------------------------------------------
    def dominant_format(self) -> str:
        return self._format_mix.dominant()

    def is_array_file(self) -> bool:
        return (
            bool(self._texts)
            and self._texts[0].lstrip("\ufeff \t").startswith("[")
            and not self._texts[0].rstrip().endswith("]")
        )

    def _shift_external(self, start: int, end: int, count: int) -> None:
        """Keep external findings on their lines until their source recomputes them: drop those on replaced
        lines (and those pointing at them), move the ones below by the change in line count."""
        delta = count - (end - start)

        def moved(line: int) -> int | None:
            if line < start:
                return line
            if line >= end:
                return line + delta
            return None

        for source, found in list(self._external.items()):
            kept = []
            for f in found:
                line = moved(f.line) if f.line is not None else None
                if f.line is not None and line is None:
                    continue
                related = []
                for r in f.related:
                    target = moved(r.line) if r.path is None else r.line
                    if target is None:
                        break
                    related.append(Related(target, r.message, r.span, r.path))
                else:
                    kept.append(Finding(f.code, f.message, line, f.span, f.fix, tuple(related), f.severity))
            self._external[source] = kept

    def set_external(self, source: str, found: list[Finding]) -> None:
        """Findings computed outside the engine (near duplicates, train/validation overlap), merged into
        `findings()`. Their line numbers are the caller's to keep current: replace them after edits."""
        if found:
            self._external[source] = list(found)
        else:
            self._external.pop(source, None)

    def findings(self) -> list[Finding]:
        """Every enabled finding with its severity resolved, sorted by position (file-level ones first)."""
        raw = list(self._line_findings())
        view = self.view()
        for rule in self.rules:
            raw.extend(rule.findings(view))
        for extra in self._external.values():
            raw.extend(f for f in extra if f.line is None or f.line < len(self._texts))
        array = self.is_array_file()
        enabled = self.engine.enabled
        severity = self.engine.severity
        out = []
        for f in raw:
            if f.code not in enabled or (array and f.code in _SUPPRESSED_IN_ARRAY_FILE):
                continue
            out.append(Finding(f.code, f.message, f.line, f.span, f.fix, f.related, severity(f)))
        out.sort(key=lambda f: (-1 if f.line is None else f.line, f.span.start if f.span else -1, f.code))
        return self._multi_line.cap(out)

    def view(self) -> FileView:
        """What file-level rules read when they report: slots resolve to the lines they are on now."""
        pos = self._positions()
        return FileView(
            self.engine, self._texts, self._examples, pos.__getitem__, self.is_array_file(), self.dominant_format()
        )

    def _line_findings(self) -> Iterator[Finding]:
        pos = self._positions()
        for slot in self._finding_slots:
            line = pos[slot]
            for f in self._results[line].findings:
                yield f.at_line(line)

    # --- numbers -------------------------------------------------------------------------------------------
    def summary(self) -> Summary:
        spread = self._tokens
        tokens = spread.sorted
        return Summary(
            format=self.dominant_format() if self._examples else "unknown",
            format_counts=self._format_mix.counts(),
            lines=len(self._texts),
            examples=self._examples,
            tokens_total=spread.total,
            tokens_p50=quantile(tokens, 0.5),
            tokens_p95=quantile(tokens, 0.95),
            tokens_max=tokens[-1] if tokens else 0,
            billed_per_epoch=spread.billed,
            over_limit=spread.over_limit,
            cost=self.engine.cost(spread.billed, self._examples),
            model=self.engine.model,
            histogram=spread.histogram(),
        )
