"""The engine: per-line results cached by text, and file-level rules kept up to date as lines come and go.

`Dataset.splice` replaces a range of lines. It re-analyses only the new lines and updates every file-level
aggregate (formats, duplicates, system prompts, conflicting answers, token distribution) by removing the old
lines' contributions and adding the new ones, so the work per edit grows with the edit, not with the file.
Line numbers are resolved only for lines that have something to report.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .catalog import RULES
from .config import Settings
from .formats import FORMAT_TITLES
from .linecheck import LineContext, analyze_line, chat_conversion
from .models import CostEstimate, ModelInfo, ModelTable, auto_epochs, estimate_cost
from .rules.base import short
from .scan import ScanError, node_at, scan
from .tokens import TokenCounter
from .types import Edit, Finding, Fix, LineResult, Related, Severity, Span

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


def _quantile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank quantile of a sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


@lru_cache(maxsize=4096)
def system_prompt_fix(text: str, prompt: str) -> Fix | None:
    """Insert `prompt` as the first message of a chat line, keeping the rest of the line byte for byte."""
    import json

    offset = 1 if text.startswith("\ufeff") else 0
    try:
        root = scan(text[offset:])
    except (ScanError, RecursionError):
        return None
    messages = node_at(root, ("messages",))
    if messages is None or messages.kind != "array":
        return None
    at = messages.open_inside + offset
    message = json.dumps({"role": "system", "content": prompt}, ensure_ascii=False)
    insert = message + (", " if messages.items else "")
    return Fix("Add the file's common system prompt", (Edit(Span(at, at), insert),), safe=True)


@lru_cache(maxsize=4096)
def conversion_fix(text: str) -> Fix | None:
    """Rewrite an alpaca or sharegpt line as a chat line (not `safe`: it changes the line's shape)."""
    converted = chat_conversion(text)
    if converted is None:
        return None
    return Fix("Convert this example to chat messages", (Edit(Span(0, len(text)), converted),), safe=False)


class Dataset:
    """One file's lines, their results, and the file-level aggregates, updated incrementally."""

    def __init__(self, engine: Engine, lines: Iterable[str] = ()) -> None:
        self.engine = engine
        self._texts: list[str] = []
        self._results: list[LineResult] = []
        self._slots: list[int] = []
        self._next_slot = 0
        self._pos: dict[int, int] | None = {}
        self._external: dict[str, list[Finding]] = {}
        self._reset_aggregates()
        lines = list(lines)
        if lines:
            self.splice(0, 0, lines)

    # --- state ---------------------------------------------------------------------------------------------
    def _reset_aggregates(self) -> None:
        self._finding_slots: set[int] = set()
        self._examples = 0
        self._formats: dict[str, set[int]] = {}
        self._tokens_sorted: list[int] = []
        self._token_slots: dict[int, set[int]] = {}
        self._answers_sorted: list[int] = []
        self._tokens_total = 0
        self._billed_total = 0
        self._over_limit = 0
        self._dups: dict[bytes, set[int]] = {}
        self._dup_multi: set[bytes] = set()
        self._systems: dict[str, set[int]] = {}
        self._prompts: dict[bytes, dict[bytes, set[int]]] = {}
        self._conflicts: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def texts(self) -> list[str]:
        return self._texts

    def text(self, line: int) -> str:
        return self._texts[line]

    def result(self, line: int) -> LineResult:
        return self._results[line]

    def set_engine(self, engine: Engine) -> None:
        """New settings: every line is re-analysed (cheaply, when the new engine's cache already knows it)."""
        self.engine = engine
        texts = self._texts
        self._texts, self._results, self._slots, self._pos = [], [], [], {}
        self._reset_aggregates()
        self.splice(0, 0, texts)

    def splice(self, start: int, end: int, new_lines: list[str], results: list[LineResult] | None = None) -> None:
        """Replace lines [start, end) with `new_lines` (0-based). `results` may carry precomputed results."""
        for slot, result in zip(self._slots[start:end], self._results[start:end]):
            self._remove(slot, result)
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
        bulk = len(results) > 256  # append then sort once: insort into a long list is a memmove per line
        for slot, result in zip(slots, results):
            self._add(slot, result, bulk)
        if bulk:
            self._tokens_sorted.sort()
            self._answers_sorted.sort()

    def _positions(self) -> dict[int, int]:
        if self._pos is None:
            self._pos = {slot: i for i, slot in enumerate(self._slots)}
        return self._pos

    def _add(self, slot: int, r: LineResult, bulk: bool = False) -> None:
        if r.findings:
            self._finding_slots.add(slot)
        if r.kind != "example":
            return
        self._examples += 1
        self._formats.setdefault(r.format or "unknown", set()).add(slot)
        if bulk:
            self._tokens_sorted.append(r.tokens)
        else:
            bisect.insort(self._tokens_sorted, r.tokens)
        self._token_slots.setdefault(r.tokens, set()).add(slot)
        if r.assistant_tokens:
            if bulk:
                self._answers_sorted.append(r.assistant_tokens)
            else:
                bisect.insort(self._answers_sorted, r.assistant_tokens)
        self._tokens_total += r.tokens
        limit = self.engine.model.limit
        self._billed_total += min(limit, r.tokens)
        self._over_limit += r.tokens > limit
        if r.dup_key is not None:
            group = self._dups.setdefault(r.dup_key, set())
            group.add(slot)
            if len(group) == 2:
                self._dup_multi.add(r.dup_key)
        if r.has_system_slot and r.system_prompt is not None:
            self._systems.setdefault(r.system_prompt, set()).add(slot)
        if r.prompt_key is not None and r.answer_key is not None:
            answers = self._prompts.setdefault(r.prompt_key, {})
            answers.setdefault(r.answer_key, set()).add(slot)
            if len(answers) == 2:
                self._conflicts.add(r.prompt_key)

    def _remove(self, slot: int, r: LineResult) -> None:
        self._finding_slots.discard(slot)
        if r.kind != "example":
            return
        self._examples -= 1
        _discard(self._formats, r.format or "unknown", slot)
        del self._tokens_sorted[bisect.bisect_left(self._tokens_sorted, r.tokens)]
        _discard(self._token_slots, r.tokens, slot)
        if r.assistant_tokens:
            del self._answers_sorted[bisect.bisect_left(self._answers_sorted, r.assistant_tokens)]
        self._tokens_total -= r.tokens
        limit = self.engine.model.limit
        self._billed_total -= min(limit, r.tokens)
        self._over_limit -= r.tokens > limit
        if r.dup_key is not None:
            _discard(self._dups, r.dup_key, slot)
            if len(self._dups.get(r.dup_key, ())) < 2:
                self._dup_multi.discard(r.dup_key)
        if r.has_system_slot and r.system_prompt is not None:
            _discard(self._systems, r.system_prompt, slot)
        if r.prompt_key is not None and r.answer_key is not None:
            answers = self._prompts.get(r.prompt_key, {})
            _discard(answers, r.answer_key, slot)
            if not answers:
                self._prompts.pop(r.prompt_key, None)
            if len(answers) < 2:
                self._conflicts.discard(r.prompt_key)

    # --- findings ------------------------------------------------------------------------------------------
    def dominant_format(self) -> str:
        known = [(len(s), f) for f, s in self._formats.items() if f != "unknown" and s]
        return max(known)[1] if known else ("unknown" if self._formats.get("unknown") else "chat")

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
        raw.extend(self._file_findings())
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
        return out

    def _line_findings(self) -> Iterator[Finding]:
        pos = self._positions()
        for slot in self._finding_slots:
            line = pos[slot]
            for f in self._results[line].findings:
                yield f.at_line(line)

    def _whole(self, line: int) -> Span:
        return Span(0, len(self._texts[line]))

    def _file_findings(self) -> Iterator[Finding]:
        pos = self._positions()
        n = self._examples
        if self.is_array_file():
            yield Finding(
                "TL005",
                "This file is a JSON array, not JSONL (one object per line). Convert it, for example with "
                "`jq -c '.[]' in.json > out.jsonl`.",
                0,
                self._whole(0),
            )
        dominant = self.dominant_format()
        for fmt, slots in self._formats.items():
            if fmt == dominant:
                continue
            for slot in slots:
                line = pos[slot]
                if fmt == "unknown" and dominant in ("chat", "kto"):
                    yield Finding(
                        "TL102",
                        "No `messages` list: every example in this chat file needs one.",
                        line,
                        self._whole(line),
                    )
                elif fmt == "unknown":
                    yield Finding(
                        "TL101",
                        f"This line matches no known format; the file is {FORMAT_TITLES[dominant]}.",
                        line,
                        self._whole(line),
                    )
                else:
                    yield Finding(
                        "TL101",
                        f"This line is {FORMAT_TITLES[fmt]}, but the file is {FORMAT_TITLES[dominant]} "
                        f"({len(self._formats.get(dominant, ()))} of {n} examples).",
                        line,
                        self._whole(line),
                        conversion_fix(self._texts[line]) if dominant == "chat" else None,
                    )
        if n < 10:
            yield Finding("TL303", f"{n} example{'s' if n != 1 else ''}: OpenAI requires at least 10.")
        elif n < 50:
            yield Finding("TL304", f"Only {n} examples: 50-100 are the usual minimum for a visible improvement.")
        yield from self._duplicates(pos)
        yield from self._conflicting(pos)
        yield from self._system_prompts(pos)
        yield from self._length(pos)
        model = self.engine.model
        if model.is_shut_down(self.engine.today):
            yield Finding("TL204", f"{model.name} was shut down on {model.shutdown}: new jobs for it are refused.")

    def _duplicates(self, pos: dict[int, int]) -> Iterator[Finding]:
        for key in self._dup_multi:
            lines = sorted(pos[s] for s in self._dups[key])
            first = lines[0]
            for line in lines[1:]:
                yield Finding(
                    "TL301",
                    f"Duplicate of line {first + 1}"
                    + (f" (and {len(lines) - 2} more copies)" if len(lines) > 2 else "")
                    + ".",
                    line,
                    self._whole(line),
                    Fix("Delete duplicate line", delete_line=True),
                    (Related(first, "first copy"),),
                )

    def _conflicting(self, pos: dict[int, int]) -> Iterator[Finding]:
        for key in self._conflicts:
            groups = sorted(
                (sorted(pos[s] for s in slots) for slots in self._prompts[key].values()), key=lambda g: g[0]
            )
            first = groups[0][0]
            for group in groups[1:]:
                for line in group:
                    yield Finding(
                        "TL308",
                        f"Same conversation as line {first + 1} up to the last user turn, but a different answer "
                        f"({len(groups)} different answers in all).",
                        line,
                        self._whole(line),
                        related=(Related(first, "the same conversation with another answer"),),
                    )

    def _system_prompts(self, pos: dict[int, int]) -> Iterator[Finding]:
        groups = [(len(s), p) for p, s in self._systems.items() if s]
        if len(groups) < 2:
            return
        groups.sort(reverse=True)
        total = sum(c for c, _ in groups)
        count, common = groups[0]
        described = f'"{short(common, 50)}"' if common else "none"
        yield Finding(
            "TL305",
            f"{len(groups)} different system prompts; the most common ({described}) is used by {count} of {total} examples.",
        )
        if count * 2 < total:
            return  # no clear convention to hold lines to
        for prompt, slots in self._systems.items():
            if prompt == common:
                continue
            for slot in slots:
                line = pos[slot]
                if not prompt:
                    fix = system_prompt_fix(self._texts[line], common)
                    yield Finding(
                        "TL305",
                        f'No system prompt; {count} of {total} examples use "{short(common, 50)}".',
                        line,
                        self._whole(line),
                        fix,
                    )
                elif common:
                    yield Finding(
                        "TL305",
                        f'System prompt "{short(prompt, 40)}" differs from the common one '
                        f'("{short(common, 40)}", {count} of {total} examples).',
                        line,
                        self._whole(line),
                    )
                else:
                    yield Finding(
                        "TL305",
                        f"Has a system prompt, but {count} of {total} examples have none.",
                        line,
                        self._whole(line),
                    )

    def _length(self, pos: dict[int, int]) -> Iterator[Finding]:
        tokens = self._tokens_sorted
        if len(tokens) >= 20:
            q1, q3, median = _quantile(tokens, 0.25), _quantile(tokens, 0.75), _quantile(tokens, 0.5)
            fence = q3 + 3 * max(q3 - q1, median / 2, 1)  # a floor on spread: uniform files stay quiet
            start = bisect.bisect_right(tokens, fence)
            for value in sorted(set(tokens[start:])):
                for slot in self._token_slots.get(value, ()):
                    line = pos[slot]
                    yield Finding(
                        "TL202",
                        f"{value:,} tokens, far above this file's typical example ({median:,} median, "
                        f"{q3:,} at the 75th percentile).",
                        line,
                        self._whole(line),
                    )
        answers = self._answers_sorted
        if len(answers) >= 20:
            p10, p90 = _quantile(answers, 0.1), _quantile(answers, 0.9)
            if p90 >= 20 * max(p10, 1):
                yield Finding(
                    "TL203",
                    f"Assistant answers range from {p10:,} to {p90:,} tokens (10th to 90th percentile): "
                    "the tuned model's answer length will be unpredictable.",
                )

    # --- numbers -------------------------------------------------------------------------------------------
    def summary(self) -> Summary:
        tokens = self._tokens_sorted
        engine = self.engine
        return Summary(
            format=self.dominant_format() if self._examples else "unknown",
            format_counts={f: len(s) for f, s in self._formats.items() if s},
            lines=len(self._texts),
            examples=self._examples,
            tokens_total=self._tokens_total,
            tokens_p50=_quantile(tokens, 0.5),
            tokens_p95=_quantile(tokens, 0.95),
            tokens_max=tokens[-1] if tokens else 0,
            billed_per_epoch=self._billed_total,
            over_limit=self._over_limit,
            cost=engine.cost(self._billed_total, self._examples),
            model=engine.model,
            histogram=self.histogram(),
        )

    def histogram(self) -> list[tuple[str, int]]:
        """Examples per token bucket (powers of two), for stats."""
        tokens = self._tokens_sorted
        if not tokens:
            return []
        out = []
        low, high, below = 0, 64, 0
        while low <= tokens[-1]:
            upto = bisect.bisect_right(tokens, high)  # examples with at most `high` tokens
            out.append((f"{low + 1 if low else 0}-{high}", upto - below))
            low, high, below = high, high * 2, upto
        return out


def _discard(groups: dict, key, slot: int) -> None:
    members = groups.get(key)
    if members is not None:
        members.discard(slot)
        if not members:
            del groups[key]
