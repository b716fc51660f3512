"""Reading and writing users' files the safe way.

Reading: only regular files are read. A FIFO would block until someone writes to it, `/dev/zero` never ends, and
a socket or device is not a dataset. The check is made on the opened descriptor (opened without blocking), so a
path swapped between a look and an open cannot slip past it.

Writing: a temp file in the target's folder, fsync, then `os.replace`, so readers (an editor, a watcher, another
process) never see half a file and a crash leaves the old file whole. Temp files are named
`.<name>.tuneline-tmp-<pid>-<random>`: a process killed mid-write (SIGKILL runs no cleanup) leaves one behind,
and the next write to the same file removes it once its process is gone. Used for run records and for
`tuneline dedupe`'s output, the only places tuneline writes files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

TEMP_MARK = ".tuneline-tmp-"
_NAME_KEPT = 120  # characters of the target's name in a temp name: the whole name stays under 255 bytes


class FileRefused(Exception):
    """A path that cannot or should not be read or written; the message is one sentence naming it."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading (following symlinks); refuse anything else without blocking on it."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            hint = f"; to read from it, pass `-` and redirect it: `- < {path}`" if stat.S_ISFIFO(mode) else ""
            raise FileRefused(f"{path}: {kind_of(mode)}, not a regular file; tuneline reads only regular files{hint}")
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _temp_prefix(target: Path) -> str:
    return f".{target.name[:_NAME_KEPT]}{TEMP_MARK}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def clean_stale_temps(target: Path) -> list[Path]:
    """Remove temp files that an earlier write to `target` left behind when its process died; the removed paths."""
    prefix = _temp_prefix(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def default_file_mode() -> int:
    """The mode a new file gets from `open()` under the current umask (0666 minus the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(
    path: Path, chunks: Iterable[bytes], *, follow_symlinks: bool = False, new_file_mode: int = 0o600
) -> Path:
    """Replace `path` with the bytes of `chunks`, atomically; the path written (a symlink's target, if followed).

    An existing file keeps its permission bits (and owner, where allowed); a new one gets `new_file_mode`.
    With `follow_symlinks`, a symlink stays a symlink and its target is replaced; without it (run records, whose
    folder a repository can ship) the link itself is replaced, so a planted link cannot redirect the write.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if follow_symlinks else path
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target)
    try:
        old = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    keep = old is not None and stat.S_ISREG(old.st_mode)
    tmp = target.parent / f"{_temp_prefix(target)}{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            if keep and old is not None:
                with contextlib.suppress(OSError):  # only root (or the owner, for the group) may
                    os.fchown(fh.fileno(), old.st_uid, old.st_gid)
                os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode))
            else:
                os.fchmod(fh.fileno(), new_file_mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return target


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, newline: str | None = None) -> None:
    """`atomic_write` for text encoded as UTF-8; `newline` as for `open()` (None: "\\n" stays "\\n")."""
    if newline not in (None, "", "\n"):
        text = text.replace("\n", newline)
    atomic_write(path, [text.encode("utf-8")])
