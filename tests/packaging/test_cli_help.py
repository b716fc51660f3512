"""`tuneline --help` lists every command on one line, and `tuneline completion SHELL` completes them in a real shell.

Both through the front door: the CLI in a subprocess, the bash script sourced by a real bash.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def run(*args: str, columns: int = 80, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def commands() -> dict[str, str]:
    """Every subcommand the parser has, with its one-line help."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {action.dest: action.help for action in sub._choices_actions}


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_help_lists_every_command_on_one_line(columns: int) -> None:
    result = run("--help", columns=columns)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    found = commands()
    assert {"check", "serve", "train", "runs", "completion"} <= set(found)
    for name, help_text in found.items():
        assert help_text, f"{name} has no help line"
        matching = [line for line in lines if re.fullmatch(rf"\s+{re.escape(name)}\s+{re.escape(help_text)}", line)]
        assert len(matching) == 1, f"{name!r} is not on one line with its help:\n{result.stdout}"


def test_completion_scripts_name_every_command() -> None:
    names = commands()
    for shell in SHELLS:
        result = run("completion", shell)
        assert result.returncode == 0, result.stderr
        missing = [n for n in names if n not in result.stdout]
        assert not missing, f"the {shell} script does not know {missing}"


def test_completion_refuses_an_unknown_shell_in_one_line() -> None:
    result = run("completion", "cmd.exe")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid choice" in result.stderr.strip().splitlines()[-1]


def _bash_complete(script: Path, words: list[str], cwd: Path) -> list[str]:
    """What bash offers after typing `words` (the last one possibly partial) and pressing Tab."""
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
        f'COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}; _shtab_tuneline; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    result = subprocess.run(["bash", "--norc", "-c", program], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return sorted(line.strip() for line in result.stdout.splitlines() if line.strip())


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_choices_and_dataset_files(tmp_path: Path) -> None:
    script = tmp_path / "tuneline.bash"
    script.write_text(run("completion", "bash").stdout, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "support-chat.jsonl").write_text("{}\n", encoding="utf-8")
    (data / "summary.jsonl").write_text("{}\n", encoding="utf-8")
    assert _bash_complete(script, ["tuneline", "ch"], data) == ["check"]
    assert _bash_complete(script, ["tuneline", "co"], data) == ["completion"]
    assert _bash_complete(script, ["tuneline", "check", "--format", ""], data) == ["github", "json", "sarif", "text"]
    assert _bash_complete(script, ["tuneline", "check", "su"], data) == ["summary.jsonl", "support-chat.jsonl"]
    assert _bash_complete(script, ["tuneline", "completion", "f"], data) == ["fish"]
