"""Together's own rules through `tuneline check`, each read from providers.toml, so targets without it stay quiet.

- Turn order: a conversation must open with a system or user message (`turn_order.starts_with`). A file that opens
  with an assistant turn passed before (a false pass: Together's file check rejects it at upload).
- Images: Together's upload check wants every message of a conversation in one content form (`mixed_content`) and
  no non-zero weight on a message with images (`image_weight`). Both were read in Together's SDK, not its docs, so
  they are warnings that say so; a weight on a user message is fine on Together (`weight_roles`).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

TOGETHER = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _example(first: str, i: int) -> str:
    messages = [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]
    if first == "assistant":
        messages.insert(0, {"role": "assistant", "content": "Hello! How can I help?"})
    elif first == "system":
        messages.insert(0, {"role": "system", "content": "Be brief."})
    return json.dumps({"messages": messages})


def _check(path: Path, *target: str) -> tuple[int, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", *target, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)["files"][0]["diagnostics"]


def test_an_opening_assistant_turn_is_an_error_for_together_only(tmp_path):
    path = tmp_path / "chat.jsonl"
    lines = [_example("system" if i % 2 else "user", i) for i in range(12)] + [_example("assistant", 12)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, found = _check(path, "--target", TOGETHER)
    starts = [d for d in found if d["code"] == "TL126"]
    assert code == 1 and [(d["line"], d["severity"]) for d in starts] == [(13, "error")]
    assert "Together" in starts[0]["message"] and "an assistant message" in starts[0]["message"]
    assert lines[12][starts[0]["column"] - 1 :].startswith('"assistant"')  # on the role's value
    _, default = _check(path)  # OpenAI documents no such rule: no finding
    assert not [d for d in default if d["code"] == "TL126"]


# --- images on Together: one content form per conversation, no non-zero weight on a message with images ----------

VISION = "together:Qwen/Qwen3-VL-8B-Instruct"  # a vision model on Together's vision fine-tuning page
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
UNVERIFIED = "(not in Together AI's docs: unverified, so a warning)"


def _parts(text: str, image: bool = False) -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    return [*parts, {"type": "image_url", "image_url": {"url": PNG}}] if image else parts


def _vision_example(i: int, *, system_as_string: bool = False, weight: int | None = None) -> str:
    """System, user (text and an image) and assistant, every content a list of parts unless asked otherwise."""
    user: dict = {"role": "user", "content": _parts(f"What is in picture {i}?", image=True)}
    if weight is not None:
        user["weight"] = weight
    system = "Be brief." if system_as_string else _parts("Be brief.")
    messages = [{"role": "system", "content": system}, user, {"role": "assistant", "content": _parts(f"A cat {i}.")}]
    return json.dumps({"messages": messages})


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_string_and_part_contents_in_one_conversation_are_reported_for_together_only(tmp_path):
    lines = [_vision_example(i) for i in range(11)] + [_vision_example(11, system_as_string=True)]
    path = _write(tmp_path / "mixed.jsonl", lines)
    code, found = _check(path, "--target", VISION)
    mixed = [d for d in found if d["code"] == "TL127"]
    assert [(d["line"], d["severity"]) for d in mixed] == [(12, "warning")]  # unverified in the docs: a warning
    assert mixed[0]["message"] == (
        "Message 0 has string content and message 1 a list of content parts: Together AI refuses a conversation "
        f"that mixes the two, so write every message's content as a list of parts {UNVERIFIED}."
    )
    assert lines[11][mixed[0]["column"] - 1 :].startswith('[{"type": "text", "text": "What is in picture 11?"}')
    assert code == 0 and not [d for d in found if d["severity"] == "error"]
    # OpenAI's own vision example mixes the two forms: the same file passes on the model that trains on images
    code, openai = _check(path, "--target", "openai:gpt-4o-2024-08-06")
    assert code == 0 and not [d for d in openai if d["code"] == "TL127" or d["severity"] == "error"]
    # a conversation all in strings, or all in parts, is one form
    strings = [json.loads(_example("system", i)) for i in range(3)]
    _, same = _check(_write(tmp_path / "strings.jsonl", [json.dumps(s) for s in strings]), "--target", VISION)
    assert not [d for d in same if d["code"] == "TL127"]


def test_a_weighted_message_with_images_is_reported_for_together_and_weight_0_passes(tmp_path):
    lines = [_vision_example(i) for i in range(10)]
    lines.append(_vision_example(10, weight=1))
    lines.append(_vision_example(11, weight=0))
    path = _write(tmp_path / "weights.jsonl", lines)
    code, found = _check(path, "--target", VISION)
    weights = [d for d in found if d["code"] == "TL114"]
    assert [(d["line"], d["severity"]) for d in weights] == [(11, "warning")]
    assert weights[0]["message"] == (
        "`weight` is 1 on a message with images: Together AI refuses a non-zero weight on a message that holds "
        f"images, so set it to 0 {UNVERIFIED}."
    )
    assert lines[10][weights[0]["column"] - 1 :].startswith("1}")  # on the weight's value
    assert code == 0
    # weight 0 on the image message, and a weight on a user message without images, pass on Together (its docs:
    # "add a weight field to any message")
    text_weight = json.loads(_example("user", 12))
    text_weight["messages"][0]["weight"] = 1
    fixed = _write(tmp_path / "fixed.jsonl", [*lines[:10], lines[11], json.dumps(text_weight)])
    code, clean = _check(fixed, "--target", VISION)
    assert code == 0 and not [d for d in clean if d["code"] in ("TL114", "TL127")]
    # OpenAI takes a weight on assistant messages only: there the same line gets that verdict, not the image one
    _, openai = _check(path, "--target", "openai:gpt-4o-2024-08-06")
    (role,) = [d for d in openai if d["code"] == "TL114" and d["line"] == 11]
    assert role["severity"] == "error" and role["message"] == (
        "`weight` is allowed only on assistant messages (this one is 'user')."
    )


def test_the_new_facts_are_checked_like_every_other(tmp_path):
    from tuneline.analysis.targets import SHIPPED, ProvidersFileError, load_providers, shipped_providers

    together = shipped_providers()["together"]
    assert (together.mixed_content.value, together.mixed_content.verified) == (False, False)
    assert (together.image_weight.value, together.image_weight.verified) == (False, False)
    assert "user" in together.weight_roles.value and together.weight_roles.verified
    text = SHIPPED.read_text(encoding="utf-8")
    bad = tmp_path / "providers.toml"
    bad.write_text(
        text.replace(
            'value = ["system", "user", "assistant", "tool"]\nsource = "https://docs.together',
            'value = ["system", "users"]\nsource = "https://docs.together',
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(ProvidersFileError, match=r"providers\.together\.weight_roles\.value has unknown roles 'users'"):
        load_providers(bad)
