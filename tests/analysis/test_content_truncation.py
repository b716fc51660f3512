"""TL502: answers cut off mid-way; short answers, lists and terse files stay quiet."""

from __future__ import annotations

from tuneline.analysis.types import Severity

from .content_cli import chat, cli, filler, found, marked

LONG = "The migration moves every table to the new cluster and keeps the old one as a fallback. " * 4


def test_an_unclosed_code_block_and_cut_json_are_reported_in_any_file():
    lines = [
        chat("Code?", "Here it is:\n```python\ndef total(items):\n    return sum(items,"),
        chat("JSON?", '{"name": "Ada", "tags": ["math", "comp'),
        *[chat(f"Q{i}", f"short {i}") for i in range(20)],  # a terse file: most answers have no period
    ]
    hits = found(lines, "TL502")
    assert [f.line for f in hits] == [0, 1]
    assert "never closed, with 1 bracket still open" in hits[0].message
    assert marked(lines, hits[0]).startswith("```python")


def test_a_missing_end_counts_only_where_the_file_ends_its_answers():
    cut = chat("Explain.", LONG + "After the switch the old cluster is kept for a week while the")
    lines = [cut, *[chat(f"Explain {i}.", LONG + f"Step {i} is done.") for i in range(20)]]
    hits = found(lines, "TL502")
    assert [f.line for f in hits] == [0] and "unlike 95% of this file's answers" in hits[0].message
    assert hits[0].severity is Severity.INFO  # a code block or JSON cut is a warning; this is information
    assert marked(lines, hits[0]) == "the"


def test_look_alikes_are_complete():
    lines = [
        chat("List?", LONG + "\nThe steps:\n- back up the data\n- switch the cluster"),  # ends on a list item
        chat("Verdict?", LONG + "Thus the answer is: True"),  # a verdict after a colon
        chat("Tweet?", LONG + "Proud of the team #Launch"),  # a hashtag
        chat("Name?", "Ada Lovelace"),  # a short answer
        chat("Done?", "```python\nprint(1)\n```"),  # a closed block
        *[chat(f"Explain {i}.", LONG + f"Step {i} is done.") for i in range(20)],
    ]
    assert found(lines, "TL502") == []


def test_through_the_cli(tmp_path):
    lines = [chat("Code?", "```js\nconst x = f("), *filler(12)]
    got = cli(tmp_path, lines, "TL502")
    assert [(d.line, d.severity) for d in got] == [(1, "warning")] and got[0].text.startswith("```js")
