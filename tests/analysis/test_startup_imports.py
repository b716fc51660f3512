"""What a `check` of a small file leaves out of its start (the 10-line goal of #14): with a warm cache it imports no
TOML parser, no platformdirs, no training commands, no near-duplicate checks and none of the heavy optional modules,
and yet answers as before: the writing systems of a non-ASCII answer, an overlap check of a validation file and
every other command still work from the same command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .helpers import REPO, chat, check_process

NOT_AT_START = {
    "tomllib",
    "platformdirs",
    "tempfile",
    "tuneline.training.commands",
    "tuneline.neardup.checks",
    "concurrent.futures",
    "multiprocessing",
    "detect_secrets",
    "requests",
    "tiktoken",
    "regex",
    "numpy",
}


def _imported(log: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in log.splitlines() if line.startswith("import time:")}


def test_a_warm_check_of_a_small_file_imports_only_what_it_uses(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(chat(("user", f"q{i}"), ("assistant", f"a{i}.")) for i in range(10)) + "\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    check_process(path, env=env)  # fills the cache: rank index, TOML copies
    done = check_process(path, env=env, python_flags=("-X", "importtime"))
    assert json.loads(done.stdout)["files"][0]["examples"] == 10
    assert not NOT_AT_START & _imported(done.stderr)


def test_scripts_are_still_told_apart_after_the_lazy_compile(tmp_path):
    """TL507's writing systems: an answer in another script than its prompt, through the CLI."""
    lines = [chat(("user", f"What is {i} plus {i}?"), ("assistant", f"It is {2 * i}, my friend.")) for i in range(30)]
    lines.append(chat(("user", "What is 7 plus 7?"), ("assistant", "Это четырнадцать, мой друг.")))
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = check_process(path)
    found = [d for d in json.loads(done.stdout)["files"][0]["diagnostics"] if d["code"] == "TL507"]
    assert [d["line"] for d in found] == [31] and "Cyrillic" in found[0]["message"]


def test_every_command_still_parses_from_the_command_line():
    for words, expect in (
        (["--help"], "train"),
        (["check", "--help"], "--near-duplicates"),
        (["train", "--help"], "usage: tuneline train"),
        (["runs", "list", "--help"], "usage: tuneline runs list"),
        (["rule", "TL001"], "TL001"),
        (["completion", "bash"], "tuneline"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tuneline", *words], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and expect in done.stdout, (words, done.stderr)
    bad = subprocess.run([sys.executable, "-m", "tuneline", "chek"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'chek'" in bad.stderr and "'train'" in bad.stderr
