"""Verdicts follow the target (issue 11: "a false pass is the worst bug we can ship").

Every false pass and false error the issue lists, per provider, through the front door (`tuneline check`, one real
subprocess per provider over a folder of files built here) and through the engine, plus the real public files in
shared/corpus. The expected verdicts are the providers' documented rules (server/analysis/providers.toml).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from tuneline.analysis import Dataset, Engine, Settings, Severity, check_path
from tuneline.analysis.targets import Fact

from .helpers import CORPUS

REPO = Path(__file__).resolve().parents[2]
TARGETS = {
    "openai": "openai:gpt-4o-mini-2024-07-18",
    "azure": "azure:gpt-4.1-mini",
    "together": "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "fireworks": "fireworks:accounts/fireworks/models/llama-v3p1-8b-instruct",
    "openai-compatible": "openai-compatible:meta-llama/Llama-3.3-70B-Instruct",
    "local": "local:./models/tiny",
}
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


# --- lines -------------------------------------------------------------------------------------------------------


def chat(i: int, *, system: bool = True, content: object = None, **extra: object) -> str:
    messages = [{"role": "system", "content": "You answer briefly."}] if system else []
    messages += [
        {"role": "user", "content": content if content is not None else f"What is {i} plus {i}?"},
        {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
    ]
    return json.dumps({"messages": messages, **extra})


def rft(i: int) -> str:
    """OpenAI reinforcement fine-tuning: a developer message, the user's turn last, tools and grader fields."""
    return json.dumps(
        {
            "messages": [
                {"role": "developer", "content": "Answer with the diagnosis letter only."},
                {"role": "user", "content": f"Case {i}: which option is right? A, B, C or D"},
            ],
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
            "reference_answer": "ABCD"[i % 4],
        }
    )


def image_line(i: int, url: str, *, bare: bool = False) -> str:
    """An image part as the chat schema writes it, or (`bare`) with the URL as `image_url`'s value."""
    value = url if bare else {"url": url}
    content = [{"type": "text", "text": f"What is in picture {i}?"}, {"type": "image_url", "image_url": value}]
    return chat(i, content=content)


LINES = {
    "unknown": lambda i: json.dumps({"question": f"q{i}?", "context": f"c{i}", "answer": f"a{i}"}),
    "text": lambda i: json.dumps({"text": f"Document number {i} says something useful."}),
    "alpaca": lambda i: json.dumps({"instruction": f"Add {i} and {i}.", "input": "", "output": f"{2 * i}."}),
    "sharegpt": lambda i: json.dumps(
        {"conversations": [{"from": "human", "value": f"Add {i} and {i}."}, {"from": "gpt", "value": f"{2 * i}."}]}
    ),
    "prompt_completion": lambda i: json.dumps({"prompt": f"Add {i} and {i}.", "completion": f"{2 * i}."}),
    "chat": chat,
    "rft": rft,
    "dpo": lambda i: json.dumps(
        {
            "input": {"messages": [{"role": "user", "content": f"Add {i} and {i}."}]},
            "preferred_output": [{"role": "assistant", "content": f"{2 * i}."}],
            "non_preferred_output": [{"role": "assistant", "content": f"{2 * i + 1}."}],
        }
    ),
    "trl_dpo": lambda i: json.dumps(
        {"prompt": f"Add {i} and {i}.", "chosen": f"{2 * i}.", "rejected": f"{2 * i + 1}?"}
    ),
    "images_https": lambda i: image_line(i, f"https://example.com/picture-{i}.png"),
    "images_data": lambda i: image_line(i, PNG.replace("AAAA", f"AA{'AB'[i % 2]}A", 1)),
    "images_bare": lambda i: image_line(i, PNG.replace("AAAA", f"AA{'AB'[i % 2]}A", 1), bare=True),
}


def write(folder: Path, name: str, lines: list[str], *, bom: bool = False) -> Path:
    path = folder / f"{name}.jsonl"
    path.write_bytes(("\ufeff" if bom else "").encode() + ("\n".join(lines) + "\n").encode())
    return path


def build(folder: Path) -> Path:
    """One folder holding every case: 12 examples each unless the case is about the count."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, line in LINES.items():
        write(folder, name, [line(i) for i in range(30 if name == "unknown" else 12)])
    write(folder, "bom", [chat(i) for i in range(12)], bom=True)
    write(folder, "few", [chat(i) for i in range(5)])
    write(folder, "two", [chat(i) for i in range(2)])
    return folder


# An empty Hugging Face cache: open models' tokenizers are never found there, whatever the machine has cached
# (tests/analysis/test_family_tokenizer.py covers counting with them).
EMPTY_HF_HOME = Path(tempfile.mkdtemp(prefix="tuneline-no-hf-"))


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HOME": str(EMPTY_HF_HOME)},
    )


def one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("tuneline: error: ") and "Traceback" not in p.stderr
    return p.stderr


# --- the matrix through the CLI ----------------------------------------------------------------------------------

ACCEPTS_TEXT = {"together", "openai-compatible", "local"}  # text and prompt/completion for sft
# OpenAI and Azure offer RFT for o4-mini alone, OpenAI's DPO the gpt-4.1 family (providers.toml `method_models`):
# the matrix's gpt-4o-mini (openai) and gpt-4.1-mini (azure) take no RFT file, and gpt-4o-mini no DPO file
# (test_a_method_the_model_lacks_is_refused covers the models that take them)
DPO_REFUSED = {"openai"}


def expected_errors(provider: str) -> dict[str, set[str]]:
    """The error codes each built file gets for this provider: the issue's false passes are the non-empty ones."""
    refused = {"TL123"}
    mixed = {"TL127"} if provider == "together" else set()
    return {
        "unknown": {"TL124"},
        "text": set() if provider in ACCEPTS_TEXT else refused,
        "prompt_completion": set() if provider in ACCEPTS_TEXT else refused,
        "alpaca": set() if provider == "local" else refused,
        "sharegpt": set() if provider == "local" else refused,
        "chat": set(),
        "rft": refused,
        "dpo": refused if provider in DPO_REFUSED else set(),
        "trl_dpo": set() if provider == "local" else refused,
        # gpt-4o-mini (openai), gpt-4.1-mini (azure) and Llama 3.1 8B (together) do not fine-tune on images
        # (models.toml `vision`)
        # Together's upload check refuses the string system prompt beside the user's image parts (TL127)
        "images_https": ({"TL125"} if provider != "openai-compatible" else set()) | mixed,
        # Fireworks' llama-v3p1-8b-instruct is a text model (models.toml vision.fireworks, found probing targets)
        "images_data": ({"TL125"} if provider != "openai-compatible" else set()) | mixed,
        # a bare string for `image_url` breaks the chat schema; where the image cannot train anyway (these text
        # models, the local trainer) TL125 says so and the shape is not judged (test_image_parts: vision models)
        "images_bare": ({"TL125"} | mixed) if provider != "openai-compatible" else {"TL108"},
        "bom": {"TL004"} if provider == "together" else set(),
        "few": {"TL303"} if provider in ("openai", "azure") else set(),
        "two": {"TL303"} if provider in ("openai", "azure", "fireworks") else set(),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("cases"))


@pytest.fixture(scope="module")
def local_cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `models/tiny`, a tiny Llama and tokenizer built here (offline), so `local:./models/tiny`
    resolves: a local target counts with the model's own tokenizer, and a missing folder is a usage error."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "local_conftest", REPO / "tests" / "training" / "local" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path_factory.mktemp("local-cwd")
    module.build_tiny_model(root / "models" / "tiny")
    return root


@pytest.mark.parametrize("provider", list(TARGETS))
def test_every_case_for_every_provider_through_the_cli(cases: Path, local_cwd: Path, provider: str):
    p = cli("check", "--format", "json", "--jobs", "1", "--target", TARGETS[provider], str(cases), cwd=local_cwd)
    assert p.returncode == 1, p.stderr  # the unknown-format file alone refuses the run
    files = {Path(f["path"]).stem: f for f in json.loads(p.stdout)["files"]}
    for name, codes in expected_errors(provider).items():
        f = files[name]
        errors = {d["code"] for d in f["diagnostics"] if d["severity"] == "error"}
        assert errors == codes, (provider, name, [d["message"] for d in f["diagnostics"] if d["severity"] == "error"])
        target = f["target"]
        assert (target["provider"], f"{target['provider']}:{target['model']}") == (provider, TARGETS[provider])
    # the method follows each file's format
    assert files["dpo"]["target"]["method"] == "dpo" and files["chat"]["target"]["method"] == "sft"
    assert files["rft"]["target"]["method"] == "rft"
    # token counts are the target's own where its tokenizer is here: tiktoken, or the local model's own
    assert files["chat"]["tokens"]["exact"] is (provider in ("openai", "azure", "local"))
    assert files["images_data"]["tokens"]["exact"] is False
    # the unknown-format file: one file-level error naming what the target takes, and 20 lines, not 30
    unknown = [d for d in files["unknown"]["diagnostics"] if d["code"] == "TL124"]
    assert len(unknown) == 21 and unknown[0]["line"] is None
    assert "question, context, answer" in unknown[0]["message"] and "takes chat (messages)" in unknown[0]["message"]
    # BOM: Together's checker rejects it, Azure and local training read it, the others get a warning
    bom = [d for d in files["bom"]["diagnostics"] if d["code"] == "TL004"]
    if provider in ("azure", "local"):
        assert bom == []
    else:
        assert bom[0]["severity"] == ("error" if provider == "together" else "warning")
    # the minimum names the provider
    few = [d["message"] for d in files["two"]["diagnostics"] if d["code"] == "TL303"]
    if few:
        title = {"openai": "OpenAI", "azure": "Azure OpenAI (Foundry)", "fireworks": "Fireworks AI"}[provider]
        minimum = {"openai": 10, "azure": 10, "fireworks": 3}[provider]
        assert few == [f"2 examples: {title} requires at least {minimum}."]
    # epochs and price are the target's: Together and Fireworks run 1 epoch, local 3, OpenAI its heuristic
    epochs = files["chat"]["cost"]["epochs"]
    assert epochs == {"together": 1, "fireworks": 1, "local": 3}.get(provider, 8), provider
    usd = files["chat"]["cost"]["usd"]
    if provider == "openai":
        assert usd is not None and usd > 0
    elif provider == "local":
        assert usd == 0
    elif provider in ("azure", "together", "openai-compatible"):
        assert usd is None  # OpenAI's price is not Azure's; Together's prices are not recorded
    assert files["rft"]["cost"]["usd"] is None  # RFT is billed by training time, not tokens


def test_text_summary_names_the_target_and_a_clean_file_passes_for_it(cases: Path, local_cwd: Path):
    p = cli("check", "--target", TARGETS["local"], str(cases / "alpaca.jsonl"), cwd=local_cwd)
    assert p.returncode == 0, p.stdout
    assert "for local:./models/tiny (sft)" in p.stdout
    assert p.stdout.rstrip().endswith("Found 1 warning for local:./models/tiny.")  # TL304: only 12 examples
    assert "tokens p50" in p.stdout and "token counts are estimates" not in p.stdout  # the model's own tokenizer
    p = cli("check", "--target", "local:./models/missing", str(cases / "alpaca.jsonl"), cwd=local_cwd)
    assert one_line_error(p).rstrip().endswith("no such model folder")
    p = cli("check", str(cases / "alpaca.jsonl"))  # the default target: OpenAI, which takes chat only
    assert p.returncode == 1 and "All checks passed" not in p.stdout
    assert "Found 13 errors, 1 warning for openai:gpt-4o-mini-2024-07-18." in p.stdout  # 1 file, 12 lines, TL304
    assert "TL123 The file is alpaca (instruction / input / output): OpenAI does not take it" in p.stdout
    assert "Targets that take it as it is: local." in p.stdout


def test_the_unknown_format_false_pass(cases: Path):
    """Rows of {question, context, answer} used to pass with a token count and a price."""
    p = cli("check", str(cases / "unknown.jsonl"))
    assert p.returncode == 1 and "All checks passed" not in p.stdout
    assert p.stdout.count(" TL124 ") == 21
    p = cli("check", "--format", "json", str(cases / "unknown.jsonl"))
    (f,) = json.loads(p.stdout)["files"]
    assert f["format"] == "unknown" and f["target"]["provider"] == "openai"


# --- real public files -------------------------------------------------------------------------------------------

corpus = pytest.mark.skipif(not CORPUS.exists(), reason="shared/corpus is not beside the repository")


def _errors(report) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in report.findings:
        if f.severity is Severity.ERROR:
            out[f.code] = out.get(f.code, 0) + 1
    return out


def _engine(target: str | None = None, **more: object) -> Engine:
    values = {"target": target, **more} if target else dict(more)
    return Engine(Settings().merged(values)) if values else Engine()


@corpus
@pytest.mark.parametrize(
    ("name", "target", "errors"),
    [
        # RFT files: valid for OpenAI's and Azure's o4-mini (the method follows the format), one file-level error
        # on the default gpt-4o-mini (no RFT for that model), refused line by line by targets without RFT
        ("microsoft-foundry__medmcq_rft_validation.jsonl", "openai:o4-mini", {}),
        ("microsoft-foundry__medmcq_rft_validation.jsonl", None, {"TL123": 1}),
        ("microsoft-foundry__medmcq_rft_validation.jsonl", "azure:o4-mini", {}),
        ("microsoft-foundry__medmcq_rft_validation.jsonl", TARGETS["together"], {"TL123": 21}),
        ("microsoft-foundry__zava_rft_train.jsonl", "openai:o4-mini-2025-04-16", {}),
        ("microsoft-foundry__zava_rft_train.jsonl", None, {"TL123": 1}),
        ("microsoft-foundry__zava_rft_train.jsonl", TARGETS["fireworks"], {"TL123": 11}),
        # alpaca, sharegpt, KTO: only the local trainer reads the first two, nobody takes KTO
        ("llama-factory__alpaca_en_demo.jsonl", None, {"TL123": 21}),
        ("llama-factory__alpaca_en_demo.jsonl", TARGETS["local"], {}),
        ("llama-factory__glaive_toolcall_en_demo.jsonl", TARGETS["together"], {"TL123": 21}),
        ("llama-factory__kto_en_demo.jsonl", TARGETS["local"], {"TL123": 21, "TL119": 1, "TL401": 1}),
        ("llama-factory__dpo_en_demo.jsonl", TARGETS["local"], {}),
        # prompt/completion: Together and local take it, OpenAI does not
        ("mlx-examples__wwdc25_train.jsonl", None, {"TL123": 21}),
        ("mlx-examples__wwdc25_train.jsonl", TARGETS["together"], {}),
        # chat with tool calls: Together requires alternating turns, Fireworks lists no tool role
        ("microsoft-foundry__zava_datagen_tooluse_sft_valid.jsonl", None, {}),
        ("microsoft-foundry__zava_datagen_tooluse_sft_valid.jsonl", TARGETS["together"], {"TL118": 25}),
        ("microsoft-foundry__orca_dpo_pairs_validation.jsonl", TARGETS["fireworks"], {}),
    ],
)
def test_corpus_files_per_target(name: str, target: str | None, errors: dict[str, int]):
    report = check_path(CORPUS / name, _engine(target))
    assert _errors(report) == errors


@corpus
def test_rft_files_keep_their_developer_role_and_grader_fields():
    for name in ("microsoft-foundry__zava_rft_train.jsonl", "microsoft-foundry__medmcq_rft_validation.jsonl"):
        report = check_path(CORPUS / name, _engine(method="rft"))
        assert report.summary.format == "rft" and report.summary.target.method == "rft"
        assert not [f for f in report.findings if f.code in ("TL105", "TL109", "TL110", "TL111")]
        for f in report.findings:  # no fix anywhere rewrites a role
            assert f.fix is None or all('"system"' not in e.text for e in f.fix.edits)
    # the same file for supervised fine-tuning is refused as a whole, not with hundreds of per-line errors
    medmcq = check_path(CORPUS / "microsoft-foundry__medmcq_rft_validation.jsonl", _engine(method="sft"))
    assert _errors(medmcq) == {"TL123": 21}
    assert "OpenAI takes it for rft (--method rft)." in medmcq.findings[0].message


@corpus
def test_rft_corpus_through_the_cli():
    medmcq = str(CORPUS / "microsoft-foundry__medmcq_rft_validation.jsonl")
    p = cli("check", "--no-summary", "--target", "openai:o4-mini-2025-04-16", "--method", "rft", medmcq)
    assert p.returncode == 0 and " TL1" not in p.stdout, p.stdout[:2000]
    p = cli("check", "--target", TARGETS["together"], str(CORPUS / "microsoft-foundry__zava_rft_train.jsonl"))
    assert p.returncode == 1
    assert "Together AI does not offer reinforcement fine-tuning (rft)" in p.stdout
    assert "Targets that take it as it is: openai, azure." in p.stdout


@pytest.mark.parametrize(
    ("target", "method", "refused"),
    [
        # A chat file without answers reads as RFT prompts: only o4-mini takes it (it was a pass on gpt-4o-mini)
        ("openai:gpt-4o-mini-2024-07-18", "rft", "error"),
        ("openai:gpt-4o-mini", "rft", "error"),
        ("azure:gpt-4.1-mini", "rft", "error"),
        ("openai:o4-mini", "rft", None),
        ("azure:o4-mini-2025-04-16", "rft", None),
        ("openai:gpt-5-mini", "rft", "warning"),  # not in the model table: maybe newer than the list
        # DPO: OpenAI's gpt-4.1 family (and fine-tuned models of it); Azure's gpt-4o and gpt-4.1/-mini
        ("openai:gpt-3.5-turbo-0125", "dpo", "error"),
        ("openai:gpt-4o-2024-08-06", "dpo", "error"),
        ("openai:gpt-4.1-mini", "dpo", None),
        ("openai:ft:gpt-4.1-mini-2025-04-14:acme::abc123", "dpo", None),
        ("azure:gpt-4o-2024-08-06", "dpo", None),
        ("azure:gpt-4.1-nano-2025-04-14", "dpo", "error"),
        ("azure:gpt-4o-2024-08-06.ft-abc123", "dpo", None),  # Azure's fine-tuned models carry .ft-<id>
        # o4-mini takes RFT alone: a supervised file on it is refused (the lists name it for rft, so an error)
        ("openai:o4-mini", "sft", "error"),
        ("azure:o4-mini-2025-04-16", "sft", "error"),
        ("openai:gpt-5-mini", "sft", "warning"),
        ("together:" + TARGETS["together"].split(":", 1)[1], "dpo", None),  # no per-model list recorded
    ],
)
def test_a_method_the_model_lacks_is_refused(tmp_path: Path, target: str, method: str, refused: str | None):
    """OpenAI offers RFT for o4-mini alone and DPO for the gpt-4.1 family: a file whose method its model lacks fails
    at the provider, so `check` must not pass it (found probing the CLI: a chat file missing every answer passed on
    the default target as "RFT")."""
    if method == "rft":
        lines = [json.dumps({"messages": [{"role": "user", "content": f"What is {i}+1?"}]}) for i in range(12)]
    elif method == "sft":
        lines = clean()
    else:
        lines = [LINES["dpo"](i) for i in range(12)]
    path = write(tmp_path, "data", lines)
    p = cli("check", "--format", "json", "--target", target, str(path))
    (f,) = json.loads(p.stdout)["files"]
    assert f["target"]["method"] == method
    found = [d for d in f["diagnostics"] if d["code"] == "TL123"]
    if refused is None:
        assert found == [] and p.returncode == 0, found
        return
    assert len(found) == 1 and found[0]["line"] is None and found[0]["severity"] == refused, found
    assert p.returncode == (1 if refused == "error" else 0)
    message = found[0]["message"]
    assert " only, not " in message and "--target " in message
    if target.endswith(("o4-mini", "o4-mini-2025-04-16")):
        assert "with reinforcement fine-tuning (rft) only, not supervised fine-tuning (sft)" in message
    if method == "rft":
        assert "o4-mini-2025-04-16" in message
        assert "If these are supervised examples, each is missing its assistant answer" in message


def test_the_default_model_is_named_as_such_when_it_lacks_the_method(tmp_path: Path):
    """With no target named, a DPO file meets tuneline's default model, gpt-4o-mini, which takes no DPO: the error
    says the model is the default one, not one the user chose."""
    path = write(tmp_path, "data", [LINES["dpo"](i) for i in range(12)])
    p = cli("check", "--format", "json", str(path))
    (found,) = [d for d in json.loads(p.stdout)["files"][0]["diagnostics"] if d["code"] == "TL123"]
    assert (
        p.returncode == 1
        and "gpt-4o-mini-2024-07-18 (tuneline's default model: no target was named)" in (found["message"])
    )
    named = cli("check", "--format", "json", "--target", "openai:gpt-4o-mini", str(path))
    (found,) = [d for d in json.loads(named.stdout)["files"][0]["diagnostics"] if d["code"] == "TL123"]
    assert "default model" not in found["message"]


def test_without_answers_and_method_sft_every_line_is_reported(tmp_path: Path):
    lines = [json.dumps({"messages": [{"role": "user", "content": f"What is {i}+1?"}]}) for i in range(12)]
    p = cli("check", "--format", "json", "--method", "sft", str(write(tmp_path, "data", lines)))
    (f,) = json.loads(p.stdout)["files"]
    assert p.returncode == 1 and f["target"]["method"] == "sft"
    assert len([d for d in f["diagnostics"] if d["line"] is not None and d["severity"] == "error"]) >= 12


# --- per-line rules that read the target ---------------------------------------------------------------------------


def findings_for(lines: list[str], target: str | None = None, **more: object):
    return Dataset(_engine(target, **more), lines).findings()


def clean(n: int = 12) -> list[str]:
    return [chat(i) for i in range(n)]


def test_developer_role_is_fixed_to_system_only_in_supervised_files():
    line = chat(99).replace('"system"', '"developer"', 1)
    (f,) = [f for f in findings_for([*clean(), line]) if f.code == "TL105"]
    assert "accepted only for reinforcement fine-tuning; use 'system'" in f.message
    assert f.fix is not None and f.fix.edits[0].text == '"system"'
    # in an RFT file developer is the right role, and system the wrong one (with a fix the editor does not apply
    # on its own: the RFT role list is not confirmed in OpenAI's own guide)
    rfts = [rft(i) for i in range(12)]
    assert not [f for f in findings_for(rfts) if f.code == "TL105"]
    system = rfts[0].replace('"developer"', '"system"')
    (f,) = [f for f in findings_for([system, *rfts[1:]]) if f.code == "TL105"]
    assert "takes no system messages for reinforcement fine-tuning (rft); use 'developer'" in f.message
    assert f.fix is not None and not f.fix.safe


def test_a_chat_line_ending_on_a_user_turn_fits_an_rft_file_and_warns_in_a_chat_file():
    multi_turn = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello, what is the case?"},
                {"role": "user", "content": "A cough for three weeks."},
            ]
        }
    )
    rfts = [rft(i) for i in range(12)]
    assert [f.code for f in findings_for([*rfts, multi_turn]) if f.line == 12] == []
    assert "TL111" in [f.code for f in findings_for([*clean(), multi_turn]) if f.line == 12]
    # a line with the question only, in a chat file: an error that says what it looks like
    question = json.dumps({"messages": [{"role": "user", "content": "What is 2 plus 2?"}]})
    (f,) = [f for f in findings_for([*clean(), question]) if f.line == 12 and f.severity is Severity.ERROR]
    assert f.code == "TL101" and f.message.startswith("No assistant answer: this line ends on a user turn")


@pytest.mark.parametrize(
    ("target", "line", "code", "words"),
    [
        (
            TARGETS["fireworks"],
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "Weather?"},
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                            ],
                        },
                        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                        {"role": "assistant", "content": "Sunny."},
                    ]
                }
            ),
            "TL105",
            "Fireworks AI does not accept the 'tool' role for supervised fine-tuning (sft)",
        ),
        (
            TARGETS["together"],
            chat(1).replace('"role": "assistant"', '"role": "function"'),
            "TL105",
            "Together AI does not accept the 'function' role",
        ),
        (
            TARGETS["together"],
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "Hi"},
                        {"role": "system", "content": "Be brief."},
                        {"role": "assistant", "content": "Hello."},
                    ]
                }
            ),
            "TL113",
            "Together AI accepts a system message only as the first message",
        ),
        (
            TARGETS["together"],
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "Hi"},
                        {"role": "user", "content": "Anyone?"},
                        {"role": "assistant", "content": "Hello."},
                    ]
                }
            ),
            "TL118",
            "Together AI requires user and assistant turns to alternate",
        ),
        (TARGETS["together"], chat(1, parallel_tool_calls=False), "TL109", "Together AI does not accept"),
        (
            TARGETS["openai-compatible"],
            json.dumps({"messages": [*json.loads(chat(1))["messages"], {"role": "user", "content": "Thanks!"}]}),
            "TL111",
            "OpenAI-compatible endpoint expects the last message to be the assistant's answer",
        ),
    ],
)
def test_provider_rules_on_lines_are_errors(target: str, line: str, code: str, words: str):
    found = [f for f in findings_for([*clean(), line], target) if f.line == 12 and f.code == code]
    assert found and found[0].severity is Severity.ERROR and words in found[0].message, found
    # the same line for OpenAI is fine or only a warning
    openai = [f for f in findings_for([*clean(), line]) if f.line == 12 and f.code == code]
    assert all(f.severity is not Severity.ERROR for f in openai)


@pytest.mark.parametrize(
    ("lines", "key"),
    [
        ([json.dumps({"prompt": f"q{i}", "completion": f"a{i}.", "id": i}) for i in range(12)], "id"),
        ([json.dumps({"text": f"Document {i} says something.", "meta": {"n": i}}) for i in range(12)], "meta"),
        # the columns of two formats on one line: Together's "Found multiple dataset formats"
        ([json.dumps({"text": "x", "prompt": f"q{i}", "completion": f"a{i}."}) for i in range(12)], "text"),
        ([chat(i, functions=[{"name": "f", "parameters": {"type": "object"}}]) for i in range(12)], "functions"),
    ],
)
def test_together_refuses_keys_a_format_does_not_define(tmp_path: Path, lines: list[str], key: str):
    """Together's upload check allows `tools` beside `messages` and nothing beside prompt/completion or text ("Found
    extra column"; providers.toml `strict_keys`): such files passed (found probing targets). The local trainer and
    other endpoints read the keys they know and leave the rest."""
    path = write(tmp_path, "data", lines)
    p = cli("check", "--format", "json", "--target", TARGETS["together"], str(path))
    (f,) = json.loads(p.stdout)["files"]
    found = [d for d in f["diagnostics"] if d["code"] == "TL109"]
    assert p.returncode == 1 and len(found) == 12 and all(d["severity"] == "error" for d in found), found[:2]
    assert (
        f"Unknown key '{key}'" in found[0]["message"] and "Together AI refuses every other key" in found[0]["message"]
    )
    if key == "functions":  # the allowed list names only what Together takes (not parallel_tool_calls)
        assert found[0]["message"].endswith("allowed: messages, tools.")
    if key != "functions":  # OpenAI-style chat keys stay allowed elsewhere; other formats' extra keys too
        other = cli("check", "--format", "json", "--target", TARGETS["openai-compatible"], str(path))
        assert [d for d in json.loads(other.stdout)["files"][0]["diagnostics"] if d["code"] == "TL109"] == []
    else:
        other = cli("check", "--format", "json", str(path))
        assert [d for d in json.loads(other.stdout)["files"][0]["diagnostics"] if d["code"] == "TL109"] == []


def test_together_takes_prompt_and_completion_as_text_only(tmp_path: Path):
    """Together validates `prompt` and `completion` as message content (a string or content parts): TRL's
    conversational form, lists of messages, is refused there (it passed, found probing targets) and taken by
    targets that read it (providers.toml `prompt_completion_messages`)."""
    lines = [
        json.dumps(
            {
                "prompt": [{"role": "user", "content": f"Add {i} and {i}."}],
                "completion": [{"role": "assistant", "content": f"{2 * i}."}],
            }
        )
        for i in range(12)
    ]
    parts = [
        json.dumps({"prompt": [{"type": "text", "text": f"Add {i} and {i}."}], "completion": f"{2 * i}."})
        for i in range(12)
    ]
    messages, text = write(tmp_path, "messages", lines), write(tmp_path, "parts", parts)
    p = cli("check", "--format", "json", "--target", TARGETS["together"], str(messages), str(text))
    by_name = {Path(f["path"]).stem: f for f in json.loads(p.stdout)["files"]}
    found = [d for d in by_name["messages"]["diagnostics"] if d["code"] == "TL108"]
    assert p.returncode == 1 and len(found) == 24 and "must be text for Together AI" in found[0]["message"]
    assert [d for d in by_name["parts"]["diagnostics"] if d["code"] == "TL108"] == []
    other = cli("check", "--format", "json", "--target", TARGETS["openai-compatible"], str(messages))
    assert [d for d in json.loads(other.stdout)["files"][0]["diagnostics"] if d["code"] == "TL108"] == []


def test_fireworks_weights_whole_examples_on_all_or_none(tmp_path: Path):
    """Fireworks takes a number `weight` beside `messages` (a false TL109 error before, found probing targets), on
    every example or on none (TL129); other targets refuse the key."""
    fireworks = TARGETS["fireworks"]
    every = write(tmp_path, "every", [chat(i, weight=0.5 + i) for i in range(12)])
    p = cli("check", "--format", "json", "--target", fireworks, str(every))
    (f,) = json.loads(p.stdout)["files"]
    assert p.returncode == 0 and [d for d in f["diagnostics"] if d["severity"] == "error"] == []
    some = write(tmp_path, "some", [chat(i, weight=2.0) if i % 3 == 0 else chat(i) for i in range(12)])
    p = cli("check", "--format", "json", "--target", fireworks, str(some))
    (f,) = json.loads(p.stdout)["files"]
    mixed = [d for d in f["diagnostics"] if d["code"] == "TL129"]
    assert p.returncode == 1 and all(d["severity"] == "error" for d in mixed)
    assert mixed[0]["line"] is None and mixed[0]["message"].startswith("4 of 12 examples have a `weight`")
    assert mixed[1]["message"].startswith("No `weight` here, while 4 other examples have one")
    assert [d["line"] for d in mixed[1:]] == [2, 3, 5, 6, 8, 9, 11, 12]  # the unweighted ones, 1-based
    bad = write(tmp_path, "bad", [chat(i, weight="heavy") for i in range(12)])
    p = cli("check", "--format", "json", "--target", fireworks, str(bad))
    found = [d for d in json.loads(p.stdout)["files"][0]["diagnostics"] if d["code"] == "TL114"]
    assert p.returncode == 1 and len(found) == 12 and "must be a number for Fireworks AI" in found[0]["message"]
    huge = write(tmp_path, "huge", [chat(i).replace("{", '{"weight": 1e400, ', 1) for i in range(12)])
    p = cli("check", "--format", "json", "--target", fireworks, str(huge))
    found = [d for d in json.loads(p.stdout)["files"][0]["diagnostics"] if d["code"] == "TL114"]
    assert p.returncode == 1 and len(found) == 12 and "must be a finite number" in found[0]["message"]
    assert "this one is infinite" in found[0]["message"]
    for other in ("openai", "together"):
        p = cli("check", "--format", "json", "--target", TARGETS[other], str(every))
        codes = [d["code"] for d in json.loads(p.stdout)["files"][0]["diagnostics"]]
        assert p.returncode == 1 and codes.count("TL109") == 12 and "TL129" not in codes


VISION = "openai:gpt-4o-2024-08-06"


def test_image_rules_per_provider():
    https = image_line(1, "https://example.com/a.png")
    gif = image_line(2, "data:image/gif;base64,R0lGODlhAQABAAAAACw=")
    many = chat(3, content=[{"type": "image_url", "image_url": {"url": PNG}}] * 11 + [{"type": "text", "text": "?"}])
    big = image_line(4, "data:image/png;base64," + "A" * (11 * 2**20 * 4 // 3))

    def messages(target: str | None, line: str) -> list[str]:
        # OpenAI's own image rules, on the one OpenAI model that fine-tunes on images
        return [f.message for f in findings_for([*clean(), line], target or VISION) if f.code == "TL125"]

    assert messages(None, https) == []
    # Together's own image rules, on a model its vision page lists (its text models take no images at all)
    assert messages("together:Qwen/Qwen3-VL-8B-Instruct", https) == [
        "Together AI accepts images only as base64 data URLs (data:image/png;base64,...), not as links: download "
        "the image and embed it."
    ]
    assert messages(TARGETS["together"], https)[0].startswith(
        "Together AI does not fine-tune meta-llama/Meta-Llama-3.1-8B-Instruct-Reference on images; only Qwen/"
    )
    assert messages(None, gif) == ["OpenAI accepts JPEG/PNG/WEBP images, not GIF."]
    assert messages(None, many) == ["11 images in one example; OpenAI accepts at most 10."]
    assert messages("azure:gpt-4o", many) == []  # Azure takes 64
    assert messages(None, big) == ["The image is 11.0 MB; OpenAI accepts at most 10 MB per image."]
    assert "does not train on images" in messages(TARGETS["local"], https)[0]
    assert messages(TARGETS["openai-compatible"], https) == []  # not documented: no verdict


def test_token_limit_per_target():
    long = chat(1, content="word " * 1500)  # about 1,500 tokens
    assert "TL201" not in {f.code for f in findings_for([*clean(), long])}  # 65,536 for gpt-4o-mini
    (f,) = [f for f in findings_for([*clean(), long], TARGETS["local"]) if f.code == "TL201"]
    assert "over the 1,024-token limit" in f.message
    huge = chat(1, content="word " * 9000)
    assert "TL201" in {f.code for f in findings_for([*clean(), huge], TARGETS["together"])}  # 8,192 (models.toml)
    # a Together model the table does not know: no documented limit, so no finding (and no guessed truncation)
    assert "TL201" not in {f.code for f in findings_for([*clean(), huge], "together:some/unlisted-model")}


def test_epochs_and_prices_per_target():
    assert [_engine(TARGETS[p]).epochs_for(5) for p in TARGETS] == [20, 20, 1, 1, 20, 3]
    assert _engine(TARGETS["together"], epochs=4).epochs_for(5) == 4
    prices = {p: _engine(t).model.price for p, t in TARGETS.items()}
    assert prices["openai"] == 3.0 and prices["local"] == 0.0
    assert prices["azure"] is None and prices["together"] is None


def test_shutdown_follows_the_provider_calendar():
    def shut(target: str, today: dt.date, model: str | None = None) -> list[str]:
        settings = Settings().merged({"target": target} if model is None else {"model": model})
        return [f.message for f in Dataset(Engine(settings, today=today), clean()).findings() if f.code == "TL204"]

    before, after = dt.date(2027, 1, 5), dt.date(2027, 1, 6)
    assert shut("openai:gpt-3.5-turbo-0125", before) == []
    assert shut("openai:gpt-3.5-turbo-0125", after) == [
        "OpenAI takes no new fine-tuning jobs since 2027-01-06: choose another target (--target)."
    ]
    assert shut(TARGETS["together"], after) == [] and shut("azure:gpt-4.1-nano", after) == []
    # a model's own shutdown date is its provider's: OpenAI's date for gpt-4.1-nano is not Azure's
    assert shut("", dt.date(2026, 11, 30), model="gpt-4.1-nano") == [
        "gpt-4.1-nano-2025-04-14 was shut down on 2026-10-23: new jobs for it are refused."
    ]
    finding = Dataset(Engine(Settings().merged({"model": "gpt-4.1-nano"})), clean()).findings()
    assert next(f for f in finding if f.code == "TL204").severity is Severity.ERROR


def test_too_many_examples_reads_the_provider_maximum():
    engine = _engine(TARGETS["fireworks"])
    engine.provider = replace(
        engine.provider, max_examples=Fact(10, "https://docs.fireworks.ai/x", dt.date(2026, 11, 30), True)
    )
    found = [f.message for f in Dataset(engine, clean(12)).findings() if f.code == "TL309"]
    assert found == ["12 examples: Fireworks AI accepts at most 10 per training file."]


def test_an_empty_file_is_refused_whoever_trains():
    for target in TARGETS.values():
        assert [f.message for f in Dataset(_engine(target), []).findings() if f.code == "TL303"] == [
            "0 examples: there is nothing to train on."
        ]


def test_the_method_follows_the_main_format_as_lines_are_edited():
    ds = Dataset(_engine(TARGETS["together"]), [LINES["dpo"](i) for i in range(12)])
    assert ds.summary().target.method == "dpo" and not [f for f in ds.findings() if f.code == "TL123"]
    ds.splice(0, 12, [LINES["alpaca"](i) for i in range(12)])
    assert ds.summary().target.method == "sft"
    assert [f.line for f in ds.findings() if f.code == "TL123"] == [None, *range(12)]
    ds.splice(0, 12, [LINES["text"](i) for i in range(12)])
    assert not [f for f in ds.findings() if f.code == "TL123"]


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "prompt_completion"])
def test_the_conversion_fix_gives_a_line_the_target_takes(fmt: str):
    lines = [LINES[fmt](i) for i in range(12)]
    (first,) = [f for f in findings_for(lines) if f.code == "TL123" and f.line == 0]
    assert first.fix is not None and not first.fix.safe
    converted = first.fix.edits[0].text
    assert json.loads(converted)["messages"][-1]["role"] == "assistant"
    assert not [f for f in findings_for([*clean(), converted]) if f.severity is Severity.ERROR]


# --- settings and usage errors -------------------------------------------------------------------------------------


def test_target_and_method_settings_in_project_files(tmp_path: Path):
    data = write(tmp_path, "data", [LINES["text"](i) for i in range(12)])
    (tmp_path / "tuneline.toml").write_text(f'target = "{TARGETS["together"]}"\n', encoding="utf-8")
    p = cli("check", "--format", "json", str(data), cwd=tmp_path)
    (f,) = json.loads(p.stdout)["files"]
    assert p.returncode == 0 and f["target"]["provider"] == "together" and f["cost"]["epochs"] == 1
    # --model replaces the project's target: OpenAI (from the model table), which takes no text
    p = cli("check", "--format", "json", "--model", "gpt-4o", str(data), cwd=tmp_path)
    (f,) = json.loads(p.stdout)["files"]
    assert p.returncode == 1 and f["target"] == {"provider": "openai", "model": "gpt-4o-2024-08-06", "method": "sft"}
    (tmp_path / "tuneline.toml").unlink()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tuneline]\ntarget = "openai:o4-mini-2025-04-16"\nmethod = "rft"\n', encoding="utf-8"
    )
    p = cli("check", "--format", "json", str(data), cwd=tmp_path)
    (f,) = json.loads(p.stdout)["files"]
    assert f["target"]["method"] == "rft" and "TL123" in {d["code"] for d in f["diagnostics"]}
    (tmp_path / "pyproject.toml").write_text('[tool.tuneline]\ntarget = "togther:x"\n', encoding="utf-8")
    message = one_line_error(cli("check", str(data), cwd=tmp_path))
    assert "pyproject.toml" in message and "did you mean together?" in message


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--target", "togther:meta-llama/Llama-3.2-3B"), "Unknown provider 'togther'; did you mean together?"),
        (("--target", "together"), "names no model"),
        (("--target", TARGETS["together"], "--method", "rft"), "Together AI does not offer rft fine-tuning"),
        (("--target", TARGETS["together"], "--model", "gpt-4o"), "not both"),
        (("--method", "ppo"), "--method must be sft, dpo, rft or auto, not 'ppo'"),
        (("--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "rft"), "Together AI does not offer rft fine-tuning"),
    ],
)
def test_bad_targets_are_one_line_and_exit_2(cases: Path, args: tuple[str, ...], words: str):
    assert words in one_line_error(cli("check", *args, str(cases / "chat.jsonl")))


# --- tuneline targets ----------------------------------------------------------------------------------------------


def test_targets_command_lists_every_provider_and_model():
    p = cli("targets")
    assert p.returncode == 0
    for name in TARGETS:
        assert f"\n{name}  " in "\n" + p.stdout
    for words in (
        "byte order mark  rejected",
        "openai:gpt-4o-mini-2024-07-18  (65,536 tokens/example, $3.00 per 1M training tokens",
        "new jobs end     2027-01-06",
        "min examples     3",
    ):
        assert words in p.stdout, words
    only = cli("targets", "together").stdout
    assert only.startswith("together  Together AI") and "\nopenai  " not in only
    assert "unknown provider 'nowhere'" in one_line_error(cli("targets", "nowhere"))


def _blocks(text: str) -> dict[str, dict[str, str]]:
    """`tuneline targets` as {provider: {row label: text}}."""
    out: dict[str, dict[str, str]] = {}
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if not lines or lines[0].startswith(" "):
            continue
        rows = [line[2:].split("  ", 1) for line in lines[1:] if line.startswith("  ") and line[2:3] != " "]
        out[lines[0].split()[0]] = {label.strip(): value.strip() for label, value in rows}
    return out


def test_targets_command_shows_images_content_forms_and_weights():
    """Which models take images, whether string and part contents may share an example, and where `weight` may
    go: per provider, from providers.toml and models.toml (the same data the verdicts read)."""
    p = cli("targets")
    assert p.returncode == 0
    blocks = _blocks(p.stdout)
    assert blocks["openai"]["image models"] == "only gpt-4o-2024-08-06 of the models tuneline lists"
    assert (
        blocks["azure"]["image models"] == "only gpt-4.1-2025-04-14 and gpt-4o-2024-08-06 of the models tuneline lists"
    )
    assert blocks["local"]["image models"] == "none"
    assert blocks["openai-compatible"]["image models"] == "not documented"
    together = blocks["together"]
    assert together["image models"].startswith("only Qwen/Qwen3-VL-235B-A22B-Instruct, Qwen/Qwen3-VL-30B-A3B-Instruct")
    assert together["image models"].endswith(
        "meta-llama/Llama-4-Scout-17B-16E-Instruct-VLM of the models tuneline lists"
    )
    assert "together:Qwen/Qwen3-VL-8B-Instruct  (tokens/example not recorded, price not recorded)" in p.stdout
    assert together["content forms"] == "one form per example: all strings, or all content parts with an image"
    assert together["weight"] == "0 or 1, on system, user, assistant or tool messages; 0 on a message with images"
    for name in ("openai", "azure", "fireworks", "local"):
        assert blocks[name]["content forms"] == "strings and content parts may mix", name
        assert blocks[name]["weight"] == "0 or 1, on assistant messages", name
    assert blocks["openai-compatible"]["content forms"] == "not documented"
    assert blocks["openai-compatible"]["weight"] == "not documented"
    # the labels line up with the rows that were there before
    assert "\n  image models     only gpt-4o-2024-08-06" in p.stdout and "\n  weight           0 or 1" in p.stdout


# --- training follows the target -----------------------------------------------------------------------------------


def test_train_without_backend_uses_the_target_and_rft_needs_validation(tmp_path: Path):
    data = write(tmp_path, "data", [LINES["text"](i) for i in range(12)])
    (tmp_path / "tuneline.toml").write_text(f'target = "{TARGETS["together"]}"\n', encoding="utf-8")
    p = cli("train", str(data), "--dry-run", "--json", cwd=tmp_path)
    doc = json.loads(p.stdout)
    assert doc["backend"] == "together" and doc["model"] == TARGETS["together"].partition(":")[2]
    assert doc["errors"] == [], doc
    # the same file for OpenAI is refused by the same verdict `tuneline check` gives
    p = cli("train", str(data), "--backend", "openai", "--dry-run", "--json", cwd=tmp_path)
    assert p.returncode == 1 and {e["code"] for e in json.loads(p.stdout)["errors"]} == {"TL123"}
    rfts = write(tmp_path, "rft", [rft(i) for i in range(12)])
    (tmp_path / "tuneline.toml").write_text('target = "openai:o4-mini-2025-04-16"\n', encoding="utf-8")
    p = cli("train", str(rfts), "--dry-run", "--json", cwd=tmp_path)
    doc = json.loads(p.stdout)
    assert p.returncode == 1 and doc["errors"] == []
    assert doc["refused"].startswith("OpenAI requires a validation file for rft fine-tuning")
