"""Followers wake on the run folder's changes (file notifications through watchfiles), not on a timer: a metrics
line reaches `tuneline runs watch` within half a second, an idle follower costs no CPU, and a worker that dies
without a word is still noticed (the liveness check every few seconds). Real CLI and worker processes, fake
provider."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tuneline.training import launch

from .conftest import wait_until
from .test_cli_runs import tuneline

TICKS = os.sysconf("SC_CLK_TCK")


class Follower:
    """`tuneline runs watch ID` in a subprocess, its output lines timed as they arrive."""

    def __init__(self, run_id: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuneline", "runs", "watch", run_id],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 20.0) -> float:
        """Seconds until a line containing `text` arrives."""
        began = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - began)
            try:
                line = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                raise AssertionError(f"{text!r} never came; got {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return time.monotonic() - began

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_hanging_run(project: Path, registry, providers) -> str:
    """A run that stays `running` (its fake job never ends)."""
    providers.state.outcome = "hang"
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    wait_until(lambda: registry.get(run_id).status == "running")
    return run_id


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="CPU time is read from /proc")
def test_a_metrics_line_is_shown_within_half_a_second_and_an_idle_follower_costs_no_cpu(
    env, project, registry, providers
):
    run_id = start_hanging_run(project, registry, providers)
    worker = registry.get(run_id).pid
    os.killpg(worker, signal.SIGSTOP)  # a quiet run: the worker holds its lock and writes nothing
    follower = Follower(run_id, project)
    try:
        follower.wait_for(f"[{run_id}] running")
        took = []
        for step in (7, 8, 9):
            registry.append(run_id, "metrics", {"step": step, "loss": 0.25 * step})
            took.append(follower.wait_for(f"step {step} · loss"))
            time.sleep(0.3)
        assert max(took) < 0.5, took
        time.sleep(1)  # let the start-up settle
        before = follower.cpu_seconds()
        time.sleep(10)
        idle = follower.cpu_seconds() - before
        print(f"reaction {max(took) * 1000:.0f} ms; CPU of an idle follower over 10 s: {idle:.3f} s")
        assert idle < 0.1, f"an idle follower used {idle:.2f} s of CPU in 10 s"
        os.killpg(worker, signal.SIGCONT)
        cancelled = tuneline("runs", "cancel", run_id, cwd=project)
        assert cancelled.returncode == 0, cancelled.stderr
        follower.wait_for("cancelled")
        assert follower.proc.wait(10) == 1, "the follower ends with the run"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker, signal.SIGCONT)
        follower.stop()


def test_a_worker_killed_without_a_word_is_noticed_and_the_follower_stops(env, project, registry, providers):
    run_id = start_hanging_run(project, registry, providers)
    follower = Follower(run_id, project)
    try:
        follower.wait_for(f"[{run_id}] running")
        pid = registry.get(run_id).pid
        os.killpg(pid, signal.SIGKILL)  # nothing is written: no file event, only the lock goes
        wait_until(lambda: not launch.is_followed(registry, run_id))
        took = follower.wait_for("stalled", timeout=15)
        assert took < 5, "the liveness check runs every few seconds"
        assert follower.proc.wait(10) == 1
        assert registry.get(run_id).status == "stalled"
    finally:
        follower.stop()
