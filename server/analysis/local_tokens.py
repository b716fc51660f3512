"""Token counts through a model's own tokenizer and chat template, by the local trainer's code.

Two counters share this protocol, both built from training/backends/local/token_counts.py so there is one
implementation of how an example becomes tokens (the trainer's):
- a `local:PATH` target's: what a local run feeds the model (prompt and `weight: 0` masking, truncation at
  max_length), so the trainer's own findings apply (TL205, TL206);
- an open model on a hosted provider (Together, Fireworks, an OpenAI-compatible endpoint): the full templated length
  with the model family's Hugging Face tokenizer, judged against the provider's limit (TL201) like any count.
The analysis layer stays pure: it only knows this protocol. The front end (CLI, server) loads the tokenizer and
injects the counter into the `Engine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TrainedCount:
    """One example as the trainer sees it."""

    full: int  # tokens after the chat template, before truncation
    fed: int  # tokens the model gets: `full` cut at max_length (a hosted count: `full`)
    trained: int  # of those, the tokens with a loss (not prompt, not weight 0)
    cut_trained: int  # trained tokens past max_length: an answer the cut loses


class ExampleCounter(Protocol):
    """Counts one example through the model's chat template."""

    # True: the counts are a local run's (cut at max_length, masked), so the findings about what a run trains on
    # (TL205 nothing trained, TL206 answer cut) apply. False: the full templated length at a hosted provider, which
    # truncates by its own rules: only its limit (TL201) judges it.
    trainer_findings: bool
    max_length: int  # a local run's cut (unused when `trainer_findings` is False)
    name: str  # the model or tokenizer, for messages

    def count(self, obj: dict[str, Any]) -> TrainedCount | None:
        """None when the line's format is not one the counter templates (DPO pairs, say): its count stays the
        o200k_base estimate, marked as such."""
        ...
