"""`tuneline models`: each model's row says how its tokens are counted, offline.

OpenAI models name their tiktoken encoding; an open model names the Hugging Face repo from models.toml's
`tokenizer` and whether it is in the user's cache (looked up the way a check loads it, never downloaded); `local`
counts with the model folder's own. A footer says how to fetch a missing tokenizer, and that gated repos need a
login first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def models(hf_home: Path, cwd: Path) -> list[str]:
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "models"], cwd=cwd, capture_output=True, text=True, timeout=60, env=env
    )
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout.splitlines()


def _cache(hf_home: Path, repo: str) -> None:
    """A repo's snapshot as `hf download` leaves it (refs/main naming a snapshot)."""
    folder = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "snapshots" / commit).mkdir(parents=True)
    (folder / "snapshots" / commit / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit, encoding="utf-8")


def test_every_row_names_its_tokenizer_and_whether_it_is_cached(tmp_path):
    hf = tmp_path / "hf"
    _cache(hf, "Qwen/Qwen2.5-7B-Instruct")
    _cache(hf, "acme/tok")
    before = sorted(p.relative_to(hf) for p in hf.rglob("*"))
    (tmp_path / "tuneline.toml").write_text(
        '[models."acme/own-model"]\nprovider = "together"\n\n'
        '[models."acme/tuned"]\nprovider = "fireworks"\ntokenizer = "acme/tok"\n',
        encoding="utf-8",
    )
    lines = models(hf, tmp_path)
    rows = {line.split()[0]: line for line in lines if line and " · " in line and not line.startswith("Not")}
    expected = {
        "gpt-4o-mini-2024-07-18": "tokenizer: tiktoken o200k_base ",
        "gpt-3.5-turbo-0125": "tokenizer: tiktoken cl100k_base ",
        "local": "tokenizer: the model folder's own ",
        "Qwen/Qwen2.5-7B-Instruct": "tokenizer: Qwen/Qwen2.5-7B-Instruct (cached) ",
        "accounts/fireworks/models/qwen3-8b": "tokenizer: Qwen/Qwen3-8B (not cached) ",
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": "tokenizer: meta-llama/Llama-3.1-8B-Instruct (not cached, "
        "gated) ",
        "acme/own-model": "tokenizer: none recorded (o200k_base estimates) ",
        "acme/tuned": "tokenizer: acme/tok (cached) ",
    }
    for name, said in expected.items():
        assert said in rows[name], rows[name]
    # one column: every row's tokenizer starts, and what follows it starts, at the same place
    assert len({row.index("tokenizer: ") for row in rows.values()}) == 1
    assert len({row.index(" · ", row.index("tokenizer: ")) for row in rows.values()}) == 1
    footer = "\n".join(lines[lines.index("") + 1 :])
    assert "hf download REPO --include 'tokenizer*' --include '*.json' --include '*.jinja'" in footer
    assert "hf auth login" in footer
    assert sorted(p.relative_to(hf) for p in hf.rglob("*")) == before  # offline: the cache is only read
