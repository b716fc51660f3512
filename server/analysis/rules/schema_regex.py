"""The regular expressions of a tool's JSON Schema, run with a time limit (TL122).

Why: the schema comes from the dataset, and jsonschema runs its `pattern` and `patternProperties` with `re`, which
has no time limit: `"pattern": "^(a+)+$"` against 28 a's and a `!` took 13 s in `tuneline check`, a few more a's
take hours, and an editor's language server would hang on the file. Here those keywords (and `additionalProperties`,
which matches property names against `patternProperties`) search with the `regex` module and a timeout. A pattern
that runs out of time is not judged (no finding from it) and not run again in this process; one `regex` cannot
compile is not judged either (`check_schema` has already refused patterns that are not regular expressions).
Every other keyword, and every message, is jsonschema's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import regex

PATTERN_SECONDS = 0.05  # one pattern on one value: a sane pattern takes microseconds
_SLOW_MAX = 1024
_slow: set[str] = set()  # patterns that ran out of time: not run again


def search(pattern: str, text: str) -> bool | None:
    """Whether `pattern` is found in `text` (a search, as JSON Schema asks), or None when that cannot be told in
    time, or the pattern does not compile."""
    if pattern in _slow:
        return None
    try:
        return regex.search(pattern, text, timeout=PATTERN_SECONDS) is not None
    except TimeoutError:
        if len(_slow) < _SLOW_MAX:
            _slow.add(pattern)
        return None
    except (regex.error, ValueError, RecursionError, OverflowError):
        return None


Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[Any]]


def _pattern(validator: Any, pattern: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if validator.is_type(instance, "string") and isinstance(pattern, str) and search(pattern, instance) is False:
        yield _error(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if not validator.is_type(instance, "object") or not isinstance(patterns, dict):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(base: Keyword) -> Keyword:
    """jsonschema's own `additionalProperties` (`base`), except where `patternProperties` decide which names are
    additional: a name no pattern is found in, where an undecided pattern counts as found (no finding from it)."""

    def check(validator: Any, extra_schema: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        patterns = schema.get("patternProperties")
        if not isinstance(patterns, dict) or not patterns:
            yield from base(validator, extra_schema, instance, schema)
            return
        if not validator.is_type(instance, "object"):
            return
        named = schema.get("properties", {})
        extras = [
            key for key in instance if key not in named and all(search(pattern, key) is False for pattern in patterns)
        ]
        if validator.is_type(extra_schema, "object"):
            for key in extras:
                yield from validator.descend(instance[key], extra_schema, path=key)
        elif extra_schema is False and extras:
            verb = "does" if len(extras) == 1 else "do"
            names = ", ".join(repr(key) for key in sorted(extras))
            listed = ", ".join(repr(pattern) for pattern in sorted(patterns))
            yield _error(f"{names} {verb} not match any of the regexes: {listed}")

    return check


def _error(message: str) -> Any:
    from jsonschema import ValidationError

    return ValidationError(message)


@lru_cache(maxsize=16)
def bounded(cls: Any) -> Any:
    """The validator class `cls` with its regular expressions under a time limit."""
    import jsonschema

    keywords = {"pattern": _pattern, "patternProperties": _pattern_properties}
    if "additionalProperties" in cls.VALIDATORS:
        keywords["additionalProperties"] = _additional_properties(cls.VALIDATORS["additionalProperties"])
    return jsonschema.validators.extend(cls, keywords)
