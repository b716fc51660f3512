"""The real datasets in shared/corpus: the facts their README states are what the engine must find."""

from __future__ import annotations

from collections import Counter

import pytest

from tuneline.analysis import Severity, check_path

from .helpers import CORPUS, engine

pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="shared/corpus is not beside the repository")


def check(name: str, **settings):
    return check_path(CORPUS / name, engine(**settings))


def count(report, code: str) -> int:
    return sum(1 for f in report.findings if f.code == code)


def test_cookbook_toy_file():
    r = check("openai-cookbook__toy_chat_fine_tuning.jsonl")
    assert r.summary.examples == 5 and r.summary.format == "chat"
    assert count(r, "TL303") == 1
    # record 3 has no system message, record 4 no user message
    assert [f.line for f in r.findings if f.code == "TL305" and f.line is not None] == [2]
    assert [f.line for f in r.findings if f.code == "TL112"] == [3]
    assert r.errors == 1  # only the example count; every line is valid chat


def test_alpaca_demo_duplicates():
    # alpaca is read by tuneline's local trainer; for OpenAI it is refused (tests/analysis/test_target_verdicts.py)
    r = check("llama-factory__alpaca_en_demo.jsonl", target="local:./models/tiny")
    assert r.summary.format == "alpaca" and r.summary.examples == 999
    assert count(r, "TL301") == 14
    assert r.errors == 0


def test_alpaca_json_array_is_one_clear_finding():
    r = check("llama-factory__alpaca_en_demo.json")
    assert [f.code for f in r.findings] == ["TL005"]


def test_identity_conflicting_answers():
    r = check("llama-factory__identity.jsonl")
    assert count(r, "TL308") == 2  # "你好" and "你是谁？" each appear twice with different outputs


def test_mlx_prompt_completion_duplicates():
    r = check("mlx-examples__wwdc25_train.jsonl")
    assert r.summary.format == "prompt-completion" and r.summary.examples == 1800
    assert count(r, "TL301") == 437


def test_zava_tool_use_file():
    r = check("microsoft-foundry__zava_datagen_tooluse_sft_valid.jsonl")
    assert r.summary.format == "chat" and r.summary.examples == 55
    # two assistant messages next to each other 25 times
    assert count(r, "TL118") == 25
    # every call is answered by id or is the last message: no orphan tool messages, no malformed calls
    assert count(r, "TL116") == 0 and count(r, "TL115") == 0 and r.errors == 0


def test_orca_dpo_preference_file():
    r = check("microsoft-foundry__orca_dpo_pairs_validation.jsonl", target="azure:gpt-4.1-mini")
    assert r.summary.format == "openai-preference" and r.summary.examples == 284
    assert r.errors == 0
    # the default target, gpt-4o-mini, is not a DPO model at OpenAI: one file-level error says which are
    default = check("microsoft-foundry__orca_dpo_pairs_validation.jsonl")
    assert [(f.code, f.line) for f in default.findings if f.severity == Severity.ERROR] == [("TL123", None)]


def test_kto_and_sharegpt_preference_formats():
    assert check("llama-factory__kto_en_demo.jsonl").summary.format == "kto"
    assert check("llama-factory__dpo_en_demo.jsonl").summary.format == "sharegpt-preference"
    glaive = check("llama-factory__glaive_toolcall_en_demo.jsonl", target="local:./models/tiny")
    assert glaive.summary.format == "sharegpt"
    assert Counter(f.code for f in glaive.findings if f.severity.name == "ERROR") == Counter()


def test_trl_preference_fixture_without_trailing_newline():
    r = check("mlx-lm-pr417__test_dpo_train.jsonl", target="local:./models/tiny")
    assert r.summary.format == "trl-preference" and r.summary.examples == 10
    assert r.summary.target.method == "dpo"
    assert [f.code for f in r.findings] == ["TL304"]
