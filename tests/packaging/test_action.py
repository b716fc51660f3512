"""The GitHub Action (action.yml): valid against the Actions schema, built as intended, and its command line.

The action's steps are run here as GitHub runs them — bash, with GITHUB_ACTION_PATH, RUNNER_TEMP and GITHUB_ENV set
and the inputs in the environment — except `actions/setup-python`, whose place the test's own Python takes: the
install step creates a fresh virtual environment and pip-installs this checkout into it, then the check step runs
`tuneline check --format github` from there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging_source import copy_source

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "action.yml"
SCRIPT = REPO / "scripts" / "action_command.py"
INPUTS = {"paths", "target", "select", "ignore", "near-duplicates", "python-version"}


def action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def command(inputs: dict[str, str], *args: str, python: str = sys.executable, cwd: Path = REPO, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELINE_")}
    env.update({f"TUNELINE_{k.upper().replace('-', '_')}": v for k, v in inputs.items()})
    env.update(extra_env or {})
    return subprocess.run([python, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def argv(**inputs: str) -> list[str]:
    result = command(inputs, "argv")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_action_yml_is_valid_against_the_github_actions_schema() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-actions", str(ACTION)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_structure() -> None:
    data = action()
    assert data["name"] and data["description"]
    assert set(data["inputs"]) == INPUTS
    for name, spec in data["inputs"].items():
        assert spec.get("description"), f"input {name} has no description"
        assert spec.get("required") is False, f"input {name} must be optional"
    assert data["inputs"]["paths"]["default"] == "."
    runs = data["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    for step in steps:
        if "run" in step:
            assert step.get("shell") == "bash", f"step {step.get('name')!r} names no shell"
            # Inputs reach scripts through env, never pasted into the script (an input could hold `$(…)`).
            assert "${{" not in step["run"], f"step {step.get('name')!r} interpolates an expression into its script"
    check = next(s for s in steps if "action_command.py" in s.get("run", "") and s["run"].rstrip("'\"").endswith("run"))
    for name in INPUTS - {"python-version"}:
        variable = f"TUNELINE_{name.upper().replace('-', '_')}"
        assert check["env"][variable] == f"${{{{ inputs.{name} }}}}", variable
    assert (REPO / "scripts" / "action_command.py").is_file()


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({}, ["check", "--format", "github", "--", "."]),
        (
            {"paths": "data/train.jsonl\ndata/valid.jsonl\n"},
            ["check", "--format", "github", "--", "data/train.jsonl", "data/valid.jsonl"],
        ),
        ({"paths": "'my data/a.jsonl' b"}, ["check", "--format", "github", "--", "my data/a.jsonl", "b"]),
        (
            {"target": "openai:gpt-4.1-mini-2025-04-14", "select": "TL1, TL3", "ignore": "TL305\nTL202"},
            [
                "check",
                "--format",
                "github",
                "--target",
                "openai:gpt-4.1-mini-2025-04-14",
                "--select",
                "TL1,TL3",
                "--ignore",
                "TL305,TL202",
                "--",
                ".",
            ],
        ),
        ({"near-duplicates": "Lexical"}, ["check", "--format", "github", "--near-duplicates", "lexical", "--", "."]),
        ({"paths": "-x.jsonl"}, ["check", "--format", "github", "--", "-x.jsonl"]),
    ],
)
def test_same_inputs_give_the_same_invocation(inputs: dict[str, str], expected: list[str]) -> None:
    assert argv(**inputs) == expected
    assert argv(**inputs) == expected  # nothing but the inputs decides


@pytest.mark.parametrize(
    ("inputs", "sentence"),
    [
        ({"near-duplicates": "fuzzy"}, "near-duplicates: 'fuzzy' is not one of off, lexical, semantic, auto"),
        ({"select": "TL1;rm -rf /"}, "select: 'TL1;rm' is not a rule code, name or prefix"),
        ({"paths": "'unterminated"}, "paths: No closing quotation"),
        ({"target": "openai: gpt-4o"}, "target: 'openai: gpt-4o' holds a space; write PROVIDER:MODEL"),
    ],
)
def test_a_bad_input_is_one_error_annotation_and_exit_2(inputs: dict[str, str], sentence: str) -> None:
    result = command(inputs, "run")
    assert result.returncode == 2
    assert result.stdout.strip() == f"::error title=tuneline action::{sentence}"


def test_requirement_adds_the_extra_the_near_duplicate_mode_needs() -> None:
    def requirement(mode: str) -> str:
        return command({"near-duplicates": mode}, "requirement", "/a/b").stdout.strip()

    assert requirement("") == "/a/b"
    assert requirement("off") == "/a/b"
    assert requirement("lexical") == "/a/b[lexical]"
    assert requirement("auto") == "/a/b[lexical]"
    assert requirement("semantic") == "/a/b[embed]"


def _step_script(name: str) -> tuple[str, dict[str, str]]:
    step = next(s for s in action()["runs"]["steps"] if s.get("name") == name)
    return step["run"], step.get("env", {})


def _run_step(name: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    script, _ = _step_script(name)
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_action_steps_install_tuneline_and_annotate_findings(tmp_path: Path) -> None:
    """The install and check steps of action.yml, run by bash as the runner would, in a user's repository."""
    workspace = tmp_path / "repo"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "broken.jsonl").write_bytes((REPO / "examples" / "broken.jsonl").read_bytes())
    (workspace / "good.jsonl").write_bytes((REPO / "examples" / "support-chat.jsonl").read_bytes())
    github_env = tmp_path / "github_env"
    github_env.touch()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TUNELINE_", "VIRTUAL_ENV"))}
    action_path = tmp_path / "action"  # the runner's checkout of the action at the ref the workflow uses
    copy_source(action_path)
    base.update(GITHUB_ACTION_PATH=str(action_path), RUNNER_TEMP=str(tmp_path / "runner"), GITHUB_ENV=str(github_env))
    (tmp_path / "runner").mkdir()

    install = _run_step("Install tuneline", {**base, "TUNELINE_BASE_PYTHON": sys.executable}, workspace)
    assert install.returncode == 0, install.stdout + install.stderr
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    python = exported["TUNELINE_ACTION_PYTHON"]
    assert Path(python).is_relative_to(tmp_path / "runner"), python

    def check(**inputs: str) -> subprocess.CompletedProcess:
        env = {**base, "TUNELINE_ACTION_PYTHON": python}
        env.update({f"TUNELINE_{k.upper()}": v for k, v in inputs.items()})
        return _run_step("tuneline check", env, workspace)

    bad = check(PATHS="data good.jsonl", IGNORE="TL305")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    lines = bad.stdout.splitlines()
    assert lines[0] == "tuneline check --format github --ignore TL305 -- data good.jsonl"
    assert any(re.match(r"::error file=data/broken\.jsonl,line=\d+", line) for line in lines), bad.stdout
    assert not any("TL305" in line for line in lines[1:])

    good = check(PATHS="good.jsonl", SELECT="TL1")
    assert good.returncode == 0, good.stdout + good.stderr
    assert not any(line.startswith("::error") for line in good.stdout.splitlines())
