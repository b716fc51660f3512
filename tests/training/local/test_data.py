"""The dataset as TRL gets it: formats converted, prompts and weight-0 turns kept out of the loss (with or without
{% generation %} markers in the template), and the warnings shown before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneline.training.backends.base import BackendError
from tuneline.training.backends.local import data as D
from tuneline.training.backends.local import examples as E

from .conftest import PLAIN_CHATML, SYSTEM, chat_lines, trainer_datasets, write_jsonl

WEIGHTED = {
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "How do I reset my password?"},
        {"role": "assistant", "content": "Please ask the account owner.", "weight": 0},
        {"role": "user", "content": "I am the owner."},
        {"role": "assistant", "content": "Open the reset page and follow the link."},
    ]
}


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def trained_text(tokenizer, row) -> str:
    return tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != -100])


def test_weight_zero_turns_and_the_prompt_are_masked_with_markers(tokenizer):
    tok = D.tokenize_sft([E.to_example(WEIGHTED, 1)], tokenizer)
    assert tok.masking == "markers"
    assert trained_text(tokenizer, tok.rows[0]) == "Open the reset page and follow the link.<|im_end|>"
    everything = D.tokenize_sft([E.to_example(WEIGHTED, 1)], tokenizer, assistant_only_loss=False)
    text = trained_text(tokenizer, everything.rows[0])
    assert "How do I reset my password?" in text and "Open the reset page" in text
    assert "Please ask the account owner." not in text  # weight 0 stays out even when training on everything


def test_without_markers_the_turns_are_found_by_rendering_prefixes(tokenizer):
    plain = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    plain.chat_template = PLAIN_CHATML
    tok = D.tokenize_sft([E.to_example(WEIGHTED, 1)], plain)
    assert tok.masking == "prefixes"
    assert trained_text(plain, tok.rows[0]) == "Open the reset page and follow the link.<|im_end|>\n"
    warnings = D.masking_warning(tok, D.has_generation_markers(plain.chat_template), True)
    assert any("no {% generation %} markers" in w and "chat_template" in w for w in warnings)


def test_a_template_that_rewrites_history_trains_on_everything_and_says_so(tokenizer):
    odd = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    # Renders only the last two messages: a prefix is not a prefix of the whole conversation.
    odd.chat_template = "{% for m in messages[-2:] %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
    tok = D.tokenize_sft([E.to_example(WEIGHTED, 3)], odd)
    assert tok.unmasked == [3]
    assert any("train on the whole conversation" in w for w in D.masking_warning(tok, False, True))


def test_prompt_completion_trains_on_the_completion(tokenizer):
    ex = E.to_example({"prompt": "How do I reset my password?", "completion": " Open the reset page."}, 1)
    tok = D.tokenize_sft([ex], tokenizer)
    assert tok.masking == "completion"
    assert trained_text(tokenizer, tok.rows[0]).strip() == "Open the reset page.<|im_end|>"


def test_formats_become_trl_rows():
    alpaca = E.to_example({"instruction": "Say hi", "input": "", "output": "hi"}, 1)
    assert alpaca.format == "chat" and alpaca.row["messages"][-1] == {"role": "assistant", "content": "hi"}
    openai = E.to_example(
        {
            "input": {"messages": [{"role": "user", "content": "q"}]},
            "preferred_output": [{"role": "assistant", "content": "good"}],
            "non_preferred_output": [{"role": "assistant", "content": "bad"}],
        },
        2,
    )
    assert openai.format == "preference"
    assert openai.row == {
        "prompt": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }
    trl = E.to_example({"prompt": "q", "chosen": "good", "rejected": "bad"}, 3)
    assert trl.row == {"prompt": "q", "chosen": "good", "rejected": "bad"}
    call = E.to_example(
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city": "Oslo"}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "assistant", "content": "Sunny."},
            ]
        },
        4,
    )
    assert call.row["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}


def test_bad_files_get_one_sentence_with_the_line(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n{oops\n')
    with pytest.raises(BackendError, match=r"d\.jsonl:2: not valid JSON"):
        E.read_examples(path)
    write_jsonl(path, [{"messages": [{"role": "user", "content": "q"}]}])
    with pytest.raises(BackendError, match="no assistant message"):
        E.read_examples(path)
    write_jsonl(
        path,
        [
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
            {"prompt": "q", "chosen": "a", "rejected": "b"},
        ],
    )
    with pytest.raises(BackendError, match="line 2 mixes preference pairs"):
        E.method_for(E.read_examples(path))
    path.write_text(json.dumps({"messages": [{"role": "assistant", "content": "a", "weight": 2}]}) + "\n")
    with pytest.raises(BackendError, match="weight 2"):
        E.read_examples(path)


def test_long_examples_are_named_before_training(tokenizer):
    long = {
        "messages": [
            {"role": "user", "content": "storage " * 200},
            {"role": "assistant", "content": "ok"},
        ]
    }
    short = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    examples = [E.to_example(short, 1), E.to_example(long, 2), E.to_example(short, 3)]
    tok = D.tokenize_sft(examples, tokenizer)
    warning = D.length_warning(tok.lengths, [e.line for e in examples], 64)
    assert warning is not None
    assert warning.startswith("1 of 3 examples are longer than max_length 64 tokens")
    assert "lines 2)" in warning and "silently" in warning
    assert D.length_warning(tok.lengths, [1, 2, 3], 10_000) is None


def test_split_is_seeded_and_keeps_a_validation_file():
    examples = [E.to_example({"prompt": f"p{i}", "completion": "c"}, i + 1) for i in range(20)]
    train, held = E.split_examples(examples, 0.2, seed=1)
    assert len(held) == 4 and len(train) == 16
    assert [e.line for e in E.split_examples(examples, 0.2, seed=1)[1]] == [e.line for e in held]
    assert E.split_examples(examples, 0.2, 1, validation=examples[:2]) == (examples, examples[:2])
    assert E.split_examples(examples[:3], 0.2, 1) == (examples[:3], [])


def test_chat_template_setting(tmp_path: Path, tokenizer):
    assert D.has_generation_markers(D.load_template("chatml"))
    (tmp_path / "t.jinja").write_text("{{ messages[0]['content'] }}")
    assert D.load_template(str(tmp_path / "t.jinja")) == "{{ messages[0]['content'] }}"
    with pytest.raises(BackendError, match="neither a file, template text nor one of: chatml"):
        D.load_template("no-such-template")
    bare = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    bare.chat_template = None
    with pytest.raises(BackendError, match="no chat template; set chat_template"):
        D.tokenize_sft([E.to_example(WEIGHTED, 1)], bare)


def test_the_plan_counts_the_rows_the_trainer_trains_on(tmp_path: Path, tiny_model: Path, monkeypatch):
    """The pre-flight and the trainer share `data.prepare`: the plan's examples, tokens and held-out count are the
    rows of the trainer's own datasets, even when weight-0-only examples drop out on both sides of the split."""
    from tuneline.training.backends.base import TrainRequest
    from tuneline.training.backends.local import plan_request
    from tuneline.training.backends.local.rundir import read_state

    silent = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi", "weight": 0}]}
    train = write_jsonl(tmp_path / "train.jsonl", [*chat_lines(10), silent, *chat_lines(4, seed=1), silent])
    validation = write_jsonl(tmp_path / "valid.jsonl", [*chat_lines(3, seed=2), silent])
    request = TrainRequest(
        dataset=train, validation=validation, options={"base_model": str(tiny_model), "device": "cpu"}
    )
    plan = plan_request(request)
    assert (plan.method, plan.examples, plan.held_out) == ("sft", 14, 3)
    assert any("have only weight-0 answers" in w for w in plan.warnings)

    train_ds, eval_ds, folder = trainer_datasets(tmp_path, request, monkeypatch)
    assert len(train_ds) == plan.examples and len(eval_ds) == plan.held_out
    assert sum(len(ids) for ids in train_ds["input_ids"]) == plan.tokens
    state = read_state(folder)
    assert (state["status"], state["examples"], state["held_out"]) == ("cancelled", plan.examples, plan.held_out)
