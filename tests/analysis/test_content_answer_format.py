"""TL507: the odd answer out in format, JSON keys or writing system; key order and asked-for languages are fine."""

from __future__ import annotations

import json

from .content_cli import chat, cli, filler, found

SYSTEM = "Extract the person as JSON."


def _json(i: int, keys: tuple[str, ...] = ("name", "age", "city")) -> str:
    return json.dumps({k: f"{k}{i}" for k in keys})


def test_prose_among_json_answers_and_other_keys_are_reported():
    lines = [chat(f"Text {i}", _json(i), system=SYSTEM) for i in range(20)]
    lines.append(chat("Text p", "The person is Ada, 36, from London.", system=SYSTEM))
    lines.append(chat("Text k", _json(99, ("name", "years")), system=SYSTEM))
    hits = found(lines, "TL507")
    assert [f.line for f in hits] == [20, 21]
    assert "prose, while 21 of 22 answers with this system prompt are JSON" in hits[0].message
    assert "{name, years}" in hits[1].message and "{age, city, name}" in hits[1].message


def test_key_order_fenced_json_and_other_system_prompts_are_not_odd():
    lines = [chat(f"Text {i}", _json(i), system=SYSTEM) for i in range(20)]
    lines.append(chat("Text r", json.dumps({"city": "Oslo", "name": "Kim", "age": 30}), system=SYSTEM))
    lines.append(chat("Text f", "```json\n" + _json(7) + "\n```", system=SYSTEM))
    lines += filler()  # prose answers to another system prompt: another kind of task
    assert found(lines, "TL507") == []


def test_an_answer_in_another_script_than_asked():
    lines = [*filler(30), chat("What is the capital of France?", "法国的首都是巴黎。")]
    lines.append(chat("用中文回答：天空是什么颜色？", "天空是蓝色的。"))  # asked in Chinese
    lines.append(chat("Translate 'sky' to Russian.", "небо"))  # a translation
    hits = found(lines, "TL507")
    assert [f.line for f in hits] == [30] and "Han script" in hits[0].message


def test_through_the_cli(tmp_path):
    lines = [chat(f"Text {i}", _json(i), system=SYSTEM) for i in range(12)]
    lines.append(chat("Text p", "Ada, 36, London.", system=SYSTEM))
    got = cli(tmp_path, lines, "TL507")
    assert [(d.line, d.severity) for d in got] == [(13, "info")] and got[0].text == '"Ada, 36, London."'


def test_edits_keep_the_verdicts_of_a_fresh_analysis():
    """TL507 keeps per-kind counts as lines come and go (a report visits only the odd answers): after each edit,
    its findings equal those of the same text analysed from scratch."""
    from tuneline.analysis import Dataset

    from .helpers import engine

    eng = engine()
    lines = [chat(f"Text {i}", _json(i), system=SYSTEM) for i in range(12)]
    prose = chat("Text p", "The person is Ada, 36, from London.", system=SYSTEM)
    other_keys = chat("Text k", _json(99, ("name", "years")), system=SYSTEM)
    chinese = chat("What is the capital of France?", "法国的首都是巴黎。")
    ds = Dataset(eng, list(lines))
    edits = [
        (12, 12, [prose, other_keys]),  # two odd answers join
        (0, 3, []),  # three JSON answers leave: prose is now 1 of 11
        (0, 0, [prose, prose]),  # the majority falls under 80%: nothing to report
        (0, 2, []),
        (5, 6, [other_keys]),  # a JSON answer becomes another key set
        (len(lines), len(lines), [*filler(30), chinese]),  # another kind of task, with a script odd one out
    ]
    current = list(lines)
    for start, end, new in edits:
        end = min(end, len(current))
        start = min(start, len(current))
        ds.splice(start, end, new)
        current[start:end] = new
        fresh = Dataset(eng, list(current))
        mine = [(f.line, f.span, f.message) for f in ds.findings() if f.code == "TL507"]
        assert mine == [(f.line, f.span, f.message) for f in fresh.findings() if f.code == "TL507"]
    assert any("Han script" in f.message for f in ds.findings() if f.code == "TL507")
