"""Which models fine-tune on images, through `tuneline check`: OpenAI trains gpt-4o-2024-08-06 on images and no other
model, Azure gpt-4o 2024-08-06 and gpt-4.1 2025-04-14 (models.toml `vision`, each fact with its source).

Before, an image passed on any OpenAI or Azure model, so a file for gpt-4o-mini (the default model) or gpt-4.1-mini
was fine until the job failed. Now each example with images gets one TL125 naming the model and the models that do
take images; a model the table does not know is not judged.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from .helpers import REPO, run_check

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def example(i: int, images: int = 1) -> str:
    parts = [{"type": "text", "text": f"What is in picture {i}?"}]
    parts += [{"type": "image_url", "image_url": {"url": PNG}}] * images
    messages = [{"role": "user", "content": parts}, {"role": "assistant", "content": f"A cat, number {i}."}]
    return json.dumps({"messages": messages})


def check(path: Path, *args: str, cwd: Path = REPO) -> tuple[int, list[dict]]:
    code, report = run_check(path, *args, cwd=cwd)
    return code, report["diagnostics"]


def images_file(folder: Path) -> tuple[Path, list[str]]:
    """Twelve examples, the third with two images: one finding per example, not per image."""
    lines = [example(i, images=2 if i == 2 else 1) for i in range(12)]
    path = folder / "images.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def test_images_for_a_model_without_vision_fine_tuning_are_errors(tmp_path):
    path, lines = images_file(tmp_path)
    for target, message in [
        ("openai:gpt-4o-mini", "OpenAI does not fine-tune gpt-4o-mini on images; only gpt-4o-2024-08-06 does."),
        (
            "azure:gpt-4.1-mini",
            "Azure OpenAI (Foundry) does not fine-tune gpt-4.1-mini on images; only gpt-4.1-2025-04-14 and "
            "gpt-4o-2024-08-06 do.",
        ),
        (  # OpenAI's guide names gpt-4o alone, though Azure trains gpt-4.1 on images
            "openai:gpt-4.1-2025-04-14",
            "OpenAI does not fine-tune gpt-4.1-2025-04-14 on images; only gpt-4o-2024-08-06 does.",
        ),
    ]:
        code, found = check(path, "--target", target)
        images = [d for d in found if d["code"] == "TL125"]
        assert code == 1 and [d["line"] for d in images] == list(range(1, 13)), target
        assert {(d["severity"], d["message"]) for d in images} == {("error", message)}, target
        assert lines[0][images[0]["column"] - 1 :].startswith('{"type": "image_url"')  # on the first image
    # without --target: the default model is gpt-4o-mini, so the default run no longer passes images either
    code, found = check(path)
    assert code == 1 and len([d for d in found if d["code"] == "TL125"]) == 12
    # a fine-tuned gpt-4o-mini is still gpt-4o-mini
    _, found = check(path, "--target", "openai:ft:gpt-4o-mini-2024-07-18:acme::abc123")
    assert len([d for d in found if d["code"] == "TL125"]) == 12


def test_the_same_file_passes_on_the_models_that_take_images(tmp_path):
    path, _ = images_file(tmp_path)
    for target in ("openai:gpt-4o-2024-08-06", "openai:gpt-4o", "azure:gpt-4o", "azure:gpt-4.1-2025-04-14"):
        code, found = check(path, "--target", target)
        assert code == 0 and not [d for d in found if d["severity"] == "error"], (target, found)
    # a model the table does not know is not judged on images (no guess either way)
    _, found = check(path, "--target", "openai:gpt-5-mini-2026-01-01")
    assert not [d for d in found if d["code"] == "TL125"]


def test_a_users_model_table_can_say_a_model_takes_images(tmp_path):
    path, _ = images_file(tmp_path)
    (tmp_path / "tuneline.toml").write_text(
        'target = "openai:gpt-4o-mini"\n\n[models."gpt-4o-mini".vision]\nopenai = true\n', encoding="utf-8"
    )
    code, found = check(path, cwd=tmp_path)
    assert code == 0 and not [d for d in found if d["code"] == "TL125"]
    # an entry of the wrong shape is one sentence naming the key, exit 2: never a crash, never a silent default
    (tmp_path / "tuneline.toml").write_text(
        'target = "openai:gpt-4o-mini"\n\n[models."gpt-4o-mini".vision]\nopenai = "maybe"\n', encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f'tuneline: error: {tmp_path / "tuneline.toml"}: `models."gpt-4o-mini".vision.openai` must be true or '
        "false, or a table with a true/false value (and source, as_of, verified, note), not 'maybe'"
    ]


def test_the_targets_doc_lists_which_models_take_images_with_sources():
    doc = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    openai = doc.split("\n## openai\n")[1].split("\n## azure\n")[0]
    azure = doc.split("\n## azure\n")[1].split("\n## together\n")[0]
    guide = "[developers.openai.com](https://developers.openai.com/api/docs/guides/vision-fine-tuning)"
    assert f"| `gpt-4o-2024-08-06` | yes | {guide} | 2026-11-30 |" in openai
    assert f"| `gpt-4o-mini-2024-07-18` | no | {guide} | 2026-11-30 |" in openai
    assert "| `gpt-4.1-2025-04-14` | yes | [learn.microsoft.com]" in azure
    assert "| `gpt-4.1-mini-2025-04-14` | no | [learn.microsoft.com]" in azure


TOGETHER_TEXT = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TOGETHER_VISION = (
    "Qwen/Qwen3-VL-235B-A22B-Instruct, Qwen/Qwen3-VL-30B-A3B-Instruct, Qwen/Qwen3-VL-8B-Instruct, "
    "google/gemma-3-12b-it-VLM, google/gemma-3-27b-it-VLM, google/gemma-3-4b-it-VLM, "
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct-VLM and meta-llama/Llama-4-Scout-17B-16E-Instruct-VLM"
)


def test_together_text_models_refuse_images_naming_the_vision_models(tmp_path):
    """Together fine-tunes on images only the vision-language models its vision page lists; its text models
    (Llama 3.1 8B, Qwen2.5 7B) get one TL125 per example naming them. The vision models' rows record no context
    length (the page gives none), so no per-example limit is invented for them."""
    path, _ = images_file(tmp_path)
    code, found = check(path, "--target", TOGETHER_TEXT)
    images = [d for d in found if d["code"] == "TL125"]
    assert code == 1 and [d["line"] for d in images] == list(range(1, 13))
    assert {(d["severity"], d["message"]) for d in images} == {
        (
            "error",
            "Together AI does not fine-tune meta-llama/Meta-Llama-3.1-8B-Instruct-Reference on images; only "
            f"{TOGETHER_VISION} do.",
        )
    }
    for vision in ("together:Qwen/Qwen3-VL-8B-Instruct", "together:google/gemma-3-4b-it-VLM"):
        _, found = check(path, "--target", vision)
        assert not [d for d in found if d["code"] == "TL125"], vision
    # a long example: over Llama 3.1 8B's 8,192 tokens there, and no invented limit on a vision model
    long = json.dumps(
        {"messages": [{"role": "user", "content": "word " * 9000}, {"role": "assistant", "content": "ok"}]}
    )
    long_path = tmp_path / "long.jsonl"
    long_path.write_text(long + "\n", encoding="utf-8")
    _, found = check(long_path, "--target", TOGETHER_TEXT)
    assert [d["code"] for d in found if d["code"] == "TL201"] == ["TL201"]
    _, found = check(long_path, "--target", "together:Qwen/Qwen3-VL-8B-Instruct")
    assert not [d for d in found if d["code"] == "TL201"]


def test_the_targets_doc_lists_togethers_vision_models_with_their_source():
    doc = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    together = doc.split("\n## together\n")[1].split("\n## fireworks\n")[0]
    page = "[docs.together.ai](https://docs.together.ai/docs/fine-tuning/vision)"
    assert f"| `Qwen/Qwen3-VL-8B-Instruct` | yes | {page} | 2026-11-30 |" in together
    assert f"| `meta-llama/Llama-4-Scout-17B-16E-Instruct-VLM` | yes | {page} | 2026-11-30 |" in together
    assert f"| `meta-llama/Meta-Llama-3.1-8B-Instruct-Reference` | no | {page} | 2026-11-30 |" in together
    assert "| `google/gemma-3-27b-it-VLM` | not recorded | not recorded |" in together
