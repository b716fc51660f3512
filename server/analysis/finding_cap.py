"""The editor's bound on a report: the first N findings of each code, and one note per code saying how many more.

A problem on every line of a 100k-line file (a trailing space on every answer) is 100k diagnostics; building,
encoding, sending and showing them all again after every keystroke took the language server 0.9–1.9 s an edit and
sent ~30 MB to the editor. Past the first N of a code the editor learns nothing new; the note says how many there are
and where to see them all (`tuneline check` reports every one). `Dataset.findings(per_code=...)` applies it.
"""

from __future__ import annotations

from collections import Counter

from .types import Finding, Severity


def column(f: Finding) -> int:
    """Where a finding starts in its line (-1: the whole line or file)."""
    return f.span.start if f.span else -1


def position(f: Finding) -> tuple[int, int, str]:
    """The order of a report: file-level findings first, then by line, column and code."""
    return (-1 if f.line is None else f.line, column(f), f.code)


def cap_per_code(found: list[Finding], per_code: int, dropped: Counter[str]) -> list[Finding]:
    """`found` (in report order) with at most `per_code` findings of each code, and a note for each code that had
    more. `dropped` holds what was left out before (the lines scanned past the bound) and receives the rest."""
    shown: Counter[str] = Counter()
    out = []
    for f in found:
        shown[f.code] += 1
        if shown[f.code] > per_code:
            dropped[f.code] += 1
        else:
            out.append(f)
    if not dropped:
        return out
    out.extend(_note(code, per_code, per_code + n) for code, n in sorted(dropped.items()))
    out.sort(key=position)
    return out


def _note(code: str, shown: int, total: int) -> Finding:
    return Finding(
        code,
        f"{code} is reported {total:,} times in this file; the editor shows the first {shown:,}. "
        "`tuneline check` lists them all.",
        severity=Severity.INFO,
    )
