"""Exact token counts for open models at hosted providers, through `tuneline check` (issue 11).

Together, Fireworks and OpenAI-compatible endpoints count an example with the model family's Hugging Face tokenizer
and chat template. tuneline counts with the same one when it is on this machine (the `tokenizer` setting's folder or
repo, else the model table's repo in the user's Hugging Face cache) by the local trainer's own code, at full length;
otherwise the counts are o200k_base estimates and one sentence says which tokenizer to fetch. Everything offline: a
tiny tokenizer is built here (tests/training/local/conftest.py), and HF_HOME points at a folder of the test's own.
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

from tuneline.analysis import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
TARGET = "together:Qwen/Qwen2.5-7B-Instruct"  # models.toml: counted with Qwen/Qwen2.5-7B-Instruct's tokenizer
HINT = "hf download Qwen/Qwen2.5-7B-Instruct --include 'tokenizer*' --include '*.json' --include '*.jinja'"


def _conftest() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "local_conftest", REPO / "tests" / "training" / "local" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's tokenizer files alone (no config.json, no weights): what `hf download --include` fetches."""
    model = _conftest().build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    folder = tmp_path_factory.mktemp("tokenizer") / "tok"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (model / name).exists():
            shutil.copy(model / name, folder / name)
    return folder


def _chat(i: int, *, weight: int | None = None, words: int = 1) -> dict[str, Any]:
    answer: dict[str, Any] = {"role": "assistant", "content": f"{i} plus {i} is {2 * i}." + " plan" * words}
    if weight is not None:
        answer["weight"] = weight
    return {
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": f"What is {i} plus {i}?"},
            answer,
        ]
    }


def _templated(folder: Path, rows: list[dict[str, Any]]) -> list[int]:
    """Each conversation's length through the chat template, as transformers applies it."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return [len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"]) for r in rows]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cli(*args: str, hf_home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HOME": str(hf_home), "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run(
        [sys.executable, "-m", "tuneline", "check", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("tuneline: error: ") and "Traceback" not in p.stderr
    return p.stderr.strip()


def test_a_tokenizer_folder_makes_counts_exact_and_the_providers_limit_judges_them(tmp_path, tokenizer_folder):
    """--tokenizer FOLDER: every chat line counts what the chat template gives; TL201 reads those counts against
    the model's limit (40 here, from the project's model table), and a local run's findings (TL205 for an answer of
    weight 0, TL206) never appear: the provider, not a local max_length, decides what is cut. A preference pair is
    not templated, so its file stays an estimate."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "tuneline.toml").write_text('[models."Qwen/Qwen2.5-7B-Instruct"]\nlimit = 40\n', encoding="utf-8")
    rows = [_chat(i, words=i % 3) for i in range(11)] + [_chat(11, weight=0)]
    _write(data / "chat.jsonl", rows)
    pair = {
        "input": {"messages": [{"role": "user", "content": "Add 2 and 2."}]},
        "preferred_output": [{"role": "assistant", "content": "4."}],
        "non_preferred_output": [{"role": "assistant", "content": "5."}],
    }
    _write(data / "dpo.jsonl", [pair] * 3)
    p = cli("--target", TARGET, "--tokenizer", str(tokenizer_folder), "--format", "json", str(data), hf_home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""  # nothing to fetch
    files = {Path(f["path"]).stem: f for f in json.loads(p.stdout)["files"]}
    chat = files["chat"]
    expected = _templated(tokenizer_folder, rows)
    assert chat["tokens"]["exact"] is True
    assert chat["tokens"]["total"] == sum(expected) and chat["tokens"]["max"] == max(expected)
    assert chat["target"] == {"provider": "together", "model": "Qwen/Qwen2.5-7B-Instruct", "method": "sft"}
    over = [d for d in chat["diagnostics"] if d["code"] == "TL201"]
    assert [d["line"] for d in over] == [i + 1 for i, n in enumerate(expected) if n > 40] != []
    first = next(n for n in expected if n > 40)
    assert over[0]["message"].startswith(f"{first} tokens, over the 40-token limit of Qwen/Qwen2.5-7B-Instruct")
    assert not [d for d in chat["diagnostics"] if d["code"] in ("TL205", "TL206")]
    assert files["dpo"]["tokens"]["exact"] is False


def test_without_the_tokenizer_counts_are_estimates_and_one_sentence_says_what_to_fetch(tmp_path):
    data = _write(tmp_path / "chat.jsonl", [_chat(i) for i in range(12)])
    p = cli("--target", TARGET, "--format", "json", str(data), hf_home=tmp_path / "empty-hf")
    assert p.returncode == 0, p.stderr
    (f,) = json.loads(p.stdout)["files"]
    assert f["tokens"]["exact"] is False
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("tuneline: note: token counts are o200k_base estimates")
    assert "counts with the tokenizer of Qwen/Qwen2.5-7B-Instruct" in p.stderr and HINT in p.stderr
    assert "hf auth login" not in p.stderr  # Qwen's repos are not gated
    assert not (tmp_path / "empty-hf" / "hub").exists()  # nothing was downloaded, nothing written to the cache


def test_the_hint_for_a_gated_repo_says_to_log_in_and_accept_the_licence_first(tmp_path):
    """meta-llama's repos are gated on the hub: `hf download` alone fails until the user logs in and accepts the
    licence, so the one sentence says so."""
    data = _write(tmp_path / "chat.jsonl", [_chat(i) for i in range(12)])
    target = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    p = cli("--target", target, str(data), hf_home=tmp_path / "empty-hf")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("\n") == 1 and "hf download meta-llama/Llama-3.1-8B-Instruct --include" in p.stderr
    assert p.stderr.rstrip().endswith(
        "meta-llama/Llama-3.1-8B-Instruct is gated: run `hf auth login` and accept its licence on the model page first."
    )


def test_the_model_tables_repo_loads_from_the_hugging_face_cache(tmp_path, tokenizer_folder):
    """The cache as `hf download` leaves it (refs/main naming a snapshot): the model table's repo loads from it
    without --tokenizer, and a folder of the same name in the working directory is never taken for it."""
    repo = tmp_path / "hf" / "hub" / "models--Qwen--Qwen2.5-7B-Instruct"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tokenizer_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    decoy = tmp_path / "cwd" / "Qwen" / "Qwen2.5-7B-Instruct"
    decoy.mkdir(parents=True)
    (decoy / "tokenizer.json").write_text("{not a tokenizer", encoding="utf-8")
    rows = [_chat(i) for i in range(12)]
    data = _write(tmp_path / "chat.jsonl", rows)
    p = cli("--target", TARGET, "--format", "json", str(data), hf_home=tmp_path / "hf", cwd=tmp_path / "cwd")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    (f,) = json.loads(p.stdout)["files"]
    assert f["tokens"]["exact"] is True and f["tokens"]["total"] == sum(_templated(tokenizer_folder, rows))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{tmp}/missing", "no such folder"),
        ("{tmp}/chat.jsonl", "not a folder (give the folder that holds tokenizer.json)"),
        ("{tmp}", "the folder holds no tokenizer files (tokenizer.json, tokenizer_config.json)"),
        ("nobody/no-such-model", "not in the Hugging Face cache; fetch it once with `hf download nobody/no-such-model"),
        ("not a repo", "neither a folder nor a Hugging Face repo id (OWNER/NAME)"),
    ],
)
def test_a_tokenizer_that_does_not_load_is_a_usage_error(tmp_path, value, why):
    data = _write(tmp_path / "chat.jsonl", [_chat(i) for i in range(12)])
    value = value.format(tmp=tmp_path)
    p = cli("--target", TARGET, "--tokenizer", value, str(data), hf_home=tmp_path / "empty-hf")
    assert _one_line_error(p).startswith(f"tuneline: error: tokenizer {value}: {why}")


def test_the_tokenizer_setting_in_a_config_file_is_relative_to_it_and_a_repo_id_stays_one(tmp_path):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tuneline.toml").write_text('tokenizer = "tok"\n', encoding="utf-8")
    assert load_settings(tmp_path).tokenizer == str(tmp_path / "tok")
    (tmp_path / "tuneline.toml").write_text('tokenizer = "Qwen/Qwen2.5-7B-Instruct"\n', encoding="utf-8")
    assert load_settings(tmp_path).tokenizer == "Qwen/Qwen2.5-7B-Instruct"
    with pytest.raises(Exception, match="`tokenizer` must be a folder of tokenizer files or a Hugging Face repo id"):
        Settings().merged({"tokenizer": ""})
