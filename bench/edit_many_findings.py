"""An editor's edit when a problem is on many lines, against the same edits on the clean file (the floor).

What the language server's analysis job does after a one-line edit — splice the line, build the report with the
editor's per-code bound, encode the diagnostics — measured in-process on 100k-line files: the bench's clean chat
file, the same file with a space after every answer (TL503 on every line: ~100,000 findings), and files where a
file-level rule has thousands of findings: 40% of the lines without the system prompt (TL305), one-off prompts on
40% (TL305), per-example context after one instruction (TL305's family), a copy of the line above on every third
line (TL301), another answer to the line above's conversation on every fourth (TL308), an alpaca line among every
five (TL101), JSON answers with one in twelve in prose (TL507), placeholders on every third answer (TL501) and
answers without closing punctuation on every fifth (TL502). Without the bound a problem on every line cost 0.9–1.9
s an edit; before file-level rules bounded themselves the others cost 40 ms (TL502) to 2.3 s (TL305) an edit.

    python bench/edit_many_findings.py [100000] [--edits 150] [--only NAME ...]
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


def _varied(lines: list[str], change) -> list[str]:
    """Each line's example passed through `change(i, example, previous line's example)`."""
    out, before = [], None
    for i, line in enumerate(lines):
        example = json.loads(line)
        out.append(json.dumps(change(i, example, before), ensure_ascii=False))
        before = json.loads(line)
    return out


def _no_system(i: int, ex: dict, before: dict | None) -> dict:
    if i % 5 < 2:
        ex["messages"] = [m for m in ex["messages"] if m["role"] != "system"]
    return ex


def _one_off_system(i: int, ex: dict, before: dict | None) -> dict:
    if i % 5 < 2:
        ex["messages"][0]["content"] = f"You are helper number {i}."
    return ex


def _context(i: int, ex: dict, before: dict | None) -> dict:
    ex["messages"][0]["content"] += f" The customer is #{i} from region {i % 97}."
    return ex


def _copy(i: int, ex: dict, before: dict | None) -> dict:
    return before if i % 3 == 2 and before else ex


def _conflict(i: int, ex: dict, before: dict | None) -> dict:
    if i % 4 == 3 and before:
        before["messages"][-1]["content"] = f"A different answer, number {i}."
        return before
    return ex


def _alpaca(i: int, ex: dict, before: dict | None) -> dict:
    if i % 5 == 1:
        m = ex["messages"]
        return {"instruction": m[1]["content"], "input": "", "output": m[-1]["content"]}
    return ex


def _json_answers(i: int, ex: dict, before: dict | None) -> dict:
    if i % 12:
        ex["messages"][-1]["content"] = json.dumps({"answer": ex["messages"][-1]["content"][:80], "id": i})
    return ex


def _placeholder(i: int, ex: dict, before: dict | None) -> dict:
    if i % 3 == 0:
        ex["messages"][-1]["content"] += " Call [Insert phone number] today"
    return ex


def _unclosed(i: int, ex: dict, before: dict | None) -> dict:
    if i % 5 == 0:
        ex["messages"][-1]["content"] = (ex["messages"][-1]["content"] + " and also the rest of it").rstrip(".!?")
    return ex


# name -> how each line changes (None: a space after every answer)
FILES = {
    "a problem on every line": None,
    "40% without system prompt": _no_system,
    "one-off prompts on 40%": _one_off_system,
    "per-example context": _context,
    "a copy every 3rd line": _copy,
    "a conflict every 4th line": _conflict,
    "alpaca line in every 5": _alpaca,
    "JSON answers, 1/12 prose": _json_answers,
    "placeholder every 3rd": _placeholder,
    "unclosed every 5th": _unclosed,
}


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
    parser.add_argument("--only", nargs="*", choices=sorted(FILES), help="these files only (the floor always)")
    args = parser.parse_args()
    clean = dataset(args.lines).read_text(encoding="utf-8").splitlines()
    floor, floor_size = edit_times(clean, args.edits)
    print(
        f"{args.lines:,} lines, {args.edits} edits (a third each inserted, deleted, changed); per-code bound {EDITOR_PER_CODE:,}"
    )
    print(f"{'file':<28} {'report':>7} {'p50 ms':>7} {'p95 ms':>7} {'p95 ratio':>10}")
    print(f"{'clean (floor)':<28} {floor_size:>7,} {pct(floor, 0.5):>7.2f} {pct(floor, 0.95):>7.2f} {1:>9.1f}x")
    for name, change in FILES.items():
        if args.only and name not in args.only:
            continue
        lines = [spaced(line) for line in clean] if change is None else _varied(clean, change)
        times, size = edit_times(lines, args.edits)
        print(
            f"{name:<28} {size:>7,} {pct(times, 0.5):>7.2f} {pct(times, 0.95):>7.2f} "
            f"{pct(times, 0.95) / pct(floor, 0.95):>9.1f}x",
            flush=True,
        )
        if change is None and args.unbounded_edits:
            unbounded, unbounded_size = edit_times(lines, args.unbounded_edits, per_code=None)
            print(
                f"{'... without the bound':<28} {unbounded_size:>7,} {pct(unbounded, 0.5):>7.2f} "
                f"{pct(unbounded, 0.95):>7.2f}  ({args.unbounded_edits} edits)",
                flush=True,
            )


if __name__ == "__main__":
    main()
