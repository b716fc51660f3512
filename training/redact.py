"""Keeping API keys out of everything tuneline writes or shows.

Keys reach the training child only through its environment. Providers still echo parts of them back (OpenAI's
401 says "Incorrect API key provided: sk-proj-****1234"), and SDK exceptions can carry request headers, so every
string that goes to `run.json`, the event log, a log file or the user passes through `redact` first.
"""

from __future__ import annotations

import os
import re

from tuneline.analysis.secret_patterns import LOOSE_KEY_FRAGMENTS, mask_keys

KEY_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "TUNELINE_API_KEY",
    "WANDB_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
)
_PROTECTED: set[str] = set()  # variables named at run time (`--api-key-env NAME`)
MASK = "[redacted]"
# The key shapes TL401 knows (one list, in tuneline.analysis.secret_patterns), in their looser forms: redaction
# also masks truncated keys and the partly masked ones providers echo back (OpenAI's 401 quotes sk-proj-****1234),
# and any bearer token.
_LOOKS_LIKE_KEY = re.compile(
    r"(?<![A-Za-z0-9_])(?:" + "|".join(LOOSE_KEY_FRAGMENTS) + r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*)"
)


def protect_env(name: str) -> None:
    """Redact the value of `name` from now on in this process: a key variable the user named at run time."""
    _PROTECTED.add(name)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return [v for name in (*KEY_ENV, *sorted(_PROTECTED)) if len(v := env.get(name, "")) >= 8]


def redact(text: str, extra: list[str] | None = None) -> str:
    """`text` with every known key value and anything shaped like a key replaced by a mask."""
    if not text:
        return text
    for value in [*secret_values(), *(extra or [])]:
        if value and value in text:
            text = text.replace(value, MASK)
    return _LOOKS_LIKE_KEY.sub(MASK, mask_keys(text, MASK))
