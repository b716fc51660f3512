"""File-level rules are classes that own their state: the contract a new rule relies on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tuneline.analysis import Dataset
from tuneline.analysis.catalog import RULES
from tuneline.analysis.rules.file_rule import Example, FileRule, FileView
from tuneline.analysis.types import Finding

from .helpers import chat, engine


def test_every_file_rule_code_is_in_the_catalogue_and_owned_once():
    owners: dict[str, str] = {}
    for rule in Dataset(engine()).rules:
        assert rule.codes, f"{type(rule).__name__} declares no codes"
        for code in rule.codes:
            assert code in RULES, code
            assert code not in owners, f"{code} is emitted by {owners[code]} and {type(rule).__name__}"
            owners[code] = type(rule).__name__


class LongestAnswer(FileRule):
    """A rule written only against the FileRule contract: the example with the most tokens."""

    codes = ("TL202",)

    def __init__(self) -> None:
        self.tokens: dict[int, int] = {}

    def add(self, examples: Sequence[Example]) -> None:
        self.tokens.update((slot, r.tokens) for slot, r in examples)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, _ in examples:
            del self.tokens[slot]

    def findings(self, view: FileView) -> Iterator[Finding]:
        if self.tokens:
            slot = max(self.tokens, key=lambda s: (self.tokens[s], -view.line_of(s)))
            yield Finding("TL202", "longest", view.line_of(slot), view.whole(view.line_of(slot)))


def test_a_new_rule_sees_splices_like_the_built_in_ones():
    lines = [chat(("user", f"q{i}"), ("assistant", "a" * (i + 1))) for i in range(5)]
    ds = Dataset(engine(), lines, extra_rules=[LongestAnswer()])

    def longest() -> list[int | None]:
        return [f.line for f in ds.findings() if f.message == "longest"]

    assert longest() == [4]
    ds.splice(1, 1, [chat(("user", "long"), ("assistant", "word " * 200))])  # insert above
    assert longest() == [1]
    ds.splice(1, 2, [])  # and take it out again
    assert longest() == [4]


def test_token_spread_sorts_a_bulk_load_once_when_read():
    """`check` adds a large file to the rules 1,000 lines at a time; the spread sorts only when read (sorting after
    every run made loading quadratic: 43 s for a million varied examples). Runs, single-line edits and removals in
    any order give the sorted lists, quantiles and totals of one load of what is left."""
    import random
    from types import SimpleNamespace

    from tuneline.analysis.rules.token_spread import TokenSpread, quantile

    rng = random.Random(3)
    rows = [
        (
            i,
            SimpleNamespace(
                tokens=rng.randint(5, 9000), assistant_tokens=rng.randint(0, 3000), images=0, tokens_estimated=False
            ),
        )
        for i in range(5_000)
    ]
    spread = TokenSpread(4096)
    for start in range(0, 4_000, 1_000):
        spread.add(rows[start : start + 1_000])  # bulk runs, left unsorted until read
    spread.add(rows[4_000:4_001])  # one line: insort into the sorted lists
    spread.remove(rows[10:20])
    spread.add(rows[4_001:5_000])
    kept = [r for i, r in rows if not 10 <= i < 20]
    assert spread.sorted == sorted(r.tokens for r in kept)
    assert spread._answers == sorted(r.assistant_tokens for r in kept if r.assistant_tokens)
    assert quantile(spread.sorted, 0.5) == sorted(r.tokens for r in kept)[round(0.5 * (len(kept) - 1))]
    assert spread.total == sum(r.tokens for r in kept)
    assert spread.billed == sum(min(r.tokens, 4096) for r in kept)
    assert spread.over_limit == sum(r.tokens > 4096 for r in kept)
