"""Small markdown helpers shared by hover, code lens and stats."""

from __future__ import annotations

import re

from tuneline.analysis import RULES, Finding
from tuneline.analysis.models import CostEstimate

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def escape(text: str) -> str:
    """Markdown-safe text for a table cell or a sentence (user data: roles, labels)."""
    return _SPECIAL.sub(r"\\\1", text.replace("\n", " ").replace("\r", " "))


def usd(value: float | None) -> str:
    if value is None:
        return "price unknown"
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def cost_phrase(cost: CostEstimate) -> str:
    """`≈ $0.12 for 3 epochs on gpt-4o-mini` (or `price unknown`)."""
    epochs = f"{cost.epochs} epoch{'s' if cost.epochs != 1 else ''}"
    if cost.usd is None:
        return f"price unknown for {epochs} on {cost.model}"
    return f"≈ {usd(cost.usd)} for {epochs} on {cost.model}"


def finding(f: Finding) -> str:
    rule = RULES.get(f.code)
    severity = f.severity.label if f.severity is not None else "warning"
    title = f"**{f.code}** · {rule.name}" if rule else f"**{f.code}**"
    parts = [f"{title} ({severity})", f.message]
    if rule is not None:
        parts.append(rule.explanation)
        if rule.fix:
            parts.append(f"*Fix:* {rule.fix}")
        parts.append(f"[Rule documentation]({rule.url})")
    return "\n\n".join(parts)
