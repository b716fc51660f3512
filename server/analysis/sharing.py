"""One object for equal values that many lines repeat, so results kept for every line of a file share it.

Why: a file keeps a result per line, and most lines repeat a few values (the system prompt, the same content
facts): a copy per line cost tens of MB on 100k lines. Bounded, so a file of all-distinct values does not grow it
without end: past the limit, new values are returned as they are.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class Shared(Generic[T]):
    __slots__ = ("_kept", "_limit")

    def __init__(self, limit: int = 4096) -> None:
        self._kept: dict[T, T] = {}
        self._limit = limit

    def __call__(self, value: T) -> T:
        kept = self._kept.get(value)
        if kept is not None:
            return kept
        if len(self._kept) < self._limit:
            self._kept[value] = value
        return value
