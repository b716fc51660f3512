"""Checking a whole file: read it a block at a time, decode line by line, analyse, and hand back findings and
numbers.

Two kinds of line get a result that is not the engine's: a line that is not valid UTF-8 (TL004 at the first bad
byte, on top of what its U+FFFD-decoded text shows) and a line over the per-line size cap (TL007, not parsed).
A last line that is the only invalid one and has no line break gets TL001 with a note that the file looks cut off.
Their findings live in the line's result inside the `Dataset`, so every later pass that re-collects findings
(near duplicates, train/validation overlap) keeps them.
"""

from __future__ import annotations

import hashlib
import io
from array import array
from bisect import bisect_left
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from .engine import Dataset, Engine, Summary
from .lines import decode_line, iter_line_runs
from .parallel import analyze_many
from .types import Finding, LineResult, Severity, Span

MAX_LINE_BYTES = 64 * 1024 * 1024  # longer lines are counted, not parsed: parsing costs several times their size


@dataclass(slots=True)
class FileReport:
    path: str
    findings: list[Finding]
    summary: Summary
    dataset: Dataset
    line_ends: array | None = None  # byte offset just past each line's ending, when the caller asked for them

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    def refresh(self) -> None:
        """Re-collect findings after external ones (near duplicates, overlap) were added to the dataset."""
        self.findings = self.dataset.findings()


@dataclass(slots=True)
class _ReadLines:
    texts: list[str]
    bad_bytes: dict[int, tuple[Finding, bytes]]  # line -> (TL004 at the first bad byte, digest of its bytes)
    oversized: dict[int, int]  # line -> its length in bytes
    ends: array | None
    sizes: array  # each line's length in characters, taken while it is fresh in the cache (for chunking)
    unterminated: bool = False  # the last line has no line break after it


def _read(stream: BinaryIO, max_line_bytes: int, keep_ends: bool) -> _ReadLines:
    texts: list[str] = []
    bad: dict[int, tuple[Finding, bytes]] = {}
    oversized: dict[int, int] = {}
    ends = array("Q") if keep_ends else None
    sizes = array("q")
    offset = 0
    ending = b"\n"

    def one(raw: bytes | None, size: int) -> None:
        if raw is None:
            oversized[len(texts)] = size
            texts.append("")
            sizes.append(0)
        else:
            text, finding = decode_line(raw)
            if finding is not None:
                bad[len(texts)] = (finding, b"raw\x00" + hashlib.blake2b(raw, digest_size=16).digest())
            texts.append(text)
            sizes.append(len(text))

    for item in iter_line_runs(stream, max_line_bytes):
        if isinstance(item, bytes):  # whole lines, each ending with b"\n"
            raws: list[bytes] | None = None  # the run's lines as bytes, split only when needed
            try:
                run = item.decode("utf-8").split("\n")
            except UnicodeDecodeError:  # a bad byte somewhere: line by line, for its TL004
                raws = item.split(b"\n")[:-1]
                for line in raws:
                    one(line, len(line))
            else:
                del run[-1]
                texts += run
                # Measured now, while the run's strings are in the cache: a pass over a 100k-line file's strings
                # later (they lie far apart in memory) cost ~20 ms of the serial start each time.
                sizes.extend(map(len, run))
            if ends is not None:
                for line in item.split(b"\n")[:-1] if raws is None else raws:
                    offset += len(line) + 1
                    ends.append(offset)
            ending = b"\n"
        else:
            raw, size, ending = item
            one(raw, size)
            if ends is not None:
                offset += size + len(ending)
                ends.append(offset)
    return _ReadLines(texts, bad, oversized, ends, sizes, bool(texts) and not ending)


def read_texts(stream: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES) -> list[str]:
    """A file's lines as `check` reads them: bad bytes as U+FFFD, a line over the cap as ""."""
    return _read(stream, max_line_bytes, keep_ends=False).texts


def _too_large(size: int, cap: int) -> LineResult:
    return LineResult(
        "invalid",
        (
            Finding(
                "TL007",
                f"This line is {size:,} bytes, over the limit of {cap:,} bytes per line: it was not parsed or checked.",
                span=Span(0, 0),
            ),
        ),
    )


def _cut_off(last: LineResult, lines: int, invalid_before: bool) -> LineResult:
    """TL001 on a last line without a line break, when every other line parses: say the file looks truncated."""
    if lines < 2 or last.kind != "invalid" or invalid_before:
        return last
    findings = tuple(
        replace(
            f,
            message=f"{f.message} It is the last line, it has no line break and every other line parses: the file "
            "looks truncated (cut off while writing or downloading).",
        )
        if f.code == "TL001"
        else f
        for f in last.findings
    )
    return replace(last, findings=findings)


def _with_bad_bytes(result: LineResult, finding: Finding, digest: bytes) -> LineResult:
    """A line with invalid UTF-8: its text (with U+FFFD) is checked as usual, but it equals only a line with the
    same bytes, and has no defined conversation to conflict with another's."""
    return replace(
        result,
        findings=(finding, *result.findings),
        dup_key=digest if result.dup_key is not None else None,
        prompt_key=None,
        answer_key=None,
    )


def check_stream(
    stream: BinaryIO,
    engine: Engine,
    path: str = "<stdin>",
    *,
    jobs: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    line_ends: bool = False,
    adopt: bool = True,
) -> FileReport:
    """Check everything `stream` holds. Memory grows with the lines' text, never with a single line's length
    beyond `max_line_bytes`; `line_ends` keeps each line's end offset (8 bytes a line) for writers. `adopt`: the
    engine's cache keeps what worker processes found (`analyze_many`), for a caller that checks the lines again."""
    read = _read(stream, max_line_bytes, line_ends)
    texts, total = read.texts, len(read.texts)
    dataset = Dataset(engine)
    invalid = False  # a line before this chunk did not parse (for `_cut_off`)

    # Lines with fix-ups, in order: each chunk takes its own with a bisect (a file can have a bad line on every row).
    bad_lines, oversized_lines = sorted(read.bad_bytes), sorted(read.oversized)

    def settle(start: int, results: list[LineResult]) -> None:
        # Each run of lines joins the file as soon as it is analysed, so the file-level rules take them in while
        # the workers still analyse the rest, instead of in one pass at the end.
        nonlocal invalid
        end = start + len(results)
        for number in bad_lines[bisect_left(bad_lines, start) : bisect_left(bad_lines, end)]:
            finding, digest = read.bad_bytes[number]
            results[number - start] = _with_bad_bytes(results[number - start], finding, digest)
        for number in oversized_lines[bisect_left(oversized_lines, start) : bisect_left(oversized_lines, end)]:
            results[number - start] = _too_large(read.oversized[number], max_line_bytes)
        if read.unterminated:
            if end == total:
                before = invalid or any(r.kind == "invalid" for r in results[:-1])
                results[-1] = _cut_off(results[-1], total, before)
            else:
                invalid = invalid or any(r.kind == "invalid" for r in results)
        dataset.splice(start, start, texts[start:end], results)

    analyze_many(engine, texts, jobs=jobs, on_chunk=settle, sizes=read.sizes, adopt=adopt)
    return FileReport(path, dataset.findings(), dataset.summary(), dataset, read.ends)


def check_bytes(
    data: bytes, engine: Engine, path: str = "<stdin>", *, jobs: int | None = None, max_line_bytes: int = MAX_LINE_BYTES
) -> FileReport:
    return check_stream(io.BytesIO(data), engine, path, jobs=jobs, max_line_bytes=max_line_bytes)


def check_path(path: Path, engine: Engine, *, jobs: int | None = None) -> FileReport:
    with Path(path).open("rb") as fh:
        return check_stream(fh, engine, str(path), jobs=jobs)
