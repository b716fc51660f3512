"""Waiting for files to change: the operating system's notifications through `watchfiles` (the Rust `notify`
crate: inotify, FSEvents, ReadDirectoryChangesW), and a slow poll only where the platform cannot notify.

Everything in tuneline that waits on the disk waits here: `tuneline check --watch`, the run followers (`tuneline
runs watch`, the `train` follower, the editor's run progress) and the language server's watcher for clients that
cannot watch files. A `Waiter` watches the *folders* holding the paths it is given, never the files themselves:
an editor's atomic save (`os.replace`), a deletion and a re-creation all keep being seen, which a watch on the
file's inode would miss. Folders are watched one level deep (never recursively), so a folder from an untrusted
repository costs one watch however large it is, and nothing under it is opened: notifications and `stat` only.

The poll fallback (watchfiles not installed, `WATCHFILES_FORCE_POLLING` set, WSL, or the system refusing another
watch, e.g. inotify's per-user limit) compares `stat` results of the given paths every `poll_seconds`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("tuneline.fswatch")

STEP_MS = 50  # how often the notify loop looks at what arrived, at Ctrl-C and at the stop event
DEBOUNCE_MS = 300  # a burst of changes is handed over at most this long after it began
POLL_SECONDS = 2.0  # the fallback: how often paths are stat'ed when the platform cannot notify


class StopFlag(Protocol):
    """What `Waiter.wait` accepts as a stop signal (a `threading.Event`, or anything with `is_set`)."""

    def is_set(self) -> bool: ...


def platform_cannot_notify() -> str | None:
    """Why notifications should not be used here, or None: watchfiles' own rule (the `WATCHFILES_FORCE_POLLING`
    variable, or WSL, whose Windows drives never notify)."""
    forced = os.environ.get("WATCHFILES_FORCE_POLLING", "")
    if forced:
        if forced.lower() not in {"false", "disable", "disabled"}:
            return "WATCHFILES_FORCE_POLLING is set"
        return None
    uname = platform.uname()
    if "microsoft-standard" in uname.release.lower() and uname.system.lower() == "linux":
        return "WSL does not deliver file notifications for every drive"
    return None


def folders_for(paths: Iterable[Path], *, links: bool = True) -> list[Path]:
    """The folders to watch for `paths`: a folder itself, a file's folder (and, with `links`, its link target's
    folder), and for a path whose folder does not exist yet, the nearest folder above it that does (its creation
    shows there)."""
    out: set[Path] = set()
    for path in paths:
        path = Path(os.path.abspath(path))
        candidates = [path] if path.is_dir() else [path.parent]
        if links and path.is_symlink():
            with contextlib.suppress(OSError, RuntimeError):
                candidates.append(path.resolve().parent)
        for folder in candidates:
            while not folder.is_dir() and folder.parent != folder:
                folder = folder.parent
            out.add(folder)
    return sorted(out)


def stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What the poll compares: identity, size, modification time and type (stat only: a FIFO is never opened)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)


class Waiter:
    """Waits until something changes in the folders of `paths`; `wait` returns the changed paths.

    Notify mode reports every change in those folders (the caller picks what concerns it); poll mode reports
    the given paths whose `stat` changed. One Waiter holds one notify thread; `close` ends it. `links=False` watches
    only the folders the paths are in, never where a symlink among them points (a run folder from a repository).
    """

    def __init__(
        self,
        paths: Iterable[Path],
        *,
        poll_seconds: float = POLL_SECONDS,
        step_ms: int = STEP_MS,
        debounce_ms: int = DEBOUNCE_MS,
        links: bool = True,
    ) -> None:
        self.paths = sorted({Path(os.path.abspath(p)) for p in paths})
        self.folders = folders_for(self.paths, links=links)
        self.poll_seconds = poll_seconds
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.why_polling: str | None = platform_cannot_notify()
        self._notify: Any = None
        self._stamps: dict[Path, tuple[int, int, int, int] | None] = {}
        if self.why_polling is None:
            self._notify, self.why_polling = _open_notify(self.folders)
        if self._notify is None:
            self._stamps = self._snapshot()

    @property
    def polling(self) -> bool:
        return self._notify is None

    def _snapshot(self) -> dict[Path, tuple[int, int, int, int] | None]:
        return {p: stamp(p) for p in (*self.paths, *self.folders)}

    def wait(self, timeout: float | None = None, stop: StopFlag | None = None) -> set[Path]:
        """The paths that changed, once something changed; an empty set when `timeout` seconds passed or `stop`
        was set first. Ctrl-C raises KeyboardInterrupt (in the main thread)."""
        if self._notify is not None:
            try:
                return self._wait_notify(timeout, stop)
            except (OSError, RuntimeError) as exc:  # the watcher broke (a watched folder's file system went away)
                log.info("file notifications stopped (%s); polling every %.0f s instead", exc, self.poll_seconds)
                self.close()
                self.why_polling = f"file notifications stopped ({exc})"
                self._stamps = self._snapshot()
                return set(self.paths)  # something may have changed meanwhile: look again
        return self._wait_poll(timeout, stop)

    def _wait_notify(self, timeout: float | None, stop: StopFlag | None) -> set[Path]:
        timeout_ms = 0 if timeout is None else max(1, int(timeout * 1000))
        got = self._notify.watch(self.debounce_ms, self.step_ms, timeout_ms, stop)
        if got == "signal":  # Ctrl-C arrived while the Rust side held the loop
            raise KeyboardInterrupt
        if isinstance(got, str):  # "timeout" or "stop"
            return set()
        return {Path(path) for _, path in got}

    def _wait_poll(self, timeout: float | None, stop: StopFlag | None) -> set[Path]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = self._snapshot()
            changed = {p for p, stamp in now.items() if self._stamps.get(p) != stamp}
            self._stamps = now
            if changed:
                return changed
            if stop is not None and stop.is_set():
                return set()
            pause = self.poll_seconds
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return set()
                pause = min(pause, left)
            if isinstance(stop, threading.Event):
                stop.wait(pause)
            else:
                time.sleep(pause)

    def close(self) -> None:
        notify, self._notify = self._notify, None
        if notify is not None:
            notify.close()

    def __enter__(self) -> Waiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WatchThread:
    """One thread that watches a changing set of paths and hands each batch of changes to `on_change` (called on
    this thread: hand over to an event loop with `call_soon_threadsafe`). It runs only while there is something to
    watch, so an idle server holds no thread; `close` stops it within a step and waits for it.

    For long-lived processes (the language server): one WatchThread per purpose, however many paths or runs.
    """

    def __init__(
        self,
        on_change: Callable[[set[Path]], None],
        *,
        name: str,
        poll_seconds: float = POLL_SECONDS,
        links: bool = True,
    ) -> None:
        self._on_change = on_change
        self._name = name
        self._poll_seconds = poll_seconds
        self._links = links
        self._lock = threading.Lock()
        self._paths: frozenset[Path] = frozenset()
        self._wake = threading.Event()  # the paths changed, or close(): the thread looks again
        self._thread: threading.Thread | None = None
        self._closed = False
        self.why_polling: str | None = None  # set while the current watch polls

    def watch(self, paths: Iterable[Path]) -> None:
        """Watch exactly `paths` from now on (none: the thread ends)."""
        new = frozenset(Path(os.path.abspath(p)) for p in paths)
        with self._lock:
            if self._closed or new == self._paths:
                return
            self._paths = new
            self._wake.set()
            if new and self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        _name_os_thread(self._name)
        while True:
            with self._lock:
                paths = self._paths
                self._wake.clear()
                if self._closed or not paths:
                    self._thread = None
                    return
            try:
                with Waiter(paths, poll_seconds=self._poll_seconds, links=self._links) as waiter:
                    self.why_polling = waiter.why_polling
                    while not self._wake.is_set():
                        changed = waiter.wait(None, self._wake)
                        if changed:
                            self._on_change(changed)
            except Exception:  # a bug in a handler must not end the watching for good
                log.exception("watching %d paths failed; trying again", len(paths))
                self._wake.wait(self._poll_seconds)

    def close(self, timeout: float = 5.0) -> None:
        """Stop watching and wait (up to `timeout` seconds) for the thread to end."""
        with self._lock:
            self._closed = True
            self._paths = frozenset()
            self._wake.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def _name_os_thread(name: str) -> None:
    """Give the calling thread `name` in the operating system too (Linux's 15-byte `comm`), so `top -H`, py-spy and
    a test counting a server's threads from outside can tell the watcher from pool threads. Python sets this itself
    only from 3.14 on; elsewhere this does nothing."""
    if not os.path.isdir("/proc/self/task"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode("ascii", "replace")[:15], 0, 0, 0)  # PR_SET_NAME


def _open_notify(folders: list[Path]) -> tuple[Any, str | None]:
    """A RustNotify on `folders` (one level deep), or None and why not."""
    try:
        from watchfiles._rust_notify import RustNotify  # the documented direct use of watchfiles' Rust backend
    except ImportError:
        return None, "watchfiles is not installed"
    try:
        # watch_paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied
        return RustNotify([str(f) for f in folders], False, False, 0, False, False), None
    except (OSError, RuntimeError) as exc:  # inotify's limits, a folder removed meanwhile, a permission
        return None, f"the system cannot watch these folders ({exc})"
