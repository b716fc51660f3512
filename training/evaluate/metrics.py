"""The scores of one answer against its reference, and the rates over all answers of one model.

Pure functions of text: no model, no network, no tokenizer (token counts come from the provider's `usage` or from
the local tokenizer). docs/eval.md defines each metric; the names here are the names in the JSON output.

A score is None when it does not apply (a JSON score for a plain-text reference, a tool score when the reference
calls no tool); rates count only the answers where the score applies, and say how many that was.
"""

from __future__ import annotations

import json
import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

RATES = ("exact_match", "normalized_match", "json_valid", "json_same_keys", "tool_call_match", "tool_name_match")
# Comparing tuned with base on one example: the first score, in this order, on which they differ decides.
DECIDING = ("exact_match", "tool_call_match", "normalized_match", "json_same_keys", "json_valid", "tool_name_match")

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)
_SPACE = re.compile(r"\s+")
# English refusals, as models phrase them at the start of an answer. Deliberately narrow: "I can't find your
# order" is an answer, "I can't help with that" is a refusal.
_REFUSAL = re.compile(
    r"^\W*(?:(?:i'?m|i am) sorry,? (?:but )?(?:i|this)|sorry,? (?:but )?i (?:can(?:no|')t|am unable|won'?t)"
    r"|i (?:can(?:no|')?t|am unable to|'m unable to|won'?t|will not|am not able to|'m not able to) "
    r"(?:help|assist|comply|provide|do that|answer|fulfil+|support|share|engage|create|generate|write)"
    r"|as an ai(?: language model)?,? i (?:can(?:no|')?t|am unable|don'?t|do not)"
    r"|i must (?:decline|refuse)|unfortunately,? i (?:can(?:no|')?t|am unable|won'?t))",
    re.IGNORECASE,
)


@dataclass
class Answer:
    """What one model said to one prompt: text and tool calls (`[{name, arguments}]`), the tokens it cost, or the
    error that stopped the request (one sentence)."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "tool_calls": self.tool_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        def count(value: Any) -> int | None:
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

        calls = data.get("tool_calls")
        return cls(
            content=data["content"] if isinstance(data.get("content"), str) else "",
            tool_calls=[c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else [],
            prompt_tokens=count(data.get("prompt_tokens")),
            completion_tokens=count(data.get("completion_tokens")),
            error=data["error"] if isinstance(data.get("error"), str) else None,
        )


def normalize(text: str) -> str:
    """Case, punctuation and whitespace removed (Unicode-aware): "Hello,  World!" → "hello world"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return _SPACE.sub(" ", text).strip()


def parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` — trimmed, and without one surrounding ``` fence — is JSON."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text or text[0] not in "{[":
        return False, None
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _keys(value: Any) -> frozenset[str] | None:
    """Top-level keys of an object, or of the objects in a list (their union)."""
    if isinstance(value, dict):
        return frozenset(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return frozenset(k for v in value for k in v)
    return None


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.match(text.strip()[:300]))


def _call_key(call: dict[str, Any]) -> tuple[str, str]:
    args = call.get("arguments")
    if isinstance(args, str):  # arguments that were not JSON: compared as written
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            return str(call.get("name")), "raw:" + args
    return str(call.get("name")), json.dumps(args, sort_keys=True, ensure_ascii=False)


def tool_calls_match(answer: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]]) -> bool:
    """Same tools with the same arguments (parsed JSON, key order ignored), in any order."""
    return sorted(map(_call_key, answer)) == sorted(map(_call_key, reference))


def score(answer: Answer, reference: str, reference_calls: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The scores of one answer (see the module docstring for None). An answer that failed has no scores."""
    if answer.error is not None:
        return {}
    calls_ok = tool_calls_match(answer.tool_calls, reference_calls) if reference_calls else None
    text_exact = answer.content.strip() == reference.strip()
    text_norm = normalize(answer.content) == normalize(reference)
    out: dict[str, Any] = {
        # with a tool-call reference, a match needs the right calls too (both texts are often empty)
        "exact_match": text_exact and calls_ok is not False,
        "normalized_match": text_norm and calls_ok is not False,
        "json_valid": None,
        "json_same_keys": None,
        "tool_call_match": calls_ok,
        "tool_name_match": (
            sorted(str(c.get("name")) for c in answer.tool_calls) == sorted(str(c.get("name")) for c in reference_calls)
            if reference_calls
            else None
        ),
        "length_ratio": round(len(answer.content.strip()) / len(reference.strip()), 4) if reference.strip() else None,
        "refusal": is_refusal(answer.content) if not answer.tool_calls else False,
        "tokens": answer.completion_tokens,
    }
    ref_is_json, ref_value = parse_json(reference)
    if ref_is_json:
        ok, value = parse_json(answer.content)
        out["json_valid"] = ok
        ref_keys = _keys(ref_value)
        if ref_keys is not None:
            out["json_same_keys"] = ok and _keys(value) == ref_keys
    return out


def compare(tuned: dict[str, Any], base: dict[str, Any], judge: str | None = None) -> str:
    """'better', 'worse' or 'same' for the tuned answer against the base answer on one example (both answered): the
    judge's verdict when there is one, else the first deciding score on which they differ, else refusals."""
    if judge in ("tuned", "base"):
        return "better" if judge == "tuned" else "worse"
    if not tuned or not base:  # a failed request says nothing about quality
        return "same"
    for name in DECIDING:
        t, b = tuned.get(name), base.get(name)
        if t is None or b is None or t == b:
            continue
        return "better" if t else "worse"
    if tuned.get("refusal") != base.get("refusal"):
        return "worse" if tuned.get("refusal") else "better"
    return "same"


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), 4) if values else None


def rates(
    scores: Sequence[dict[str, Any]], answers: Sequence[Answer], price: tuple[float, float] | None
) -> dict[str, Any]:
    """The metrics of one model over its answers (`scores[i]` belongs to `answers[i]`); `price` is USD per 1M
    (input, output) tokens when known."""
    answered = [s for s in scores if s]
    out: dict[str, Any] = {"examples": len(scores), "answered": len(answered), "errors": len(scores) - len(answered)}
    counts: dict[str, int] = {}
    for name in RATES:
        applicable = [bool(s[name]) for s in answered if s.get(name) is not None]
        counts[name] = len(applicable)
        out[name] = _mean(1.0 if v else 0.0 for v in applicable)
    ratios = [s["length_ratio"] for s in answered if s.get("length_ratio") is not None]
    out["length_ratio"] = _mean(ratios)
    out["length_ratio_median"] = round(statistics.median(ratios), 4) if ratios else None
    counts["length_ratio"] = len(ratios)
    out["refusal_rate"] = _mean(1.0 if s.get("refusal") else 0.0 for s in answered)
    counts["refusal_rate"] = len(answered)
    done = [a for a in answers if a.error is None]
    tokens = [a.completion_tokens for a in done if a.completion_tokens is not None]
    out["mean_answer_tokens"] = round(statistics.fmean(tokens), 2) if tokens else None
    out["mean_prompt_tokens"] = _mean(a.prompt_tokens for a in done if a.prompt_tokens is not None)
    cost = None
    if (
        price is not None
        and done
        and all(a.prompt_tokens is not None and a.completion_tokens is not None for a in done)
    ):
        cost = sum((a.prompt_tokens or 0) * price[0] + (a.completion_tokens or 0) * price[1] for a in done) / 1e6
    out["cost_usd"] = round(cost, 6) if cost is not None else None
    out["mean_cost_usd"] = round(cost / len(done), 8) if cost is not None and done else None
    out["counts"] = counts
    return out
