"""tuneline's user cache folder and how files are written into it (the rank index, detect-secrets' patterns, the
seeded tiktoken files).

A cache file is written to a temporary file beside it and renamed into place, so another process reading it (a
`check` in another terminal, the server's workers) never sees half of one. Writing is best effort: a cache that
cannot be written (read-only, full, a file where the folder should be) only means the work is redone next time.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def user_cache() -> Path:
    """tuneline's folder in the user cache: platformdirs' `user_cache_dir("tuneline")`.

    On Linux the folder is worked out here the way platformdirs does it (`XDG_CACHE_HOME` when it is an absolute
    path, else `~/.cache` from an absolute `HOME`): importing platformdirs took ~11 ms of every process, 5% of a
    10-line `check`. Anything else (another system, a home that must come from the password database) asks
    platformdirs; a test holds the two to the same answers."""
    if sys.platform == "linux":
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        if os.path.isabs(xdg):
            return Path(xdg, "tuneline")
        home = os.environ.get("HOME", "")
        if os.path.isabs(home):
            return Path(home, ".cache", "tuneline")
    import platformdirs

    return Path(platformdirs.user_cache_dir("tuneline"))


def write_cache_file(path: Path, data: bytes) -> bool:
    """`data` at `path`, atomically; False, leaving no temporary file, when the cache cannot be written.
    (`tempfile` is imported here: with shutil and random it costs ~4 ms, and a warm cache writes nothing.)"""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def keep_newest(folder: Path, pattern: str, keep: int = 4) -> None:
    """Remove all but the `keep` most recently written files matching `pattern` in `folder` (best effort).

    Why: caches named by what they were built from (a file's hash, a package's install) gain a file per version.
    Keeping a few, not one, lets two installs used in turn (a checkout and a released copy, CI's clone) each keep
    theirs instead of rewriting each other's on every run."""
    found = []
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):
            found.append((path.stat().st_mtime_ns, path))
    for _, path in sorted(found, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()
