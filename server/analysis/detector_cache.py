"""detect-secrets' pattern detectors without importing detect-secrets in every process.

Importing `detect_secrets` costs ~0.24 s here, once per process: it brings `requests`, `urllib3` and `http.client`
for the verification we never run. A large file almost always has a line that needs the detectors (any URL with a
digit in it), so `tuneline check` paid that on every run, ~15% of a 20k-line check. What TL401 uses of a detector
is data: its compiled `denylist` and its `secret_type`. That data is kept in tuneline's cache, under a key made of
the installed plugin files' names, sizes and modification times (and this module's format), and compiling the 44
patterns from it costs ~14 ms. A detector that judges its own matches (it overrides `analyze_string`: JWT checks that
the header is JSON) is imported the first time a line passes its gate.

The cache is written once per installation of detect-secrets; anything amiss with it (unreadable, another shape,
another key) means the plugins are imported as before and the file is written again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .cache_files import keep_newest, user_cache, write_cache_file

_FORMAT = 1  # bump when what is stored changes


class CachedDetector:
    """A pattern detector rebuilt from the cache: what `text_scan` reads of detect-secrets' own (`denylist`,
    `secret_type`), and for a detector that judges its matches, its `analyze_string`, loaded on first call."""

    __slots__ = ("_real", "denylist", "module", "name", "own", "secret_type")

    def __init__(self, name: str, module: str, secret_type: str, own: bool, denylist: tuple[re.Pattern, ...]) -> None:
        self.name, self.module, self.secret_type, self.own, self.denylist = name, module, secret_type, own, denylist
        self._real: Any = None

    def analyze_string(self, line: str) -> Iterator[str]:
        if self._real is None:
            self._real = getattr(importlib.import_module(self.module), self.name)()
        return self._real.analyze_string(line)


def _plugins_dir() -> Path | None:
    """detect-secrets' plugins folder, found without importing the package (`find_spec` of a top-level package
    only locates it)."""
    try:
        spec = importlib.util.find_spec("detect_secrets")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "plugins"
    return path if path.is_dir() else None


def _fingerprint(plugins: Path, excluded: Iterable[str]) -> str:
    """Changes whenever a plugin file (or the package's `__init__`, its version) does, or what is left out."""
    parts: list[Any] = [_FORMAT, sorted(excluded)]
    for path in sorted([*plugins.glob("*.py"), plugins.parent / "__init__.py", plugins.parent / "__version__.py"]):
        with contextlib.suppress(OSError):
            st = path.stat()
            parts.append([str(path), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _cache_file(key: str) -> Path:
    return user_cache() / f"detect-secrets-{key}.json"


def _imported(excluded: frozenset[str]) -> list[dict[str, Any]]:
    """Every pattern detector, read from detect-secrets itself (the slow path), in its own order."""
    import inspect  # here: ~10 ms to import, and only this slow path needs it
    import pkgutil

    import detect_secrets.plugins as plugins
    from detect_secrets.plugins.base import RegexBasedDetector

    found = []
    for info in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"detect_secrets.plugins.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, RegexBasedDetector)
                and cls is not RegexBasedDetector
                and cls.__module__ == module.__name__
                and name not in excluded
            ):
                found.append(
                    {
                        "name": name,
                        "module": module.__name__,
                        "secret_type": cls.secret_type,
                        "own": cls.analyze_string is not RegexBasedDetector.analyze_string,
                        "patterns": [[p.pattern, p.flags] for p in cls().denylist],
                    }
                )
    return found


def _valid(entries: Any) -> bool:
    return isinstance(entries, list) and all(
        isinstance(e, dict)
        and isinstance(e.get("name"), str)
        and isinstance(e.get("module"), str)
        and e["module"].startswith("detect_secrets.plugins.")
        and isinstance(e.get("secret_type"), str)
        and isinstance(e.get("own"), bool)
        and isinstance(e.get("patterns"), list)
        and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is int for p in e["patterns"]
        )
        for e in entries
    )


def _read(path: Path) -> list[dict[str, Any]] | None:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entries if _valid(entries) else None


def _build(entries: list[dict[str, Any]]) -> list[CachedDetector]:
    return [
        CachedDetector(
            e["name"], e["module"], e["secret_type"], e["own"], tuple(re.compile(p, f) for p, f in e["patterns"])
        )
        for e in entries
    ]


def load(excluded: frozenset[str]) -> list[CachedDetector]:
    """detect-secrets' pattern detectors but `excluded` (class names), in detect-secrets' order; empty when it is
    not installed."""
    plugins = _plugins_dir()
    if plugins is None:
        return []
    path = _cache_file(_fingerprint(plugins, excluded))
    entries = _read(path)
    if entries is not None:
        with contextlib.suppress(re.error, ValueError, TypeError, OverflowError):  # a file edited by hand
            return _build(entries)
    try:
        entries = _imported(excluded)
    except ImportError:  # a broken install: no detectors rather than a crash
        return []
    if write_cache_file(path, json.dumps(entries).encode()):  # a read-only cache is no error
        keep_newest(path.parent, "detect-secrets-*.json")  # a file per detect-secrets install: keep a few
    return _build(entries)


def load_imported(excluded: frozenset[str]) -> list[CachedDetector]:
    """The same list read from detect-secrets itself, bypassing the cache (tests compare the two)."""
    return _build(_imported(excluded))
