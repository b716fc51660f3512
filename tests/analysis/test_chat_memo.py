"""The chat checks' memo of role sequences gives the findings the full walk gives (#14).

`other_formats.check_chat` takes a plain conversation's findings (only `messages`, every message a role and some
text) from its platform's memo, keyed by the roles. Here every provider's platform meets role sequences that trip
each role rule (unknown and misspelt roles, developer/system swaps, a tool message without its call id, a system
message late, repeated turns, no assistant, no user, ending on a user turn), each on two lines with different text:
the second line's findings, taken from the memo, must equal what the full walk finds on it, spans and fixes
included. Lines just outside the memo's shape (a whitespace-only answer, an extra key, a weight) take the walk.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from tuneline.analysis import Engine, Settings, linecheck
from tuneline.analysis.rules import other_formats

from .helpers import chat

PROVIDERS = ["openai", "azure", "together", "fireworks", "openai-compatible"]
MODELS = {
    "openai": "gpt-4o-mini-2024-07-18",
    "azure": "gpt-4.1-mini",
    "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "fireworks": "llama-v3p1-8b-instruct",
    "openai-compatible": "any-model",
}
ROLE_SETS = [
    ("system", "user", "assistant"),
    ("user", "assistant"),
    ("user", "assistant", "user", "assistant"),
    ("developer", "user", "assistant"),
    ("system", "user", "asistant"),
    ("User", "assistant"),
    ("user", "user", "assistant", "assistant"),
    ("user", "assistant", "system", "user", "assistant"),
    ("assistant", "user", "assistant"),
    ("user", "assistant", "tool", "assistant"),
    ("system", "user"),
    ("system", "assistant"),
    ("function", "user", "assistant"),
    ("user", "assistant", "user"),
    ("", "user", "assistant"),
]


def _line(roles: tuple[str, ...], n: int) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": r, "content": f"Text {n} of the {r or 'nameless'} turn {i}."} for i, r in enumerate(roles)
            ]
        }
    )


def _findings(engine: Engine, line: str) -> list[tuple]:
    result = linecheck.analyze_line(line, engine.context)
    return [(f.code, f.message, f.span, f.severity, f.fix) for f in result.findings]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_memo_findings_equal_the_full_walk(provider, monkeypatch):
    engine = Engine(Settings(target=f"{provider}:{MODELS[provider]}"))
    walked = Engine(Settings(target=f"{provider}:{MODELS[provider]}"))
    codes: set[str] = set()
    for roles in ROLE_SETS:
        first, second = _line(roles, 1), _line(roles, 22)
        _findings(engine, first)  # fills the memo for these roles
        memo = _findings(engine, second)
        with monkeypatch.context() as m:
            m.setitem(other_formats.CHECKS, "chat", other_formats._check_chat)
            walk = _findings(walked, second)
        assert memo == walk, (provider, roles)
        codes |= {f[0] for f in memo}
    assert {"TL105", "TL110", "TL111", "TL113", "TL116"} <= codes, codes  # the sequences do trip the role rules
    assert set(ROLE_SETS) <= set(engine.platform.memo), "every sequence went through the memo"
    assert not walked.platform.memo


def test_lines_outside_the_plain_shape_take_the_walk():
    engine = Engine(Settings())
    outside = [
        chat(("user", "Hi"), ("assistant", "   ")),  # an empty answer: TL107 reads the content
        chat(("user", "Hi"), ("assistant", "Hello"))[:-1] + ', "tools": []}',
        json.dumps(
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "weight": 0}]}
        ),
        json.dumps({"messages": [{"role": "user", "content": ["Hi"]}, {"role": "assistant", "content": "Yo"}]}),
        json.dumps({"messages": [{"role": 3, "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}),
        json.dumps({"messages": []}),
    ]
    for line in outside:
        assert other_formats._plain_roles(json.loads(line)) is None, line
    assert "TL107" in [f.code for f in linecheck.analyze_line(outside[0], engine.context).findings]


def test_the_memo_is_bounded():
    engine = Engine(Settings())
    for n, roles in zip(
        range(other_formats._MEMO_MAX + 50), itertools.product(["user", "assistant", "system"], repeat=7)
    ):
        linecheck.analyze_line(_line(roles, n), engine.context)
    assert len(engine.platform.memo) == other_formats._MEMO_MAX


def test_a_replaced_platform_gets_its_own_memo_and_long_roles_are_not_remembered():
    engine = Engine(Settings())
    linecheck.analyze_line(_line(("user", "assistant"), 1), engine.context)
    other = dataclasses.replace(engine.platform, alternate=True)
    assert engine.platform.memo and other.memo == {}
    long_role = ("r" * 65, "user", "assistant")
    assert other_formats._plain_roles(json.loads(_line(long_role, 1))) is None
