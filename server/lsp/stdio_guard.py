"""The client's pipes belong to the protocol alone.

Over stdio, one stray write to file descriptor 1 (a library's `print`, a warning a dependency prints, a child process
that inherited the descriptor) lands inside an LSP message: the client reads a body with foreign bytes in it, drops
it or gives up on the server. Writes bigger than the pipe's buffer (a 100k-line file's diagnostics are megabytes)
are not atomic, so another process's line can even land in the middle of one. Likewise a child that reads
descriptor 0 would eat the client's messages.

So before the server starts, the protocol takes private duplicates of both descriptors, and descriptors 0 and 1 are
pointed elsewhere: 1 at stderr (what stray code prints ends up in the server's log, where it can be read; the null
device when the server was started without a stderr) and 0 at the null device. `sys.stdout` and `sys.stdin` follow.
The duplicates are numbered 3 or above (never a free 0–2 that a later redirection would overwrite) and are not
inheritable, so programs the server starts never hold the client's pipes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import BinaryIO

log = logging.getLogger("tuneline.lsp.stdio")


def _private_copy(fd: int) -> int:
    """A non-inheritable duplicate of `fd` numbered 3 or above."""
    try:
        import fcntl

        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except (ImportError, AttributeError):  # Windows: os.dup's copy is not inheritable either
        return os.dup(fd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """(stdin, stdout) for the protocol alone; afterwards descriptor 1 writes to stderr and 0 reads nothing.
    Where the descriptors cannot be moved (no real descriptors: an embedding host, a test harness), the process's
    own streams are returned as they are, and a step that fails leaves a warning in the log, never a failed start."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.flush()
    try:
        protocol_in = os.fdopen(_private_copy(0), "rb")
        protocol_out = os.fdopen(_private_copy(1), "wb")
    except (OSError, ValueError) as exc:
        log.warning("stdio stays shared with the process (%s)", exc)
        return sys.stdin.buffer, sys.stdout.buffer
    has_stderr = _is_open(2)  # asked first: the null device would take a free descriptor 2
    try:
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(2 if has_stderr else null, 1)
            os.dup2(null, 0)
        finally:
            os.close(null)
    except OSError as exc:
        log.warning("stray output may reach the client (%s)", exc)
    with contextlib.suppress(OSError):
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the process's stdin for its lifetime
    if sys.stderr is not None:
        sys.stdout = sys.stderr
    return protocol_in, protocol_out
