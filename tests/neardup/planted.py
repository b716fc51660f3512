"""Planted near duplicates among real, distinct support examples: shared by the engine, CLI and LSP tests."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = (REPO / "examples" / "support-chat.jsonl").read_text(encoding="utf-8").splitlines()[:61]  # no exact dups
SYSTEM = json.loads(SUPPORT[0])["messages"][0]["content"]


def chat(user: str, answer: str) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer},
            ]
        }
    )


PARAPHRASE = chat(  # of line 2 (index 1)
    "Is it possible to get my money back for the yearly plan?",
    "Yes. Yearly plans can be refunded completely within 14 days after you buy. Go to Billing → Plan → Request refund.",
)
REORDERED = chat(  # of line 3 (index 2)
    "Why is my upload stuck at 99%?",
    "If it stays there for over 10 minutes, cancel and upload again. Large files can take a minute. The last percent "
    "is the server verifying the file.",
)
NUMBERS = chat(  # of the "15 GB" line
    "How much storage does the free plan include?",
    "The free plan includes 25 GB shared across files, photos and backups.",
)
NUMBERS_SOURCE = next(i for i, line in enumerate(SUPPORT) if "15 GB" in line)
