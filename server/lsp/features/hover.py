"""Hover: the example under the cursor (tokens per message, billed tokens, cost), and the rule behind a finding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tuneline.analysis import FORMAT_TITLES
from tuneline.analysis.image_tokens import image_note

from .. import markdown as md
from ..convert import whole_line_range

if TYPE_CHECKING:
    from ..documents import Analysis, Document
    from ..server import TunelineServer

_KINDS = {
    "blank": "a blank line",
    "invalid": "not valid JSON",
    "non-object": "valid JSON but not an object",
}


def example_markdown(doc: Document, analysis: Analysis, line: int) -> str:
    dataset = doc.dataset
    assert dataset is not None
    result = dataset.result(line)
    engine = dataset.engine
    number = doc.example_numbers(analysis)[line]
    title = FORMAT_TITLES.get(result.format or "", result.format or "unknown format")
    rows = ["| # | role | tokens |", "|--:|:--|--:|"]
    for i, message in enumerate(result.messages, 1):
        rows.append(f"| {i} | {md.escape(message.role)} | {message.tokens:,} |")
    rest = result.tokens - sum(m.tokens for m in result.messages)
    if rest:
        rows.append(f"|  | *reply primer, tools* | {rest:,} |")
    limit = engine.limit  # None: the target documents no per-example limit
    billed = result.tokens if limit is None else min(result.tokens, limit)
    summary = dataset.summary()
    target = summary.target or engine.target
    cost = engine.cost(billed, summary.examples, target.method)
    # ≈: counted with another tokenizer than the target's (an open model's), with images whose tokens are not in
    # the count, or a line the target's tokenizer does not template (a preference pair)
    about = "" if engine.tokens_exact and not result.images and not result.tokens_estimated else "≈ "
    lines = [
        f"**Example {number:,}** (line {line + 1:,}) · {title}",
        "\n".join(rows),
        f"**{about}{result.tokens:,} tokens** · billed {billed:,} × {cost.epochs} epoch{'s' if cost.epochs != 1 else ''}"
        f" = {cost.billed_tokens:,} tokens · {md.usd(cost.usd)} on {cost.model} · target {md.escape(str(target))}"
        + (f" ({target.method})" if target.method else ""),
    ]
    if result.images:
        lines.append(image_note(result.images, engine.image_rule is not None))
    if limit is not None and result.tokens > limit:
        lines.append(
            f"⚠️ **Truncated:** {result.tokens:,} tokens is over the {limit:,}-token limit of {engine.model.name}; "
            f"the last {result.tokens - limit:,} tokens are cut off in training."
        )
    return "\n\n".join(lines)


def hover_at(doc: Document, analysis: Analysis, line: int, character: int) -> dict[str, Any] | None:
    """On the analysis thread. `character` is in UTF-16 units."""
    dataset = doc.dataset
    if dataset is None or not 0 <= line < len(dataset):
        return None
    text = dataset.text(line)
    hits = []
    for finding, diagnostic in analysis.at_line(line):
        start = diagnostic["range"]["start"]["character"]
        end = diagnostic["range"]["end"]["character"]
        if start <= character <= end:
            hits.append((end - start, finding.code, finding, diagnostic["range"]))
    hits.sort(key=lambda hit: hit[:2])  # the narrowest finding under the cursor first
    parts = [md.finding(finding) for _, _, finding, _ in hits]
    hover_range = hits[0][3] if hits else whole_line_range(line, text)
    if line == 0 and character == 0:
        parts.extend(md.finding(f) for f, _ in analysis.at_line(-1))
    result = dataset.result(line)
    if result.kind == "example":
        parts.append(example_markdown(doc, analysis, line))
    elif not parts:
        parts.append(f"Line {line + 1:,} is {_KINDS.get(result.kind, result.kind)}: not a training example.")
    return {"contents": {"kind": "markdown", "value": "\n\n---\n\n".join(parts)}, "range": hover_range}


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: TunelineServer, params: types.HoverParams) -> dict[str, Any] | None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return None
        return await ls.scheduler.read(doc, hover_at, params.position.line, params.position.character)
