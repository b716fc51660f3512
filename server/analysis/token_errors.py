"""The error a tokenizer that cannot load raises, apart from `tokens.py`: the compiled engine (`native.py`) builds
`tokens.py` with mypyc, which cannot compile a subclass of a built-in exception."""

from __future__ import annotations


class EncodingUnavailable(RuntimeError):
    """The encoding is neither bundled nor cached, and could not be downloaded."""
