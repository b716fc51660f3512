"""Trained-token counts for `tuneline check --target local:PATH`, by the very code that builds the trainer's rows.

`to_example` and `tokenize_sft` (data.py) turn a line into input ids and labels exactly as `prepare` does for a run;
SFTTrainer then keeps the first `max_length` tokens and drops rows left without a label. What is left, and how many
of those carry a loss, is what one epoch trains on. The tokenizer loads offline (`local_files_only`), through loading.py like a run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneline.analysis.local_tokens import TrainedCount

from ..base import BackendError
from .data import tokenize_sft
from .examples import to_example
from .run_config import LocalConfig


def fed_counts(ids: list[int], labels: list[int], max_length: int) -> TrainedCount:
    """What truncation at max_length leaves of one row (SFTTrainer keeps the first max_length tokens)."""
    trained = [label != -100 for label in labels]
    kept = sum(trained[:max_length])
    # TRL then drops a row left fully masked by the cut ("Dropping fully masked examples"): the model sees none of it.
    return TrainedCount(
        full=len(ids),
        fed=min(len(ids), max_length) if kept else 0,
        trained=kept,
        cut_trained=sum(trained[max_length:]),
    )


class LocalTokenCounter:
    """An `ExampleCounter` (analysis/local_tokens.py) for one local model folder and run config."""

    def __init__(self, cfg: LocalConfig, tokenizer: Any) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.max_length = cfg.max_length
        self.name = Path(cfg.base_model or "local").name

    def count(self, obj: dict[str, Any]) -> TrainedCount | None:
        try:
            example = to_example(obj, 1)
        except BackendError:
            return None  # not trainable locally: the format findings say why
        if example.format == "preference":
            return None  # DPO rows are not labels; their length is checked at the pre-flight
        try:
            tokenized = tokenize_sft([example], self.tokenizer, self.cfg.assistant_only_loss)
        except BackendError:
            return None
        if tokenized.rows:
            row = tokenized.rows[0]
            return fed_counts(row["input_ids"], row["labels"], self.max_length)
        # Every answer has weight 0: `prepare` drops the example, so the model is fed none of it.
        return TrainedCount(full=tokenized.lengths[0], fed=0, trained=0, cut_trained=0)


def load_counter(model: str, cfg: LocalConfig | None = None) -> LocalTokenCounter:
    """The counter for a model folder (or a cached hub id), offline; a missing model raises one sentence."""
    from .loading import load_tokenizer

    cfg = (cfg or LocalConfig()).model_copy(update={"base_model": model})
    # Checking a file never downloads; the process's environment is left alone (a language server also starts
    # training runs, which may fetch a hub model).
    return LocalTokenCounter(cfg, load_tokenizer(cfg, local_files_only=True))
