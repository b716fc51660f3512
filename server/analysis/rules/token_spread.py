"""TL202, TL203: length outliers and unpredictable answer lengths, and the token numbers of the summary.

Why one rule owns the token distribution: the outlier fence, the percentiles, the histogram and the billed total
all read the same sorted list, which is kept sorted incrementally (insort for an edit; a bulk load appends and the
list is sorted once, when it is next read: `check` adds a large file 1,000 lines at a time, and sorting after each
run made the loading quadratic, 1.6 s of 6.8 at a million lines).
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Iterator, Sequence

from ..types import Finding
from .file_rule import Example, FileRule, FileView, discard

_BULK = 256


def quantile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank quantile of a sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


class TokenSpread(FileRule):
    codes = ("TL202", "TL203")

    def __init__(self, limit: int | None) -> None:
        # The target's per-example limit: tokens above it are truncated and not billed. None: not documented.
        self.limit = limit if limit is not None else sys.maxsize
        self._tokens: list[int] = []  # sorted unless `_unsorted` (a bulk load since the last read)
        self._slots_by_tokens: dict[int, set[int]] = {}
        self._answer_tokens: list[int] = []
        self._unsorted = False
        self.total = 0
        self.billed = 0
        self.over_limit = 0
        self.images = 0  # image parts, whose tokens `total` leaves out
        self.estimated = 0  # examples the target's tokenizer could not count (o200k_base estimates in `total`)

    @property
    def sorted(self) -> list[int]:
        """Every example's tokens, sorted."""
        self._sort()
        return self._tokens

    @property
    def _answers(self) -> list[int]:
        self._sort()
        return self._answer_tokens

    def _sort(self) -> None:
        if self._unsorted:
            self._tokens.sort()
            self._answer_tokens.sort()
            self._unsorted = False

    def add(self, examples: Sequence[Example]) -> None:
        bulk = len(examples) > _BULK
        if not bulk:
            self._sort()  # insort needs the sorted lists
        tokens, answers, by_tokens, limit = self._tokens, self._answer_tokens, self._slots_by_tokens, self.limit
        total = billed = over = images = estimated = 0  # summed in locals: five attribute writes a line add up
        for slot, r in examples:
            n = r.tokens
            if bulk:
                tokens.append(n)
            else:
                bisect.insort(tokens, n)
            slots = by_tokens.get(n)
            if slots is None:
                by_tokens[n] = {slot}
            else:
                slots.add(slot)
            if r.assistant_tokens:
                if bulk:
                    answers.append(r.assistant_tokens)
                else:
                    bisect.insort(answers, r.assistant_tokens)
            total += n
            billed += n if n < limit else limit
            over += n > limit
            images += r.images
            estimated += r.tokens_estimated
        self.total += total
        self.billed += billed
        self.over_limit += over
        self.images += images
        self.estimated += estimated
        if bulk:
            self._unsorted = True

    def remove(self, examples: Sequence[Example]) -> None:
        tokens, answers, limit = self.sorted, self._answers, self.limit
        for slot, r in examples:
            n = r.tokens
            del tokens[bisect.bisect_left(tokens, n)]
            discard(self._slots_by_tokens, n, slot)
            if r.assistant_tokens:
                del answers[bisect.bisect_left(answers, r.assistant_tokens)]
            self.total -= n
            self.billed -= min(limit, n)
            self.over_limit -= n > limit
            self.images -= r.images
            self.estimated -= r.tokens_estimated

    def findings(self, view: FileView) -> Iterator[Finding]:
        tokens = self.sorted
        if len(tokens) >= 20:
            q1, q3, median = quantile(tokens, 0.25), quantile(tokens, 0.75), quantile(tokens, 0.5)
            fence = q3 + 3 * max(q3 - q1, median / 2, 1)  # a floor on spread: uniform files stay quiet
            start = bisect.bisect_right(tokens, fence)
            for value in sorted(set(tokens[start:])):
                for slot in self._slots_by_tokens.get(value, ()):
                    line = view.line_of(slot)
                    yield Finding(
                        "TL202",
                        f"{value:,} tokens, far above this file's typical example ({median:,} median, "
                        f"{q3:,} at the 75th percentile).",
                        line,
                        view.whole(line),
                    )
        answers = self._answers
        if len(answers) >= 20:
            p10, p90 = quantile(answers, 0.1), quantile(answers, 0.9)
            if p90 >= 20 * max(p10, 1):
                yield Finding(
                    "TL203",
                    f"Assistant answers range from {p10:,} to {p90:,} tokens (10th to 90th percentile): "
                    "the tuned model's answer length will be unpredictable.",
                )

    def histogram(self) -> list[tuple[str, int]]:
        """Examples per token bucket (powers of two), for stats."""
        tokens = self.sorted
        if not tokens:
            return []
        out = []
        low, high, below = 0, 64, 0
        while low <= tokens[-1]:
            upto = bisect.bisect_right(tokens, high)  # examples with at most `high` tokens
            out.append((f"{low + 1 if low else 0}-{high}", upto - below))
            low, high, below = high, high * 2, upto
        return out
