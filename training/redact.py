"""Keeping API keys out of everything tuneline writes or shows.

Keys reach the training child only through its environment. Providers still echo parts of them back (OpenAI's
401 says "Incorrect API key provided: sk-proj-****1234"), and SDK exceptions can carry request headers, so every
string that goes to `run.json`, the event log, a log file or the user passes through `redact` first.
"""

from __future__ import annotations

import os
import re

KEY_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "TOGETHER_API_KEY",
    "WANDB_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
)
MASK = "[redacted]"
_LOOKS_LIKE_KEY = re.compile(
    r"(?<![A-Za-z0-9_])(?:sk-[A-Za-z0-9_*\-]{16,}"  # OpenAI keys, also the masked form OpenAI echoes back
    r"|tgp_v1_[A-Za-z0-9_\-]{16,}"  # Together keys
    r"|hf_[A-Za-z0-9]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*)"
)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return [v for name in KEY_ENV if len(v := env.get(name, "")) >= 8]


def redact(text: str, extra: list[str] | None = None) -> str:
    """`text` with every known key value and anything shaped like a key replaced by a mask."""
    if not text:
        return text
    for value in [*secret_values(), *(extra or [])]:
        if value and value in text:
            text = text.replace(value, MASK)
    return _LOOKS_LIKE_KEY.sub(MASK, text)
