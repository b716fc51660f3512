"""The one rule for how many epochs a user may ask for: "auto" or a whole number from MIN_EPOCHS to MAX_EPOCHS.

Every front end (config files, `tuneline check --epochs`, `tuneline train --epochs`, the editor's settings and
its train command) reads epochs through `parse_epochs`, so they accept and refuse the same values with the same
sentence. 50 is the most OpenAI's fine-tuning API accepts; the editor client mirrors these bounds
(client-vscode/src/pure/settings.ts) only to warn early, and the server's answer is the one that counts.
"""

from __future__ import annotations

MIN_EPOCHS = 1
MAX_EPOCHS = 50
AUTO = "auto"  # the provider's heuristic, chosen from the dataset size


class EpochsError(ValueError):
    """A value that is neither "auto" nor a whole number in range: `str(error)` is one sentence."""


def parse_epochs(value: object, where: str) -> int | None:
    """The number of epochs, or None for "auto" (or no value).

    `value` comes from a command line (a string such as "3" or "Auto"), a config file or JSON (an int or "auto").
    `where` names it for the message, e.g. "--epochs" or "tuneline.toml: `epochs`"."""
    if value is None:
        return None
    number: object = value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == AUTO:
            return None
        number = int(text) if text.isascii() and text.isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or not MIN_EPOCHS <= number <= MAX_EPOCHS:
        raise EpochsError(f"{where} must be a number from {MIN_EPOCHS} to {MAX_EPOCHS} or 'auto', not {value!r}")
    return number
