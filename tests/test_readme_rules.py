"""The README's rules table names every rule the catalogue has, with its name (docs/rules.md is generated; the
README's table is written by hand, so a new rule must not slip past it)."""

from __future__ import annotations

import re
from pathlib import Path

from tuneline.analysis.catalog import RULES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_rule_is_in_the_readme_table() -> None:
    rows = dict(re.findall(r"^\| (TL\d{3}) \| ([a-z0-9-]+) \|", README.read_text(encoding="utf-8"), re.MULTILINE))
    assert sorted(set(RULES) - set(rows)) == []
    assert {code: rows[code] for code in RULES} == {code: rule.name for code, rule in RULES.items()}
