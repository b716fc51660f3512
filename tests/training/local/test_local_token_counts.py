"""`tuneline check --target local:PATH` counts what the local trainer feeds the model: the same code builds the
rows (data.py), and the counts are compared here with TRL's own training dataset on the tiny model of conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SYSTEM, WORDS, chat_lines, trainer_datasets, write_jsonl

pytest.importorskip("trl")

REPO = Path(__file__).resolve().parents[3]


def _words(n: int) -> str:
    """`n` words cycling through the tokenizer's first fifteen (the rows around max_length below step over them)."""
    return " ".join(WORDS[i % 15] for i in range(n))


def _chat(user: str, answer: str, weight: int | None = None) -> dict:
    reply: dict = {"role": "assistant", "content": answer}
    if weight is not None:
        reply["weight"] = weight
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}, reply]}


def _check(path: Path, target: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", "check", str(path), "--format", "json", "--target", target],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def _rows(tiny_model: Path) -> tuple[list[dict], int]:
    """Lines around the max_length edge (1024, the local default), found with the model's own tokenizer."""
    from tuneline.training.backends.local.token_counts import load_counter

    counter = load_counter(str(tiny_model))
    answer = "Open the reset page, enter your email and follow the link we send you."
    n = 100
    while counter.count(_chat(_words(n), answer)).full < counter.max_length - 5:
        n += 40
    cut = _chat(_words(n), answer)  # the answer crosses max_length: TL206
    lost = _chat(_words(n + 200), answer)  # the whole answer lies past max_length: TL205
    silent = _chat("Hi", "Hello", weight=0)  # only a weight-0 answer: dropped by the trainer, TL205
    assert counter.count(cut).cut_trained > 0 and counter.count(cut).trained > 0
    return [*chat_lines(6), cut, lost, silent, *chat_lines(3, seed=1)], counter.max_length


def test_counts_equal_what_the_trainer_feeds_the_model(tmp_path: Path, tiny_model: Path, monkeypatch):
    from tuneline.training.backends.base import TrainRequest

    rows, max_length = _rows(tiny_model)
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    validation = write_jsonl(tmp_path / "valid.jsonl", chat_lines(2, seed=2))

    p = _check(train, f"local:{tiny_model}")
    assert p.returncode == 1, p.stderr.decode()
    report = json.loads(p.stdout)["files"][0]
    found = {(d["code"], d["line"]) for d in report["diagnostics"] if d["code"] in ("TL205", "TL206")}
    assert found == {("TL206", 7), ("TL205", 8), ("TL205", 9)}
    assert report["tokens"]["exact"] is True

    # The trainer on the same file, stopped once TRL has built (and truncated) its training dataset.
    request = TrainRequest(
        dataset=train, validation=validation, options={"base_model": str(tiny_model), "device": "cpu"}
    )
    trained, _, _ = trainer_datasets(tmp_path, request, monkeypatch)
    fed = [len(ids) for ids in trained["input_ids"]]
    assert max(fed) == max_length  # TRL cut the long rows at max_length
    assert report["tokens"]["total"] == sum(fed)  # tokens the model is fed, example by example summed

    # Trained (loss-carrying) tokens per example, against the labels TRL keeps.
    from tuneline.training.backends.local.token_counts import load_counter

    counter = load_counter(str(tiny_model))
    counts = [counter.count(r) for r in rows]
    kept = [c for c in counts if c.fed]  # dropped: the weight-0-only line (by prepare) and the cut one (by TRL)
    assert [c.fed for c in kept] == fed
    labels = [sum(1 for t in row[:max_length] if t != -100) for row in trained["labels"]]
    assert [c.trained for c in kept] == labels


def test_a_missing_local_model_is_one_sentence_and_exit_2(tmp_path: Path):
    path = write_jsonl(tmp_path / "a.jsonl", chat_lines(2))
    for model in (str(tmp_path / "nowhere"), "someone/not-cached-model"):
        p = _check(path, f"local:{model}")
        err = p.stderr.decode().strip()
        assert p.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err


# Lines the local trainer's reader or the model's tokenizer and template refused with a traceback (a fuzzing helper
# found them through `tuneline check --target local:PATH`): each is now one sentence for a run (BackendError) and,
# for `check`, an o200k_base estimate beside the format findings that say what is wrong.
REFUSED = [
    {"messages": [{"role": "user", "content": [{"type": "text", "text": 0}]}, {"role": "assistant", "content": "A"}]},
    {
        "messages": [
            {"role": "user", "content": "Get a."},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": "x"}]},
            {"role": "assistant", "content": "Done."},
        ]
    },
    {"prompt": "\udfff", "completion": " A"},
]


def test_lines_the_trainer_refuses_are_findings_not_tracebacks(tmp_path: Path, tiny_model: Path):
    from tuneline.training.backends.base import BackendError
    from tuneline.training.backends.local.data import tokenize_sft
    from tuneline.training.backends.local.examples import to_example
    from tuneline.training.backends.local.token_counts import load_counter

    path = tmp_path / "refused.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in REFUSED) + "\n", encoding="utf-8")
    p = _check(path, f"local:{tiny_model}")
    assert p.returncode in (0, 1) and b"Traceback" not in p.stderr, p.stderr.decode()
    report = json.loads(p.stdout)["files"][0]
    assert {d["line"] for d in report["diagnostics"] if d["severity"] == "error"} >= {1, 2}

    counter = load_counter(str(tiny_model))
    for row in REFUSED:
        assert counter.count(row) is None  # the estimate stands, marked as one
        with pytest.raises(BackendError):
            tokenize_sft([to_example(row, 1)], counter.tokenizer)
