"""The shipped TOML data files (providers.toml, models.toml), read from a JSON copy in the user cache.

Why: tomllib is pure Python. Parsing the shipped files took ~17 ms of every process that builds an engine
(providers.toml ~10 ms, models.toml ~3 ms and read twice: the model table and the image-token formula), about 8% of
a `check` of a 10-line file. A JSON copy decodes in ~0.4 ms.

The TOML stays the one source of truth. The copy is named by the SHA-256 of the file's bytes, so an edited or
upgraded file is parsed again and gets a new copy (the four newest copies of each file are kept). A copy that cannot be
read, decoded or written only means tomllib parses the file, as before. TOML's dates and times, which JSON lacks,
are written as one-key objects tagged with a NUL-prefixed name that no shipped key uses, and read back as the same
`datetime` values. Each call decodes afresh, so a caller may change what it gets without touching another's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .cache_files import keep_newest, user_cache, write_cache_file

_TAG = "\x00toml:"
_TYPES: dict[str, Any] = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}
_FORMAT = 1  # bump when the copy's layout changes
_copies: dict[Path, tuple[bytes, bytes]] = {}  # path → (the file's bytes, its JSON copy), for this process


def tomllib() -> ModuleType:
    """The TOML reader: the standard library's from Python 3.11, its `tomli` backport before. Imported on first
    use (~3 ms), which a warm cache never needs."""
    if sys.version_info >= (3, 11):
        import tomllib as module
    else:  # pragma: no cover - Python 3.10
        import tomli as module
    return module


def load(path: Path) -> dict[str, Any]:
    """`path`'s TOML as tomllib reads it. Raises what reading the file raises (OSError, UnicodeDecodeError) and
    tomllib's TOMLDecodeError, as parsing it directly would."""
    data = path.read_bytes()
    known = _copies.get(path)
    if known is not None and known[0] == data:
        return json.loads(known[1], object_hook=_revive)
    copy: Path | None = None
    with contextlib.suppress(RuntimeError, OSError, KeyError):  # platformdirs found no home folder: no copy
        copy = user_cache() / f"toml-{path.stem}-{hashlib.sha256(data).hexdigest()[:20]}-{_FORMAT}.json"
    if copy is not None:
        with contextlib.suppress(OSError, ValueError, RecursionError):
            text = copy.read_bytes()
            value = json.loads(text, object_hook=_revive)
            if isinstance(value, dict):
                _copies[path] = (data, text)
                return value
    value = tomllib().loads(data.decode("utf-8"))
    text = json.dumps(value, default=_tagged, ensure_ascii=False).encode("utf-8")
    if copy is not None and write_cache_file(copy, text):
        keep_newest(copy.parent, f"toml-{path.stem}-*.json")
    _copies[path] = (data, text)
    return value


def _tagged(value: Any) -> dict[str, str]:
    for name in ("datetime", "date", "time"):  # datetime first: it is a date too
        if isinstance(value, _TYPES[name]):
            return {_TAG + name: value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not a TOML value")


def _revive(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key.startswith(_TAG) and isinstance(value, str):
            kind = _TYPES.get(key[len(_TAG) :])
            if kind is not None:
                return kind.fromisoformat(value)
    return obj
