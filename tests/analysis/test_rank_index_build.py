"""A machine's first small `check` counts with rs-bpe while the rank index is built in a detached process.

Why: building the index in the foreground was ~85 ms of a first 10-line `check` (#14: startup ≤ 250 ms, first run
included). The counts must be the same either way, the build must never run code from the folder `check` was started
in (a repository the user did not write), and a builder that cannot work must not leave the machine without its
index: a stale marker sends the build back to the foreground.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneline.analysis import rank_index, rank_index_build, tokens

SHA = tokens._URLS["o200k_base"][1]
LINE = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What's 12345 + 678?"},
        {"role": "assistant", "content": "13023. Don't forget: HTTPServer at x86_64 hosts — café ✓ 😀."},
    ]
}
# `check` in a fresh process; stderr says which counter counted: the tokenizer (rs-bpe) or the index
CHECK = """
import sys
from tuneline.cli import main
from tuneline.analysis import tokens
main(["check", "--format", "json", sys.argv[1]])
sys.stderr.write("loaded=%s" % ("o200k_base" in tokens._loaded))
"""

needs_rs_bpe = pytest.mark.skipif(
    tokens.rs_bpe_count("o200k_base") is None, reason="rs-bpe (the `fast` extra) is not installed"
)


def _setup(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    data = tmp_path / "small.jsonl"
    data.write_text((json.dumps(LINE, ensure_ascii=False) + "\n") * 10, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    index = rank_index.index_path(tmp_path / "cache" / "tuneline", "o200k_base", SHA)
    return data, env, index


def _check(data: Path, env: dict[str, str], cwd: Path) -> tuple[dict, bool]:
    run = subprocess.run(
        [sys.executable, "-c", CHECK, str(data)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in run.stderr, run.stderr
    return json.loads(run.stdout)["files"][0]["tokens"], "loaded=True" in run.stderr


def _wait_built(index: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if index.exists() and not rank_index_build.marker_path(index).exists():
            return
        time.sleep(0.05)
    raise AssertionError("the background build did not finish within 60 s")


@needs_rs_bpe
def test_a_first_run_counts_with_rs_bpe_and_the_next_from_the_index(tmp_path: Path) -> None:
    data, env, index = _setup(tmp_path)
    first, loaded = _check(data, env, tmp_path)
    assert loaded, "the first run should count with rs-bpe, not build the index"
    _wait_built(index)
    assert rank_index.IndexCounter("o200k_base", index.read_bytes()).count("Hello, world!") == 4
    second, loaded = _check(data, env, tmp_path)
    assert not loaded, "the second run should count from the index"
    assert first == second
    encode = tokens.get_encoding("o200k_base").encode_ordinary
    per_line = sum(3 + len(encode(m["role"])) + len(encode(m["content"])) for m in LINE["messages"]) + 3
    assert first["total"] == 10 * per_line and first["exact"] is True


@needs_rs_bpe
def test_the_builder_runs_no_code_from_the_folder_check_was_started_in(tmp_path: Path) -> None:
    """A repository may hold a `tuneline` package of its own: the builder must import the installed tuneline."""
    data, env, index = _setup(tmp_path)
    workspace = tmp_path / "repo"
    (workspace / "tuneline" / "analysis").mkdir(parents=True)
    planted = "import pathlib; pathlib.Path(__file__).with_name('RAN').write_text('x')\n"
    (workspace / "tuneline" / "__init__.py").write_text(planted)
    (workspace / "tuneline" / "analysis" / "__init__.py").write_text(planted)
    (workspace / "tuneline" / "analysis" / "rank_index_build.py").write_text(planted + "def main(a): return 0\n")
    script = Path(sys.executable).with_name("tuneline")  # the console script: its own folder, not the cwd, on sys.path
    if not script.exists():
        pytest.skip("no tuneline console script beside this interpreter")
    run = subprocess.run(
        [str(script), "check", "--format", "json", str(data)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode in (0, 1), run.stderr
    _wait_built(index)
    assert not list(workspace.rglob("RAN"))


def test_a_stale_marker_sends_the_build_to_the_foreground(tmp_path: Path) -> None:
    """A builder that died leaves its marker: after `STALE_SECONDS` the next run builds the index itself."""
    data, env, index = _setup(tmp_path)
    marker = rank_index_build.marker_path(index)
    marker.parent.mkdir(parents=True)
    marker.touch()
    old = time.time() - rank_index_build.STALE_SECONDS - 5
    os.utime(marker, (old, old))
    counts, loaded = _check(data, env, tmp_path)
    assert not loaded
    assert index.exists() and not marker.exists()  # built by the run itself, before it exited
    assert counts["exact"] is True


@needs_rs_bpe
def test_a_build_under_way_is_not_started_twice(tmp_path: Path) -> None:
    data, env, index = _setup(tmp_path)
    marker = rank_index_build.marker_path(index)
    marker.parent.mkdir(parents=True)
    marker.touch()  # another process is building it
    counts, loaded = _check(data, env, tmp_path)
    assert loaded and counts["exact"] is True
    time.sleep(1.0)  # a builder started anyway would have written the index by now (it takes ~0.3 s)
    assert marker.exists() and not index.exists()


def test_an_unwritable_cache_counts_from_an_index_in_memory(tmp_path: Path) -> None:
    """No cache folder can be made (the cache path is a file): no builder is started and the run counts alone."""
    data, env, _ = _setup(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env["XDG_CACHE_HOME"] = str(blocker)
    counts, loaded = _check(data, env, tmp_path)
    assert not loaded and counts["exact"] is True
    assert blocker.read_text() == ""


def test_without_posix_spawn_the_build_stays_in_the_foreground(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "posix_spawn")
    index = rank_index.index_path(tmp_path, "o200k_base", SHA)
    assert rank_index_build.start("o200k_base", index) is False
    assert not rank_index_build.marker_path(index).exists()


def test_a_spawn_that_cannot_start_leaves_no_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No interpreter path (an embedded Python), or a system without POSIX_SPAWN_SETSID: the caller builds."""
    index = rank_index.index_path(tmp_path, "o200k_base", SHA)
    for error in (FileNotFoundError, NotImplementedError):

        def refuse(*args: object, error: type[Exception] = error, **kwargs: object) -> int:
            raise error("no")

        monkeypatch.setattr(os, "posix_spawn", refuse)
        assert rank_index_build.start("o200k_base", index) is False
        assert not rank_index_build.marker_path(index).exists()
