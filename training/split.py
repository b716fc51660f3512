"""A seeded train/validation split that never puts the same example on both sides.

Exact duplicates (the engine's whitespace-normalised `dup_key`) are kept together in one group, so a held-out
example can never also be a training example: that would make the validation loss a lie.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tuneline.analysis import Dataset

from .runs import atomic_write_text

DEFAULT_FRACTION = 0.1
DEFAULT_SEED = 42


@dataclass
class SplitPlan:
    fraction: float
    seed: int
    train_lines: list[int]  # 0-based line numbers of examples in the original file
    validation_lines: list[int]

    def to_json(self) -> dict[str, object]:
        return {
            "fraction": self.fraction,
            "seed": self.seed,
            "train_examples": len(self.train_lines),
            "validation_examples": len(self.validation_lines),
        }


def check_fraction(fraction: float) -> float:
    if not 0.0 < fraction <= 0.5:
        raise ValueError(f"the validation split must be above 0 and at most 0.5, not {fraction}")
    return fraction


def plan_split(dataset: Dataset, fraction: float = DEFAULT_FRACTION, seed: int = DEFAULT_SEED) -> SplitPlan:
    """Pick whole duplicate groups at random (seeded) until the validation side holds `fraction` of examples."""
    check_fraction(fraction)
    groups: dict[object, list[int]] = {}
    for line in range(len(dataset)):
        result = dataset.result(line)
        if not result.is_example:
            continue
        key = result.dup_key if result.dup_key is not None else ("line", line)
        groups.setdefault(key, []).append(line)
    ordered = list(groups.values())
    total = sum(len(g) for g in ordered)
    target = max(1, round(total * fraction)) if total >= 2 else 0
    rng = random.Random(seed)
    rng.shuffle(ordered)
    validation: list[int] = []
    train: list[int] = []
    for group in ordered:
        if len(validation) < target:
            validation.extend(group)
        else:
            train.extend(group)
    return SplitPlan(fraction, seed, sorted(train), sorted(validation))


def write_split(dataset: Dataset, plan: SplitPlan, folder: Path, stem: str = "data") -> tuple[Path, Path]:
    """Write `<stem>.train.jsonl` and `<stem>.validation.jsonl` into `folder` (atomically); the user's file is
    not touched. The names are what the provider's dashboard shows."""
    train = folder / f"{stem}.train.jsonl"
    validation = folder / f"{stem}.validation.jsonl"
    atomic_write_text(train, "".join(dataset.text(i) + "\n" for i in plan.train_lines))
    atomic_write_text(validation, "".join(dataset.text(i) + "\n" for i in plan.validation_lines))
    return train, validation
