"""The fast indented JSON writer writes exactly what json.dumps(ensure_ascii=False, indent=2) writes (#14).

Why: `check --format json` and SARIF output are read by programs and pinned by golden files; a faster writer may
not move a byte.
"""

from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuneline.json_text import Lazy, dumps_indented

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_KEYS = st.text() | st.integers(-5, 5) | st.floats(allow_nan=False, width=32) | st.booleans() | st.none()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)


def _lazy(value):
    """`value` with every list made `Lazy` (its items lazily made too)."""
    if isinstance(value, list):
        return Lazy(_lazy(item) for item in value)
    if isinstance(value, dict):
        return {k: _lazy(v) for k, v in value.items()}
    return value


@settings(max_examples=600, deadline=None)
@given(_VALUES, st.integers(0, 4))
def test_same_text_as_json_dumps(value, indent):
    try:
        expected = json.dumps(value, ensure_ascii=False, indent=indent)
    except (TypeError, ValueError):
        return
    assert dumps_indented(value, indent) == expected
    # `check --format json` writes a report's diagnostics one at a time (`Lazy`): the text may not change
    assert dumps_indented(_lazy(value), indent) == expected
    assert dumps_indented(Lazy(iter([value, [], {}])), indent) == json.dumps(
        [value, [], {}], ensure_ascii=False, indent=indent
    )


class _Level(enum.IntEnum):
    LOW = 1


def test_subclasses_special_floats_and_refusals_follow_json():
    value = {"a": _Level.LOW, "b": [math.inf, -math.inf, math.nan, -0.0, 1e300], "c": ("x", {}), 1: [], None: {}}
    assert dumps_indented(value) == json.dumps(value, ensure_ascii=False, indent=2)
    with pytest.raises(TypeError):
        dumps_indented({"a": object()})
    with pytest.raises(TypeError):
        dumps_indented({("tuple", "key"): 1})
