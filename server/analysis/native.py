"""The compiled per-line engine: the analysis modules that every line runs through, built to C with mypyc.

Why: a line's analysis is ~100 µs of Python spread thin over a few hundred small functions (issue #14's profiles
are flat); compiled, the same source runs ~25% faster with no rule written twice. The build is optional, made by
`python -m tuneline.native_build` (`scripts/setup` runs it) into this interpreter's site-packages, never into the
source tree, so the Python files stay the one source of truth.

`attach` puts the compiled modules in front of their sources only when the build was made from exactly the
analysis sources beside it (every file's SHA-256, kept in the build's stamp): after any edit, or on another
interpreter, the Python modules run, as they would without a build. Set TUNELINE_NATIVE=0 to run them anyway.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Iterable
from functools import cache
from pathlib import Path

# The modules a line runs through (the profile's top), as paths under the package. `scan.py` and the rest stay
# Python: a compiled function has no recursion limit (mypyc/mypyc#582), and the scanner recurses as deep as the
# line nests, where Python's limit turns a hostile line into a clear error. `engine.py` stays Python too: its
# `analyze_line` is replaced by tests, which a compiled caller would not see; and so do the file-level rules, whose
# base class (`FileRule`) is the contract a new rule, compiled or not, subclasses.
MODULES = (
    "analysis/linecheck.py",
    "analysis/counting.py",
    "analysis/formats.py",
    "analysis/json_read.py",
    "analysis/rules/base.py",
    "analysis/rules/content_lines.py",
    "analysis/rules/content_personal.py",
    "analysis/rules/content_texts.py",
    "analysis/rules/other_formats.py",
    "analysis/rules/text_scan.py",
    "analysis/rules/content_tools.py",
    "analysis/rules/platform.py",
    "analysis/secret_patterns.py",
    "analysis/sharing.py",
    "analysis/tokens.py",
    "analysis/word_counts.py",
    "analysis/rank_index.py",
    "analysis/lines.py",
    "analysis/report.py",
)
# Written in C, where Python's objects were the cost (each module's header says why), built beside the compiled
# modules and found through the same folder: (module name, source under the package). Each has a Python equal that
# runs without a build.
C_MODULES = (
    ("tuneline.analysis._word_table", "analysis/word_table.c"),
    ("tuneline.neardup._minhash", "neardup/minhash.c"),
    ("tuneline.neardup._word_ids", "neardup/word_ids.c"),
    ("tuneline.neardup._cell_hits", "neardup/cell_hits.c"),
)
GROUP = "tuneline_native"  # the shared library's module name is GROUP + "__mypyc"
STAMP = "stamp.json"
PACKAGE = Path(__file__).resolve().parent.parent  # the `tuneline` package (server/ in the repository)


def build_dir() -> Path:
    """Where this interpreter's build lives (site-packages: per interpreter and per virtual environment)."""
    return Path(sysconfig.get_path("platlib")) / GROUP


def sources() -> list[str]:
    """Every source the build depends on, as paths under the package: the compiled modules call into the rest, so
    an edit anywhere in `analysis/` makes the build stale, and so does an edit of a C module elsewhere."""
    root = PACKAGE / "analysis"
    c_folders = {(PACKAGE / rel).parent for _, rel in C_MODULES}
    found = [*root.rglob("*.py"), *root.rglob("*.c"), *(PACKAGE / rel for _, rel in C_MODULES)]
    found += [header for folder in c_folders for header in folder.glob("*.h")]  # what the C modules include
    return sorted({p.relative_to(PACKAGE).as_posix() for p in found if "__pycache__" not in p.parts})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint() -> dict[str, object]:
    """What a build must have been made from to run here."""
    return {
        "modules": list(MODULES),
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "sources": {rel: digest(PACKAGE / rel) for rel in sources()},
    }


def _stat(path: Path) -> list[int]:
    """What a file's stat must still say for its recorded hash to be trusted without reading it."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def stats(sources: Iterable[str]) -> dict[str, list[int]]:
    """The stamp's stats of `sources` (paths under the package), recorded by the build."""
    return {rel: _stat(PACKAGE / rel) for rel in sources}


def stamp_matches() -> bool:
    """Whether this interpreter's build has a stamp that describes the sources beside it."""
    try:
        stamp = json.loads((build_dir() / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and _fresh(stamp)


def _fresh(stamp: dict[str, object]) -> bool:
    """Whether the stamp describes these sources. Files whose size and mtime match the stamp's are taken as they
    were (an import must stay cheap: ~60 stats); any other file is hashed."""
    if stamp.get("modules") != list(MODULES) or stamp.get("ext_suffix") != sysconfig.get_config_var("EXT_SUFFIX"):
        return False
    recorded = stamp.get("sources")
    recorded_stats = stamp.get("stats")
    if not isinstance(recorded, dict) or not isinstance(recorded_stats, dict) or sorted(recorded) != sources():
        return False
    for rel, sha in recorded.items():
        path = PACKAGE / rel
        try:
            stat = _stat(path)
        except OSError:
            return False
        if recorded_stats.get(rel) != stat and digest(path) != sha:
            return False
    return True


def attach(path: list[str], package: str) -> bool:
    """Put the build's folder for `package` ("analysis", "analysis/rules" or "neardup") before its sources in the
    package's `__path__`, when a fresh build exists. Returns whether the compiled modules are in use."""
    if not _load():
        return False
    folder = str(build_dir() / "tuneline" / package)
    if folder not in path:
        path.insert(0, folder)
    return True


def in_use() -> bool:
    """Whether this process runs the compiled engine (its line analysis is a compiled module)."""
    from . import linecheck

    return linecheck.__file__ is not None and not linecheck.__file__.endswith(".py")


@cache
def _load() -> bool:
    """Check the build's stamp and load its shared library (which the modules' small shims import by name); once
    a process, for both packages."""
    if os.environ.get("TUNELINE_NATIVE", "1").strip() in ("0", "false", "no", "off"):
        return False
    if not stamp_matches():
        return False
    folder = build_dir()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = [rel[: -len(".py")] for rel in MODULES] + [name.split(".", 1)[1].replace(".", "/") for name, _ in C_MODULES]
    if not all((folder / "tuneline" / (rel + suffix)).is_file() for rel in built):
        return False  # a half-copied build: compiled and Python modules of one build must not mix
    name = GROUP + "__mypyc"
    if name in sys.modules:
        return True
    library = folder / (name + suffix)
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:
        return False
    sys.modules[name] = module
    return True
