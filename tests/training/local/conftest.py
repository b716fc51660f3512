"""A tiny causal LM and tokenizer built in the test session (no download), and small datasets written per test.

The model is a random-init Llama of ~0.3M parameters with a byte-level BPE tokenizer (~2k tokens) and a ChatML
template carrying {% generation %} markers: every code path of a real model (chat template, LoRA on all linear
layers, 4-bit loading, generation, save and reload) runs in seconds on CPU.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_tokenizer import train_tiny_bpe
from tuneline.training.backends.local.data import CHATML_TEMPLATE

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

MARKED_CHATML = CHATML_TEMPLATE  # the built-in template, with {% generation %} markers
# SmolLM2's shape: ChatML without markers, so assistant-only loss needs tuneline's prefix rendering.
PLAIN_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

TOPICS = {
    "password": "Open the reset page, enter your email and follow the link we send you.",
    "refund": "Annual plans can be refunded within thirty days from the billing page.",
    "invoice": "Invoices are listed under billing, each one can be downloaded as a file.",
    "storage": "Your plan shows used and free storage on the account overview page.",
    "delete": "Deleted files stay in the trash for thirty days before they are removed.",
    "share": "Right click a folder, choose share and type the email of your colleague.",
}
ASKS = [
    "How do I {}?",
    "Can you help with my {}?",
    "What about the {}?",
    "I have a question on {}.",
    "Tell me about {}.",
]
SYSTEM = "You are Nimbus, the support assistant. Answer briefly and kindly."


# Words the tiny tokenizer is trained on besides the support texts (test rows are built from them too).
WORDS = [
    "account",
    "billing",
    "cloud",
    "drive",
    "folder",
    "file",
    "upload",
    "download",
    "sync",
    "device",
    "phone",
    "laptop",
    "team",
    "member",
    "plan",
    "price",
    "monthly",
    "yearly",
    "support",
    "ticket",
    "error",
    "message",
    "login",
    "logout",
    "security",
    "two",
    "factor",
    "code",
    "backup",
    "restore",
    "version",
    "history",
    "link",
    "public",
    "private",
    "permission",
    "owner",
    "editor",
    "viewer",
    "quota",
    "limit",
    "speed",
    "network",
    "offline",
    "online",
]


def _vocabulary_text() -> list[str]:
    words = " ".join([*TOPICS.values(), *ASKS, SYSTEM, *TOPICS]).replace("{}", "").split()
    rnd = random.Random(7)
    vocab = words + WORDS
    return [" ".join(rnd.choice(vocab) for _ in range(rnd.randint(5, 30))) for _ in range(3000)]


def build_tiny_model(folder: Path, template: str = MARKED_CHATML) -> Path:
    """Save a tokenizer and a random-init Llama in `folder`; both reload with from_pretrained(folder)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = train_tiny_bpe(_vocabulary_text(), 2048)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = template
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,  # bitsandbytes' CPU 4-bit inference needs in_features divisible by 64
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def tiny_plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model with an unmarked ChatML template (like SmolLM2's)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-plain") / "model", PLAIN_CHATML)


def chat_lines(n: int, seed: int = 0) -> list[dict]:
    """Support conversations whose answer follows from the topic: learnable in a few dozen steps."""
    rnd = random.Random(seed)
    topics = list(TOPICS)
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        ask = rnd.choice(ASKS).format(topic)
        out.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": ask},
                    {"role": "assistant", "content": TOPICS[topic]},
                ]
            }
        )
    return out


def preference_lines(n: int, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    topics = list(TOPICS)
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        wrong = TOPICS[topics[(i + 1) % len(topics)]]
        out.append(
            {
                "input": {"messages": [{"role": "user", "content": rnd.choice(ASKS).format(topic)}]},
                "preferred_output": [{"role": "assistant", "content": TOPICS[topic]}],
                "non_preferred_output": [{"role": "assistant", "content": wrong}],
            }
        )
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def trainer_datasets(tmp_path: Path, request: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Path]:
    """The trainer on a run folder as `LocalBackend.start` writes it for `request`, stopped (as a cancel would,
    before its first step) once TRL has built its datasets: (training dataset, eval dataset, run folder)."""
    from tuneline.training.backends.local import resolve
    from tuneline.training.backends.local.run_config import save_config
    from tuneline.training.backends.local.trainer import Job
    from tuneline.training.runs import RunRecord, RunRegistry

    registry = RunRegistry(tmp_path / "runs")
    registry.create(RunRecord(id="same", backend="local", model=str(request.options["base_model"])))
    folder = registry.folder("same")
    files = {"train": str(request.dataset), "validation": str(request.validation)}
    save_config(resolve(request)[0], folder / "config.toml", files)
    seen = {}
    build = Job._trainer

    def spy(job: Job, *args: Any, **kwargs: Any) -> Any:
        trainer = build(job, *args, **kwargs)
        seen["train"], seen["eval"] = trainer.train_dataset, trainer.eval_dataset
        job.stop.set()
        return trainer

    monkeypatch.setattr(Job, "_trainer", spy)
    assert Job(folder).run() == 0
    return seen["train"], seen["eval"], folder
