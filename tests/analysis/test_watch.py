"""`tuneline check --watch` as a user runs it: a real subprocess watching real files, driven by real edits (append,
in-place write, atomic replace, deletion, re-creation, settings, a file turned into a FIFO), each seen within a
second; Ctrl-C ends it with exit code 0. The incremental re-check is held to a fresh check's result and to costing
the edit, not the file."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tuneline.analysis import engine as engine_module
from tuneline.analysis.engine import Engine
from tuneline.analysis.report import check_path
from tuneline.cli import build_parser
from tuneline.cli import watch as watch_module
from tuneline.cli.check import _dataset_files

from .helpers import chat, ok_line

REACT_SECONDS = 1.0  # the bound: a change is checked and shown within a second
BROKEN = '{"messages": [{"role": "user", "content": "unterminated'


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def good(n: int, start: int = 0) -> list[str]:
    return [ok_line(i) for i in range(start, start + n)]


class Watch:
    """`tuneline check --watch ARGS` in a subprocess. Each check ends with one status line on stderr; stdout holds
    the reports (one JSON document per check with --format json)."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuneline", "check", "--watch", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.statuses: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout = bytearray()
        threading.Thread(target=self._errors, daemon=True).start()
        threading.Thread(target=self._output, daemon=True).start()

    def _errors(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self.stderr.append(line)
            if line.startswith("[") and "watching for changes" in line:
                self.statuses.put(line)

    def _output(self) -> None:
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read1(65536):
            self.stdout += chunk

    def next_check(self, timeout: float = 20.0) -> str:
        """The status line of the next check."""
        try:
            return self.statuses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no check within {timeout} s; stderr: {''.join(self.stderr)}") from None

    def docs(self, count: int, timeout: float = 5.0) -> list[dict]:
        """The first `count` JSON reports (waiting for stdout to catch up with stderr)."""
        deadline = time.monotonic() + timeout
        while True:
            decoder, text, out, pos = json.JSONDecoder(), self.stdout.decode("utf-8"), [], 0
            while len(out) < count:
                while pos < len(text) and text[pos].isspace():
                    pos += 1
                try:
                    doc, pos = decoder.raw_decode(text, pos)
                except ValueError:
                    break
                out.append(doc)
            if len(out) >= count or time.monotonic() > deadline:
                return out
            time.sleep(0.01)

    def until(self, done: Callable[[dict], bool], checks: int, timeout: float = 10.0) -> tuple[float, int]:
        """Wait for the check whose report satisfies `done`: (seconds from now, checks seen so far)."""
        began = time.monotonic()
        while True:
            self.next_check(timeout)
            checks += 1
            doc = self.docs(checks)[-1]
            if done(doc):
                return time.monotonic() - began, checks

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it (the whole process group would include pytest: the process only)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def codes(doc: dict) -> list[str]:
    return [d["code"] for f in doc["files"] for d in f["diagnostics"]]


def examples(doc: dict) -> int | None:
    return doc["files"][0]["examples"] if doc["files"] else None


def test_every_kind_of_change_is_checked_within_a_second_and_ctrl_c_exits_0(tmp_path):
    data = write(tmp_path / "data.jsonl", good(12))
    watch = Watch("--format", "json", "data.jsonl", cwd=tmp_path)

    def append() -> None:
        with data.open("a", encoding="utf-8") as fh:
            fh.write(BROKEN + "\n")

    def edit_in_place() -> None:  # the same inode, rewritten (vim's backupcopy=yes, many scripts)
        with data.open("r+b") as fh:
            fh.write("".join(line + "\n" for line in good(13)).encode())
            fh.truncate()

    def replace() -> None:  # how most editors save
        tmp = tmp_path / "data.jsonl.tmp"
        write(tmp, good(14))
        os.replace(tmp, data)

    steps: list[tuple[str, Callable[[], None], Callable[[dict], bool]]] = [
        ("append", append, lambda d: "TL001" in codes(d) and examples(d) == 12),
        ("in-place edit", edit_in_place, lambda d: "TL001" not in codes(d) and examples(d) == 13),
        ("atomic replace", replace, lambda d: examples(d) == 14),
        ("deletion", data.unlink, lambda d: d["files"] == []),
        ("re-creation", lambda: write(data, good(15)), lambda d: examples(d) == 15),
    ]
    try:
        watch.next_check(timeout=60)
        checks = 1
        assert examples(watch.docs(1)[0]) == 12
        took = {}
        for name, act, done in steps:
            act()
            took[name], checks = watch.until(done, checks)
        gone = [line for line in watch.stderr if "not there" in line]
        assert len(gone) >= 1 and gone[0].startswith("tuneline: warning: data.jsonl: not there")
        assert all(t < REACT_SECONDS for t in took.values()), took
        fresh = subprocess.run(
            [sys.executable, "-m", "tuneline", "check", "--format", "json", "data.jsonl"],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )
        assert watch.docs(checks)[-1] == json.loads(fresh.stdout), "the watch shows what a fresh check shows"
    finally:
        code = watch.interrupt()
    assert code == 0, "".join(watch.stderr)
    assert "Traceback" not in "".join(watch.stderr)


@pytest.mark.parametrize("fmt", ["text", "sarif", "github"])
def test_every_format_is_written_once_per_check(tmp_path, fmt):
    data = write(tmp_path / "data.jsonl", good(60))
    watch = Watch("--format", fmt, "--no-clear", "data.jsonl", cwd=tmp_path)
    try:
        watch.next_check(timeout=60)
        with data.open("a", encoding="utf-8") as fh:
            fh.write(BROKEN + "\n")
        watch.next_check()
        time.sleep(0.2)
    finally:
        assert watch.interrupt() == 0
    out = watch.stdout.decode()
    assert "\x1b[2J" not in out, "not a terminal (and --no-clear): nothing is cleared"
    if fmt == "text":
        ends = [line for line in out.splitlines() if line.startswith(("All checks passed", "Found "))]
        assert len(ends) == 2 and "data.jsonl:61:" in out and "TL001" in out
    elif fmt == "sarif":
        first, second = watch.docs(2)
        assert [r["ruleId"] for r in second["runs"][0]["results"]] == [
            *(r["ruleId"] for r in first["runs"][0]["results"]),
            "TL001",
        ]
    else:
        assert out.count("::error file=data.jsonl,line=61") == 1


def test_settings_changes_are_checked_and_a_broken_config_is_one_line(tmp_path):
    write(tmp_path / "data.jsonl", good(3))  # too few examples: TL303
    config = tmp_path / "tuneline.toml"
    watch = Watch("--format", "json", "data.jsonl", cwd=tmp_path)
    try:
        watch.next_check(timeout=60)
        checks = 1
        assert "TL303" in codes(watch.docs(1)[0])
        config.write_text('ignore = ["TL303"]\n', encoding="utf-8")  # a new config where discovery looks
        took, checks = watch.until(lambda d: "TL303" not in codes(d), checks)
        assert took < REACT_SECONDS
        config.write_text("ignore = [\n", encoding="utf-8")
        watch.next_check()  # no report for settings that cannot be used: one line, and watching goes on
        errors = [line for line in watch.stderr if line.startswith("tuneline: error:")]
        assert len(errors) == 1 and "tuneline.toml" in errors[0] and "not valid TOML" in errors[0]
        config.write_text('ignore = ["TL303", "TL401"]\n', encoding="utf-8")
        took, checks = watch.until(lambda d: "TL303" not in codes(d), checks)
        assert took < REACT_SECONDS
    finally:
        assert watch.interrupt() == 0
    assert "Traceback" not in "".join(watch.stderr)


def test_a_file_that_becomes_a_fifo_is_one_line_and_watching_goes_on(tmp_path):
    data = write(tmp_path / "data.jsonl", good(12))
    watch = Watch("--format", "json", "data.jsonl", cwd=tmp_path)
    try:
        watch.next_check(timeout=60)
        checks = 1
        os.mkfifo(tmp_path / "fifo")
        os.replace(tmp_path / "fifo", data)  # nothing will ever write to it: opening it for reading would hang
        _, checks = watch.until(lambda d: d["files"] == [], checks)
        refused = [line for line in watch.stderr if "not a regular file" in line]
        assert len(refused) == 1 and refused[0].startswith("tuneline: warning: data.jsonl: a named pipe")
        write(tmp_path / "new.jsonl", good(16))
        os.replace(tmp_path / "new.jsonl", data)
        took, checks = watch.until(lambda d: examples(d) == 16, checks)
        assert took < REACT_SECONDS
    finally:
        assert watch.interrupt() == 0


def test_a_watched_folder_picks_up_new_files_and_folders(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "a.jsonl", good(12))
    watch = Watch("--format", "json", "data", cwd=tmp_path)

    def names(doc: dict) -> list[str]:
        return sorted(Path(f["path"]).name for f in doc["files"])

    try:
        watch.next_check(timeout=60)
        checks = 1
        write(folder / "b.jsonl", good(12))
        took, checks = watch.until(lambda d: names(d) == ["a.jsonl", "b.jsonl"], checks)
        assert took < REACT_SECONDS
        (folder / "sub").mkdir()
        write(folder / "sub" / "c.jsonl", good(12))
        write(folder / ".hidden.jsonl", [BROKEN])
        took, checks = watch.until(lambda d: names(d) == ["a.jsonl", "b.jsonl", "c.jsonl"], checks)
        assert took < REACT_SECONDS
        (folder / "b.jsonl").unlink()
        took, checks = watch.until(lambda d: names(d) == ["a.jsonl", "c.jsonl"], checks)
        assert took < REACT_SECONDS
    finally:
        assert watch.interrupt() == 0
    assert not [line for line in watch.stderr if "tuneline: warning" in line], "a file found in a folder just goes"


def test_where_the_platform_cannot_notify_a_slow_poll_says_so_and_still_sees_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")  # watchfiles' own switch (WSL's Windows drives set it too)
    data = write(tmp_path / "data.jsonl", good(12))
    watch = Watch("--format", "json", "data.jsonl", cwd=tmp_path)
    try:
        watch.next_check(timeout=60)
        with data.open("a", encoding="utf-8") as fh:
            fh.write(BROKEN + "\n")
        took, _ = watch.until(lambda d: "TL001" in codes(d), 1)
        assert took < 3 * watch_module.POLL_SECONDS
    finally:
        assert watch.interrupt() == 0
    notes = [line for line in watch.stderr if "polling" in line]
    assert notes == ["tuneline: note: watching by polling every 1 s: WATCHFILES_FORCE_POLLING is set\n"]


def test_on_a_terminal_the_screen_is_cleared_before_each_check_unless_no_clear(tmp_path):
    import pty

    data = write(tmp_path / "data.jsonl", good(12))
    for extra, cleared in (([], True), (["--no-clear"], False)):
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuneline", "check", "--watch", *extra, "data.jsonl"],
            cwd=tmp_path,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        try:
            deadline = time.monotonic() + 60
            while seen.count(b"watching for changes") < 1 and time.monotonic() < deadline:
                seen += os.read(leader, 65536)
            data.write_text(data.read_text() + BROKEN + "\n", encoding="utf-8")
            while seen.count(b"watching for changes") < 2 and time.monotonic() < deadline:
                seen += os.read(leader, 65536)
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) == 0
            os.close(leader)
        assert seen.count(watch_module.CLEAR.encode()) == (2 if cleared else 0), seen[:300]


def test_watch_refuses_standard_input_and_a_missing_path_in_one_line(tmp_path):
    for args in (["-"], ["missing.jsonl"]):
        out = subprocess.run(
            [sys.executable, "-m", "tuneline", "check", "--watch", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and out.stdout == "", out.stderr


def test_a_large_file_rechecked_after_a_one_line_edit_costs_the_edit(tmp_path):
    """The status line's own timing: a one-line edit of a 6,000-line file against the file's first check."""
    lines = [
        chat(("user", f"Question {i}: " + "how do I reset it? " * 20), ("assistant", ("Like this. " * 40).strip()))
        for i in range(6000)
    ]
    data = write(tmp_path / "big.jsonl", lines)
    watch = Watch("--format", "json", "--jobs", "1", "big.jsonl", cwd=tmp_path)
    try:
        first = watch.next_check(timeout=120)
        lines[3000] = lines[3000].replace("Question 3000", "Question 3000, edited")
        write(tmp_path / "big.jsonl.tmp", lines)
        os.replace(tmp_path / "big.jsonl.tmp", data)
        again = watch.next_check()
    finally:
        assert watch.interrupt() == 0

    def seconds(status: str) -> float:
        value, unit = status.split("]")[0].split(" · ")[-1].split()
        return float(value) / (1000 if unit == "ms" else 1)

    print(f"{data.stat().st_size / 1e6:.1f} MB: first check {seconds(first):.3f} s, re-check {seconds(again):.3f} s")
    assert seconds(again) < seconds(first) / 4, (first, again)


# --- the incremental re-check, in process ---------------------------------------------------------------------------
def _session(path: Path, capsys) -> watch_module._Session:
    args = build_parser().parse_args(["check", "--watch", "--format", "json", "--jobs", "1", str(path)])
    session = watch_module._Session(args, _dataset_files)
    session.load_settings()
    session.check(None, reload=False, expand=True)
    capsys.readouterr()
    return session


def _same_as_a_fresh_check(session: watch_module._Session, path: Path) -> None:
    kept = session.files[path].report
    fresh = check_path(path, Engine(session.settings))
    assert kept.findings == fresh.findings
    assert kept.summary == fresh.summary
    assert kept.dataset.texts == fresh.dataset.texts


def test_random_edits_rechecked_in_place_match_a_fresh_check(tmp_path, capsys):
    rng = random.Random(18)
    path = tmp_path / "data.jsonl"
    pool = [
        *good(30),
        BROKEN,
        "",
        "   ",
        ok_line(3),  # a duplicate of an earlier line (TL301 follows it around)
        chat(("user", "Question number 4?"), ("assistant", "Another answer.")),  # a conflicting answer
        chat(("user", "x"), ("assistant", "y"), system="Another system prompt."),
        '{"prompt": "p", "completion": "c"}',  # another format (TL101)
    ]
    lines = [rng.choice(pool) for _ in range(40)]
    path.write_bytes("\n".join(lines).encode() + b"\n")
    session = _session(path, capsys)
    for _ in range(60):
        kind = rng.choice(["insert", "delete", "replace", "bytes", "crlf", "truncate-tail"])
        at = rng.randrange(len(lines) + 1)
        if kind == "insert":
            lines[at:at] = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
        elif kind == "delete" and lines:
            del lines[at : at + rng.randint(1, 3)]
        elif kind in ("replace", "bytes") and lines:
            lines[min(at, len(lines) - 1)] = rng.choice(pool)
        data = "\n".join(lines).encode() + (b"\n" if lines else b"")
        if kind == "bytes" and lines:  # invalid UTF-8 in one line (TL004)
            data = data.replace(b"Answer", b"Answ\xff", 1)
        if kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
        if kind == "truncate-tail":  # a last line without its newline
            data = data.rstrip(b"\n")
        path.write_bytes(data)
        session.check({path}, reload=False, expand=False)
        capsys.readouterr()
        _same_as_a_fresh_check(session, path)


def test_a_one_line_edit_analyses_one_line(tmp_path, capsys, monkeypatch):
    path = write(tmp_path / "data.jsonl", good(500))
    session = _session(path, capsys)
    analysed: list[str] = []
    real = engine_module.analyze_line

    def counting(text, context, value=None):
        analysed.append(text)
        return real(text, context, value)

    monkeypatch.setattr(engine_module, "analyze_line", counting)
    lines = good(500)
    lines[250] = ok_line(9999)
    write(path, lines)
    session.check({path}, reload=False, expand=False)
    assert analysed == [ok_line(9999)], "only the edited line is analysed; the other 499 come from the kept report"
    _same_as_a_fresh_check(session, path)


def test_each_check_runs_the_work_left_for_its_end(tmp_path, capsys):
    """Work a check leaves for after its output (`at_end`: the near-duplicate pass's cache writes) runs after that
    check, not once the watch ends: otherwise every re-check would add one more, each holding its cache open."""
    from tuneline.cli import common

    path = write(tmp_path / "data.jsonl", good(20))
    session = _session(path, capsys)
    ran: list[int] = []
    common.at_end(lambda: ran.append(1))
    write(path, [*good(19), ok_line(777)])
    session.check({path}, reload=False, expand=False)
    assert ran == [1] and not common._AT_END
