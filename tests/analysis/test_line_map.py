"""The slot -> line map the engine keeps under edits: equal to a plain list's positions after any splices."""

from __future__ import annotations

import random

import pytest

from tuneline.analysis import Dataset, line_map
from tuneline.analysis.line_map import LineMap

from .test_engine import LINE_POOL, _as_tuples, engine


def _check(lines: LineMap, model: list[int]) -> None:
    assert len(lines) == len(model)
    assert lines.slots(0, len(model)) == model
    for i, slot in enumerate(model):
        assert lines.line_of(slot) == i


@pytest.mark.parametrize("spacing", [line_map.SPACING, 4, 1])
def test_random_splices_keep_every_slot_on_its_line(monkeypatch, spacing):
    monkeypatch.setattr(line_map, "SPACING", spacing)  # small gaps: the re-spacing path runs often
    rng = random.Random(spacing)
    lines, model = LineMap(), []
    for _ in range(600):
        start = rng.randint(0, len(model))
        end = min(len(model), start + rng.choice([0, 0, 1, 1, 2, 5]))
        count = rng.choice([0, 1, 1, 2, 3, end - start])
        slots = lines.splice(start, end, count)
        if count == end - start:
            assert slots == model[start:end]  # a same-size replacement keeps its slots
        else:
            assert not set(slots) & set(model)  # new lines get new slots
        model[start:end] = slots
        _check(lines, model)
    removed = model[:3]
    lines.splice(0, 3, 0)
    for slot in removed:
        with pytest.raises(KeyError):
            lines.line_of(slot)


def test_many_inserts_at_one_spot_keep_findings_equal_to_a_fresh_analysis(monkeypatch):
    """Past the point where the labels between two lines run out (every label is spaced again), findings still
    point at the right lines."""
    monkeypatch.setattr(line_map, "SPACING", 8)
    eng = engine()
    lines = list(LINE_POOL) * 3
    ds = Dataset(eng, lines)
    rng = random.Random(5)
    for i in range(60):
        new = [rng.choice(LINE_POOL)]
        ds.splice(7, 7, new)
        lines[7:7] = new
        if i % 7 == 0:
            ds.splice(20, 21, [])
            del lines[20]
        assert _as_tuples(ds.findings()) == _as_tuples(Dataset(eng, lines).findings())
