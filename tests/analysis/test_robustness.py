"""Any bytes in, findings out: no crash, no hang, positions inside the line."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from tuneline.analysis import Dataset, check_bytes

from .helpers import engine, ok_line


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data):
    report = check_bytes(data, engine(), jobs=1)
    lines = report.dataset.texts
    for f in report.findings:
        if f.line is not None:
            assert 0 <= f.line < max(1, len(lines))
            if f.span is not None and lines:
                assert 0 <= f.span.start <= f.span.end <= len(lines[f.line])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_random_text_lines_never_crash(text):
    ds = Dataset(engine(), [text, ok_line(1)])
    for f in ds.findings():
        if f.line is not None and f.span is not None:
            assert 0 <= f.span.start <= f.span.end <= len(ds.text(f.line))


def test_ten_megabyte_line():
    big = json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assitant", "content": "a " * 5_000_000}]}
    )
    t = time.perf_counter()
    ds = Dataset(engine(), [big])
    found = ds.findings()
    assert time.perf_counter() - t < 60
    role = next(f for f in found if f.code == "TL105")
    assert big[role.span.start : role.span.end] == '"assitant"'


def test_unterminated_ten_megabyte_line():
    ds = Dataset(engine(), ['{"text": "' + "x" * 10_000_000])
    assert [f.code for f in ds.findings() if f.line == 0] == ["TL001"]


def test_crlf_and_mixed_line_breaks():
    data = (ok_line(1) + "\r\n" + ok_line(2) + "\n" + ok_line(3) + "\r" + ok_line(4)).encode()
    report = check_bytes(data, engine(), jobs=1)
    assert report.summary.examples == 4
    assert not [f for f in report.findings if f.line is not None]
