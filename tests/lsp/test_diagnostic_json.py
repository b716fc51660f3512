"""Each diagnostic's cached JSON text says exactly what its dict says, and stays true as lines change.

Why: the server publishes `"[" + ",".join(texts) + "]"` instead of encoding every diagnostic after every edit (#14);
a stale range or related location would point the editor at the wrong place.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneline.analysis import Dataset, Engine
from tuneline.lsp.convert import DiagnosticCache, EncodedDiagnostics, range_dict, whole_line_range

URI = "file:///w/data.jsonl"


def _line(user: str, answer: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]})


def _related(uri: str, finding, texts: list[str]) -> list[dict]:
    """The related locations as dicts: this file's whole line, another file's line without reading it."""
    return [
        {"location": {"uri": uri, "range": whole_line_range(r.line, texts[r.line])}, "message": r.message}
        if r.path is None
        else {
            "location": {"uri": Path(r.path).resolve().as_uri(), "range": range_dict(r.line, 0, r.line + 1, 0)},
            "message": r.message,
        }
        for r in finding.related
        if r.path is not None or 0 <= r.line < len(texts)
    ]


def _built(finding, texts: list[str]) -> dict:
    """The diagnostic as a dict, assembled from its parts without any cached text: the oracle."""
    at = finding.line if finding.line is not None else 0
    text = texts[finding.line] if finding.line is not None else ""
    severity = int(finding.severity) if finding.severity is not None else 2
    template, start, end = DiagnosticCache._build(finding, text, severity)
    out = {**template, "range": range_dict(at, start, at, end)}
    if finding.related:
        out["relatedInformation"] = _related(URI, finding, texts)
    return out


def _published(cache: DiagnosticCache, dataset: Dataset) -> tuple[list[dict], str]:
    """The diagnostics as the oracle builds them, checked against the cached texts, and the published report."""
    findings = dataset.findings()
    report = EncodedDiagnostics([cache.encoded(URI, f, dataset.texts) for f in findings])
    built = [_built(f, dataset.texts) for f in findings]
    assert list(report) == built and report[1:3] == built[1:3]
    return built, report.json()


def test_json_text_equals_the_dicts_through_edits() -> None:
    lines = [
        _line("Hi \ud800 there", "Hello — “quoted” 😀"),  # a lone surrogate, typography, an emoji
        _line("Same?", "Same."),
        "{broken",
        _line("Same?", "Same."),  # a duplicate: related information points at line 1
        '{"messages": [{"role": "assitant", "content": "x"}]}',
    ]
    engine = Engine()
    dataset = Dataset(engine)
    dataset.splice(0, 0, lines, [engine.analyze_line(t) for t in lines])
    cache = DiagnosticCache()
    dicts, text = _published(cache, dataset)
    assert json.loads(text) == dicts and text.isascii()
    assert any("relatedInformation" in d for d in dicts)
    again, text_again = _published(cache, dataset)
    assert text_again == text and again == dicts

    # the duplicate's first copy grows: its related range must grow with it
    longer = _line("Same?", "Same.") + "   "
    dataset.splice(1, 2, [longer])
    dicts, text = _published(cache, dataset)
    assert json.loads(text) == dicts
    ends = [r["location"]["range"]["end"]["character"] for d in dicts for r in d.get("relatedInformation", [])]
    assert len(longer) in ends

    # a line inserted above moves every diagnostic below it
    dataset.splice(0, 0, [_line("New", "Line")])
    moved, text = _published(cache, dataset)
    assert json.loads(text) == moved
    assert sorted(d["range"]["start"]["line"] for d in moved if d["code"] == "TL001") == [3]


def test_related_locations_are_written_as_encode_json_writes_them() -> None:
    """The related locations are formatted from cached pieces: byte for byte what encoding their dicts gives, for
    this file's lines (non-ASCII ones too, measured in UTF-16), another file's, and lines that moved."""
    from tuneline.analysis import Finding, Related, Span
    from tuneline.lsp.convert import encode_json

    texts = [_line("a", "b"), _line("é 😀 \ud800", "x"), _line("c", "d")]
    cache = DiagnosticCache()
    for line in (0, 1, 2, 7):
        finding = Finding(
            "TL302",
            "near",
            2,
            Span(0, 1),
            related=(Related(line, 'first "copy" é'), Related(4, "train", None, "/w/train.jsonl")),
        )
        assert cache._related_json(URI, finding, texts) == encode_json(_related(URI, finding, texts))


def test_two_documents_with_the_same_lines_point_at_themselves() -> None:
    """The server keeps one cache for every open document: a duplicate's related location must name its own file,
    not the first file that had the same line and finding."""
    from tuneline.analysis import Finding, Related, Span

    texts = [_line("Same?", "Same."), _line("Same?", "Same.")]
    finding = Finding("TL301", "duplicate", 1, Span(0, 1), related=(Related(0, "first copy"),))
    cache = DiagnosticCache()
    for uri in ("file:///w/a.jsonl", "file:///w/copy.jsonl", "file:///w/a.jsonl"):
        (related,) = json.loads(cache.encoded(uri, finding, texts))["relatedInformation"]
        assert related["location"]["uri"] == uri


def test_a_finding_object_given_again_follows_the_texts() -> None:
    """The cache knows a finding object it has encoded before (an editor's dataset hands out the same object for a
    line an edit did not touch): what it gives back must still follow its line's text and, for a finding with a
    related location, that line's text and the document."""
    from tuneline.analysis import Finding, Related, Span

    duplicate = Finding("TL301", "duplicate", 1, Span(0, 1), related=(Related(0, "first copy"),))
    plain = Finding("TL503", "trailing", 1, Span(0, 3))
    cache = DiagnosticCache()
    for texts in (
        [_line("a", "b"), _line("a", "b")],
        [_line("a", "b"), _line("é 😀", "b")],  # its own line changed (columns in UTF-16, the line's hash)
        [_line("a longer first line", "b"), _line("é 😀", "b")],  # the related line changed
        [_line("a longer first line", "b"), _line("é 😀", "b")],  # equal texts, other objects
    ):
        for finding in (duplicate, plain):
            assert json.loads(cache.encoded(URI, finding, texts)) == _built(finding, texts)
    elsewhere = "file:///w/other.jsonl"
    (related,) = json.loads(cache.encoded(elsewhere, duplicate, texts))["relatedInformation"]
    assert related["location"]["uri"] == elsewhere
