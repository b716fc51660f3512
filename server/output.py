"""How `tuneline check` prints: ruff-like text, JSON (a stable contract), SARIF 2.1.0 and GitHub annotations.

Lines and columns are 1-based and count code points; `end_column` is exclusive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from . import __version__
from .analysis.catalog import RULES, Rule
from .analysis.engine import Engine, Summary
from .analysis.image_tokens import image_note
from .analysis.report import FileReport
from .analysis.types import Finding, Severity
from .json_text import Lazy, pieces_indented

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36", Severity.HINT: "2"}


def clean(text: str) -> str:
    """`text` as something every output can carry: a lone surrogate (a JSON `\\ud800` escape quoted from the data,
    a file name that is not UTF-8) becomes the escape that spells it, so the output stays valid UTF-8 and the
    finding is still reported."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _position(f: Finding) -> tuple[int | None, int | None, int | None, int | None]:
    if f.line is None:
        return None, None, None, None
    if f.span is None:
        return f.line + 1, 1, f.line + 1, 1
    return f.line + 1, f.span.start + 1, f.line + 1, f.span.end + 1


def _usd(value: float | None) -> str:
    if value is None:
        return "price unknown"
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def target_words(s: Summary) -> str:
    """`openai:gpt-4o-mini-2024-07-18 (sft)`: the target a verdict is for, its method resolved."""
    target = s.target
    if target is None:
        return s.model.name
    return f"{target} ({target.method})" if target.method else str(target)


def summary_line(s: Summary) -> str:
    cost = s.cost
    epochs = f"{cost.epochs} epoch{'s' if cost.epochs != 1 else ''}"
    about = "" if s.tokens_exact else "≈ "
    return (
        f"{s.format_title} · {s.examples:,} example{'s' if s.examples != 1 else ''} · "
        f"tokens {about}p50 {s.tokens_p50:,} / p95 {s.tokens_p95:,} / max {s.tokens_max:,} · "
        f"{s.tokens_total:,} tokens per epoch · billed {cost.billed_tokens:,} over {epochs} · "
        f"≈ {_usd(cost.usd)} · for {target_words(s)}"
    )


def _target_notes(engine: Engine) -> list[str]:
    """What the summary says once about the target: shutdown dates ahead, a model the table does not know, token
    counts that are estimates."""
    out = []
    model, p, today = engine.model, engine.provider, engine.today
    if model.shutdown and not model.is_shut_down(today):
        out.append(f"note: {model.name} is scheduled to shut down on {model.shutdown}.")
    jobs_end = p.new_jobs_end.value
    if jobs_end is not None and today < jobs_end:
        days = (jobs_end - today).days
        out.append(f"note: {p.title} takes no new fine-tuning jobs from {jobs_end} (in {days:,} days).")
    if not model.known and engine.tokenizer.kind == "tiktoken":
        out.append(
            f"note: {model.name} is not in the model table; limits and price are unknown (see `tuneline models`)."
        )
    if not engine.tokens_exact:
        out.append(
            f"note: token counts are estimates ({engine.model.encoding}): {p.title} counts with the model's own "
            "tokenizer."
        )
    return out


def format_text(reports: list[FileReport], engine: Engine, *, color: bool, show_summary: bool) -> str:
    out: list[str] = []
    totals: Counter[Severity] = Counter()
    fixable = 0
    for report in reports:
        path = clean(report.path)
        for f in report.findings:
            assert f.severity is not None
            totals[f.severity] += 1
            fixable += f.fix is not None and f.fix.safe
            line, col, _, _ = _position(f)
            where = f"{path}:{line}:{col}:" if line is not None else f"{path}:"
            code = _paint(f.code, _COLORS[f.severity], color)
            mark = " [*]" if f.fix is not None and f.fix.safe else ""
            out.append(f"{_paint(where, '1', color)} {code}{mark} {clean(f.message)}")
            for rel in f.related:
                out.append(f"    {path}:{rel.line + 1}: {clean(rel.message)}")
        if show_summary:
            out.append(_paint(f"{path}: ", "1", color) + summary_line(report.summary))
            if report.summary.over_limit:
                out.append(
                    f"    {report.summary.over_limit:,} example(s) exceed the {report.summary.model.limit:,}-token limit"
                )
            if report.summary.images_inexact:
                out.append(f"    {image_note(report.summary.images_inexact, engine.image_rule is not None)}")
    if show_summary:
        out.extend(_target_notes(engine))
        verdict_for = f"for {engine.target.provider}:{engine.model.name}"
        if totals:
            parts = [
                f"{totals[s]} {s.label}{'s' if totals[s] != 1 and s is not Severity.INFO else ''}"
                for s in Severity
                if totals[s]
            ]
            out.append(
                f"Found {', '.join(parts)} {verdict_for}."
                + (f" [*] {fixable} fixable in the editor (source.fixAll)." if fixable else "")
            )
        else:
            out.append(f"All checks passed {verdict_for}.")
    return "\n".join(out) + "\n"


def report_json(report: FileReport) -> dict:
    s = report.summary
    target = s.target.as_json() if s.target is not None else None
    return {
        "path": clean(report.path),
        "target": {k: clean(v) if isinstance(v, str) else v for k, v in target.items()} if target else None,
        "format": s.format,
        "examples": s.examples,
        "tokens": {
            "total": s.tokens_total,
            "p50": s.tokens_p50,
            "p95": s.tokens_p95,
            "max": s.tokens_max,
            "exact": s.tokens_exact,
        },
        "cost": {
            "model": s.cost.model,
            "epochs": s.cost.epochs,
            "billed_tokens": s.cost.billed_tokens,
            "usd": s.cost.usd,
        },
        "diagnostics": Lazy(map(diagnostic_json, report.findings)),  # one dict at a time (`Lazy`)
    }


def diagnostic_json(f: Finding) -> dict:
    line, col, end_line, end_col = _position(f)
    rule = RULES.get(f.code)
    return {
        "code": f.code,
        "name": rule.name if rule else f.code,
        "severity": f.severity.label if f.severity else "warning",
        "message": clean(f.message),
        "line": line,
        "column": col,
        "end_line": end_line,
        "end_column": end_col,
        "related": [{"line": r.line + 1, "message": clean(r.message)} for r in f.related],
    }


def format_json(reports: list[FileReport], engine: Engine, *, color: bool, show_summary: bool) -> list[str]:
    """The JSON text as its pieces (`write_output` writes them without joining them first)."""
    pieces = pieces_indented({"files": [report_json(r) for r in reports]})
    pieces.append("\n")
    return pieces


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note", Severity.HINT: "note"}


def format_sarif(reports: list[FileReport], engine: Engine, *, color: bool, show_summary: bool) -> list[str]:
    rules = [
        {
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.explanation},
            "helpUri": r.url,
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
        }
        for r in RULES.values()
    ]
    results = ((report, f) for report in reports for f in report.findings)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tuneline",
                        "version": __version__,
                        "informationUri": "https://github.com/tuneline/tuneline",
                        "rules": rules,
                    }
                },
                "results": Lazy(_sarif_result(report, f) for report, f in results),  # one dict at a time
            }
        ],
    }
    pieces = pieces_indented(doc)
    pieces.append("\n")
    return pieces


def _sarif_result(report: FileReport, f: Finding) -> dict:
    line, col, end_line, end_col = _position(f)
    location: dict = {"physicalLocation": {"artifactLocation": {"uri": clean(report.path)}}}
    if line is not None:
        location["physicalLocation"]["region"] = {
            "startLine": line,
            "startColumn": col,
            "endLine": end_line,
            "endColumn": end_col,
        }
    return {
        "ruleId": f.code,
        "level": _SARIF_LEVEL[f.severity or Severity.WARNING],
        "message": {"text": clean(f.message)},
        "locations": [location],
    }


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def format_github(reports: list[FileReport], engine: Engine, *, color: bool, show_summary: bool) -> str:
    out = []
    kinds = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice", Severity.HINT: "notice"}
    for report in reports:
        for f in report.findings:
            line, col, end_line, end_col = _position(f)
            props = [f"file={_gh_escape(clean(report.path), True)}"]
            if line is not None:
                props += [f"line={line}", f"col={col}", f"endLine={end_line}", f"endColumn={end_col}"]
            props.append(f"title={_gh_escape(f.code + ' ' + RULES[f.code].name if f.code in RULES else f.code, True)}")
            out.append(f"::{kinds[f.severity or Severity.WARNING]} {','.join(props)}::{_gh_escape(clean(f.message))}")
    return "\n".join(out) + ("\n" if out else "")


Formatter = Callable[..., str | list[str]]  # the text, or its pieces in order
FORMATTERS: dict[str, Formatter] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
}


def render_rule(rule: Rule) -> str:
    lines = [
        f"{rule.code} {rule.name} ({rule.severity.label}{', file-level' if rule.file_level else ''})",
        "",
        rule.summary,
        "",
        rule.explanation,
    ]
    if rule.fix:
        lines += ["", f"Fix: {rule.fix}"]
    return "\n".join(lines) + "\n"


def render_rule_table() -> str:
    return "".join(f"{r.code}  {r.name:32} {r.severity.label:8} {r.summary}\n" for r in RULES.values())


def render_rules_markdown() -> str:
    """docs/rules.md: one section per rule; the editor's diagnostic links point at these anchors."""
    out = [
        "# Rules",
        "",
        "Generated by `tuneline rule --all --markdown` from the catalogue (`server/analysis/catalog.py`). Codes are",
        "stable: select, ignore and re-grade them by code, name or prefix (`TL1`).",
        "",
        "| code | name | default | summary |",
        "| --- | --- | --- | --- |",
    ]
    for r in RULES.values():
        out.append(f"| [{r.code}](#{r.code.lower()}-{r.name}) | {r.name} | {r.severity.label} | {r.summary} |")
    for r in RULES.values():
        out += ["", f"## {r.code} {r.name}", "", f"*{r.severity.label}{', file-level' if r.file_level else ''}*", ""]
        out.append(r.explanation)
        if r.fix:
            out += ["", f"**Fix:** {r.fix}"]
    return "\n".join(out) + "\n"
