"""Rules that read the raw line text: special tokens (TL119) and secrets (TL401).

Both look for things that appear literally in the JSON text, so they search the line itself and get exact spans
for free, with no JSON walk.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from functools import lru_cache

from ..types import Edit, Finding, Fix, Span

# Control tokens of OpenAI encodings and of common open-model chat templates.
_SPECIAL = re.compile(
    r"<\|(?:endoftext|endofprompt|im_start|im_end|im_sep|fim_prefix|fim_middle|fim_suffix|"
    r"begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|python_tag|"
    r"system|user|assistant|end|pad|unk)\|>"
)


def special_tokens(line: str) -> list[Finding]:
    if "<|" not in line:
        return []
    out = []
    for m in _SPECIAL.finditer(line):
        span = Span(m.start(), m.end())
        out.append(
            Finding(
                "TL119",
                f'Special token {m.group()} in the text: OpenAI rejects it ("invalid token") and open-model '
                "trainers read it as a control token.",
                span=span,
                fix=Fix(f"Remove {m.group()}", (Edit(span, ""),), safe=False),
            )
        )
    return out


# --- secrets -----------------------------------------------------------------------------------------------
# detect-secrets' pattern detectors, minus the public-IP one (addresses are not credentials). Its entropy and
# keyword detectors are left out: slow, and they flag ordinary text. A cheap prefilter runs first: every
# pattern detector's secret is a long run of key characters containing a digit, a PEM header or a URL with a
# password, so lines with none of these skip the library.
_EXCLUDED = {"IPPublicDetector"}
_RUN = re.compile(r"[A-Za-z0-9_\-+/=.]{20,}")
_DIGIT = re.compile(r"\d")
_OTHER = re.compile(r"PRIVATE KEY|://[^\s:/@\"]+:[^\s/@\"]+@")


@lru_cache(maxsize=1)
def _detectors() -> tuple:
    try:
        import detect_secrets.plugins as plugins
        from detect_secrets.plugins.base import RegexBasedDetector
    except ImportError:  # pragma: no cover - a core dependency, but never crash the linter over it
        return ()
    found = []
    for info in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"detect_secrets.plugins.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, RegexBasedDetector)
                and cls is not RegexBasedDetector
                and cls.__module__ == module.__name__
                and name not in _EXCLUDED
            ):
                found.append(cls())
    return tuple(found)


def _might_hold_secret(line: str) -> bool:
    for m in _RUN.finditer(line):
        if _DIGIT.search(m.group()):
            return True
    return _OTHER.search(line) is not None


def _redact(secret: str) -> str:
    return secret[:4] + "…" if len(secret) > 8 else "…"


def secrets(line: str) -> list[Finding]:
    if not _might_hold_secret(line):
        return []
    out: list[Finding] = []
    seen: set[tuple[int, int]] = set()
    for detector in _detectors():
        for secret in detector.analyze_string(line):
            start = line.find(secret)
            if start < 0:
                continue
            key = (start, start + len(secret))
            if key in seen:
                continue
            seen.add(key)
            out.append(
                Finding(
                    "TL401",
                    f"Possible {detector.secret_type} ({_redact(secret)}) in the data: remove it and rotate the "
                    "credential.",
                    span=Span(*key),
                )
            )
    return out
