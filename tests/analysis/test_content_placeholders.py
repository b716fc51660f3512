"""TL501: template slots and unfinished text; code, format strings and letters' own slots stay quiet."""

from __future__ import annotations

from .content_cli import chat, cli, filler, found, marked


def test_slots_and_unfinished_text_are_reported_at_their_words():
    lines = [
        chat("Who are you?", "I am {{name}}, made by {{ author }}."),
        chat("Write the notice.", "The meeting is on [INSERT DATE] in <PLACEHOLDER>."),
        chat("Status?", "TODO: write this answer."),
        chat("Sample text?", "Lorem ipsum dolor sit amet."),
        *filler(),
    ]
    hits = found(lines, "TL501")
    assert [marked(lines, f) for f in hits] == [
        "{{name}}",
        "{{ author }}",
        "[INSERT DATE]",
        "<PLACEHOLDER>",
        "TODO",
        "Lorem ipsum",
    ]
    assert "in the answer" in hits[0].message


def test_code_comments_and_format_strings_are_not_placeholders():
    lines = [
        chat("Show a stub.", "Here:\n```python\ndef f():\n    # TODO: implement\n    return f'{name}'\n```\nDone."),
        chat("Inline?", "Use `{{ user }}` in the Jinja template, then render it."),
        chat("A workflow?", "It reads ${{ github.repository }} from the context."),
        chat("Stub?", "def f():  # TODO later\n    pass"),
        chat("Letter?", "Dear Sam,\nThanks for the visit.\nBest regards,\n[Your Name]"),
        chat("Play?", "[Enter BENEDICK]\nBENEDICK: Good morrow."),
        chat("Link?", "See [insert mode](https://vim.org) in the manual."),
        *filler(),
    ]
    assert found(lines, "TL501") == []


def test_single_braces_count_only_in_a_file_without_code_braces():
    slot = chat("Greet the user.", "Hello {customer_name}, welcome back.")
    prose = [slot, *filler()]
    assert [marked(prose, f) for f in found(prose, "TL501")] == ["{customer_name}"]
    code = [chat(f"Format {i}?", f'Use "{{}}".format({i}) or a dict {{"k": {i}}}.') for i in range(5)]
    assert found([slot, *code, *filler()], "TL501") == []  # 5 of 36 examples use braces as code: format strings


def test_through_the_cli(tmp_path):
    lines = [chat("Who are you?", "I am {{name}}."), chat("Notes?", "TBD."), *filler(12)]
    got = cli(tmp_path, lines, "TL501")
    assert [(d.line, d.text, d.severity) for d in got] == [(1, "{{name}}", "warning"), (2, "TBD", "warning")]
