"""An editor's edit when a problem is on every line, against the same edits on the clean file (the floor).

What the language server's analysis job does after a one-line edit — splice the line, build the report with the
editor's per-code bound, encode the diagnostics — measured in-process on two 100k-line files: the bench's clean
chat file, and the same file with a space after every answer (TL503 on every line: ~100,000 findings). Without the
bound the second cost 0.9–1.9 s an edit; the ratio shows what a problem on every line still costs.

    python bench/edit_many_findings.py [100000] [--edits 150]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import dataset

from tuneline.analysis import Dataset, Engine
from tuneline.lsp.convert import DiagnosticCache, EncodedDiagnostics
from tuneline.lsp.scheduler import EDITOR_PER_CODE

URI = "file:///bench/data.jsonl"


def spaced(line: str) -> str:
    """The line with a space after its answer."""
    example = json.loads(line)
    example["messages"][-1]["content"] += " "
    return json.dumps(example, ensure_ascii=False)


def edit_times(lines: list[str], edits: int, per_code: int | None = EDITOR_PER_CODE) -> tuple[list[float], int]:
    """Milliseconds of each edit's analysis (inserted, deleted and changed lines alike), and the report's size."""
    engine = Engine()
    dataset = Dataset(engine, lines)
    gc.freeze()
    cache = DiagnosticCache()

    def report() -> int:
        findings = dataset.findings(per_code=per_code)
        encoded = EncodedDiagnostics([cache.encoded(URI, f, dataset.texts) for f in findings])
        encoded.json()
        return len(findings)

    size = report()
    rng = random.Random(3)
    times = []
    for k in range(edits):
        line = rng.randrange(10, len(dataset) - 10)
        kind = k % 3
        started = time.perf_counter()
        if kind == 0:
            dataset.splice(line, line, [dataset.text(line + 1).replace('"#', '"#9', 1)])
        elif kind == 1:
            dataset.splice(line, line + 1, [])
        else:
            text = dataset.text(line)
            dataset.splice(line, line + 1, [text.replace('"#', '"# ', 1)])
        report()
        times.append((time.perf_counter() - started) * 1000)
    gc.unfreeze()
    return times, size


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lines", nargs="?", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=150)
    parser.add_argument("--unbounded-edits", type=int, default=10, help="edits without the bound (each ~1 s)")
    args = parser.parse_args()
    clean = dataset(args.lines).read_text(encoding="utf-8").splitlines()
    messy = [spaced(line) for line in clean]
    floor, floor_size = edit_times(clean, args.edits)
    many, many_size = edit_times(messy, args.edits)
    unbounded, unbounded_size = edit_times(messy, args.unbounded_edits, per_code=None)
    print(
        f"{args.lines:,} lines, {args.edits} edits (a third each inserted, deleted, changed); per-code bound {EDITOR_PER_CODE:,}"
    )
    print(f"{'file':<28} {'report':>7} {'p50 ms':>7} {'p95 ms':>7}")
    print(f"{'clean (floor)':<28} {floor_size:>7,} {pct(floor, 0.5):>7.2f} {pct(floor, 0.95):>7.2f}")
    print(f"{'a problem on every line':<28} {many_size:>7,} {pct(many, 0.5):>7.2f} {pct(many, 0.95):>7.2f}")
    print(
        f"{'... without the bound':<28} {unbounded_size:>7,} {pct(unbounded, 0.5):>7.2f} {pct(unbounded, 0.95):>7.2f}"
        f"  ({args.unbounded_edits} edits)"
    )
    print(f"ratio p95: {pct(many, 0.95) / pct(floor, 0.95):.1f}x the clean file's edit")


if __name__ == "__main__":
    main()
