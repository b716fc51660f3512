"""The block reader's runs of whole lines (issue #14) must split and decode exactly like the line-at-a-time reader:
same lines, same endings, same TL004 and TL007, whatever the block size, the cap, or where a block boundary falls
(inside a CRLF, inside a multi-byte character, inside an over-long line)."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys

import pytest

from tuneline.analysis import report
from tuneline.analysis.lines import RawLine, iter_line_runs, iter_raw_lines

SAMPLES = [
    b"",
    b"\n",
    b"\n\n\n",
    b"a\nbb\nccc\n",
    b"a\nbb\nccc",  # no break at the end
    b"one\r\ntwo\rthree\nfour\r\n",  # every ending mixed
    b"x\r",  # a lone CR last
    "caf\u00e9\n\u00e9t\u00e9 \U0001f600\n\u4e2d\u6587\n".encode(),  # multi-byte characters a block may cut
    b"ok\n\xff bad\nok again\n\xc3\x28\n",  # invalid UTF-8 among good lines
    b"short\n" + b"L" * 50 + b"\nshort again\n" + b"M" * 9 + b"\n",  # lines over a small cap
    b'{"messages": []}\n' * 7 + b"\xe2\x82\n" + b'{"a": 1}\n' * 3,  # a cut-off character mid-run
]


def _expanded(items) -> list[RawLine]:
    """Runs back to one RawLine each, so both readers can be compared line for line."""
    out: list[RawLine] = []
    for item in items:
        if isinstance(item, bytes):
            assert item.endswith(b"\n") and b"\r" not in item
            out += [RawLine(raw, len(raw), b"\n") for raw in item.split(b"\n")[:-1]]
        else:
            out.append(item)
    return out


@pytest.mark.parametrize("data", SAMPLES)
def test_runs_hold_the_same_lines_as_the_line_reader_for_every_block_size_and_cap(data):
    for block_size, cap in itertools.product((1, 2, 3, 5, 8, 13, 64, 1 << 20), (4, 10, 40, 1 << 20)):
        expected = list(iter_raw_lines(io.BytesIO(data), cap, block_size))
        got = list(iter_line_runs(io.BytesIO(data), cap, block_size))
        assert _expanded(got) == expected, (block_size, cap)
        if block_size >= 64 and cap >= 1 << 20 and b"\r" not in data and data.count(b"\n") > 2:
            assert any(isinstance(item, bytes) for item in got)  # the fast path was taken


def _read_line_by_line(data: bytes, cap: int) -> report._ReadLines:
    """What `report._read` gave before runs: one `decode_line` per line."""
    texts, bad, oversized, ends, offset, ending = [], {}, {}, [], 0, b"\n"
    for number, (raw, size, ending) in enumerate(iter_raw_lines(io.BytesIO(data), cap)):
        if raw is None:
            oversized[number] = size
            texts.append("")
        else:
            text, finding = report.decode_line(raw)
            if finding is not None:
                bad[number] = finding
            texts.append(text)
        offset += size + len(ending)
        ends.append(offset)
    return texts, bad, oversized, ends, bool(texts) and not ending


@pytest.mark.parametrize("data", SAMPLES)
@pytest.mark.parametrize("cap", [10, 1 << 20])
def test_the_file_reader_gives_the_same_texts_findings_and_ends(data, cap):
    read = report._read(io.BytesIO(data), cap, keep_ends=True)
    texts, bad, oversized, ends, unterminated = _read_line_by_line(data, cap)
    assert read.texts == texts
    assert {n: f for n, (f, _) in read.bad_bytes.items()} == bad
    assert read.oversized == oversized
    assert list(read.ends) == ends
    assert read.unterminated == unterminated


def test_check_reports_a_bad_byte_deep_inside_a_run(tmp_path):
    """Through the front door: a 3 MB file whose bad byte sits inside a block the reader takes as a run (and whose
    lines cross block boundaries) gets TL004 on that line and no other."""
    good = json.dumps({"messages": [{"role": "user", "content": "hi " * 40}, {"role": "assistant", "content": "ok."}]})
    lines = [good.encode()] * 15_000
    lines[7_000] = good.encode().replace(b"hi ", b"h\xffi ", 1)
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert path.stat().st_size > 3_000_000  # three blocks of the reader
    out = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    report_ = json.loads(out.stdout)["files"][0]
    assert report_["examples"] == 15_000
    assert [d["line"] for d in report_["diagnostics"] if d["code"] == "TL004"] == [7_001]
