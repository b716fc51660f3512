"""The engine: per-line results cached by text, and the file-level rules kept up to date as lines come and go.

`Dataset.splice` replaces a range of lines. It re-analyses only the new lines and tells every file-level rule
(`rules/file_rule.py`: format mix, duplicates, system prompts, conflicting answers, token spread, …) which
examples left and which arrived, so the work per edit grows with the edit, not with the file. Line numbers are
resolved only for lines that have something to report.

Every verdict is for one target (provider + model + method, `targets.py`): the engine resolves it from the settings
(`target`, or the provider the model table gives `model`), and the rules read the provider's facts from it. The
method follows the file's main format unless the user named one, so it is resolved per file, in `Dataset.view`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .catalog import RULES
from .config import Settings
from .finding_cap import cap_per_code, column, position
from .formats import FORMAT_TITLES
from .image_tokens import rule_for as image_rule_for
from .json_read import message_texts, read_ahead
from .line_map import LineMap
from .linecheck import LineContext, analyze_line, line_tokens
from .local_tokens import ExampleCounter
from .models import CostEstimate, ModelInfo, ModelTable, auto_epochs, estimate_cost
from .rules.conflicting_answers import ConflictingAnswers
from .rules.content_answer_format import AnswerFormats
from .rules.content_artifacts import DatasetArtifacts
from .rules.content_placeholders import UnfilledPlaceholders
from .rules.content_truncation import TruncatedAnswers
from .rules.exact_duplicates import ExactDuplicates
from .rules.example_count import ExampleCount
from .rules.example_weights import ExampleWeights
from .rules.file_rule import FileRule, FileView
from .rules.format_mix import FormatMix
from .rules.model_shutdown import ModelShutdown
from .rules.multi_line_records import MultiLineRecords, first_record
from .rules.platform import Platform
from .rules.system_prompts import SystemPrompts
from .rules.token_spread import TokenSpread, quantile
from .targets import (
    ProviderRules,
    Target,
    Tokenizer,
    TokenizerChoice,
    family_tokenizer,
    rules_for,
    token_limit,
    tokenizer_for,
)
from .tokens import TokenCounter
from .types import Finding, LineResult, Related, Severity

_CACHE_MAX = 250_000
_PLACED_MAX = 65_536  # placed line findings an editor's dataset keeps between edits (`Dataset._placed`)
_SUPPRESSED_IN_ARRAY_FILE = frozenset({"TL001", "TL002", "TL003", "TL101", "TL102", "TL123", "TL124", "TL303", "TL304"})


# "There is no answer to train on": right for a supervised line, wrong for an RFT prompt (the model writes the answer).
_ANSWER_CODES = frozenset({"TL110", "TL111", "TL112"})


def resolve_target(settings: Settings, models: ModelTable) -> Target:
    """The target the settings name: `target` (PROVIDER:MODEL), else the model table's provider for `model` (OpenAI
    for names it does not know, as `--model` always meant). Raises TargetError in one sentence."""
    if settings.target is not None:
        return Target.parse(settings.target, settings.method)
    target = Target.from_model(settings.model, models, settings.method)
    info = models.resolve(target.model)
    return replace(target, model=info.name) if info.known else target  # an alias names the model it stands for


def target_model(target: Target, models: ModelTable) -> ModelInfo:
    """The model as this target sees it. A model name means the same model whoever hosts it (azure:gpt-4.1-mini is
    OpenAI's row: same tokenizer and context), but a price or a shutdown date is the listing provider's own, so
    another provider's target gets neither (unknown, not OpenAI's). The per-example limit is `token_limit`'s."""
    info = models.resolve(target.model)
    own = info.known and info.provider == target.provider
    if target.provider == "local" and not own:
        local = models.resolve("local")
        price = local.price if local.known and local.provider == "local" else None
        source = local.source
    else:
        price, source = (info.price, info.source) if own else (None, info.source if info.known else "")
    return ModelInfo(
        name=info.name if info.known else target.model,
        provider=target.provider,
        encoding=info.encoding,
        limit=info.limit,
        price=price,
        shutdown=info.shutdown if own else None,
        source=source,
        as_of=info.as_of,
        aliases=info.aliases,
        known=info.known,
    )


PREFILL_MIN_LINES = 64  # below this, counting ahead saves less than reading the lines twice costs


class Engine:
    """Settings plus the caches that depend on them. Make a new Engine when settings change."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        today: dt.date | None = None,
        example_counter: ExampleCounter | None = None,
        details: bool = True,
    ) -> None:
        """`details`: results carry what only an editor shows (`LineContext.details`); a batch check turns them off."""
        self.settings = settings or Settings()
        files = [Path(self.settings.models_file)] if self.settings.models_file else None
        self.models = ModelTable(self.settings.models, files)
        self.target: Target = resolve_target(self.settings, self.models)  # method None: follows each file's format
        self.provider: ProviderRules = rules_for(self.target)
        self.limit: int | None = token_limit(self.target, self.models)
        model = target_model(self.target, self.models)
        self.model: ModelInfo = model if self.limit is None else replace(model, limit=self.limit)
        # How the target counts tokens: tiktoken here, or a Hugging Face tokenizer and chat template (a local
        # folder's own, an open model family's) that the front end loads and injects as `example_counter`. Without
        # one, counts are o200k_base estimates and `tokens_exact` says so.
        self.tokenizer: Tokenizer = tokenizer_for(self.target, self.models)
        # What the front end should load for an open model: the `tokenizer` setting, else the model table's repo.
        self.family_tokenizer: TokenizerChoice | None = family_tokenizer(
            self.target, self.models, self.settings.tokenizer
        )
        self.example_counter = example_counter if self.tokenizer.kind != "tiktoken" else None
        self.tokens_exact = self.tokenizer.kind == "tiktoken" or self.example_counter is not None
        self.counter = TokenCounter(self.model.encoding)
        self.platform = Platform.of(self.provider, self.target.method, self.target.model, self.models)
        self.image_rule = image_rule_for(self.target.provider)  # OpenAI's tile formula, for OpenAI and Azure
        self.context = LineContext(
            self.counter,
            self.limit,
            self.model.name,
            self.settings.secrets,
            self.platform,
            self.image_rule,
            self.example_counter,
            details,
        )
        self.enabled = self.settings.enabled_codes()
        self.today = today or dt.date.today()
        self._cache: dict[str, LineResult] = {}

    def analyze_line(self, text: str, value: dict[str, Any] | None = None) -> LineResult:
        """`text`'s result; `value`: its JSON value, when the caller has read it already (`read_ahead`)."""
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        result = analyze_line(text, self.context, value)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[text] = result
        return result

    def analyze_lines(self, lines: list[str]) -> list[LineResult]:
        """`analyze_line` of each of a chunk of lines. The chat lines are read first, once: their message texts are
        counted back to back (`TokenCounter.prefill`: 4–8% of a chat line's time) and each line's rules take the
        value read here. Lines already analysed are taken as they are."""
        if len(lines) < PREFILL_MIN_LINES:
            return [self.analyze_line(t) for t in lines]
        with self._read_ahead(lines) as values:
            get = values.get
            return [self.analyze_line(t, get(t)) for t in lines]

    def count_lines(self, lines: list[str]) -> list[int | None]:
        """Each line's `tokens` as `analyze_line` gives it (None for a line that is no example), without the rules
        and without remembering results: what a cost table needs to count a file again with another model's
        tokenizer. The chat lines are read once and their texts counted back to back, as in `analyze_lines`."""
        cache = self._cache
        with self._read_ahead(lines) as values:
            out: list[int | None] = []
            for text in lines:
                hit = cache.get(text)
                if hit is not None:
                    out.append(hit.tokens if hit.kind == "example" else None)
                else:
                    out.append(line_tokens(text, self.context, values.get(text)))
            return out

    @contextmanager
    def _read_ahead(self, lines: list[str]) -> Iterator[dict[str, dict[str, Any]]]:
        """The values of the chat lines not analysed yet (`read_ahead`), their message texts counted meanwhile; the
        counts ahead are dropped when the chunk is done, whatever happens."""
        cache = self._cache
        values = read_ahead(t for t in lines if t not in cache)
        self.counter.prefill(message_texts(values.values()))
        try:
            yield values
        finally:
            self.counter.prefill(())

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
        """The user's epochs, else what the target runs by default: a fixed number (Together, Fireworks: 1) or
        OpenAI's "auto" heuristic (3, stretched so small files get 100 example passes)."""
        if self.settings.epochs:
            return self.settings.epochs
        epochs = self.provider.epochs.value
        if epochs is not None and epochs.default is not None:
            return epochs.default
        return auto_epochs(examples)

    def resolved_target(self, fmt: str) -> Target:
        """The target with its method fixed for a file whose main format is `fmt`."""
        return self.target.resolved(fmt)

    def cost(self, billed_per_epoch: int, examples: int, method: str | None = None) -> CostEstimate:
        """Tokens billed over the epochs and their price. Reinforcement fine-tuning is billed by training time, not
        by tokens, so an RFT file's price is unknown here rather than a per-token guess."""
        estimate = estimate_cost(self.model, self.epochs_for(examples), billed_per_epoch)
        return replace(estimate, usd=None) if method == "rft" else estimate


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
    target: Target | None = None  # the target the verdict is for, its method resolved
    # False: counted with another tokenizer than the target's (for every line, or for lines its counter does not
    # template), or images not counted
    tokens_exact: bool = True
    images_inexact: int = 0  # image parts not counted, or counted at their least (an https URL has no size offline)

    @property
    def format_title(self) -> str:
        return FORMAT_TITLES.get(self.format, self.format)


class _Anchored:
    """An external finding, the slots of its line and of its related lines in this file (None: no line, or another
    file's), and the finding as last resolved to the lines those slots were on (at the line map's `moves`)."""

    __slots__ = ("finding", "moves", "related", "slot")

    def __init__(self, finding: Finding, slot: int | None, related: tuple[int | None, ...], moves: int) -> None:
        self.finding, self.slot, self.related, self.moves = finding, slot, related, moves

    def slots(self) -> Iterator[int]:
        if self.slot is not None:
            yield self.slot
        yield from (s for s in self.related if s is not None)

    def resolved(self, lines: LineMap) -> Finding:
        """The finding on the lines its slots are on now: recomputed only after lines moved."""
        since = self.moves
        if since == lines.moves:
            return self.finding
        self.moves = lines.moves
        f = self.finding
        line = f.line
        if self.slot is not None and line is not None:
            line = lines.follow(self.slot, line, since)
        related = f.related
        if related:
            now, changed = [], False
            for slot, r in zip(self.related, related):
                if slot is not None:
                    at = lines.follow(slot, r.line, since)
                    if at != r.line:
                        r, changed = Related(at, r.message, r.span, r.path), True
                now.append(r)
            if changed:
                related = tuple(now)
        if line != f.line or related is not f.related:
            self.finding = Finding(f.code, f.message, line, f.span, f.fix, related, f.severity)
        return self.finding


class Dataset:
    """One file's lines, their results, and the file-level rules' state, updated incrementally."""

    def __init__(self, engine: Engine, lines: Iterable[str] = (), extra_rules: Iterable[FileRule] = ()) -> None:
        self.engine = engine
        self._texts: list[str] = []
        self._results: list[LineResult] = []
        self._lines = LineMap()  # each line's slot: the id file-level rules know its example by
        self._external: dict[str, list[_Anchored]] = {}  # by source
        self._external_slots: set[int] = set()  # the slots external findings are on or point at
        self._finding_slots: set[int] = set()
        # (id(finding), line) -> (finding, placed): see `_placed`
        self._placed_findings: dict[tuple[int, int], tuple[Finding, Finding]] = {}
        # id(finding) -> (finding, severity, resolved): see `_resolved`
        self._resolved_findings: dict[int, tuple[Finding, Severity, Finding]] = {}
        self._keep = False  # whether the report being built keeps its findings for the next one (an editor's)
        self._examples = 0
        # The file-level rules, in the order their findings are produced (ties in position keep this order).
        self._format_mix = FormatMix()
        self._tokens = TokenSpread(engine.limit)
        self._multi_line = MultiLineRecords()
        self.rules: list[FileRule] = [
            self._format_mix,
            ExampleCount(),
            ExactDuplicates(),
            ConflictingAnswers(),
            SystemPrompts(),
            self._tokens,
            ModelShutdown(),
            UnfilledPlaceholders(),
            TruncatedAnswers(),
            DatasetArtifacts(),
            AnswerFormats(),
            ExampleWeights(engine.platform.example_weight),
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

    @property
    def results(self) -> list[LineResult]:
        """Each line's result, in order (the dataset's own list: read it, never change it)."""
        return self._results

    def text(self, line: int) -> str:
        return self._texts[line]

    def result(self, line: int) -> LineResult:
        return self._results[line]

    def splice(self, start: int, end: int, new_lines: list[str], results: list[LineResult] | None = None) -> None:
        """Replace lines [start, end) with `new_lines` (0-based). `results` may carry precomputed results."""
        finding_slots = self._finding_slots
        gone = []
        for slot, result in zip(self._lines.slots(start, end), self._results[start:end]):
            finding_slots.discard(slot)
            if result.kind == "example":
                gone.append((slot, result))
        if gone:
            self._examples -= len(gone)
            for rule in self.rules:
                rule.remove(gone)
        if self._external_slots and not self._external_slots.isdisjoint(old := self._lines.slots(start, end)):
            self._drop_external(set(old))
        if results is None:
            analyze = self.engine.analyze_line
            results = [analyze(t) for t in new_lines]
        slots = self._lines.splice(start, end, len(new_lines))
        self._texts[start:end] = new_lines
        self._results[start:end] = results
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

    # --- findings ------------------------------------------------------------------------------------------
    def dominant_format(self) -> str:
        return self._format_mix.dominant()

    def is_array_file(self) -> bool:
        return (
            bool(self._texts)
            and self._texts[0].lstrip("\ufeff \t").startswith("[")
            and not self._texts[0].rstrip().endswith("]")
        )

    def _drop_external(self, replaced: set[int]) -> None:
        """Forget external findings on replaced lines, or pointing at them, until their source recomputes them."""
        for source, anchored in list(self._external.items()):
            kept = [a for a in anchored if a.slot not in replaced and replaced.isdisjoint(a.related)]
            if kept:
                self._external[source] = kept
            else:
                del self._external[source]
        self._index_external()

    def _index_external(self) -> None:
        self._external_slots = {s for anchored in self._external.values() for a in anchored for s in a.slots()}

    def set_external(self, source: str, found: list[Finding]) -> None:
        """Findings computed outside the engine (near duplicates, train/validation overlap), merged into
        `findings()`. They follow their lines through later edits (anchored to slots, so an insert above costs them
        nothing) and are dropped when a line they are on or point at is replaced: recompute them after edits."""
        count, slot_at = len(self._texts), self._lines.slot_at
        anchored = []
        for f in found:
            if f.line is not None and not 0 <= f.line < count:
                continue
            related = tuple(r for r in f.related if r.path is not None or 0 <= r.line < count)
            if len(related) != len(f.related):
                f = replace(f, related=related)
            anchored.append(
                _Anchored(
                    f,
                    None if f.line is None else slot_at(f.line),
                    tuple(slot_at(r.line) if r.path is None else None for r in related),
                    self._lines.moves,
                )
            )
        if anchored:
            self._external[source] = anchored
        else:
            self._external.pop(source, None)
        self._index_external()

    def _external_findings(self) -> Iterator[Finding]:
        lines = self._lines
        for anchored in self._external.values():
            for a in anchored:
                yield a.resolved(lines)

    def findings(self, per_code: int | None = None, dropped: Counter[str] | None = None) -> list[Finding]:
        """Every enabled finding with its severity resolved, sorted by position (file-level ones first).

        `per_code` is the editor's bound (`finding_cap.py`): the first `per_code` findings of each code, and a note
        for each code that had more (`dropped` receives how many were left out). When more lines than that have
        findings, the lines are walked in order and the ones past a code's bound are only counted: an edit's report
        then costs one pass over the lines plus what is shown, not a finding object per line."""
        dropped = Counter() if dropped is None else dropped
        self._keep = per_code is not None  # an editor's report, asked again after every edit: see `_placed`
        view = self.view(per_code, dropped)
        from_rules = [f for rule in self.rules for f in rule.findings(view)]
        # A file of multi-line records keeps its own few parse errors (`MultiLineRecords.cap`, known once the rules
        # have run): there the bound only cuts the report, or it would count errors that file never shows.
        if per_code is not None and len(self._finding_slots) > per_code and not self._multi_line.active:
            raw = self._first_line_findings(per_code, dropped)
        else:
            raw = list(self._line_findings())
        raw.extend(from_rules)
        if self._external:
            raw.extend(self._external_findings())
        out = self._multi_line.cap(self._resolved(raw))
        return out if per_code is None else cap_per_code(out, per_code, dropped)

    def line_findings_so_far(self, per_code: int) -> list[Finding] | None:
        """The findings of the lines analysed so far, as `findings` reports them, for diagnostics shown while a
        large file's first analysis goes on (the editor shows the problems at the top in a fraction of the time).
        No file-level rule is asked: none has seen the whole file yet, and a duplicate or a count judged on part of
        it could be wrong. None when the lines cannot be judged one by one: a JSON array file, or pretty-printed
        records (their per-line errors wait for TL006 and its cap)."""
        if self.is_array_file() or first_record(self._texts) is not None:
            return None
        self._keep = True
        dropped: Counter[str] = Counter()
        return cap_per_code(self._resolved(self._first_line_findings(per_code, dropped)), per_code, dropped)

    def _resolved(self, raw: list[Finding]) -> list[Finding]:
        """`raw` without disabled codes (or codes an array file suppresses), each at its configured severity,
        sorted by position. A finding a rule hands out again (the same object: a rule that kept its findings) is
        resolved to the same object again, so that the editor's cache knows it by identity."""
        array = self.is_array_file()
        enabled = self.engine.enabled
        severity = self.engine.severity
        memo, keep = self._resolved_findings, self._keep
        if len(memo) > 2 * len(raw) + 4096:  # entries of findings no rule hands out any more
            memo.clear()
        out = []
        for f in raw:
            if f.code not in enabled or (array and f.code in _SUPPRESSED_IN_ARRAY_FILE):
                continue
            level = severity(f)
            if level is f.severity:
                out.append(f)
                continue
            hit = memo.get(id(f)) if keep else None
            if hit is None or hit[0] is not f or hit[1] is not level:
                hit = (f, level, Finding(f.code, f.message, f.line, f.span, f.fix, f.related, level))
                if keep:
                    memo[id(f)] = hit
            out.append(hit[2])
        out.sort(key=position)
        return out

    def view(self, per_code: int | None = None, dropped: Counter[str] | None = None) -> FileView:
        """What file-level rules read when they report: slots resolve to the lines they are on now."""
        dominant = self.dominant_format()
        return FileView(
            self.engine,
            self._texts,
            self._examples,
            self._lines.line_of,
            self.is_array_file(),
            dominant,
            self.engine.resolved_target(dominant),
            self.engine.provider,
            per_code,
            self._lines.in_order() if per_code is not None else (),
            dropped,
            self._results if per_code is not None else (),
        )

    def target(self) -> Target:
        """The target this file is judged for, with the method its main format (or the user) gives."""
        return self.engine.resolved_target(self.dominant_format() if self._examples else "unknown")

    def _line_findings(self) -> Iterator[Finding]:
        line_of = self._lines.line_of
        rft = self.target().method == "rft"
        for slot in self._finding_slots:
            line = line_of(slot)
            result = self._results[line]
            for f in result.findings:
                if rft and result.also == "rft" and f.code in _ANSWER_CODES:
                    continue  # a chat line ending on a user turn is a multi-turn RFT prompt: no answer expected
                yield self._placed(f, line)

    def _placed(self, f: Finding, line: int) -> Finding:
        """A line's finding at `line`, its severity resolved: the same object for as long as the line keeps that
        finding at that number. An edit re-reports every finding it did not touch; built once, they cost a lookup
        each instead of two new objects (placed, then resolved), and the editor's cache of encoded diagnostics
        knows them by identity (`DiagnosticCache.encoded`). The entry holds `f`, so its id is not reused while
        the entry lives; the memo is bounded (an inserted line moves every finding below it to a new key).
        Only for an editor's report: `tuneline check` asks once, and keeping its findings would cost it time and
        memory for nothing (it still gets each finding built once, its severity resolved)."""
        key = (id(f), line)
        memo = self._placed_findings
        hit = memo.get(key) if self._keep else None
        if hit is not None and hit[0] is f:
            return hit[1]
        placed = Finding(f.code, f.message, line, f.span, f.fix, f.related, self.engine.severity(f))
        if self._keep:
            if len(memo) >= _PLACED_MAX:
                memo.clear()
            memo[key] = (f, placed)
        return placed

    def _first_line_findings(self, per_code: int, dropped: Counter[str]) -> list[Finding]:
        """The line findings of each enabled code up to `per_code`, walking the lines in order; the rest counted in
        `dropped`. A code past its bound costs a set test and an addition a finding (a problem on every line of a
        100k-line file: ~20 ms)."""
        rft = self.target().method == "rft"
        array = self.is_array_file()
        enabled = self.engine.enabled
        finding_slots, results = self._finding_slots, self._results
        taken: dict[str, int] = {}
        full: set[str] = set()  # codes past their bound: enabled and not suppressed, or they would not be here
        more: dict[str, int] = {}
        out = []
        for line, slot in enumerate(self._lines.in_order()):
            if slot not in finding_slots:
                continue
            result = results[line]
            found = result.findings
            if len(found) > 1:  # the report's order within a line, so that a bound inside it keeps the same ones
                found = sorted(found, key=column)
            for f in found:
                code = f.code
                if rft and result.also == "rft" and code in _ANSWER_CODES:
                    continue  # a multi-turn RFT prompt: no answer expected (as `_line_findings`)
                if code in full:
                    more[code] = more.get(code, 0) + 1
                    continue
                if code not in enabled or (array and code in _SUPPRESSED_IN_ARRAY_FILE):
                    continue
                n = taken.get(code, 0) + 1
                taken[code] = n
                if n >= per_code:
                    full.add(code)
                out.append(self._placed(f, line))
        dropped.update(more)
        return out

    # --- numbers -------------------------------------------------------------------------------------------
    def summary(self) -> Summary:
        spread = self._tokens
        tokens = spread.sorted
        target = self.target()
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
            cost=self.engine.cost(spread.billed, self._examples, target.method),
            model=self.engine.model,
            histogram=spread.histogram(),
            target=target,
            tokens_exact=self.engine.tokens_exact and not spread.images and not spread.estimated,
            images_inexact=spread.images,
        )
