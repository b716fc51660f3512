"""The epochs rule itself (analysis/epochs.py): what each front end passes in, what comes out."""

from __future__ import annotations

import pytest

from tuneline.analysis.epochs import MAX_EPOCHS, MIN_EPOCHS, EpochsError, parse_epochs


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("auto", None), (" Auto ", None), (1, 1), (50, 50), ("7", 7), (" 12 ", 12)],
)
def test_accepted(value, expected):
    assert parse_epochs(value, "epochs") == expected


@pytest.mark.parametrize("value", [0, 51, -1, True, False, 2.0, "2.5", "", "many", "٣", [3], {"n": 3}])
def test_refused_in_one_sentence_naming_where(value):
    with pytest.raises(EpochsError) as caught:
        parse_epochs(value, "tuneline.toml: `epochs`")
    message = str(caught.value)
    assert message == f"tuneline.toml: `epochs` must be a number from 1 to 50 or 'auto', not {value!r}"
    assert isinstance(caught.value, ValueError) and "\n" not in message


def test_bounds():
    assert (MIN_EPOCHS, MAX_EPOCHS) == (1, 50)


def test_the_editor_client_mirrors_the_bounds():
    """client-vscode checks epochs early with its own copy of the bounds: it must say what the server says."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "client-vscode" / "src" / "pure" / "settings.ts").read_text("utf-8")
    found = dict(re.findall(r"export const (MIN_EPOCHS|MAX_EPOCHS) = (\d+);", text))
    assert found == {"MIN_EPOCHS": str(MIN_EPOCHS), "MAX_EPOCHS": str(MAX_EPOCHS)}
