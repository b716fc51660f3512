"""Line splitting, decoding, UTF-16 positions, token counts, models and cost."""

from __future__ import annotations

import datetime as dt
import json

from tuneline.analysis import Dataset, Engine, Settings
from tuneline.analysis.counting import count_example
from tuneline.analysis.lines import decode_bytes, from_utf16, split_lines, to_utf16, utf16_len
from tuneline.analysis.models import ModelTable, auto_epochs
from tuneline.analysis.scan import locate, scan
from tuneline.analysis.tokens import TokenCounter

from .helpers import codes


def test_split_lines_follows_lsp_rules_not_splitlines():
    text = "a\u2028b\u2029c\x85d\x0ce\r\nf\rg\nh\n"
    assert split_lines(text) == ["a\u2028b\u2029c\x85d\x0ce", "f", "g", "h"]
    assert split_lines("x") == ["x"] and split_lines("") == [""]
    assert split_lines("a\n\n") == ["a", ""]


def test_utf16_conversions():
    s = "a👋b\u2028c"
    assert utf16_len(s) == 6
    assert to_utf16(s, 2) == 3 and from_utf16(s, 3) == 2
    assert from_utf16(s, 99) == len(s)


def test_decode_bytes_reports_bad_bytes_and_keeps_going():
    data = b'{"text": "ok"}\n{"text": "bad \xff byte"}\r\n{"text": "fine"}'
    decoded = decode_bytes(data)
    assert len(decoded.lines) == 3
    (f,) = decoded.findings
    assert f.code == "TL004" and f.line == 1 and f.span.start == len('{"text": "bad ')
    assert "\ufffd" in decoded.lines[1]


def test_bom_is_reported_on_the_first_line():
    decoded = decode_bytes("\ufeff".encode() + b'{"text": "x"}\n')
    found = Dataset(Engine(Settings()), decoded.lines).findings()
    assert "TL004" in codes(found)


def test_scanner_spans_for_keys_values_and_escapes():
    line = '{"a\\u0062": [1, {"c": "d\\"e"}], "f": null}'
    root = scan(line)
    assert line[slice(*_span(locate(root, ("ab", 1, "c"))))] == '"d\\"e"'
    assert line[slice(*_span(locate(root, ("ab",), key=True)))] == '"a\\u0062"'
    assert line[slice(*_span(locate(root, ("missing",))))] == line


def _span(span):
    return span.start, span.end


def test_cookbook_token_counts_are_exact():
    messages = [
        {
            "role": "system",
            "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
        },
        {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
        {
            "role": "system",
            "name": "example_assistant",
            "content": "Things working well together will increase revenue.",
        },
        {
            "role": "system",
            "name": "example_user",
            "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
        },
        {
            "role": "system",
            "name": "example_assistant",
            "content": "Let's talk later when we're less busy about how to do better.",
        },
        {
            "role": "user",
            "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
        },
    ]
    assert count_example(messages, TokenCounter("o200k_base"))[0] == 124
    assert count_example(messages, TokenCounter("cl100k_base"))[0] == 129


def test_special_tokens_are_counted_as_text_not_rejected():
    assert TokenCounter("o200k_base").count("<|endoftext|>") > 1


def test_tool_definitions_add_tokens():
    counter = TokenCounter("o200k_base")
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    assert count_example(msgs, counter, tools=tools)[0] > count_example(msgs, counter)[0]


def test_model_table_aliases_overrides_and_unknown_models(tmp_path):
    table = ModelTable()
    assert table.resolve("gpt-4o-mini").name == "gpt-4o-mini-2024-07-18"
    assert table.resolve("ft:gpt-4o-mini-2024-07-18:acme::abc").price == 3.0
    assert table.resolve("gpt-3.5-turbo").encoding == "cl100k_base"
    assert not table.resolve("my-model").known
    overridden = ModelTable({"gpt-4o-mini": {"price": 2.5}, "my-model": {"limit": 1000, "price": 1}})
    assert overridden.resolve("gpt-4o-mini-2024-07-18").price == 2.5
    assert overridden.resolve("my-model").limit == 1000
    extra = tmp_path / "models.toml"
    extra.write_text('[models."house-model"]\nlimit = 4096\nprice = 9.0\nshutdown = "2020-01-01"\n')
    house = ModelTable(files=[extra]).resolve("house-model")
    assert house.price == 9.0 and house.is_shut_down(dt.date(2026, 1, 1))


def test_auto_epochs_heuristic():
    assert auto_epochs(10) == 10
    assert auto_epochs(50) == 3
    assert auto_epochs(5) == 20
    assert auto_epochs(1) == 25
    assert auto_epochs(20_000) == 1
    assert auto_epochs(5_000) == 3
    assert auto_epochs(10_000) == 2


def test_cost_caps_each_example_at_the_model_limit():
    line = json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "word " * 20_000}]}
    )
    eng = Engine(Settings(model="gpt-3.5-turbo", epochs=1))
    s = Dataset(eng, [line]).summary()
    assert s.tokens_total > 16_385 and s.billed_per_epoch == 16_385 and s.over_limit == 1
    assert s.cost.usd == round(16_385 * 8.0 / 1e6, 4)
