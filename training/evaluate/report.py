"""An evaluation's results as the JSON contract (`tuneline eval --format json`, the editor), a text table and a
self-contained HTML report (metric table, then every example with reference, base and tuned answers side by side,
a word diff against the reference, and a "tuned worse than base" filter).

Everything shown comes from files a model or a dataset wrote, so HTML escapes all of it and carries a content
security policy that allows only its own inline style and script.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import judge as judging
from .items import Item
from .metrics import RATES, Answer, compare, rates, score

ROLES = ("tuned", "base")
TITLES = {
    "exact_match": "exact match",
    "normalized_match": "normalised match",
    "json_valid": "valid JSON",
    "json_same_keys": "JSON same keys",
    "tool_call_match": "right tool + arguments",
    "tool_name_match": "right tool",
    "length_ratio": "length ÷ reference",
    "refusal_rate": "refusals",
    "mean_answer_tokens": "answer tokens (mean)",
    "cost_usd": "cost",
    "errors": "failed requests",
    "held_out_loss": "held-out loss",
}
PERCENT = (*RATES, "refusal_rate")


def collect(
    results: Sequence[dict[str, Any]],
) -> tuple[dict[tuple[int, str], Answer], dict[tuple[int, str], str | None]]:
    """(answers by (line, role), judge verdicts by (line, order)) — the last line written for each wins, except
    that a good answer is never replaced by a later failure."""
    answers: dict[tuple[int, str], Answer] = {}
    verdicts: dict[tuple[int, str], str | None] = {}
    for r in results:
        line, role = r.get("line"), r.get("role")
        if not isinstance(line, int) or isinstance(line, bool):
            continue
        if role in ROLES and isinstance(r.get("answer"), dict):
            answer = Answer.from_json(r["answer"])
            old = answers.get((line, role))
            if old is None or old.error is not None or answer.error is None:
                answers[(line, role)] = answer
        elif role == "judge" and r.get("order") in judging.ORDERS:
            verdict = r.get("verdict") if r.get("verdict") in ("tuned", "base", "tie") else None
            if verdict is not None or (line, r["order"]) not in verdicts:
                verdicts[(line, r["order"])] = verdict
    return answers, verdicts


def _price(value: Any) -> tuple[float, float] | None:
    """USD per 1M (input, output) tokens as eval.json records them."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    return None


def build(
    spec: dict[str, Any], items: Sequence[Item], results: Sequence[dict[str, Any]], folder: Path | None = None
) -> dict[str, Any]:
    """The JSON contract (docs/eval.md) for an eval folder's spec, items and results."""
    answers, verdicts = collect(results)
    prices = spec.get("prices") or {}
    rows = []
    per_role: dict[str, tuple[list[dict[str, Any]], list[Answer]]] = {role: ([], []) for role in ROLES}
    outcomes = []
    unanswered = 0
    for item in items:
        row: dict[str, Any] = {
            "line": item.line,
            "prompt": item.prompt,
            "reference": item.reference,
            "reference_tool_calls": item.reference_tool_calls,
        }
        scores: dict[str, Any] = {}
        for role in ROLES:
            answer = answers.get((item.line, role))
            if answer is None:
                row[role] = None
                row[f"{role}_tool_calls"] = []
                scores[role] = {}
                continue
            s = score(answer, item.reference, item.reference_tool_calls)
            row[role] = answer.content if answer.error is None else None
            row[f"{role}_tool_calls"] = answer.tool_calls
            if answer.error is not None:
                row.setdefault("errors", {})[role] = answer.error
            scores[role] = s
            per_role[role][0].append(s)
            per_role[role][1].append(answer)
        verdict = None
        if spec.get("judge"):
            verdict, inconsistent = judging.combine({o: verdicts.get((item.line, o)) for o in judging.ORDERS})
            if any((item.line, o) in verdicts for o in judging.ORDERS):
                outcomes.append((verdict, inconsistent))
        scores["judge"] = verdict
        row["scores"] = scores
        answered_both = bool(scores["tuned"]) and bool(scores["base"])
        if not answered_both:
            unanswered += 1
        row["comparison"] = compare(scores["tuned"], scores["base"], verdict) if answered_both else "unanswered"
        rows.append(row)
    local = spec.get("backend") == "local"  # nothing is billed: no cost row
    metrics: dict[str, Any] = {
        role: rates(*per_role[role], None if local else _price(prices.get(role))) for role in ROLES
    }
    for role, key in (("tuned", "eval_loss"), ("base", "base_eval_loss")):
        loss = (spec.get("losses") or {}).get(key)
        if isinstance(loss, (int, float)):
            metrics[role]["held_out_loss"] = round(float(loss), 4)
    metrics["difference"] = {
        name: round(metrics["tuned"][name] - metrics["base"][name], 4)
        for name in (*RATES, "length_ratio", "refusal_rate", "mean_answer_tokens", "held_out_loss")
        if isinstance(metrics["tuned"].get(name), (int, float)) and isinstance(metrics["base"].get(name), (int, float))
    }
    metrics["judge"] = judging.rates(outcomes) if spec.get("judge") else None
    target = spec.get("target") or {}
    return {
        "eval": spec.get("id"),
        "folder": str(folder) if folder else None,
        "complete": unanswered == 0 and (not spec.get("judge") or all(o is not None for o, _ in outcomes)),
        "run": target.get("run"),
        "backend": spec.get("backend"),
        "model": spec.get("model"),
        "base": spec.get("base"),
        "judge": (spec.get("judge") or {}).get("model"),
        "file": (spec.get("held_out") or {}).get("path"),
        "examples": len(items),
        "skipped": len((spec.get("held_out") or {}).get("skipped") or []),
        "worse": sum(1 for r in rows if r["comparison"] == "worse"),
        "better": sum(1 for r in rows if r["comparison"] == "better"),
        "metrics": metrics,
        "items": rows,
    }


def summary_of(contract: dict[str, Any]) -> dict[str, Any]:
    """What `summary.json` holds: the contract without the items."""
    return {k: v for k, v in contract.items() if k != "items"}


# --- text --------------------------------------------------------------------------------------------------------
def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in PERCENT:
        return f"{100 * value:.1f}%"
    if name == "length_ratio":
        return f"{value:.2f}×"
    if name == "cost_usd":
        return f"${value:,.4f}" if value >= 0.001 or value == 0 else f"${value:.6f}"
    if isinstance(value, float):
        return f"{value:,.4g}" if name != "mean_answer_tokens" else f"{value:,.1f}"
    return str(value)


def _change(name: str, diff: Any) -> str:
    if not isinstance(diff, (int, float)):
        return ""
    if name in PERCENT:
        return f"{100 * diff:+.1f} pts"
    if name == "length_ratio":
        return f"{diff:+.2f}"
    return f"{diff:+,.4g}"


def table_rows(contract: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric title, n, base, tuned, change) for every metric that applies to this evaluation."""
    m = contract["metrics"]
    out = []
    names = ("held_out_loss", *RATES, "length_ratio", "refusal_rate", "mean_answer_tokens", "cost_usd", "errors")
    for name in names:
        tuned, base = m["tuned"].get(name), m["base"].get(name)
        if tuned is None and base is None:
            continue
        if name == "errors" and not tuned and not base:
            continue
        n = m["tuned"].get("counts", {}).get(name)
        out.append(
            (
                TITLES[name],
                "" if n is None else str(n),
                _fmt(name, base),
                _fmt(name, tuned),
                _change(name, m["difference"].get(name)),
            )
        )
    return out


def render_text(contract: dict[str, Any]) -> str:
    lines = []
    who = f"run {contract['run']}" if contract.get("run") else contract["model"]
    lines.append(f"Evaluation {contract.get('eval')} of {who} ({contract['backend']})")
    lines.append(f"  tuned  {contract['model']}")
    lines.append(f"  base   {contract['base']}")
    skipped = f", {contract['skipped']} line(s) skipped" if contract.get("skipped") else ""
    lines.append(f"  file   {contract['file']} ({contract['examples']} examples{skipped})")
    if not contract.get("complete"):
        lines.append("  (incomplete: run the same command again to finish it)")
    lines.append("")
    rows = [("metric", "n", "base", "tuned", "change"), *table_rows(contract)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        lines.append(
            "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        )
    judge = contract["metrics"].get("judge")
    if judge:
        lines.append("")
        lines.append(
            f"  judge {contract['judge']}: tuned wins {_fmt('exact_match', judge['win_rate'])}, loses "
            f"{_fmt('exact_match', judge['loss_rate'])}, ties {_fmt('exact_match', judge['tie_rate'])} "
            f"({judge['judged']} judged in both orders, {judge['inconsistent']} inconsistent)"
        )
    worse = [r["line"] for r in contract["items"] if r["comparison"] == "worse"]
    lines.append("")
    if worse:
        shown = ", ".join(map(str, worse[:20])) + (" …" if len(worse) > 20 else "")
        lines.append(f"  Tuned worse than base on {len(worse)} example(s): line {shown}")
    else:
        lines.append("  Tuned is nowhere worse than base.")
    failed = [r["line"] for r in contract["items"] if r.get("errors")]
    if failed:
        first = next(r for r in contract["items"] if r.get("errors"))
        reason = next(iter(first["errors"].values()))
        lines.append(f"  {len(failed)} example(s) without an answer (line {first['line']}: {reason})")
    if contract.get("folder"):
        lines.append(f"  Results in {contract['folder']}")
    return "\n".join(printable(line) for line in lines) + "\n"


def printable(text: str) -> str:
    """Model output may hold terminal control sequences: shown as escapes, never executed."""
    return "".join(c if c.isprintable() or c in "\t" else repr(c)[1:-1] for c in text)


# --- HTML --------------------------------------------------------------------------------------------------------
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:var(--vscode-foreground,#222);background:var(--vscode-editor-background,#fff)}
table.metrics{border-collapse:collapse;margin:.5em 0 1.5em}table.metrics td,table.metrics th{padding:.25em .8em;border-bottom:1px solid #8884;text-align:right}
table.metrics td:first-child,table.metrics th:first-child{text-align:left}.up{color:#2a7d2a}.down{color:#b03030}
.item{border:1px solid #8886;border-radius:6px;margin:1em 0;padding:.6em .9em}.item h3{margin:.1em 0 .5em;font-size:1em}
.cols{display:grid;grid-template-columns:repeat(3,1fr);gap:.8em}.cols pre{white-space:pre-wrap;word-break:break-word;margin:.2em 0;font:12.5px/1.4 ui-monospace,monospace}
.prompt pre{white-space:pre-wrap;font:12.5px/1.4 ui-monospace,monospace;opacity:.85}
ins{background:#2a7d2a33;text-decoration:none}del{background:#b0303033}.tag{font-size:.8em;padding:0 .4em;border-radius:3px;border:1px solid #8886;margin-left:.5em}
.worse .tag.cmp{border-color:#b03030;color:#b03030}.better .tag.cmp{border-color:#2a7d2a;color:#2a7d2a}.error{color:#b03030}
"""
SCRIPT = """
const box=document.getElementById('only-worse');box.addEventListener('change',()=>{for(const el of document.querySelectorAll('.item')){el.style.display=box.checked&&!el.classList.contains('worse')?'none':'';}});
"""


def word_diff(reference: str, answer: str) -> str:
    """The answer as HTML, with words missing from the reference marked as inserted and reference words it lacks as
    deleted."""
    a, b = _TOKENS.findall(reference), _TOKENS.findall(answer)
    if len(a) * len(b) > 4_000_000:  # a runaway answer: no diff, just the text
        return html.escape(answer)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(b[j1:j2])))
            continue
        if i2 > i1:
            out.append(f"<del>{html.escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{html.escape(''.join(b[j1:j2]))}</ins>")
    return "".join(out)


def _answer_text(content: str | None, calls: Sequence[dict[str, Any]]) -> str:
    parts = [content or ""]
    parts += [f"→ {c.get('name')}({json.dumps(c.get('arguments'), ensure_ascii=False)})" for c in calls]
    return "\n".join(p for p in parts if p)


def render_html(contract: dict[str, Any], nonce: str | None = None) -> str:
    """The report as one HTML page (no external resources). `nonce` marks the inline script for a webview's CSP."""
    nonce = nonce or secrets.token_hex(16)
    esc = html.escape
    who = f"run {contract['run']}" if contract.get("run") else contract["model"]
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}';\">",
        f"<title>Evaluation of {esc(who)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Evaluation of {esc(who)}</h1>",
        f"<p>tuned <code>{esc(str(contract['model']))}</code> vs base <code>{esc(str(contract['base']))}</code> on "
        f"{contract['examples']} held-out examples of <code>{esc(str(contract['file']))}</code> ({esc(str(contract['backend']))})"
        + ("" if contract.get("complete") else " — <b>incomplete</b>")
        + "</p>",
        "<table class='metrics'><thead><tr><th>metric</th><th>n</th><th>base</th><th>tuned</th><th>change</th></tr></thead><tbody>",
    ]
    for title, n, base, tuned, change in table_rows(contract):
        lower_is_better = title in (
            TITLES["refusal_rate"],
            TITLES["errors"],
            TITLES["held_out_loss"],
            TITLES["cost_usd"],
        )
        cls = ""
        if change.startswith(("+", "-")) and change.strip("+-0. pts") != "":
            good = change.startswith("+") != lower_is_better
            cls = " class='up'" if good else " class='down'"
        out.append(
            f"<tr><td>{esc(title)}</td><td>{esc(n)}</td><td>{esc(base)}</td><td>{esc(tuned)}</td><td{cls}>{esc(change)}</td></tr>"
        )
    out.append("</tbody></table>")
    judge = contract["metrics"].get("judge")
    if judge:
        out.append(
            f"<p>Judge <code>{esc(str(contract['judge']))}</code>: tuned wins {_fmt('exact_match', judge['win_rate'])}, "
            f"loses {_fmt('exact_match', judge['loss_rate'])}, ties {_fmt('exact_match', judge['tie_rate'])} "
            f"({judge['judged']} judged in both orders, {judge['inconsistent']} inconsistent).</p>"
        )
    out.append(
        f"<p><label><input type='checkbox' id='only-worse'> only examples where the tuned model is worse than the "
        f"base model ({contract.get('worse', 0)})</label></p>"
    )
    for row in contract["items"]:
        reference = _answer_text(row["reference"], row.get("reference_tool_calls") or [])
        cells = [f"<div><b>reference</b><pre>{esc(reference)}</pre></div>"]
        for role in ("base", "tuned"):
            error = (row.get("errors") or {}).get(role)
            if error:
                body = f"<span class='error'>{esc(error)}</span>"
            elif row.get(role) is None and not row.get(f"{role}_tool_calls"):
                body = "<i>not answered yet</i>"
            else:
                body = word_diff(reference, _answer_text(row.get(role), row.get(f"{role}_tool_calls") or []))
            cells.append(f"<div><b>{role}</b><pre>{body}</pre></div>")
        prompt = "\n".join(
            f"[{m.get('role')}] {m.get('content') if isinstance(m.get('content'), str) else json.dumps(m.get('content'))}"
            for m in row["prompt"]
        )
        verdict = row["scores"].get("judge")
        tags = f"<span class='tag cmp'>{esc(row['comparison'])}</span>"
        if verdict:
            tags += f"<span class='tag'>judge: {esc(verdict)}</span>"
        out.append(
            f"<div class='item {esc(row['comparison'])}' data-line='{row['line']}'><h3>line {row['line']}{tags}</h3>"
            f"<details class='prompt'><summary>prompt</summary><pre>{esc(prompt)}</pre></details>"
            f"<div class='cols'>{''.join(cells)}</div></div>"
        )
    out.append(f"<script nonce='{nonce}'>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
