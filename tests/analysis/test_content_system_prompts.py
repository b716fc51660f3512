"""TL305 and per-example context: prompts that share a long instruction are one prompt, not many."""

from __future__ import annotations

import pytest

from tuneline.analysis.types import Severity

from .content_cli import chat, found


def test_system_prompts_sharing_an_instruction_are_one_prompt_with_context():
    instruction = "You are a storyteller for children. Continue the story below in two gentle sentences. Story: "
    lines = [
        chat(f"Go on ({i}).", f"And so it ended {i}.", system=instruction + f"Tale {i} of a fox.") for i in range(10)
    ]
    hits = found(lines, "TL305")
    assert len(hits) == 1 and hits[0].severity is Severity.INFO
    assert "All 10 system prompts start with the same instruction" in hits[0].message
    assert "used by 1 of 10" not in hits[0].message
    lines.append(chat("Hi", "Hello.", system="You are a pirate."))
    hits = found(lines, "TL305")
    assert "10 of 11 examples share the instruction" in hits[0].message
    assert [f.line for f in hits[1:]] == [10] and "does not start with the instruction" in hits[1].message


def test_two_different_prompts_with_a_common_opening_are_still_different():
    a = "You are a helpful assistant that answers questions about cooking and recipes."
    b = "You are a helpful assistant that answers questions about travel and hotels."
    lines = [chat(f"Q{i}", f"A{i}.", system=a if i % 2 else b) for i in range(12)]
    hits = found(lines, "TL305")
    assert hits and hits[0].message.startswith("2 different system prompts")


def _scanned_fix(text: str, prompt: str):
    """The fix as the scanner places it: the reference for the shortcut taken on lines that open with their
    `messages` array."""
    from tuneline.analysis.lines import BOM
    from tuneline.analysis.scan import node_at, scan

    offset = 1 if text.startswith(BOM) else 0
    messages = node_at(scan(text[offset:]), ("messages",))
    assert messages is not None and messages.kind == "array"
    return messages.open_inside + offset, bool(messages.items)


def test_the_add_prompt_fix_lands_where_the_scanner_says_on_every_shape_of_line():
    """`system_prompt_fix` skips the scanner when a line opens with its only `"messages"` key (100 µs a line, on
    every line of a file where many lack the prompt): on lines that open so, and on lines where the shortcut must
    not be taken, the inserted prompt goes where the scanner puts it, and the fixed line is the old one plus the
    prompt."""
    import json

    from tuneline.analysis.rules.edits import system_prompt_fix

    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    lines = [
        json.dumps({"messages": turns}),
        json.dumps({"messages": turns}, indent=None, separators=(",", ":")),
        ' \t{ "messages" :\t[ ' + json.dumps(turns)[1:] + " }",
        "\ufeff" + json.dumps({"messages": turns}),
        json.dumps({"messages": []}),
        '{"messages": [  ]}',
        json.dumps({"id": 3, "messages": turns}),  # the key later in the line
        json.dumps({"messages": [{"role": "user", "content": 'say "messages" twice'}]}),  # the word in a text
        '{"messages": [{"role": "user", "content": "x"}], "messages": ' + json.dumps(turns) + "}",  # repeated key
        json.dumps({"messages": [{"role": "user", "content": 'a \\"messages\\" b'}]}),
    ]
    for text in lines:
        fix = system_prompt_fix(text, "Be kind.")
        assert fix is not None and fix.safe, text
        (edit,) = fix.edits
        at, items = _scanned_fix(text, "Be kind.")
        assert (edit.span.start, edit.span.end) == (at, at), text
        assert edit.text.endswith(", ") == items, text
        fixed = text[:at] + edit.text + text[at:]
        value = json.loads(fixed.lstrip("\ufeff"))
        assert value["messages"][0] == {"role": "system", "content": "Be kind."}
        assert value["messages"][1:] == json.loads(text.lstrip("\ufeff"))["messages"], text


@pytest.mark.parametrize("family", [False, True], ids=["one-prompt", "family"])
def test_runs_of_one_prompt_join_as_one_example_at_a_time_would(family: bool):
    """A chunk's runs of examples with the same prompt join the rule in one step each (#14): the findings must be
    those of joining one example at a time, whatever the mix of prompts, families and edits."""
    import random

    from tuneline.analysis import Dataset, Engine
    from tuneline.analysis.config import Settings

    instruction = "You are a storyteller for children. Continue the story below in two gentle sentences. Story: "
    others = ["Be brief.", "You are a pirate.", None, instruction + "Tale 0 of a fox.", instruction + "Tale 1."]
    rng = random.Random(7)
    lines = []
    for i in range(400):
        if rng.random() < (0.9 if family else 0.6):
            prompt = instruction + f"Tale {i} of a fox." if family else "Be brief."
        else:
            prompt = rng.choice(others)
        lines += [chat(f"Q{i}?", f"A{i}.", system=prompt)] * rng.choice((1, 1, 1, 3))
    prompts = others
    engine = Engine(Settings())

    def report(ds: Dataset) -> list[tuple]:
        return [(f.code, f.line, f.message) for f in ds.findings() if f.code == "TL305"]

    whole = Dataset(engine)
    whole.splice(0, 0, lines)
    one_by_one = Dataset(engine)
    for i, line in enumerate(lines):
        one_by_one.splice(i, i, [line])
    assert report(whole) == report(one_by_one) and len(report(whole)) > 10
    assert ("share the instruction" in report(whole)[0][2]) == family
    edit = [chat("Q?", "A.", system=rng.choice(prompts)) for _ in range(30)]
    whole.splice(100, 130, edit)
    for i, line in enumerate(edit):
        one_by_one.splice(100 + i, 101 + i, [line])
    assert report(whole) == report(one_by_one)
