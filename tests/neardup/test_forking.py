"""`in_two`: half of a job in a forked child, its result back through a shared memory file (or a pool).

What a caller relies on: the child's result equal to running the job here (arrays included, and writable), its
exception raised here with its message, a child that dies without a result an error rather than a hang, and no
child left running or unreaped when this half raises.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from tuneline.neardup import forking

pytestmark = pytest.mark.skipif(not forking.can_fork(), reason="no fork on this platform")


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids `in_two` forks (other tests' servers and pools may still be children of this process)."""
    pids: list[int] = []
    fork = os.fork

    def recording() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording)
    return pids


def _reaped(pids: list[int]) -> bool:
    """Whether each child has ended and been waited for (no zombie, none still running)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return bool(pids)


def _job(start: int, stop: int) -> dict:
    rows = np.arange(start * 256, stop * 256, dtype=np.float32).reshape(-1, 256)
    return {"rows": rows, "ids": np.arange(start, stop), "texts": [f"text {i}" for i in range(start, stop)]}


@pytest.mark.parametrize("shared_memory", ["memfd", "absent", "refused"])
def test_the_childs_half_is_what_running_it_here_gives(
    shared_memory: str, monkeypatch: pytest.MonkeyPatch, forked: list[int]
) -> None:
    if shared_memory == "absent":  # not Linux: a one-process pool
        monkeypatch.delattr(os, "memfd_create", raising=False)
    elif shared_memory == "refused":  # a sandbox's seccomp filter: the pool too

        def refuse(*_: object) -> int:
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "memfd_create", refuse)
    mine, theirs = forking.in_two(_job, (0, 3), (3, 50_000))
    want = _job(3, 50_000)
    assert np.array_equal(theirs["rows"], want["rows"]) and theirs["rows"].dtype == np.float32
    assert np.array_equal(theirs["ids"], want["ids"]) and theirs["texts"] == want["texts"]
    assert np.array_equal(mine["rows"], _job(0, 3)["rows"])
    theirs["rows"][0, 0] = -1.0  # writable, like any array
    empty, nothing = forking.in_two(lambda n: n, (None,), (None,))
    assert empty is None and nothing is None
    assert _reaped(forked)


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no pickling")


def test_the_childs_exception_is_raised_here_even_one_that_does_not_pickle(forked: list[int]) -> None:
    def job(fail: bool) -> int:
        if fail:
            raise _Unpicklable("the child's words")
        return 1

    with pytest.raises(RuntimeError, match="_Unpicklable: the child's words"):
        forking.in_two(job, (False,), (True,))
    assert _reaped(forked)


def test_a_child_that_dies_without_a_result_is_an_error_not_a_hang(forked: list[int]) -> None:
    def job(die: bool) -> int:
        if die:
            os.kill(os.getpid(), signal.SIGKILL)
        return 1

    with pytest.raises(RuntimeError, match="ended without its result"):
        forking.in_two(job, (False,), (True,))
    assert _reaped(forked)


def test_when_this_half_raises_the_child_is_stopped_and_reaped(forked: list[int]) -> None:
    def job(child: bool) -> int:
        if child:
            import time

            time.sleep(60)  # would hold the test a minute if it were waited for
            return 1
        raise ValueError("this half")

    with pytest.raises(ValueError, match="this half"):
        forking.in_two(job, (False,), (True,))
    assert _reaped(forked)


def test_a_child_reaped_by_someone_else_still_gives_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SIGCHLD ignored the kernel reaps the child itself: its result is read from the file all the same, and
    no pid is signalled (it may be another process's by then)."""
    killed: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append(pid))
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        mine, theirs = forking.in_two(_job, (0, 2), (2, 5))
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert theirs["texts"] == _job(2, 5)["texts"] and mine["texts"] == ["text 0", "text 1"]
    assert not killed
