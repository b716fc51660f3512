"""Build tuneline's compiled per-line engine (`tuneline.analysis.native`) for the Python running this script.

    python -m tuneline.native_build [--force]

mypyc compiles the modules in `native.MODULES` from a copy of the package (the source tree is never written) and
the result goes to this interpreter's site-packages with a stamp of every analysis source's SHA-256; tuneline uses
it only while the sources match. Needs mypy (the `native` extra) and a C compiler; without them it says so in one
line and exits 1, and tuneline runs its Python modules as before. `scripts/setup` runs it; a pip-installed tuneline can too, with the `native` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .analysis import native

SETUP = """
from setuptools import Extension, setup
from mypyc.build import mypycify

setup(
    name="tuneline_native",
    ext_modules=mypycify(
        ["--ignore-missing-imports", "--follow-imports=silent", *{paths!r}],
        opt_level="3",
        multi_file=True,
        group_name={group!r},
    )
    + [Extension(name, [source], extra_compile_args=["-O2"]) for name, source in {extensions!r}],
)
"""


def build(force: bool = False) -> int:
    """Build (or keep) the compiled engine; 0 when one matching the sources is in place. Every failure is one
    sentence on stderr and 1: `scripts/setup` goes on, and tuneline runs its Python modules."""
    target = native.build_dir()
    if not force and native.stamp_matches():
        print(f"compiled engine up to date ({target})")
        return 0
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return _fail("mypy is not installed (pip install 'tuneline[native]')")
    started = time.perf_counter()
    try:
        problem = _build_into(target)
    except OSError as exc:  # a read-only site-packages, a full disk
        problem = f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
    if problem:
        return _fail(problem)
    print(f"compiled engine built in {time.perf_counter() - started:.0f} s ({target})")
    return 0


def _fail(reason: str) -> int:
    print(f"compiled engine not built: {reason}; tuneline runs its Python modules", file=sys.stderr)
    return 1


def _build_into(target: Path) -> str | None:
    """Compile a copy of the package and swap the result in for `target`; what went wrong, or None."""
    before = native.fingerprint()
    staging = target.with_name(target.name + ".new")
    with tempfile.TemporaryDirectory(prefix="tuneline-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(native.PACKAGE, work / "tuneline", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        paths = ["tuneline/" + rel for rel in native.MODULES]
        extensions = [(name, "tuneline/" + rel) for name, rel in native.C_MODULES]
        setup = SETUP.format(paths=paths, group=native.GROUP, extensions=extensions)
        (work / "setup.py").write_text(setup, encoding="utf-8")
        jobs = str(max(1, min(os.cpu_count() or 1, 8)))
        proc = subprocess.run(
            [sys.executable, "setup.py", "build_ext", "--build-lib", "out", "--build-temp", "temp", "--parallel", jobs],
            cwd=work,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            log = work.parent / "tuneline-native-build.log"
            log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
            return f"mypyc failed (log: {log})"
        if native.fingerprint() != before:
            return "the sources changed while it was building; run it again"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(work / "out", staging)
        recorded = native.stats(before["sources"])  # type: ignore[arg-type]
        stamp = {**before, "stats": recorded, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / native.STAMP).write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even when the current build matches the sources")
    return build(parser.parse_args().force)


if __name__ == "__main__":
    sys.exit(main())
