"""Trained tokens for a `local:PATH` target: what the local trainer feeds the model, counted by the trainer's code.

The analysis layer stays pure: it only knows this protocol. The counter itself (the model's tokenizer and chat
template, prompt and `weight: 0` masking, truncation at max_length) is training/backends/local/token_counts.py,
built by the front end (CLI, server) and injected into the `Engine`, so there is one implementation of how an
example becomes labels: the trainer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TrainedCount:
    """One example as the trainer sees it."""

    full: int  # tokens after the chat template, before truncation
    fed: int  # tokens the model gets: `full` cut at max_length
    trained: int  # of those, the tokens with a loss (not prompt, not weight 0)
    cut_trained: int  # trained tokens past max_length: an answer the cut loses


class ExampleCounter(Protocol):
    """Counts one example the way a local run would train on it."""

    max_length: int
    name: str  # the model, for messages

    def count(self, obj: dict[str, Any]) -> TrainedCount | None:
        """None when the local trainer does not take this line's format (another finding says so)."""
        ...
