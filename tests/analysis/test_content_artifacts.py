"""TL506: generation leftovers; markup and dialogue that were asked for stay quiet."""

from __future__ import annotations

import json

from .content_cli import chat, cli, filler, found, marked


def test_calculator_markup_and_ai_disclaimers_are_reported_once_seen():
    lines = [
        chat("Janet has 48 eggs.", "She sells half: 48/2 = <<48/2=24>>24 eggs.\n#### 24"),
        chat("Opinion?", "As an AI language model, I have no opinions."),
        *filler(),
    ]
    hits = found(lines, "TL506")
    assert [marked(lines, f) for f in hits] == ["<<48/2=24>>", "As an AI language model"]
    fix = hits[0].fix
    assert fix is not None and not fix.safe
    edit = fix.edits[0]
    fixed = lines[0][: edit.span.start] + edit.text + lines[0][edit.span.end :]
    assert json.loads(fixed)["messages"][2]["content"].startswith("She sells half: 48/2 = 24 eggs.")


def test_html_and_role_labels_count_when_they_repeat():
    html = [chat(f"Describe item {i}.", f"It is <b>light</b> and strong.<br>Item {i}.") for i in range(3)]
    labels = [chat(f"Answer {i}.", f"Sure.\nUser: and then?\nAssistant: then {i}.") for i in range(3)]
    assert len(found([*html, *labels, *filler()], "TL506")) == 3 * 3 + 3 * 2  # <b>, </b>, <br>; User:, Assistant:
    assert found([html[0], labels[0], *filler()], "TL506") == []  # once each: not a pattern


def test_markup_and_dialogue_that_were_asked_for_are_not_artifacts():
    lines = [
        *[chat(f"Write an HTML snippet {i}.", f"<p>Item {i}</p>") for i in range(3)],
        *[chat(f"Write a dialogue {i}.", f"User: hi\nAssistant: hello {i}") for i in range(3)],
        *[chat(f"C++ {i}?", f"```cpp\nstd::cout << a << b; x <<= {i};\n```") for i in range(3)],
        *filler(),
    ]
    assert found(lines, "TL506") == []


def test_through_the_cli(tmp_path):
    got = cli(tmp_path, [chat("Eggs?", "48/2 = <<48/2=24>>24."), *filler(12)], "TL506")
    assert [(d.line, d.text, d.severity) for d in got] == [(1, "<<48/2=24>>", "info")]
