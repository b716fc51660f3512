"""The msgspec reader and writer on the per-line hot path agree with json (#14).

Why: `check` reads every line with msgspec's C decoder and keys exact duplicates on msgspec's sorted writing, both
several times faster than json. A value that differs, an error that moves, or a duplicate key that depends on how a
line was spelled would change findings: a missed duplicate is a false pass. So the fast path must be exact.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from tuneline.analysis import linecheck
from tuneline.analysis.json_read import read_json

from .helpers import chat

REPO = Path(__file__).resolve().parents[2]

SEEDS = [
    chat(("user", "Hi é \u2028 😀 \\ back"), ("assistant", "Hello!\n  * a list\n")),
    json.dumps({"messages": [{"role": "user", "content": "x", "weight": 1}], "n": [1, 1.0, -0.0, 1e300, True, None]}),
    '{"a": [1E2, 0.1e-400, -0, 12345678901234567890123, 9007199254740993, 2.5e-324], "b": {"c": "\\u00e9\\/\\ud83d\\ude00"}}',
    '{"prompt": "[[[{{{", "chosen": [{"role": "assistant", "content": "}}}]]]"}], "rejected": []}',
]
NOISE = '{}[]",:\\ 0123456789.eE+-tfnaulrs\ud800é'


def _json(text: str) -> tuple[str, object]:
    try:
        return "ok", json.loads(text, parse_constant=linecheck._reject_constant)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _json_decoder(text: str) -> tuple[str, object]:
    """`_json` one Python frame shallower (json.loads' own frame skipped): how deep a compiled engine
    (`analysis/native.py`), whose functions add no Python frames, calls the decoder."""
    try:
        return "ok", json.JSONDecoder(parse_constant=linecheck._reject_constant).decode(text)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _fast(text: str) -> tuple[str, object]:
    try:
        return "ok", linecheck._loads(text)[0]
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _plain_json(text: str) -> tuple[str, object]:
    try:
        return "ok", json.loads(text)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _read_plain(text: str) -> tuple[str, object]:
    """The near-duplicate texts' reader: json.loads' answers (NaN and Infinity accepted) via msgspec."""
    try:
        return "ok", read_json(text)[0]
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _answer(result: tuple[str, object]) -> tuple[str, str]:
    return result[0], repr(result[1])


def _mutations(n: int) -> list[str]:
    rng = random.Random(14)
    out = []
    for _ in range(n):
        line = rng.choice(SEEDS)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(line) + 1)
            cut = rng.choice((0, 0, 1, 2))
            line = line[:i] + "".join(rng.choice(NOISE) for _ in range(rng.randint(0, 2))) + line[i + cut :]
        out.append(line)
    return out


def test_every_line_reads_to_the_same_value_or_the_same_error_as_json_loads():
    lines = [*SEEDS, *_mutations(20_000)]
    lines += ['{"a": 1e400}', '{"a": NaN}', '{"a": "\\ud800"}', '{"a": "\ud800"}', "\ufeff{}", " {} ", "{}x", '"s"']
    # every depth around both parsers' recursion limits (json's moves with the caller's stack depth)
    lines += ["[" * d + "]" * d for d in (*range(300, 1100), 5000)]
    lines += ['{"a": "' + "[" * 500 + '"}']
    valid = 0
    for line in lines:
        # repr tells 1 from 1.0 and True, and -0.0 from 0.0; json's own answer on a line at its nesting limit depends
        # on the stack depth it is called at, so there either of its answers a few frames apart is json's
        for reference, fast in ((_json, _fast), (_plain_json, _read_plain)):
            allowed = {_answer(reference(line)), _answer(_at_depth(8, reference, line))}
            if reference is _json:
                allowed.add(_answer(_json_decoder(line)))
            assert _answer(fast(line)) in allowed, line
        valid += _json(line)[0] == "ok"
    assert 1_000 < valid < len(lines) - 1_000  # both sides of the fence are exercised


def _key(line: str) -> bytes:
    obj, exact = linecheck._loads(line)
    return linecheck._dup_key(obj, exact)


def test_the_duplicate_key_depends_on_the_value_only():
    brackets = "[" * 450  # over the fast reader's bracket budget when spelled plainly, not when escaped
    same = [
        ('{"a": 1, "b": [2.5, "é"]}', '{ "b" : [ 25e-1 , "\\u00e9" ] , "a" : 1 }'),
        (json.dumps({"s": brackets}), json.dumps({"s": brackets}).replace("[", "\\u005b")),
        ('{"a": 1e400}', '{"a": 1E999}'),  # infinity: json reads it, msgspec refuses it
        ('{"a": "\\ud800"}', '{"a":"\\uD800"}'),  # a lone surrogate
        ('{"a": -0.0}', '{"a": -0e0}'),
    ]
    for first, second in same:
        assert _key(first) == _key(second), (first, second)
    different = ['{"a": 1}', '{"a": 1.0}', '{"a": true}', '{"a": null}', '{"a": 1e400}', '{"a": -1e400}']
    different += ['{"a": "x"}', '{"a": "x "}', '{"a": 0.0}', '{"a": -0.0}', '{"a": "\\ud800"}', '{"a": "\\ufffd"}']
    assert len({_key(line) for line in different}) == len(different)


def test_check_reports_duplicates_spelled_differently(tmp_path):
    """Through the front door: the plain and the escaped spelling of one value take different reading paths."""
    value = {"messages": [{"role": "user", "content": "[" * 450}, {"role": "assistant", "content": "Ok."}]}
    plain = json.dumps(value)
    escaped = plain.replace("[[", "\\u005b\\u005b")
    infinite = [
        '{"messages": [{"role": "user", "content": "n"}, {"role": "assistant", "content": "m"}], "x": 1e400}',
        '{"x": 1E999, "messages": [{"role": "user", "content": "n"}, {"role": "assistant", "content": "m"}]}',
        '{"messages": [{"role": "user", "content": "n"}, {"role": "assistant", "content": "m"}], "x": null}',
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join([plain, escaped, *infinite]) + "\n", encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", str(path)], capture_output=True, cwd=REPO
    )
    doc = json.loads(p.stdout)
    dups = sorted((d["line"], d["related"][0]["line"]) for d in doc["files"][0]["diagnostics"] if d["code"] == "TL301")
    assert dups == [(2, 1), (4, 3)], doc  # the null line is no duplicate of the infinite ones


def _at_depth(frames: int, fn, *args):
    """`fn(*args)` called `frames` Python frames deeper than here (a worker's stack and the server's differ)."""
    return fn(*args) if frames == 0 else _at_depth(frames - 1, fn, *args)


def test_the_duplicate_key_does_not_depend_on_the_callers_stack_depth():
    for depth in (450, 480, 500, 700):
        value = {"x": json.loads("[" * depth + "1.5" + "]" * depth)}  # json read it: the slow path checks floats
        assert len({_at_depth(frames, linecheck._dup_key, value, False) for frames in (0, 60, 200)}) == 1, depth


def test_lines_nested_too_deep_for_the_rules_are_one_finding_not_a_crash(tmp_path):
    """json.loads reads a line nested ~980 deep, but json.dumps (and the rules' walks) then run out of stack: the
    line gets TL001, like one json.loads cannot read, and the rest of the file is checked."""
    chat_line = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "x": '
    lines = [chat_line + "[" * d + "]" * d + "}" for d in range(940, 1001)]
    lines.append(
        '{"messages":[{"role":"system","content":"a"},{"role":["x"],"content":"b"},{"role":"user","content":"c"}]}'
    )
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", str(path)], capture_output=True, cwd=REPO
    )
    assert p.returncode == 1 and not p.stderr, p.stderr.decode()[-500:]
    diagnostics = json.loads(p.stdout)["files"][0]["diagnostics"]
    too_deep = {d["line"] for d in diagnostics if d["code"] == "TL001" and "too deep" in d["message"]}
    assert too_deep and max(too_deep) == len(lines) - 1  # the deepest lines, whichever depth the stack allows
    assert any(d["line"] == len(lines) and d["code"] == "TL105" for d in diagnostics)  # a role that is a list
