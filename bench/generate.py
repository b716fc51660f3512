"""Deterministic chat datasets for benchmarks: ~500 bytes per example of real English, one shared system prompt.

python bench/generate.py 100000 bench/data/chat-100k.jsonl
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
from pathlib import Path


def as_installed() -> None:
    """Run the measured programs as an installed tuneline runs: with its bytecode cached. A shell that sets
    PYTHONDONTWRITEBYTECODE (this sandbox does) makes a checkout compile its ~100 modules again on every run (~80 ms
    of `check`'s startup here), which no pip-installed copy does: pip compiles them at install. Children inherit
    this environment; the first run writes the cache and the best of several runs counts."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _sentences() -> list[str]:
    """Real English sentences from Python's bundled documentation (offline, identical on every machine)."""
    from pydoc_data.topics import topics

    text = " ".join(topics[k] for k in sorted(topics))
    parts = [" ".join(p.split()) for p in re.split(r"(?<=[.?!])\s+", text)]
    return [p for p in parts if 30 <= len(p) <= 240 and p.isascii()]


SENTENCES = _sentences()
SYSTEM = "You are Nimbus, the support assistant for Acme Cloud Drive. Answer briefly, accurately and kindly."


def sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES)


def example(rng: random.Random, i: int) -> dict:
    user = f"#{i} " + sentence(rng)
    answer = " ".join(sentence(rng) for _ in range(rng.randint(2, 3)))
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ]
    }


def write(n: int, path: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(example(rng, i), ensure_ascii=False) + "\n")
    return path


def dataset(n: int) -> Path:
    """A cached dataset of `n` examples under bench/data/."""
    path = Path(__file__).parent / "data" / f"chat-{n}.jsonl"
    return path if path.exists() else write(n, path)


if __name__ == "__main__":
    write(int(sys.argv[1]), Path(sys.argv[2]))
