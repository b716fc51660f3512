"""Which validation file belongs to which training file: from settings, else from common names."""

from __future__ import annotations

import re
from pathlib import Path

_VALIDATION_WORDS = ("valid", "validation", "val", "test", "eval", "dev")
_TRAIN = re.compile(r"(?i)(?P<pre>^|[_\-.])train(?:ing)?(?P<post>[_\-.]|$)")


def validation_partners(train: Path) -> list[Path]:
    """Existing files that look like `train`'s validation split: train.jsonl -> valid.jsonl, x_train -> x_val, …"""
    stem = train.name[: -len(".jsonl")] if train.name.endswith(".jsonl") else train.stem
    m = _TRAIN.search(stem)
    if not m:
        return []
    out = []
    for word in _VALIDATION_WORDS:
        name = stem[: m.start()] + m.group("pre") + word + m.group("post") + stem[m.end() :]
        candidate = train.with_name(name + (".jsonl" if train.name.endswith(".jsonl") else train.suffix))
        if candidate.exists() and candidate != train:
            out.append(candidate)
    return out


def training_partner(validation: Path, configured: dict[Path, Path] | None = None) -> Path | None:
    """The training file a validation file was split from (None when it is not a validation file)."""
    for train, val in (configured or {}).items():
        if val.resolve() == validation.resolve():
            return train
    stem = validation.name[: -len(".jsonl")] if validation.name.endswith(".jsonl") else validation.stem
    for word in _VALIDATION_WORDS:
        m = re.search(rf"(?i)(^|[_\-.]){word}([_\-.]|$)", stem)
        if not m:
            continue
        for train_word in ("train", "training"):
            name = stem[: m.start()] + m.group(1) + train_word + m.group(2) + stem[m.end() :]
            candidate = validation.with_name(
                name + (".jsonl" if validation.name.endswith(".jsonl") else validation.suffix)
            )
            if candidate.exists() and candidate != validation:
                return candidate
    return None
