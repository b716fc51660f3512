"""Analysis on several processes gives each caller its own lines' results, and restores the switch interval.

Why: forked workers take their chunks by bounds from lines they inherit (#14); two analyses running at once (the
library allows it: `check_path` from two threads; with threads the workers come from a forkserver) must never read
each other's lines. The GIL switch interval is lowered process-wide while workers run and must come back to what it
was, however the callers overlap.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tuneline.analysis import parallel, thread_switches
from tuneline.analysis.config import Settings
from tuneline.analysis.engine import Engine


def _summary(results) -> list[tuple]:
    return [(r.kind, r.tokens, r.dup_key, tuple(f.code for f in r.findings)) for r in results]


def test_two_analyses_at_once_get_their_own_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(parallel, "CHUNK_LINES", 50)

    def chat(user: str, answer: str) -> str:
        return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]})

    first = [chat("alpha " * i, "Yes.") for i in range(1, 900)]
    second = [chat("beta gamma " * i, "No.") for i in range(1, 300)]
    alone = Engine(Settings())
    expected = [_summary([alone.analyze_line(t) for t in x]) for x in (first, second)]

    def analyse(lines: list[str]) -> list[tuple]:
        return _summary(parallel.analyze_many(Engine(Settings()), lines, jobs=2))

    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(analyse, [first, second]))
        assert got == expected


def test_the_switch_interval_comes_back_however_callers_overlap() -> None:
    before = sys.getswitchinterval()
    outer = thread_switches.prompt_thread_switches()
    inner = thread_switches.prompt_thread_switches()
    outer.__enter__()
    assert sys.getswitchinterval() == min(before, thread_switches.INTERVAL)
    inner.__enter__()
    outer.__exit__(None, None, None)  # the first one out is not the last: the short interval stays
    assert sys.getswitchinterval() == min(before, thread_switches.INTERVAL)
    inner.__exit__(None, None, None)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), thread_switches.prompt_thread_switches():
        raise RuntimeError("an analysis that fails")
    assert sys.getswitchinterval() == before


@pytest.mark.skipif(sys.platform != "linux", reason="fork is chosen on Linux only")
def test_workers_are_forked_only_from_a_process_without_threads() -> None:
    """A lone thread forks (the workers inherit the lines: `fork_pool`); with another thread (`check --watch`'s
    watcher, a library caller's) a forkserver starts the pool's workers: a fork would copy locks that thread may hold.
    `method` is `analyze_many`'s choice when no context is given."""
    code = (
        "import threading\n"
        "from tuneline.analysis.parallel import _default_context, _may_fork\n"
        "method = lambda: 'fork' if _may_fork() else _default_context().get_start_method()\n"
        "print(method())\n"
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait).start()\n"
        "print(method())\n"
        "stop.set()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["fork", "forkserver"]


def _big_file(path, *, oversized: bool, early_invalid: bool) -> None:
    """Over the workers' threshold (4 MB), with a line of invalid UTF-8 far into the file (a later chunk, usually a
    worker's), maybe an oversized line there too or a broken line at the start, and a torn last line without a line
    break."""
    line = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Tell me about tides. " * 20},
                {"role": "assistant", "content": "Yes."},
            ]
        }
    ).encode()
    rows = [line.replace(b"tides", b"tide%d" % i) for i in range(9_000)]
    rows[6_500] = rows[6_500].replace(b"Yes.", b"Y\xffes.")  # invalid UTF-8
    if oversized:
        rows[7_200] = b'{"text": "' + b"x" * 3_000 + b'"}'  # over the cap set below
    if early_invalid:
        rows[10] = b"{not json"
    path.write_bytes(b"\n".join(rows) + b"\n" + line[: len(line) // 2])


@pytest.mark.parametrize(("oversized", "early_invalid"), [(False, False), (True, False), (False, True)])
def test_check_takes_chunks_in_as_they_come_with_every_fix_up(tmp_path, oversized: bool, early_invalid: bool) -> None:
    """`check` hands each analysed run of lines to the file-level rules while the workers go on: the line fix-ups
    (invalid bytes, oversized lines, a torn last line) must land on the same lines as in one process, and the torn
    last line is called a cut-off file only when no earlier line (in any chunk) failed to parse or was too long."""
    path = tmp_path / "big.jsonl"
    _big_file(path, oversized=oversized, early_invalid=early_invalid)
    env = {**__import__("os").environ, "TUNELINE_MAX_LINE_BYTES": "2500"}

    def check(*jobs: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "tuneline", "check", "--format", "json", *jobs, str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        return json.loads(done.stdout)

    default, one = check("--jobs", "2"), check("--jobs", "1")  # two jobs even on a one-core runner
    assert default == one
    found = {(d["line"], d["code"]): d["message"] for d in default["files"][0]["diagnostics"]}
    assert (6_501, "TL004") in found
    assert ((7_201, "TL007") in found) is oversized
    assert ("looks truncated" in found[(9_001, "TL001")]) is not (oversized or early_invalid)


_FORKED = """
import json, os, signal, sys
from tuneline.analysis import parallel
from tuneline.analysis.config import Settings
from tuneline.analysis.engine import Engine

parallel.MIN_BYTES_FOR_WORKERS = 0
parallel.CHUNK_LINES = 40
assert parallel._may_fork()  # the claim-by-counter path: one thread, Linux
lines = [json.dumps({"messages": [{"role": "user", "content": "q " * i}, {"role": "assistant", "content": "a"}]})
         for i in range(1, 1201)]
expected = [(r.kind, r.tokens, r.dup_key) for r in (Engine(Settings()).analyze_line(t) for t in lines)]
parent = os.getpid()
analyze = Engine.analyze_lines
how = sys.argv[1]

here = []

def patched(self, chunk):
    if os.getpid() == parent:
        here.append(len(chunk))
    if os.getpid() != parent and how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)  # a worker the system kills (OOM) with its chunk claimed
    if os.getpid() != parent and how == "raises":
        raise RuntimeError("a rule's bug that only a worker meets")
    if how == "raises everywhere" and chunk == lines[400:440]:
        raise RuntimeError("a rule's bug")
    return analyze(self, chunk)

Engine.analyze_lines = patched
order = []
try:
    got = parallel.analyze_many(Engine(Settings()), lines, jobs=3, on_chunk=lambda start, r: order.append((start, len(r))))
except RuntimeError as exc:
    print("raised:", exc)
    sys.exit(0)
assert [(r.kind, r.tokens, r.dup_key) for r in got] == expected
assert [s for s, _ in order] == sorted(s for s, _ in order) and sum(n for _, n in order) == len(lines)
assert sum(here) == len(lines), here  # every worker failed at its first chunk: all of them were analysed here
print("complete")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="workers claim chunks where they are forked: Linux")
@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("killed", "complete"),  # their chunks are analysed here: no hang, no line missing
        ("raises", "complete"),  # a worker's failure alone costs time, not results
        ("raises everywhere", "raised: a rule's bug"),  # a real bug raises here, with its traceback
    ],
)
def test_forked_workers_that_die_or_raise_lose_no_line_and_never_hang(how: str, says: str) -> None:
    out = subprocess.run([sys.executable, "-c", _FORKED, how], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == says


def _chat_lines(n: int) -> list[str]:
    return [
        json.dumps(
            {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "Yes."}]}
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "pool"])
def test_a_batch_engine_leaves_out_the_editor_details_in_every_worker(
    monkeypatch: pytest.MonkeyPatch, forked: bool
) -> None:
    """`tuneline check` builds its engine without what only an editor shows (the outline's label, each message's
    tokens: ~2 µs a line and the bytes a worker pickles, #14). Its workers, forked or from a pool, must build theirs
    the same way, and nothing else in a result may change."""
    monkeypatch.setattr(parallel, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(parallel, "CHUNK_LINES", 40)
    lines = _chat_lines(400)
    context = None if forked else parallel._default_context()
    full = parallel.analyze_many(Engine(Settings()), lines, jobs=2, mp_context=context)
    bare = parallel.analyze_many(Engine(Settings(), details=False), lines, jobs=2, mp_context=context)
    assert all(r.label.startswith("user: Question") and len(r.messages) == 2 for r in full)
    assert all(r.label == "" and r.messages == () for r in bare)
    assert [dataclasses.replace(r, label="", messages=()) for r in full] == bare


def test_the_command_line_engine_has_no_editor_details() -> None:
    from tuneline.cli.common import build_engine

    engine = build_engine(Settings())
    assert engine.context.details is False
    line = _chat_lines(1)[0]
    result, editor = engine.analyze_line(line), Engine(Settings()).analyze_line(line)
    assert (result.label, result.messages) == ("", ())
    assert (editor.label, len(editor.messages)) == ("user: Question 0?", 2)
    assert dataclasses.replace(editor, label="", messages=()) == result


def _chunks_one_line_at_a_time(lines: list[str]) -> list[tuple[int, int, int]]:
    """The chunking rule written as a walk over the lines: what `chunks` computes with sums and bisection."""
    out, start, size = [], 0, 0
    for i, text in enumerate(lines):
        if i > start and (i - start >= parallel.CHUNK_LINES or size + len(text) > parallel.CHUNK_BYTES):
            out.append((start, i, size))
            start, size = i, 0
        size += len(text)
    if start < len(lines):
        out.append((start, len(lines), size))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_chunks_from_the_readers_sizes_are_the_walks_chunks(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Chunks come from the reader's line lengths (summed and bisected, #14: a walk over 100k freshly read strings
    cost ~50 ms of the serial start): the same runs as walking the lines, with lines longer than a chunk, empty
    lines and a file of one line. The forked workers' claims cut only the last chunks, into pieces that cover
    them exactly."""
    import random

    rnd = random.Random(seed)
    monkeypatch.setattr(parallel, "CHUNK_LINES", rnd.choice([1, 3, 40]))
    monkeypatch.setattr(parallel, "CHUNK_BYTES", rnd.choice([1, 50, 400]))
    lines = ["x" * rnd.choice([0, 1, 7, 60, 500]) for _ in range(rnd.choice([0, 1, 2, 300]))]
    want = _chunks_one_line_at_a_time(lines)
    ends = parallel.character_ends(lines, [len(t) for t in lines])
    assert list(parallel.chunks(lines)) == want == list(parallel.chunks(lines, ends))
    claims = parallel._claim_bounds(ends, 2)
    assert [b for s, e in claims for b in range(s, e)] == list(range(len(lines)))  # every line once, in order
    whole = [(s, e) for s, e, _ in want]
    if len(whole) > 4:
        assert claims[: len(whole) - 4] == whole[:-4]
        assert all(e - s <= -(-(whole[-1][1] - whole[-4][0]) // 4) for s, e in claims[len(whole) - 4 :])


@pytest.mark.parametrize("adopt", [True, False])
def test_the_engine_adopts_worker_results_only_when_asked(monkeypatch: pytest.MonkeyPatch, adopt: bool) -> None:
    """A one-shot `check` analyses each line once, so its engine's cache need not take the workers' results
    (hashing 50k strings this process never touched was ~1.5% of its time, #14); a watcher's does, and analyses
    none of those lines again."""
    monkeypatch.setattr(parallel, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(parallel, "CHUNK_LINES", 40)
    lines = _chat_lines(400)
    engine = Engine(Settings())
    results = parallel.analyze_many(engine, lines, jobs=2, adopt=adopt)
    cached = sum(1 for t in lines if t in engine._cache)
    if adopt:
        assert cached == len(lines)
    else:
        assert 0 < cached < len(lines)  # this process's own chunks only
    assert results == [engine.analyze_line(t) for t in lines]
