"""Targets (provider + model + method) and the provider rules in providers.toml: parsing what users write,
the completeness of every provider's facts, the method a file's format implies, and the docs generated from them."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.analysis.models import ModelTable
from tuneline.analysis.targets import (
    METHODS,
    REQUIRED_FACTS,
    SHIPPED,
    ProvidersFileError,
    Target,
    TargetError,
    load_providers,
    method_for_format,
    render_markdown,
    rules_for,
    shipped_providers,
    token_limit,
    tokenizer_for,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = ("openai", "azure", "together", "fireworks", "openai-compatible", "local")


def one_sentence(message: str) -> bool:
    """One line, ending like a sentence, with no second sentence inside (model names may hold dots, not '. ')."""
    return "\n" not in message and message.rstrip()[-1] in ".?" and ". " not in message.rstrip(".?")


# --- parsing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("openai:gpt-4.1-mini-2025-04-14", "openai", "gpt-4.1-mini-2025-04-14"),
        ("azure:gpt-4.1-mini", "azure", "gpt-4.1-mini"),
        (
            "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "together",
            "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        ),
        (
            "fireworks:accounts/fireworks/models/llama-v3p1-8b-instruct",
            "fireworks",
            "accounts/fireworks/models/llama-v3p1-8b-instruct",
        ),
        (
            "openai-compatible:meta-llama/Llama-3.3-70B-Instruct",
            "openai-compatible",
            "meta-llama/Llama-3.3-70B-Instruct",
        ),
        ("local:./models/tiny-llama", "local", "./models/tiny-llama"),
        # only the first colon splits: fine-tuned model ids and Windows paths keep theirs
        ("openai:ft:gpt-4o-mini-2024-07-18:acme::abc123", "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
        ("local:C:\\models\\tiny", "local", "C:\\models\\tiny"),
        # the provider is case- and space-insensitive; the model keeps its case
        ("  Together:Qwen/Qwen2.5-7B-Instruct ", "together", "Qwen/Qwen2.5-7B-Instruct"),
    ],
)
def test_parse_every_provider(text, provider, model):
    target = Target.parse(text)
    assert (target.provider, target.model, target.method) == (provider, model, None)
    assert str(target) == f"{provider}:{model}"
    assert target.as_json() == {"provider": provider, "model": model, "method": None}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        (42, "empty"),
        ("openai", "names no model"),
        ("openai:", "names no model"),
        ("together:   ", "names no model"),
        (":gpt-4o-mini", "names no provider"),
        ("togther:meta-llama/Llama-3.2-3B", "did you mean together?"),
        ("anthropic:claude", "use openai, azure, together, fireworks, openai-compatible or local"),
        ("bad\nprovider:x", "Unknown provider 'bad\\nprovider'"),
        ("x" * 500 + ":m", "Unknown provider"),
    ],
)
def test_bad_targets_get_one_sentence(text, words):
    with pytest.raises(TargetError) as err:
        Target.parse(text)
    message = str(err.value)
    assert words in message and one_sentence(message), message
    assert len(message) < 200


def test_method_is_checked_against_the_provider():
    assert Target.parse("openai:o4-mini-2025-04-16", method="rft").method == "rft"
    assert Target.parse("azure:o4-mini", method="rft").method == "rft"
    assert Target.parse("together:Qwen/Qwen2.5-7B-Instruct", method="dpo").method == "dpo"
    for provider in ("together", "fireworks", "openai-compatible", "local"):
        with pytest.raises(TargetError) as err:
            Target.parse(f"{provider}:some/model", method="rft")
        assert "does not offer rft fine-tuning; it offers sft or dpo." in str(err.value)
        assert one_sentence(str(err.value))
    with pytest.raises(TargetError, match=r"^Unknown method 'ppo'; use sft, dpo or rft\.$"):
        Target.parse("openai:gpt-4o-mini", method="ppo")


def test_model_flag_keeps_working_through_the_model_table():
    table = ModelTable()
    assert Target.from_model("gpt-4o-mini", table) == Target("openai", "gpt-4o-mini")
    assert Target.from_model("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", table).provider == "together"
    assert Target.from_model("local", table).provider == "local"
    # a name the table does not know keeps the table's default provider, as `--model` always did
    assert Target.from_model("my-own-model", table).provider == "openai"
    assert Target.from_model("gpt-4o-mini", table, method="dpo").method == "dpo"
    with pytest.raises(TargetError) as err:
        Target.from_model("  ", table)
    assert one_sentence(str(err.value))


# --- the data file ----------------------------------------------------------------------------------------------


def test_the_six_providers_and_every_fact_with_source_and_date():
    raw = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))["providers"]
    assert tuple(raw) == PROVIDERS
    today = dt.date.today()
    for name, rules in shipped_providers().items():
        assert tuple(key for key, _ in rules.facts()) == REQUIRED_FACTS, name
        for key in REQUIRED_FACTS:
            table = raw[name][key]  # stated in the file, not defaulted
            assert {"source", "as_of", "verified"} <= set(table), (name, key)
            fact = getattr(rules, key)
            assert fact.source.startswith("https://"), (name, key)
            assert dt.date(2026, 1, 1) <= fact.as_of <= today, (name, key)
            assert fact.verified or fact.note, f"{name}.{key} is unverified and says not why"


def test_rft_only_on_openai_and_azure():
    offering = {name for name, rules in shipped_providers().items() if "rft" in rules.methods}
    assert offering == {"openai", "azure"}
    for rules in shipped_providers().values():
        assert set(rules.methods) <= set(METHODS) and "sft" in rules.methods


def test_the_facts_the_issue_turns_on():
    """Each false verdict in the issue hinges on one of these; a change here must be a deliberate data change."""
    p = shipped_providers()
    assert p["openai"].formats_for("sft") == ("chat",)  # text, alpaca, sharegpt: not for OpenAI
    assert p["openai"].accepts("rft", "rft") and "developer" in p["openai"].roles_for("rft")
    assert "developer" not in p["openai"].roles_for("sft")
    assert (p["openai"].min_examples.value, p["together"].min_examples.value) == (10, 1)
    assert (p["together"].bom.value, p["azure"].bom.value, p["local"].bom.value) == ("reject", "accept", "accept")
    assert p["together"].images.value.url is False and p["together"].images.value.data_url is True
    assert p["openai"].images.value.url is True
    assert p["openai"].new_jobs_end.value == dt.date(2027, 1, 6) and p["openai"].new_jobs_end.verified
    assert p["together"].turn_order.value.starts_with == ("system", "user") and p["together"].turn_order.value.alternate
    assert p["openai"].epochs.value.heuristic == "openai-auto" and p["together"].epochs.value.default == 1
    assert p["azure"].validation_file_required.value == {"rft": True}


def test_token_limit_and_tokenizer_follow_the_model_table():
    table = ModelTable()
    assert token_limit(Target("openai", "gpt-4.1-nano"), table) == 32768
    assert token_limit(Target("azure", "gpt-4.1-mini"), table) == 65536  # OpenAI's row: the same model
    assert token_limit(Target("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"), table) == 8192
    assert token_limit(Target("together", "some/unlisted-model"), table) is None  # per model: not guessed
    assert token_limit(Target("fireworks", "accounts/x/models/y"), table) == 32768
    assert token_limit(Target("local", "/models/tiny"), table) == 1024
    assert tokenizer_for(Target("openai", "gpt-3.5-turbo"), table).encoding == "cl100k_base"
    assert tokenizer_for(Target("azure", "gpt-4o"), table).encoding == "o200k_base"
    assert tokenizer_for(Target("together", "Qwen/Qwen2.5-7B-Instruct"), table).kind == "hf-family"
    assert tokenizer_for(Target("local", "/models/tiny"), table).kind == "model"
    with pytest.raises(TargetError):
        rules_for(Target("nowhere", "x"))


# --- the method a file's format implies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "method"),
    [
        ("openai-preference", "dpo"),
        ("trl-preference", "dpo"),
        ("sharegpt-preference", "dpo"),
        ("rft", "rft"),
        ("chat", "sft"),
        ("prompt-completion", "sft"),
        ("text", "sft"),
        ("alpaca", "sft"),
        ("sharegpt", "sft"),
        ("kto", "sft"),
        ("unknown", "sft"),
    ],
)
def test_method_follows_the_format(fmt, method):
    assert method_for_format(fmt) == method
    assert Target("together", "m").resolved(fmt).method == method
    assert Target("together", "m", "sft").resolved(fmt).method == "sft"  # the user's method wins


# --- a bad providers file ---------------------------------------------------------------------------------------


def _shipped_text() -> str:
    return SHIPPED.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace("value = 10\n", 'value = "ten"\n', 1),
            "providers.openai.min_examples.value must be a whole number, not 'ten'.",
        ),
        (
            lambda t: t.replace('value = "reject"', 'value = "refuse"'),
            "providers.together.bom.value must be reject, warn or accept, not 'refuse'.",
        ),
        (
            lambda t: t.replace(
                '[providers.fireworks.tools]\nvalue = true\nsource = "https://docs.fireworks.ai/fine-tuning/fine-tuning-models"\n',
                "[providers.fireworks.tools]\nvalue = true\n",
            ),
            "providers.fireworks.tools.source must be the https:// address the value was read from.",
        ),
        (
            lambda t: t.replace("[providers.local.epochs]", "[providers.local.epoch]"),
            "providers.local.epoch is not a known provider key.",
        ),
        (
            lambda t: t.replace('verified = true\nnote = "MIN_SAMPLES = 1."', "verified = false"),
            "providers.together.min_examples.note must say why the fact is unverified.",
        ),
        (
            lambda t: t.replace('sft = ["chat"], dpo', 'sft = ["chat", "csv"], dpo', 1),
            "providers.openai.formats.value sft has unknown formats 'csv'",
        ),
        (
            lambda t: t.replace('as_of = "2026-11-30"', 'as_of = "last week"', 1),
            "providers.openai.formats.as_of must be a date (YYYY-MM-DD), not 'last week'.",
        ),
        (lambda t: t.replace("schema = 1", "schema = 2"), "schema must be 1, not 2."),
        (
            lambda t: t.replace("[providers.openai.roles]", "[providers.openai.rolez]"),
            "providers.openai.rolez is not a known provider key.",
        ),
        (lambda t: t + '\n[providers.extra]\ntitle = "Extra"\n', "providers.extra.formats is missing"),
        (lambda t: t.replace("schema = 1", "schema = = 1"), "is not valid TOML"),
    ],
)
def test_a_bad_providers_file_names_the_key(tmp_path, edit, expected):
    path = tmp_path / "providers.toml"
    text = edit(_shipped_text())
    assert text != _shipped_text()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProvidersFileError) as err:
        load_providers(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message


def test_unreadable_providers_files(tmp_path):
    with pytest.raises(ProvidersFileError, match="cannot read it"):
        load_providers(tmp_path / "missing.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"schema = 1 # caf\xe9\n")
    with pytest.raises(ProvidersFileError, match="is not UTF-8 text"):
        load_providers(latin)


# --- docs/targets.md --------------------------------------------------------------------------------------------


def test_targets_doc_is_in_sync_with_the_data():
    assert (REPO / "docs" / "targets.md").read_text(encoding="utf-8") == render_markdown(), (
        "run: tuneline targets --markdown > docs/targets.md"
    )


def test_the_generator_through_its_command_line(tmp_path):
    run = [sys.executable, "-m", "tuneline", "targets"]
    p = subprocess.run([*run, "--markdown"], capture_output=True, timeout=60, cwd=REPO)
    assert p.returncode == 0 and p.stdout.decode("utf-8") == render_markdown()
    bad = tmp_path / "providers.toml"
    bad.write_text(_shipped_text().replace('value = "reject"', 'value = "maybe"'), encoding="utf-8")
    p = subprocess.run([*run, "--providers-file", str(bad)], capture_output=True, timeout=60, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "providers.together.bom.value must be" in p.stderr
    p = subprocess.run([*run, "--no-such-flag"], capture_output=True, timeout=60, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") <= 2 and "error:" in p.stderr
