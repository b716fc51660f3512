"""Pre-flight: everything checked and shown before a byte leaves the machine.

The analysis engine reads the training (and validation) file with the counter `tuneline check` uses for the target
(token_counters.py: an open model's family tokenizer; o200k_base estimates, said so, when it is not on this
machine; a local run's plan counts with the trainer's own code); error-severity findings refuse the run, listed
with their positions; train/validation overlap is checked here (TL306); the backend's `prepare` picks the method
and checks the model; the numbers the user confirms (examples, tokens, epochs, cost) come out as text and markdown.
Light on purpose: the language server imports this module, so no SDK and no torch.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneline.analysis import ConfigError, Engine, FileReport, Settings, Severity, check_bytes, load_settings
from tuneline.analysis.targets import ProvidersFileError, TargetError
from tuneline.token_counters import CounterUnavailable, exact_engine

from .backends.base import Backend, BackendError, Plan, TrainRequest
from .split import DEFAULT_SEED, SplitPlan, check_fraction, plan_split

MAX_LISTED = 20
VALIDATION_EXEMPT = frozenset({"TL303", "TL304"})


class PreflightError(Exception):
    """The request cannot even be checked (missing file, bad option): one sentence for the user."""


@dataclass
class Problem:
    """An error-severity finding that refuses the run. `line` and `character` are 0-based (as in LSP)."""

    file: str
    line: int | None
    character: int | None
    code: str
    message: str

    def where(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line + 1}:{(self.character or 0) + 1}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Analysis:
    """One file checked with one model and epoch setting."""

    path: Path
    report: FileReport
    engine: Engine
    sha256: str
    size: int
    estimates: str | None = None  # why the token counts are o200k_base estimates, when the exact counter is missing

    @property
    def summary(self):
        return self.report.summary

    def errors(self) -> list[Problem]:
        return [
            Problem(
                str(self.path),
                f.line,
                f.span.start if f.span is not None else None,
                f.code,
                f.message,
            )
            for f in self.report.findings
            if f.severity == Severity.ERROR
        ]


_CACHE: OrderedDict[tuple, Analysis] = OrderedDict()
# The settings the running pre-flight checks with (the editor's, say), for the backend's `prepare`, whose interface
# takes only the request: its tokens and cost must come from the same engine as the pre-flight's findings.
_RUNNING: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("preflight_settings", default=None)


def backend_for(provider: str) -> str | None:
    """The training backend for a target's provider: the backend of the same name (azure, fireworks, ...) when
    the registry has one, else the one providers.toml names (None: tuneline cannot train there)."""
    from tuneline.analysis.targets import shipped_providers

    from .backends.registry import NAMES

    if provider in NAMES:
        return provider
    rules = shipped_providers().get(provider)
    return rules.backend if rules is not None else None


def _provider_of(backend: str) -> str:
    """The provider a backend trains on, for a target built from `--backend` and `--model`."""
    from tuneline.analysis.targets import shipped_providers

    providers = shipped_providers()
    if backend in providers:
        return backend
    return next((name for name, p in providers.items() if p.backend == backend), backend)


def target_settings(settings: Settings, backend: str, model: str | None) -> Settings:
    """`settings` aimed at this backend (and model): the project's target when it trains with this backend, else
    the backend's own provider, so `tuneline train --backend together` is judged by Together's rules even when the
    project's settings name another target."""
    from tuneline.analysis.engine import resolve_target
    from tuneline.analysis.models import ModelTable

    try:
        files = [Path(settings.models_file)] if settings.models_file else None
        current = resolve_target(settings, ModelTable(settings.models, files))
    except Exception:  # a broken target is reported by the analysis itself
        current = None
    provider = current.provider if current is not None and backend_for(current.provider) == backend else None
    provider = provider or _provider_of(backend)
    name = model or (current.model if current is not None and current.provider == provider else None)
    if name is None:
        return settings
    return settings.merged({"target": f"{provider}:{name}"}, "training options")


def default_backend(path: Path, settings: Settings | None = None) -> str:
    """`tuneline train FILE` without --backend: the backend of the target the project's settings name (OpenAI's
    by default). Raises PreflightError in one sentence when that provider has no backend here."""
    from tuneline.analysis.engine import resolve_target
    from tuneline.analysis.models import ModelTable
    from tuneline.analysis.targets import rules_for

    try:
        settings = settings or load_settings(Path(path).parent)
        files = [Path(settings.models_file)] if settings.models_file else None
        target = resolve_target(settings, ModelTable(settings.models, files))
    except (ConfigError, TargetError) as exc:
        raise PreflightError(str(exc)) from None
    backend = backend_for(target.provider)
    if backend is None:
        title = rules_for(target).title
        raise PreflightError(f"tuneline cannot train on {title} (target {target}); pass --backend")
    return backend


def analyze(
    path: Path, model: str | None = None, epochs: int | None = None, settings: Settings | None = None
) -> Analysis:
    """Check `path` with the project's settings (or `settings`, e.g. the editor's) plus this model and epochs.

    A model keeps the provider of the target the settings name (a Together model stays a Together target); with no
    target the model table gives the provider, as `--model` always did. Cached by file state and options, so a
    backend's `prepare` re-reading the same file costs nothing."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise PreflightError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not path.is_file():
        raise PreflightError(f"{path}: not a file")
    settings = settings or _RUNNING.get()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, model, epochs, repr(settings) if settings else None)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    settings = settings or load_settings(path.parent)
    flags: dict[str, Any] = {}
    if model:
        flags["model"] = model
        if settings.target is not None:
            flags["target"] = f"{settings.target.partition(':')[0]}:{model}"
    if epochs:
        flags["epochs"] = epochs
    try:
        if flags:
            settings = settings.merged(flags, "training options")
        engine, estimates = _engine(settings)
    except (ConfigError, TargetError, ProvidersFileError) as exc:
        raise PreflightError(str(exc)) from None
    data = path.read_bytes()
    report = check_bytes(data, engine, str(path))
    analysis = Analysis(path, report, engine, hashlib.sha256(data).hexdigest(), len(data), estimates)
    _CACHE[key] = analysis
    while len(_CACHE) > 8:
        _CACHE.popitem(last=False)
    return analysis


def _engine(settings: Settings) -> tuple[Engine, str | None]:
    """The engine `tuneline check` builds for these settings (token_counters.exact_engine), so the pre-flight's
    tokens and cost for an open model at a hosted provider are the check's; a tokenizer setting that does not load
    refuses in check's sentence. A `local:` target keeps the estimating engine: its plan counts with the trainer's
    own code in a child process, and loading the model's tokenizer here would bring torch into the CLI and the
    language server (local backend `prepare`)."""
    try:
        return exact_engine(
            settings, other="set `tokenizer` in tuneline.toml to a folder of tokenizer files", local=False
        )
    except CounterUnavailable as exc:
        raise PreflightError(str(exc)) from None


def project_model(path: Path, backend: Backend, settings: Settings | None = None) -> str:
    """The model a run uses when none was given: the project's target's (or `model` setting's) if it trains with
    this backend."""
    from tuneline.analysis.models import DEFAULT_MODEL, ModelTable

    default = getattr(backend, "default_model", None) or "local"
    try:
        settings = settings or load_settings(Path(path).parent)
        files = [Path(settings.models_file)] if settings.models_file else None
        table = ModelTable(settings.models, files)
        if settings.target is not None:
            from tuneline.analysis.engine import resolve_target

            target = resolve_target(settings, table)
            return target.model if backend_for(target.provider) == backend.name else default
        info = table.resolve(settings.model)
    except Exception:  # a broken settings file is reported by the analysis itself
        return default
    if info.provider == backend.name and (settings.model != DEFAULT_MODEL or info.name == default):
        return info.name
    return default


@dataclass
class Preflight:
    backend: str
    request: TrainRequest
    analysis: Analysis
    plan: Plan | None
    errors: list[Problem] = field(default_factory=list)
    refused: str | None = None  # one sentence from the backend or the split: why this run cannot start
    warnings: list[str] = field(default_factory=list)
    validation: Analysis | None = None
    split: SplitPlan | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.refused is None

    @property
    def cost_usd(self) -> float | None:
        return self.plan.cost_usd if self.plan else None

    @property
    def examples(self) -> int:
        return self.plan.examples if self.plan else self.analysis.summary.examples

    @property
    def tokens(self) -> int:
        return self.plan.tokens if self.plan else self.analysis.summary.tokens_total

    @property
    def tokens_exact(self) -> bool:
        """Whether the tokens (and so the cost) are the target's own count, not o200k_base estimates: a local plan
        counts with the trainer's code; otherwise the analysis says (`tuneline check`'s `tokens.exact`)."""
        if self.plan is not None and getattr(self.plan, "device", None) is not None and self.split is None:
            return True
        return self.analysis.summary.tokens_exact

    @property
    def validation_examples(self) -> int:
        if self.split is not None:
            return len(self.split.validation_lines)
        return self.validation.summary.examples if self.validation else 0

    def cost_text(self) -> str:
        if self.plan is None:
            return "unknown"
        if self.plan.cost_usd is None:
            return "unknown (no price recorded for this model)"
        return f"${self.plan.cost_usd:,.2f}"

    def to_json(self) -> dict[str, Any]:
        """The `tuneline.preflight` command's result (docs/contracts.md) plus details."""
        plan = self.plan
        return {
            "ok": self.ok,
            "markdown": render_markdown(self),
            "costUsd": self.cost_usd,
            "examples": self.examples,
            "tokens": self.tokens,
            "tokensExact": self.tokens_exact,
            "errors": [p.to_json() for p in self.errors],
            "refused": self.refused,
            "warnings": self.warnings,
            "backend": self.backend,
            "model": plan.model if plan else self.request.model,
            "method": plan.method if plan else None,
            "epochs": plan.epochs if plan else None,
            "validationExamples": self.validation_examples,
            "split": self.split.to_json() if self.split else None,
            **{
                key: getattr(plan, attr)
                for key, attr in (("device", "device"), ("totalSteps", "total_steps"), ("memoryGb", "memory_gb"))
                if plan is not None and hasattr(plan, attr)
            },
        }


def run_preflight(
    request: TrainRequest,
    backend_name: str,
    *,
    backend: Backend | None = None,
    split: float | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
) -> Preflight:
    """Check a training request end to end without touching the network. Raises PreflightError on bad input."""
    if backend is None:
        from .backends import get_backend

        try:
            backend = get_backend(backend_name)
        except KeyError as exc:
            raise PreflightError(str(exc.args[0])) from None
        except ImportError as exc:
            raise PreflightError(f"the {backend_name} backend is not installed here ({exc.name} is missing)") from None
    if split is not None and request.validation is not None:
        raise PreflightError("give either a validation file or a split fraction, not both")
    if split is not None:
        try:
            check_fraction(split)
        except ValueError as exc:
            raise PreflightError(str(exc)) from None
    model = request.model or project_model(request.dataset, backend, settings)
    request = dataclasses.replace(request, model=model)
    epochs = request.hyperparameters.get("n_epochs")
    given = settings  # the caller's own (the editor's), for the backend's `prepare` below
    try:
        settings = target_settings(settings or load_settings(Path(request.dataset).parent), backend_name, model)
    except ConfigError as exc:
        raise PreflightError(str(exc)) from None
    analysis = analyze(request.dataset, model, epochs if isinstance(epochs, int) else None, settings)
    pf = Preflight(backend_name, request, analysis, None)
    pf.errors.extend(analysis.errors())
    needs_validation = _validation_rule(analysis)
    if needs_validation and request.validation is None and split is None:
        pf.refused = needs_validation
    if request.validation is not None:
        pf.validation = analyze(request.validation, model, None, settings)
        # the minimum-examples rule is for training files: a small validation file is fine
        pf.errors.extend(e for e in pf.validation.errors() if e.code not in VALIDATION_EXEMPT)
        pf.errors.extend(overlap(analysis, pf.validation))
    if split is not None:
        pf.split = plan_split(analysis.report.dataset, split, DEFAULT_SEED if seed is None else seed)
        if not pf.split.train_lines or not pf.split.validation_lines:
            pf.refused = "the file has too few distinct examples to hold some out for validation; drop the split"
    running = _RUNNING.set(given)
    try:
        pf.plan = backend.prepare(request)
    except BackendError as exc:
        pf.refused = pf.refused or str(exc)
    finally:
        _RUNNING.reset(running)
    if pf.plan is not None:
        if pf.split is not None:
            pf.plan = subset_plan(pf.plan, analysis, pf.split.train_lines)
        pf.warnings.extend(pf.plan.warnings)
        if not pf.tokens_exact:  # said in the warnings, which the run's record keeps with its numbers
            pf.warnings.append(analysis.estimates or _estimates(analysis))
    return pf


def _estimates(analysis: Analysis) -> str:
    """Why counts are estimates when the exact counter loaded (or there is none): the lines it cannot count, such
    as preference pairs or images, or a target that counts with a tokenizer tuneline does not know."""
    engine = analysis.engine
    if engine.tokens_exact:
        return (
            "token counts are partly estimates (≈): images, and lines the tokenizer does not template (such as "
            "preference pairs), are not counted exactly"
        )
    return (
        f"token counts are estimates (≈, {engine.model.encoding}): {engine.provider.title} counts with the model's "
        "own tokenizer"
    )


def _validation_rule(analysis: Analysis) -> str | None:
    """The sentence refusing a run without validation data, when the target requires it for the file's method
    (OpenAI and Azure reinforcement fine-tuning)."""
    target = analysis.summary.target
    provider = analysis.engine.provider
    method = target.method if target is not None else None
    required = provider.validation_file_required.value or {}
    if method is None or not required.get(method):
        return None
    return (
        f"{provider.title} requires a validation file for {method} fine-tuning: pass --validation FILE, or hold some "
        "examples out with --split"
    )


def subset_plan(plan: Plan, analysis: Analysis, lines: list[int]) -> Plan:
    """The plan for training on only `lines` of the file (after a split): fewer examples, tokens and dollars."""
    ds = analysis.report.dataset
    engine = analysis.engine
    tokens = sum(ds.result(i).tokens for i in lines)
    billed = sum(min(engine.model.limit, ds.result(i).tokens) for i in lines)
    cost = engine.cost(billed, len(lines))
    usd = cost.usd if plan.cost_usd is not None else None  # a backend that bills differently left it unknown
    return dataclasses.replace(plan, examples=len(lines), tokens=tokens, epochs=cost.epochs, cost_usd=usd)


def overlap(train: Analysis, validation: Analysis) -> list[Problem]:
    """TL306: validation examples that are also training examples, by the same rule as `tuneline check`."""
    from tuneline.neardup.checks import overlap_findings

    found = overlap_findings(validation.report.dataset, train.report.dataset.texts, train.path)
    return [Problem(str(validation.path), f.line, 0, f.code, f.message) for f in found]


# --- what the user sees ----------------------------------------------------------------------------------------
def _lines(pf: Preflight) -> list[tuple[str, str]]:
    plan = pf.plan
    s = pf.analysis.summary
    rows = [("Backend", pf.backend), ("File", f"{pf.analysis.path} ({s.format_title})")]
    if plan is not None:
        rows.append(("Model", plan.model))
        rows.append(("Method", {"sft": "supervised (SFT)", "dpo": "preference (DPO)"}.get(plan.method, plan.method)))
        rows.append(("Examples", f"{plan.examples:,}"))
        rows.append(("Tokens per epoch", f"{'' if pf.tokens_exact else '≈ '}{plan.tokens:,}"))
        rows.append(("Epochs", str(plan.epochs)))
        device = getattr(plan, "device", None)  # local runs (LocalPlan): hardware instead of a bill
        if device is not None:
            rows.append(("Device", device))
            if getattr(plan, "total_steps", 0):
                rows.append(("Steps", f"{plan.total_steps:,}"))
            if getattr(plan, "memory_gb", None) is not None:
                detail = getattr(plan, "memory_detail", "")
                rows.append(("Memory (estimate)", f"{plan.memory_gb:.1f} GB" + (f" ({detail})" if detail else "")))
            rows.append(("Estimated cost", "none: trains on this machine"))
        else:
            cost = pf.cost_text()
            model = pf.analysis.engine.model
            if plan.cost_usd is not None and model.price is not None:
                cost += f" (at ${model.price:.2f} per 1M training tokens; {model.source}, as of {model.as_of})"
            rows.append(("Estimated cost", cost))
    if pf.split is not None:
        rows.append(
            (
                "Validation",
                f"{len(pf.split.validation_lines):,} examples held out "
                f"({pf.split.fraction:.0%}, seed {pf.split.seed}; duplicates kept on one side)",
            )
        )
    elif pf.validation is not None:
        rows.append(("Validation", f"{pf.validation.path} ({pf.validation.summary.examples:,} examples, not billed)"))
    return rows


def _problems(pf: Preflight) -> list[str]:
    out = [f"{p.where()}: {p.code} {p.message}" for p in pf.errors[:MAX_LISTED]]
    if len(pf.errors) > MAX_LISTED:
        out.append(f"... and {len(pf.errors) - MAX_LISTED} more")
    return out


def verdict(pf: Preflight) -> str:
    if pf.errors:
        n = len(pf.errors)
        return f"Refused: {n} error{'s' if n != 1 else ''} must be fixed before anything is uploaded."
    if pf.refused:
        return f"Refused: {pf.refused[0].upper()}{pf.refused[1:]}" + ("" if pf.refused.endswith(".") else ".")
    return "Ready to train."


def render_text(pf: Preflight) -> str:
    width = max(len(k) for k, _ in _lines(pf))
    out = ["Pre-flight", *(f"  {k:<{width}}  {v}" for k, v in _lines(pf))]
    for w in pf.warnings:
        out.append(f"  warning: {w}")
    if pf.errors:
        out.append("Errors:")
        out.extend(f"  {line}" for line in _problems(pf))
    out.append(verdict(pf))
    return "\n".join(out) + "\n"


def render_markdown(pf: Preflight) -> str:
    out = ["**Pre-flight**", "", "| | |", "| --- | --- |"]
    out.extend(f"| {k} | {_md(v)} |" for k, v in _lines(pf))
    if pf.warnings:
        out.append("")
        out.extend(f"- ⚠ {_md(w)}" for w in pf.warnings)
    if pf.errors:
        out.append("")
        out.append("**Errors**")
        out.append("")
        out.extend(f"- {_md(line)}" for line in _problems(pf))
    out.append("")
    out.append(f"**{verdict(pf)}**")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
