"""Stable ids for a file's lines ("slots"), and the line each one is on now, cheap to keep under inserts and deletes.

File-level rules remember examples by slot, so that an edit above them does not touch their state; they ask for a
slot's line only when they report. A plain slot -> line map must renumber every line below an inserted or deleted
one: ~3 ms of each such edit in a 100k-line file, the larger part of the edit. Here each slot has an order label
instead (labels increase down the file, spaced `SPACING` apart), and a line is found by bisecting the sorted labels:
an insert takes labels from the gap between its neighbours and a delete only drops them, so an edit costs a list
move in C and work for its own lines. When a gap runs out (about 32 inserts at one spot) every label is spaced again,
once, in O(lines).
"""

from __future__ import annotations

from bisect import bisect_left

SPACING = 1 << 32
_LOG_MAX = 256


class LineMap:
    """Slots in line order. `splice` mirrors a list's slice assignment; `line_of` is O(log lines)."""

    __slots__ = ("_label_of", "_labels", "_log", "_log_start", "_next", "_slots", "moves")

    def __init__(self) -> None:
        self._slots: list[int] = []  # slot of each line, in line order
        self._labels: list[int] = []  # label of each line: strictly increasing
        self._label_of: dict[int, int] = {}
        self._next = 0
        self.moves = 0  # how many splices moved lines: a line resolved since then is still on it
        self._log: list[tuple[int, int]] = []  # the last moves: (end of the replaced lines, change in line count)
        self._log_start = 0  # the `moves` count of the log's first entry

    def __len__(self) -> int:
        return len(self._slots)

    def slots(self, start: int, end: int) -> list[int]:
        return self._slots[start:end]

    def splice(self, start: int, end: int, count: int) -> list[int]:
        """Replace lines [start, end) with `count` lines and return their slots. The same number of lines keeps its
        slots (a changed line stays the same example to the rules); otherwise the new lines get new slots."""
        if count == end - start:
            return self._slots[start:end]
        self.moves += 1
        self._log.append((end, count - (end - start)))
        if len(self._log) > _LOG_MAX:
            del self._log[: _LOG_MAX // 2]
            self._log_start += _LOG_MAX // 2
        label_of = self._label_of
        for slot in self._slots[start:end]:
            del label_of[slot]
        new = list(range(self._next, self._next + count))
        self._next += count
        labels = self._labels
        low = labels[start - 1] if start > 0 else 0
        high = labels[end] if end < len(labels) else low + (count + 1) * SPACING
        self._slots[start:end] = new
        if high - low > count:
            step = high - low
            fresh = [low + step * (i + 1) // (count + 1) for i in range(count)]
            labels[start:end] = fresh
            label_of.update(zip(new, fresh))
        else:  # no room left between the neighbours: space every label again
            self._labels = list(range(SPACING, SPACING * (len(self._slots) + 1), SPACING))
            self._label_of = dict(zip(self._slots, self._labels))
        return new

    def in_order(self) -> list[int]:
        """Every line's slot, in line order (the map's own list: read it, do not change it)."""
        return self._slots

    def slot_at(self, line: int) -> int:
        return self._slots[line]

    def follow(self, slot: int, line: int, since: int) -> int:
        """The line `slot` is on now, given that it was on `line` when `moves` was `since`: from the splice log (a
        few additions, cheaper than a bisect), or `line_of` when the log no longer reaches back that far."""
        if since < self._log_start:
            return self.line_of(slot)
        for end, delta in self._log[since - self._log_start :]:
            if line >= end:
                line += delta
        return line

    def line_of(self, slot: int) -> int:
        """The line `slot` is on now (KeyError for a slot no longer in the file)."""
        return bisect_left(self._labels, self._label_of[slot])
