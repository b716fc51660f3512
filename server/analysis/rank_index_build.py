"""Building a machine's rank index in a background process, so that its first small `check` does not wait for it.

Why: the index (`rank_index`) is built once per machine, ~0.13 s of gunzip, decoding and hashing 200k tokens and
writing 4 MB. A first `check` that can count with rs-bpe (loaded in ~0.05 s) hands the build to a detached process,
as git hands `gc --auto` to one, and counts with rs-bpe meanwhile: the same counts, by the test that holds rs-bpe to
tiktoken. Without rs-bpe, tiktoken would cost more to load than the build, so the build stays in the foreground.

The builder is `tokens.build_machine_index`, run by the same interpreter with the same environment; the working
directory, which may be a repository the user did not write, is taken off its import path before it imports
anything. Its standard streams are /dev/null, so a caller reading `check`'s output sees end of file when `check`
exits, not when the build does. A marker file beside the index says a build is under way; a marker older than
`STALE_SECONDS` (a builder that died) sends the build back to the foreground, so a machine where the builder cannot
work still gets its index on the next run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path

STALE_SECONDS = 60.0


def marker_path(index: Path) -> Path:
    return index.with_name(index.name + ".building")


def start(encoding_name: str, index: Path) -> bool:
    """Start building `index` in a detached process. True when a build is under way (started here, or by another
    process within `STALE_SECONDS`); False when the caller should build it itself: no `posix_spawn` (Windows), an
    unwritable cache, a stale marker, or a spawn that failed."""
    if not hasattr(os, "posix_spawn"):
        return False
    marker = marker_path(index)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            fresh = time.time() - marker.stat().st_mtime < STALE_SECONDS
        except OSError:  # the builder just finished and removed it
            return False
        if not fresh:
            with contextlib.suppress(OSError):
                marker.unlink()
        return fresh
    except OSError:
        return False
    os.close(fd)
    # `-c` puts the working directory first on the import path (a repository the user did not write): it goes
    # before anything is imported. site-packages and PYTHONPATH stay, so the builder imports this tuneline.
    code = (
        "import sys; sys.path[:1] == [''] and sys.path.pop(0); "
        f"from {__package__}.tokens import build_machine_index; sys.exit(build_machine_index(sys.argv[1]))"
    )
    streams = [(os.POSIX_SPAWN_OPEN, stream, os.devnull, os.O_RDWR, 0) for stream in (0, 1, 2)]
    try:
        pid = os.posix_spawn(
            sys.executable, [sys.executable, "-c", code, encoding_name], os.environ, file_actions=streams, setsid=True
        )
    except (OSError, NotImplementedError):  # no interpreter path; a system without POSIX_SPAWN_SETSID
        with contextlib.suppress(OSError):
            marker.unlink()
        return False
    # a long-lived caller (the language server) reaps it; a `check` exits first and init does
    threading.Thread(target=_reap, args=(pid,), daemon=True, name="rank-index-build").start()
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)
