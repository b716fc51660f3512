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
