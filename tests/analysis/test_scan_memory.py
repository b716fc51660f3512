"""The span scanner on huge lines: constant memory per string, the same spans as the regex it replaced, and the
CLI still points at the right column of a multi-megabyte line."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tuneline.analysis.scan import ScanError, scan, string_end

REPO = Path(__file__).resolve().parents[2]
# Runs a command and prints its exit code and peak RSS (KiB) before its output. Linux counts the memory of the
# process that spawned a child into the child's peak, so the command runs under this small interpreter rather
# than straight from pytest, whose own size depends on the tests that ran before.
_PEAK_RSS = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
out = p.stdout.read()
_, status, usage = os.wait4(p.pid, 0)
sys.stdout.buffer.write(b"%d %d\\n" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss) + out)
"""
# The regex the scanner used to match strings with: the reference for where a string ends.
_OLD_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def test_string_end_agrees_with_the_old_regex_on_random_escapes():
    rng = random.Random(401)
    alphabet = ['"', "\\", "a", "n", "u", " ", "é", "\n"]
    for _ in range(5000):
        text = '"' + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        m = _OLD_STRING.match(text)
        if m is None:
            with pytest.raises(ScanError):
                string_end(text, 0)
        else:
            assert string_end(text, 0) == m.end(), text


def test_spans_of_keys_and_values_with_escapes_are_unchanged():
    line = json.dumps({'a\\"b': ["x\\", {'q"': '\\\\"'}], "k": '\u2028"end'}, ensure_ascii=False)
    root = scan(line)
    key_span, node = root.keys['a\\"b']
    assert line[key_span.start : key_span.end] == json.dumps('a\\"b')
    inner = node.items[1].keys['q"'][1]
    assert json.loads(line[inner.start : inner.end]) == '\\\\"'
    assert json.loads(line[root.keys["k"][1].start : root.keys["k"][1].end]) == '\u2028"end'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("lorem ipsum dolor sit amet " * 185_186, id="5MB-prose"),
        pytest.param('print("hi")\n    x = f(y)\n' * 40_000, id="1MB-code-with-escapes"),
    ],
)
def test_scanning_a_huge_string_allocates_almost_nothing(body):
    line = json.dumps({"messages": [{"role": "user", "content": body}, {"role": "assistant", "content": "ok"}]})
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        root = scan(line)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert root.end == len(line)
    # The regex it replaced held ~115 bytes per character here (575 MB for 5 MB of prose).
    assert peak < 1_000_000, f"{peak:,} bytes"


def test_cli_places_a_finding_after_a_5mb_string_with_bounded_memory(tmp_path):
    body = "the quick brown fox jumps over a lazy dog " * 120_000  # ~5 MB
    bad = json.dumps({"messages": [{"role": "user", "content": body}, {"role": "assitant", "content": "ok"}]})
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    path = tmp_path / "big.jsonl"
    path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    cli = [sys.executable, "-m", "tuneline", "check", "--format", "json", "--jobs", "1", "--select", "TL105", str(path)]
    p = subprocess.run([sys.executable, "-c", _PEAK_RSS, *cli], capture_output=True, cwd=REPO, timeout=120)
    first, out = p.stdout.split(b"\n", 1)
    code, peak_kb = map(int, first.split())
    assert code == 1, p.stderr.decode()
    (diag,) = json.loads(out)["files"][0]["diagnostics"]
    start = bad.index('"assitant"')
    assert (diag["code"], diag["line"], diag["column"], diag["end_column"]) == ("TL105", 2, start + 1, start + 11)
    # The old string regex took this child to ~690 MB; now it is the interpreter, tiktoken and the line itself.
    assert peak_kb < 400 * 1024, f"peak RSS {peak_kb // 1024} MB"
