"""TL504: empty reasoning blocks in answers."""

from __future__ import annotations

from .content_cli import chat, cli, filler, found, marked


def test_empty_think_blocks_are_reported():
    lines = [
        chat("2+2?", "<think></think>4"),
        chat("3+3?", "<think>\n\n</think>\n\n6"),
        chat("4+4?", "<thinking> </thinking>8"),
        *filler(),
    ]
    hits = found(lines, "TL504")
    assert [marked(lines, f) for f in hits] == ["<think></think>", "<think>\\n\\n</think>", "<thinking> </thinking>"]


def test_real_reasoning_and_talk_about_tags_are_not():
    lines = [
        chat("2+2?", "<think>2 and 2 make 4.</think>4"),
        chat("Tags?", "Qwen writes <think> before and </think> after its reasoning."),
        chat("<think></think>", "That is an empty block."),  # in the prompt, not the answer
        *filler(),
    ]
    assert found(lines, "TL504") == []


def test_through_the_cli(tmp_path):
    got = cli(tmp_path, [chat("2+2?", "<think></think>4"), *filler(12)], "TL504")
    assert [(d.line, d.text, d.severity) for d in got] == [(1, "<think></think>", "warning")]
