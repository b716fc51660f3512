"""Analysis on several processes gives each caller its own lines' results, and restores the switch interval.

Why: forked workers take their chunks by bounds from lines they inherit (#14); two analyses running at once (the
library allows it: `check_path` from two threads; with threads the workers come from a forkserver) must never read
each other's lines. The GIL switch interval is lowered process-wide while workers run and must come back to what it
was, however the callers overlap.
"""

from __future__ import annotations

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
    """A lone thread forks (the workers inherit the lines); with another thread (`check --watch`'s watcher, a library
    caller's) a forkserver starts them: a fork would copy locks that thread may hold."""
    code = (
        "import threading\n"
        "from tuneline.analysis.parallel import _default_context\n"
        "print(_default_context().get_start_method())\n"
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait).start()\n"
        "print(_default_context().get_start_method())\n"
        "stop.set()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["fork", "forkserver"]
