"""mypyc's class options for the modules the compiled build compiles (`native.MODULES`), without mypy at run time.

Why a module of its own: the build compiles `if TYPE_CHECKING: ... else: ...` as if the `else` could never run, so a
compiled module cannot hold its own fallback. This module is never compiled: mypy sees mypy_extensions' decorator
through it, and Python runs the stand-in below, which leaves the class as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

C = TypeVar("C", bound=type)

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*_names: str, **_options: object) -> Callable[[C], C]:
        """The class unchanged: only the build reads these options."""
        return lambda cls: cls


__all__ = ["mypyc_attr"]
