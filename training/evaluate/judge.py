"""The optional LLM-as-judge: for each example a judge model sees the conversation, the reference answer and the
two models' answers as "A" and "B", and names the better one (or a tie).

Judges favour whichever answer comes first (position bias), so every example is judged twice, once in each order,
and a model wins only when both orders agree; disagreement counts as a tie (and is counted as `inconsistent`).
docs/eval.md shows the prompt as sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .items import Item, text_of, tool_calls_of

ORDERS = ("tuned-first", "base-first")
JUDGE_MAX_TOKENS = 50
MAX_QUOTED = 6000  # characters of each answer shown to the judge (a runaway answer is cut, and says so)

SYSTEM = (
    "You are an impartial judge comparing two assistant answers to the same conversation. The reference answer "
    "shows what a good answer looks like for this task. Decide which answer does the task better: the same facts "
    "and decisions as the reference first, then the format the reference uses, then concision. Length and the "
    "order in which the answers are shown must not influence you. If both are equally good or equally bad, say "
    'tie. Reply with only a JSON object: {"winner": "A"}, {"winner": "B"} or {"winner": "tie"}.'
)
TEMPLATE = """## Conversation
{conversation}

## Reference answer
{reference}

## Answer A
{a}

## Answer B
{b}

Which answer is better? Reply with only the JSON object."""

_WORD = re.compile(r'"?winner"?\s*[:=]\s*"?\s*(A|B|tie)\b', re.IGNORECASE)


def _quote(text: str) -> str:
    text = text.strip() or "(empty answer)"
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + " […cut]"


def render_answer(content: str, tool_calls: Sequence[dict[str, Any]]) -> str:
    calls = "\n".join(
        f"[calls tool {c.get('name')} with {json.dumps(c.get('arguments'), ensure_ascii=False)}]" for c in tool_calls
    )
    return _quote("\n".join(p for p in (content.strip(), calls) if p))


def render_conversation(item: Item) -> str:
    lines = []
    for m in item.prompt:
        body = text_of(m.get("content"))
        calls = tool_calls_of(m)
        if calls:
            body = render_answer(body, calls)
        lines.append(f"[{m.get('role')}] {body}")
    return "\n".join(lines)


def messages(item: Item, first: tuple[str, list[dict[str, Any]]], second: tuple[str, list[dict[str, Any]]]) -> list:
    """The judge's chat messages with answer `first` shown as A and `second` as B (each: content, tool calls)."""
    user = TEMPLATE.format(
        conversation=render_conversation(item),
        reference=render_answer(item.reference, item.reference_tool_calls),
        a=render_answer(*first),
        b=render_answer(*second),
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse(text: str) -> str | None:
    """'A', 'B' or 'tie' from the judge's reply, or None when it said none of them."""
    text = (text or "").strip()
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            value = json.loads(text[start : end + 1])
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and isinstance(value.get("winner"), str):
            winner = value["winner"].strip()
            return {"a": "A", "b": "B", "tie": "tie"}.get(winner.lower())
    found = _WORD.search(text)
    if found:
        return {"a": "A", "b": "B", "tie": "tie"}[found.group(1).lower()]
    bare = text.strip(" .\"'`*").lower()
    return {"a": "A", "b": "B", "tie": "tie"}.get(bare)


def winner(order: str, letter: str | None) -> str | None:
    """'tuned', 'base' or 'tie' for a judge's letter in one order."""
    if letter is None:
        return None
    if letter == "tie":
        return "tie"
    tuned_letter = "A" if order == "tuned-first" else "B"
    return "tuned" if letter == tuned_letter else "base"


def combine(verdicts: dict[str, str | None]) -> tuple[str | None, bool]:
    """(the example's verdict, whether the two orders disagreed) from `{order: tuned|base|tie|None}`. A win needs
    both orders; one unreadable reply leaves the other order's verdict."""
    seen = [v for v in (verdicts.get(o) for o in ORDERS) if v is not None]
    if not seen:
        return None, False
    if len(seen) == 1:
        return seen[0], False
    if seen[0] == seen[1]:
        return seen[0], False
    return "tie", True


def rates(outcomes: Sequence[tuple[str | None, bool]]) -> dict[str, Any]:
    """Win, loss and tie rates of the tuned model over the judged examples."""
    judged = [o for o, _ in outcomes if o is not None]
    n = len(judged)

    def share(kind: str) -> float | None:
        return round(sum(1 for o in judged if o == kind) / n, 4) if n else None

    return {
        "judged": n,
        "win_rate": share("tuned"),
        "loss_rate": share("base"),
        "tie_rate": share("tie"),
        "inconsistent": sum(1 for _, bad in outcomes if bad),
        "unreadable": sum(1 for o, _ in outcomes if o is None),
    }
