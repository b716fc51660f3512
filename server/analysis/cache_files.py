"""tuneline's user cache folder and how files are written into it (the rank index, detect-secrets' patterns, the
seeded tiktoken files).

A cache file is written to a temporary file beside it and renamed into place, so another process reading it (a
`check` in another terminal, the server's workers) never sees half of one. Writing is best effort: a cache that
cannot be written (read-only, full, a file where the folder should be) only means the work is redone next time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def user_cache() -> Path:
    """tuneline's folder in the user cache (platformdirs: `XDG_CACHE_HOME/tuneline` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("tuneline"))


def write_cache_file(path: Path, data: bytes) -> bool:
    """`data` at `path`, atomically; False, leaving no temporary file, when the cache cannot be written."""
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
