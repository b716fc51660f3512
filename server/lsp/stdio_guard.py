"""The client's pipes belong to the protocol alone.

Over stdio, one stray write to file descriptor 1 (a library's `print`, a warning a dependency prints, a child process
that inherited the descriptor) lands inside an LSP message: the client reads a body with foreign bytes in it, drops
it or gives up on the server. Writes bigger than the pipe's buffer (a 100k-line file's diagnostics are megabytes)
are not atomic, so another process's line can even land in the middle of one. Likewise a child that reads
descriptor 0 would eat the client's messages.

So before the server starts, the protocol takes private duplicates of both descriptors, and descriptors 0 and 1 are
pointed elsewhere: 1 at stderr (what stray code prints ends up in the server's log, where it can be read) and 0 at
the null device. `sys.stdout` and `sys.stdin` follow. The duplicates are not inheritable (PEP 446), so programs the
server starts never hold the client's pipes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import BinaryIO

log = logging.getLogger("tuneline.lsp.stdio")


def claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """(stdin, stdout) for the protocol alone; afterwards descriptor 1 writes to stderr and 0 reads nothing.
    Where the descriptors cannot be moved (no real descriptors: an embedding host, a test harness), the process's
    own streams are returned as they are."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.flush()
    try:
        protocol_in = os.fdopen(os.dup(0), "rb")
        protocol_out = os.fdopen(os.dup(1), "wb")
    except (OSError, ValueError) as exc:
        log.warning("stdio stays shared with the process (%s)", exc)
        return sys.stdin.buffer, sys.stdout.buffer
    try:
        os.dup2(2, 1)
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, 0)
        finally:
            os.close(null)
    except OSError as exc:
        log.warning("stray output may reach the client (%s)", exc)
    sys.stdout = sys.stderr
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - replaces the process's stdin for its lifetime
    return protocol_in, protocol_out
