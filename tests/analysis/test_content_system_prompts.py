"""TL305 and per-example context: prompts that share a long instruction are one prompt, not many."""

from __future__ import annotations

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
