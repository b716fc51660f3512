"""The pre-commit hook (.pre-commit-hooks.yaml) as a user meets it: the `.pre-commit-config.yaml` from
docs/install.md in a fresh git repository, pre-commit building the hook's environment from a checkout of tuneline,
then `pre-commit run` and a real `git commit` with a bad and a good dataset.

The checkout is a temporary git repository holding this working tree's sources (committed there), so the test
needs no network beyond the package index pre-commit installs tuneline's dependencies from.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging_source import REPO, copy_source

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "tuneline tests",
    "GIT_AUTHOR_EMAIL": "tests@tuneline.invalid",
    "GIT_COMMITTER_NAME": "tuneline tests",
    "GIT_COMMITTER_EMAIL": "tests@tuneline.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return result


def test_hook_definition() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["tuneline"]
    hook = hooks[0]
    assert hook["entry"].split()[:2] == ["tuneline", "check"]
    assert hook["language"] == "python"
    assert re.search(hook["files"], "data/train.jsonl") and not re.search(hook["files"], "notes.json")


def _documented_config() -> str:
    """The `.pre-commit-config.yaml` block of docs/install.md."""
    text = (REPO / "docs" / "install.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", text, re.S)
    assert match, "docs/install.md has no .pre-commit-config.yaml example"
    return match.group(1)


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="needs pre-commit (the dev extra)")
def test_pre_commit_runs_the_hook_on_bad_and_good_datasets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "VIRTUAL_ENV", "PRE_COMMIT"))}
    env.update(GIT_ENV, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))

    # A checkout of tuneline, as pre-commit would clone it from the project's repository.
    source = copy_source(tmp_path / "tuneline")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "tuneline")):
        assert git(source, *args, env=env).returncode == 0
    rev = git(source, "rev-parse", "HEAD", env=env).stdout.strip()

    # The user's project, with the documented config pointing at that checkout.
    project = tmp_path / "project"
    project.mkdir()
    assert git(project, "init", "-q", "-b", "main", env=env).returncode == 0
    config = _documented_config()
    config = re.sub(r"repo: \S+", f"repo: {source.as_uri()}", config)
    config = re.sub(r"rev: \S+", f"rev: {rev}", config)
    (project / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    (project / "bad.jsonl").write_bytes((REPO / "examples" / "broken.jsonl").read_bytes())
    (project / "good.jsonl").write_bytes((REPO / "examples" / "support-chat.jsonl").read_bytes())
    (project / "notes.txt").write_text("not a dataset\n", encoding="utf-8")

    def pre_commit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(PRE_COMMIT), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
        )

    bad = pre_commit("run", "--files", "bad.jsonl")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(r"^tuneline check\.+Failed$", bad.stdout, re.M), bad.stdout
    assert re.search(r"^bad\.jsonl:\d+:\d+: TL\d{3} ", bad.stdout, re.M), bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr

    good = pre_commit("run", "--files", "good.jsonl")
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^tuneline check\.+Passed$", good.stdout, re.M), good.stdout

    skipped = pre_commit("run", "--files", "notes.txt")
    assert skipped.returncode == 0
    assert re.search(r"^tuneline check\.+\(no files to check\)Skipped$", skipped.stdout, re.M), skipped.stdout

    # The hook as installed: `git commit` refuses the broken dataset and takes the good one.
    assert pre_commit("install").returncode == 0
    git(project, "add", ".pre-commit-config.yaml", "bad.jsonl", env=env)
    refused = git(project, "commit", "-m", "add a broken dataset", env=env)
    assert refused.returncode == 1
    assert "bad.jsonl:" in refused.stdout + refused.stderr
    assert git(project, "rev-parse", "--verify", "HEAD", env=env).returncode != 0  # nothing was committed
    git(project, "rm", "-q", "--cached", "bad.jsonl", env=env)
    git(project, "add", "good.jsonl", env=env)
    accepted = git(project, "commit", "-m", "add a dataset", env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
