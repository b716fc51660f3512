"""Caller key -> matrix row bookkeeping, shared by the lexical and the semantic near-duplicate index.

Both indexes keep one numpy row per example and let an editor add and remove examples one at a time; a removed
example's row goes on a free list and the next new key takes it, so the matrices never need compacting and row
numbers stay valid between edits. The subclass owns the matrices and grows them when a key takes a new row.
"""

from __future__ import annotations

from collections.abc import Hashable


class KeyedRows:
    """`_keys[row]` is the key of each row (None for a free row), `_row[key]` the row of each key."""

    def __init__(self) -> None:
        self._keys: list[Hashable | None] = []
        self._row: dict[Hashable, int] = {}
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._row)

    def _take_row(self, key: Hashable) -> int:
        """A row for a key that has none: the last freed one, else a new one at the end (`len(self._keys) - 1`)."""
        if self._free:
            row = self._free.pop()
            self._keys[row] = key
        else:
            row = len(self._keys)
            self._keys.append(key)
        self._row[key] = row
        return row

    def _take_rows(self, keys: list[Hashable]) -> list[int]:
        """`_take_row` of each key, in order (in one step when `_append_rows` can)."""
        rows = self._append_rows(keys)
        return list(rows) if rows is not None else [self._take_row(key) for key in keys]

    def _append_rows(self, keys: list[Hashable]) -> range | None:
        """The next rows, in one step, for new distinct keys when no freed row waits to be reused (a file's first
        indexing: 100k `_take_row` calls cost ~0.1 s); None otherwise. The caller grows its matrices to match."""
        if self._free or len(set(keys)) != len(keys) or not self._row.keys().isdisjoint(keys):
            return None
        start = len(self._keys)
        self._keys.extend(keys)
        rows = range(start, start + len(keys))
        self._row.update(zip(keys, rows))
        return rows

    def _free_row(self, key: Hashable) -> int | None:
        """Forget `key` and put its row on the free list; the row, or None when the key had none."""
        row = self._row.pop(key, None)
        if row is not None:
            self._keys[row] = None
            self._free.append(row)
        return row
