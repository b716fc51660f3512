"""Half of a large job in a forked child process, for `tuneline check` and `dedupe` on big files.

Most of the near-duplicate work holds the GIL in short numpy or Python steps, so threads do not spread it over two
cores; a forked child does, and it inherits the parent's data (texts, model, matrix) without copying or pickling
it. Its result comes back through a shared memory file (Linux's memfd): a pickle whose arrays follow it as raw
bytes, mapped here rather than read through a pipe; elsewhere through a one-process pool.

Only the command line asks for this (`NearDuplicateDetector.processes`): a language server must not fork (its
reader thread holds stdin), and on platforms without `fork` everything runs in this process.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import pickle
import signal
import struct
from collections.abc import Callable
from typing import Any, NoReturn

_JOB: Callable[..., Any] | None = None  # what the child runs: set before the fork, so the child has it


def _run(args: tuple[Any, ...]) -> Any:
    assert _JOB is not None
    return _JOB(*args)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


def in_two(job: Callable[..., Any], here: tuple[Any, ...], there: tuple[Any, ...]) -> tuple[Any, Any]:
    """`job(*here)` in this process while `job(*there)` runs in a forked child; both results (or both here, when
    this platform cannot fork). An exception in either is raised here (this half's when both raise), and a child
    whose half is no longer wanted is stopped. Pass bounds and let `job` (a closure, inherited by the fork) hold the
    data: only the pool `_in_pool` falls back to pickles `there`."""
    if not can_fork():
        return job(*here), job(*there)
    from .cache import settle_writers

    settle_writers()  # here, where an interrupt is raised (in the at-fork hook it would only be printed)
    try:
        fd = os.memfd_create("tuneline-half", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or a sandbox that refuses memfd_create
        return _in_pool(job, here, there)
    try:
        held = _hold_interrupts()
        try:
            pid = os.fork()
        except BaseException:
            _release(held)
            raise
        if pid == 0:
            _child(fd, job, there, held)
        _release(held)
        try:
            mine = job(*here)
        except BaseException:
            _stop(pid)
            raise
        theirs = _result(fd, pid)
    finally:
        os.close(fd)
    return mine, theirs


def _hold_interrupts() -> Any:
    """Hold SIGINT back across the fork: an interrupt in the instant after it would run the caller's code in the
    child (its handlers, its exit work on inherited files). The signal mask to restore, or None."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _release(held: Any) -> None:
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _child(fd: int, job: Callable[..., Any], args: tuple[Any, ...], held: Any) -> NoReturn:
    """Run the child's half and leave its result in the shared memory file: a pickle whose arrays (protocol 5's
    out-of-band buffers) follow it as raw bytes, so the parent maps them instead of reading them through a pipe
    (the embedding's half is 51 MB at 100k examples: 0.24 s through a pool's pipe, ~0.03 s so). Exit status 0
    means the whole result (or the job's exception) was written."""
    code = 1
    try:
        buffers: list[pickle.PickleBuffer] = []
        try:
            _release(held)  # an interrupt held back arrives here, and goes to the parent as the child's exception
            head = pickle.dumps((True, job(*args)), protocol=5, buffer_callback=buffers.append)
        except BaseException as exc:
            buffers = []
            head = _pickled_error(exc)
        raws = [b.raw() for b in buffers]
        sizes = [len(head), *(r.nbytes for r in raws)]
        _write_all(fd, struct.pack(f"<Q{len(sizes)}Q", len(sizes), *sizes))
        for part in (head, *raws):
            _write_all(fd, part)
        code = 0
    finally:
        os._exit(code)


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), protocol=5)
    except Exception:  # an exception that does not pickle: its words still reach the parent
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")), protocol=5)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def _result(fd: int, pid: int) -> Any:
    """The child's result, once it has ended: arrays in it are views of the mapped file (copy-on-write, so they can
    be written to like any array). A child that did not write all of it (killed, out of memory) is an error."""
    code: int | None = None
    try:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:  # reaped already (SIGCHLD ignored): the file alone says whether it is whole
        pass
    except BaseException:  # an interrupt while waiting
        _stop(pid)
        raise
    size = os.fstat(fd).st_size
    whole = code in (0, None) and size >= 16
    if whole:
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
        (count,) = struct.unpack_from("<Q", mapped)
        whole = 1 <= count <= (size - 8) // 8
        sizes = struct.unpack_from(f"<{count}Q", mapped, 8) if whole else ()
        whole = whole and 8 + 8 * count + sum(sizes) <= size
    if not whole:
        raise RuntimeError(f"a forked child ended without its result (exit code {code})")
    view = memoryview(mapped)
    offset = 8 + 8 * count
    parts = []
    for n in sizes:
        parts.append(view[offset : offset + n])
        offset += n
    ok, value = pickle.loads(parts[0], buffers=parts[1:])
    if not ok:
        raise value
    return value


def _stop(pid: int) -> None:
    """End and reap a child whose result is no longer wanted (this half raised, or the user interrupted). A pid
    that is no longer this process's child (reaped already) is left alone: it may be another process's now."""
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return  # it had ended: reaped now
    except ChildProcessError:
        return
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _in_pool(job: Callable[..., Any], here: tuple[Any, ...], there: tuple[Any, ...]) -> tuple[Any, Any]:
    """`in_two` where there is no shared memory file (not Linux): the child's result comes back through a pool."""
    global _JOB
    _JOB = job
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            remote = pool.apply_async(_run, (there,))
            mine = job(*here)
            theirs = remote.get()
    finally:
        _JOB = None
    return mine, theirs
