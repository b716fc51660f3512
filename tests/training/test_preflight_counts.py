"""`tuneline train`'s pre-flight counts an open model's tokens the way `tuneline check` does (token_counters.py).

A Together target counts with its family's Hugging Face tokenizer when it is in the user's cache (or the `tokenizer`
setting names it); the pre-flight's tokens and cost are then the check's exact numbers. Without it both are
o200k_base estimates, and the pre-flight says so: `≈` on the tokens, `tokensExact: false`, and a warning (which the
run's record keeps) naming the `hf download` that makes them exact. A tokenizer setting that does not load refuses
in the check's own sentence. Everything offline, driven through `--dry-run`: a tiny tokenizer is built here with
`tokenizers` alone, and HF_HOME points at a folder of the test's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_tokenizer import train_tiny_bpe

TARGET = "together:Qwen/Qwen2.5-7B-Instruct"  # models.toml: counted with Qwen/Qwen2.5-7B-Instruct's tokenizer
REPO_ID = "Qwen/Qwen2.5-7B-Instruct"
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
FETCH = f"hf download {REPO_ID} --include 'tokenizer*' --include '*.json' --include '*.jinja'"


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache as `hf download` leaves it (refs/main naming a snapshot), holding a tiny ChatML
    tokenizer under the model table's repo."""
    home = tmp_path_factory.mktemp("hf")
    repo = home / "hub" / ("models--" + REPO_ID.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    tok = train_tiny_bpe([f"What is {i} plus {i}? {i} plus {i} is {2 * i}." for i in range(200)], 400)
    tok.save(str(snapshot / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "chat_template": CHATML,
    }
    (snapshot / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project training on Together with a price for the model (so the cost follows the tokens) and 12 chats."""
    (tmp_path / "tuneline.toml").write_text(
        f'target = "{TARGET}"\n\n[models."{REPO_ID}"]\nprice = 2.0\n', encoding="utf-8"
    )
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}." + " Anything else?" * (i % 3)},
            ]
        }
        for i in range(12)
    ]
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return tmp_path


def tuneline(*args: str, cwd: Path, hf_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def both(project: Path, hf_home: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The pre-flight (`train --dry-run --json`), `check --format json`'s file and the pre-flight as text."""
    pf = tuneline("train", "chat.jsonl", "--dry-run", "--json", cwd=project, hf_home=hf_home)
    assert pf.returncode == 0, pf.stdout + pf.stderr
    check = tuneline("check", "--format", "json", "chat.jsonl", cwd=project, hf_home=hf_home)
    assert check.returncode == 0, check.stderr
    text = tuneline("train", "chat.jsonl", "--dry-run", cwd=project, hf_home=hf_home)
    assert text.returncode == 0, text.stdout + text.stderr
    (checked,) = json.loads(check.stdout)["files"]
    return json.loads(pf.stdout), checked, text.stdout


def test_the_preflight_counts_with_the_cached_family_tokenizer_like_check(project, hf_home):
    pf, checked, text = both(project, hf_home)
    assert checked["tokens"]["exact"] is True
    assert pf["backend"] == "together" and pf["model"] == REPO_ID
    assert pf["tokensExact"] is True and pf["tokens"] == checked["tokens"]["total"], pf["warnings"]
    assert pf["costUsd"] == pytest.approx(checked["cost"]["usd"])
    assert not [w for w in pf["warnings"] if "estimates" in w]
    assert f"Tokens per epoch  {pf['tokens']:,}\n" in text and "≈" not in text
    # the estimate differs: these are the tokenizer's own counts, not o200k_base's
    estimate, _, _ = both(project, project / "empty-hf")
    assert estimate["tokens"] != pf["tokens"]


def test_without_the_tokenizer_the_preflight_says_its_counts_are_estimates(project):
    empty = project / "empty-hf"
    pf, checked, text = both(project, empty)
    assert checked["tokens"]["exact"] is False
    assert pf["tokensExact"] is False and pf["tokens"] == checked["tokens"]["total"]
    assert pf["costUsd"] == pytest.approx(checked["cost"]["usd"])
    (said,) = [w for w in pf["warnings"] if "estimates" in w]
    assert said.startswith("token counts are o200k_base estimates (≈): together:Qwen/Qwen2.5-7B-Instruct counts")
    assert FETCH in said and "set `tokenizer` in tuneline.toml" in said and "hf auth login" not in said
    assert f"Tokens per epoch  ≈ {pf['tokens']:,}\n" in text and f"warning: {said}" in " ".join(text.split())
    assert not (empty / "hub").exists()  # nothing downloaded, nothing written to the cache


def test_a_tokenizer_setting_that_does_not_load_refuses_as_check_does(project, hf_home):
    config = project / "tuneline.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("\n\n", '\ntokenizer = "./no-such"\n\n', 1))
    pf = tuneline("train", "chat.jsonl", "--dry-run", cwd=project, hf_home=hf_home)
    check = tuneline("check", "chat.jsonl", cwd=project, hf_home=hf_home)
    for p in (pf, check):
        assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1, (p.stdout, p.stderr)
    assert pf.stderr == check.stderr
    assert pf.stderr.startswith(f"tuneline: error: tokenizer {project / 'no-such'}: no such folder")


async def test_the_editors_relative_tokenizer_folder_is_the_workspaces(project, hf_home):
    """The editor's `tuneline.tokenizer` names a folder in the workspace; the server's own working folder is
    elsewhere, so the pre-flight must anchor the folder at the workspace as the diagnostics do."""
    from lsprotocol import types

    from tests.lsp.helpers import server

    snapshot = next((hf_home / "hub").glob("models--*/snapshots/*"))
    shutil.copytree(snapshot, project / "tok")
    check = tuneline("check", "--format", "json", "--tokenizer", "tok", "chat.jsonl", cwd=project, hf_home=hf_home)
    (checked,) = json.loads(check.stdout)["files"]
    assert checked["tokens"]["exact"] is True
    data = project / "chat.jsonl"
    async with server(project, {"tokenizer": "tok"}) as client:
        client.open(data.as_uri(), data.read_text(encoding="utf-8"))
        await client.get_diagnostics(data.as_uri())  # the editor's settings have arrived
        pf = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="tuneline.preflight",
                arguments=[{"uri": data.as_uri(), "backend": "together"}],
            )
        )
    assert pf["ok"], pf
    assert pf["tokensExact"] is True and pf["tokens"] == checked["tokens"]["total"], pf["warnings"]
