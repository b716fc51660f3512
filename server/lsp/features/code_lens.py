"""Code lens on line 1: examples, tokens and the training cost; and "Train on this file…" when training is on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .. import markdown as md

if TYPE_CHECKING:
    from ..documents import Analysis, Document
    from ..server import TunelineServer

TRAIN_COMMAND = "tuneline.train"


def summary_title(doc: Document, analysis: Analysis) -> str | None:
    if doc.dataset is None:
        return None
    s = doc.dataset.summary()
    return (
        f"{s.examples:,} example{'s' if s.examples != 1 else ''} · {s.tokens_total:,} tokens · {md.cost_phrase(s.cost)}"
    )


def summary_numbers(doc: Document, analysis: Analysis) -> dict[str, Any] | None:
    """`tuneline/summary`: the code lens's numbers as JSON (the VS Code status bar reads these)."""
    if doc.dataset is None:
        return None
    s = doc.dataset.summary()
    return {
        "examples": s.examples,
        "lines": s.lines,
        "tokens": s.tokens_total,
        "billedTokens": s.cost.billed_tokens,
        "costUsd": s.cost.usd,
        "model": s.cost.model,
        "epochs": s.cost.epochs,
        # The target the verdicts are for (the status bar's "→ together · Llama-3.1-8B"), and whether the token
        # numbers are the target's own or an estimate (≈).
        "target": s.target.as_json() if s.target is not None else None,
        "tokensExact": s.tokens_exact,
    }


def _uri(params: Any) -> str | None:
    value = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    return value if isinstance(value, str) else None


def register(server: TunelineServer) -> None:
    @server.feature("tuneline/summary")
    async def summary(ls: TunelineServer, params: Any) -> dict[str, Any] | None:
        uri = _uri(params)
        doc = ls.documents.get(uri) if uri else None
        if doc is None:
            return None
        return await ls.scheduler.read(doc, summary_numbers)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: TunelineServer, params: types.CodeLensParams) -> list[dict[str, Any]]:
        uri = params.text_document.uri
        doc = ls.documents.get(uri)
        if doc is None:
            return []
        title = await ls.scheduler.read(doc, summary_title)
        if title is None:
            return []
        top = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
        lenses = [{"range": top, "command": {"title": title, "command": "tuneline.stats", "arguments": [uri]}}]
        if ls.has_command(TRAIN_COMMAND):
            lenses.append(
                {
                    "range": top,
                    "command": {"title": "Train on this file…", "command": TRAIN_COMMAND, "arguments": [{"uri": uri}]},
                }
            )
        return lenses
