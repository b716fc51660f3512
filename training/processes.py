"""Starting Python children safely, and telling whether one is still ours and alive. Shared by the run launcher,
the worker and the local backend.

Safe path mode: a child must never import from the workspace or a run folder, where a repository can plant a
`tuneline/` package or a `json.py`. `python -m` puts the current folder first on `sys.path`, so every child gets
`-P` (Python 3.11+), `PYTHONSAFEPATH=1` in its environment (inherited by its own children, such as the local
trainer or `accelerate launch`), and a working folder that no repository controls (tuneline's state folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SAFE_PATH_FLAG = ("-P",) if sys.version_info >= (3, 11) else ()


def python_command(module: str, *args: str, python: str | None = None) -> list[str]:
    """`python -P -m module args...` for this interpreter. Another interpreter (`python`) may be older than 3.11,
    so it gets no `-P` and relies on `child_env` and `neutral_cwd` instead."""
    flags = SAFE_PATH_FLAG if python is None else ()
    return [python or sys.executable, *flags, "-m", module, *args]


def child_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment for a Python child: `base` (default: ours) plus safe path mode, which its children inherit."""
    return {**(os.environ if base is None else base), **extra, "PYTHONSAFEPATH": "1"}


def start_detached(command: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `command` in its own session (it outlives the caller, and a signal to its process group reaches its
    own children), stdin closed, no inherited descriptors, its output appended to `log`. OSError if it cannot."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(cwd),
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def safe_children() -> None:
    """Put this process's own Python children in safe path mode too (they inherit `PYTHONSAFEPATH`): called before
    a pre-flight, whose backend may check a file in a child (the local backend does), started from the caller's
    folder, which may be a repository."""
    os.environ["PYTHONSAFEPATH"] = "1"


def neutral_cwd() -> Path:
    """A working folder no repository controls: tuneline's own state folder (created private when missing)."""
    from .provenance import ensure_state_dir

    return ensure_state_dir()


def pid_alive(pid: int | None, *, cmdline_marks: tuple[bytes, ...] = ()) -> bool:
    """True while `pid` runs: not gone, not a zombie, and (when marks are given) still the program we started,
    not a recycled pid. Without /proc, `kill(pid, 0)` is trusted."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if not cmdline_marks:
            return True
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return any(mark in cmdline for mark in cmdline_marks)
    except (OSError, IndexError):
        return True
