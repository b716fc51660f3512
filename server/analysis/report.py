"""Checking a whole file: read bytes, decode line by line, analyse, and hand back findings and numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .engine import Dataset, Engine, Summary
from .lines import decode_bytes
from .parallel import analyze_many
from .types import Finding, Severity


@dataclass(slots=True)
class FileReport:
    path: str
    findings: list[Finding]
    summary: Summary
    dataset: Dataset

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    def refresh(self) -> None:
        """Re-collect findings after external ones (near duplicates, overlap) were added to the dataset."""
        self.findings = self.dataset.findings()


def check_bytes(data: bytes, engine: Engine, path: str = "<stdin>", *, jobs: int | None = None) -> FileReport:
    decoded = decode_bytes(data)
    results = analyze_many(engine, decoded.lines, jobs=jobs)
    dataset = Dataset(engine)
    dataset.splice(0, 0, decoded.lines, results)
    findings = dataset.findings()
    if decoded.findings:
        extra = [f for f in decoded.findings if f.code in engine.enabled]
        findings = sorted(
            [
                *findings,
                *(Finding(f.code, f.message, f.line, f.span, f.fix, f.related, engine.severity(f)) for f in extra),
            ],
            key=lambda f: (-1 if f.line is None else f.line, f.span.start if f.span else -1, f.code),
        )
    return FileReport(path, findings, dataset.summary(), dataset)


def check_path(path: Path, engine: Engine, *, jobs: int | None = None) -> FileReport:
    return check_bytes(path.read_bytes(), engine, str(path), jobs=jobs)
