"""Together's own rules through `tuneline check`, each read from providers.toml, so targets without it stay quiet.

- Turn order: a conversation must open with a system or user message (`turn_order.starts_with`). A file that opens
  with an assistant turn passed before (a false pass: Together's file check rejects it at upload).
- Images: Together's upload check wants every message of an example in one content form (`mixed_content`; a
  preference pair's input and both outputs together), an image in an example written in content parts
  (`parts_without_images`), and no non-zero weight on a message with images (`image_weight`). These were read in
  Together's own SDK check, not its docs; tuneline takes that check as Together's word, so they are errors. A
  weight on a user message is fine on Together (`weight_roles`).
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


# --- images on Together: one content form per example, an image in an example of parts, no weight on an image ----

VISION = "together:Qwen/Qwen3-VL-8B-Instruct"  # a vision model on Together's vision fine-tuning page
OPENAI_VISION = "openai:gpt-4o-2024-08-06"  # the one OpenAI model that fine-tunes on images
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def _parts(text: str, image: bool = False) -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    return [*parts, {"type": "image_url", "image_url": {"url": PNG}}] if image else parts


def _vision_example(
    i: int, *, system_as_string: bool = False, weight: int | None = None, image: bool = True, strings: bool = False
) -> str:
    """System, user (text and an image) and assistant, every content a list of parts unless asked otherwise."""

    def content(text: str, with_image: bool = False) -> str | list[dict]:
        return text if strings else _parts(text, with_image)

    user: dict = {"role": "user", "content": content(f"What is in picture {i}?", image)}
    if weight is not None:
        user["weight"] = weight
    system = "Be brief." if system_as_string else content("Be brief.")
    messages = [{"role": "system", "content": system}, user, {"role": "assistant", "content": content(f"A cat {i}.")}]
    return json.dumps({"messages": messages})


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _codes(found: list[dict], *codes: str) -> list[tuple[int, str]]:
    return [(d["line"], d["severity"]) for d in found if d["code"] in codes]


def test_string_and_part_contents_in_one_conversation_are_errors_for_together_only(tmp_path):
    lines = [_vision_example(i) for i in range(11)] + [_vision_example(11, system_as_string=True)]
    path = _write(tmp_path / "mixed.jsonl", lines)
    code, found = _check(path, "--target", VISION)
    mixed = [d for d in found if d["code"] == "TL127"]
    assert code == 1 and _codes(found, "TL127") == [(12, "error")]  # Together's own SDK check: an error
    assert mixed[0]["message"] == (
        "Message 0's content is a string and message 1's is a list of content parts: Together AI refuses a "
        "conversation that mixes the two, so write every message's content as a list of parts."
    )
    assert lines[11][mixed[0]["column"] - 1 :].startswith('[{"type": "text", "text": "What is in picture 11?"}')
    # OpenAI's own vision example mixes the two forms: the same file passes on the model that trains on images
    code, openai = _check(path, "--target", OPENAI_VISION)
    assert code == 0 and not [d for d in openai if d["code"] == "TL127" or d["severity"] == "error"]
    # a text conversation mixing forms is told to use strings, since parts would need an image
    text_mix = json.loads(_vision_example(12, system_as_string=True, image=False))
    text_mix["messages"][1]["content"] = "What is in picture 12?"
    text_mix["messages"][0]["content"] = _parts("Be brief.")
    _, found = _check(_write(tmp_path / "text_mix.jsonl", [json.dumps(text_mix)]), "--target", VISION)
    (advice,) = [d["message"] for d in found if d["code"] == "TL127"]
    assert advice.startswith("Message 0's content is a list of content parts and message 1's is a string")
    assert advice.endswith("so write every message's content as a plain string (it holds no image).")


def test_a_conversation_of_parts_without_an_image_is_an_error_for_together_only(tmp_path):
    """A text-only conversation written in content parts: Together's check reads parts as an image example and
    refuses one without an image. Strings, or parts with an image, pass; other providers document no such rule."""
    lines = [_vision_example(i) for i in range(10)]
    lines.append(_vision_example(10, image=False))  # parts, no image: refused
    lines.append(_vision_example(11, image=False, strings=True))  # the same text as strings: fine
    path = _write(tmp_path / "parts.jsonl", lines)
    code, found = _check(path, "--target", VISION)
    assert code == 1 and _codes(found, "TL127", "TL128") == [(11, "error")]
    (finding,) = [d for d in found if d["code"] == "TL128"]
    assert finding["message"] == (
        "Every message's content is a list of content parts but the conversation holds no image: Together AI reads "
        "content parts as an image example and refuses one without an image, so write each message's content as a "
        "plain string."
    )
    assert lines[10][finding["column"] - 1 :].startswith('[{"type": "text", "text": "Be brief."}]')  # message 0
    for target in (OPENAI_VISION, "fireworks:accounts/fireworks/models/qwen2p5-vl-32b-instruct"):
        _, other = _check(path, "--target", target)
        assert not [d for d in other if d["code"] in ("TL127", "TL128")], target


def test_a_weighted_message_with_images_is_an_error_for_together_and_weight_0_passes(tmp_path):
    lines = [_vision_example(i) for i in range(10)]
    lines.append(_vision_example(10, weight=1))
    lines.append(_vision_example(11, weight=0))
    path = _write(tmp_path / "weights.jsonl", lines)
    code, found = _check(path, "--target", VISION)
    weights = [d for d in found if d["code"] == "TL114"]
    assert code == 1 and _codes(found, "TL114") == [(11, "error")]
    assert weights[0]["message"] == (
        "`weight` is 1 on a message with images: Together AI refuses a non-zero weight on a message that holds "
        "images, so set it to 0."
    )
    assert lines[10][weights[0]["column"] - 1 :].startswith("1}")  # on the weight's value
    # weight 0 on the image message, and a weight on a user message without images, pass on Together (its docs:
    # "add a weight field to any message")
    text_weight = json.loads(_example("user", 12))
    text_weight["messages"][0]["weight"] = 1
    fixed = _write(tmp_path / "fixed.jsonl", [*lines[:10], lines[11], json.dumps(text_weight)])
    code, clean = _check(fixed, "--target", VISION)
    assert code == 0 and not [d for d in clean if d["code"] in ("TL114", "TL127", "TL128")]
    # OpenAI takes a weight on assistant messages only: there the same line gets that verdict, not the image one
    _, openai = _check(path, "--target", OPENAI_VISION)
    (role,) = [d for d in openai if d["code"] == "TL114" and d["line"] == 11]
    assert role["severity"] == "error" and role["message"] == (
        "`weight` is allowed only on assistant messages (this one is 'user')."
    )


def _pair(i: int, *, prompt: str = "parts", image: bool = True, preferred: str = "parts", other: str = "parts") -> str:
    """A preference pair on an image: each of input, preferred and non-preferred content as parts or a string."""

    def content(form: str, text: str, with_image: bool = False) -> str | list[dict]:
        return _parts(text, with_image) if form == "parts" else text

    return json.dumps(
        {
            "input": {"messages": [{"role": "user", "content": content(prompt, f"What is in picture {i}?", image)}]},
            "preferred_output": [{"role": "assistant", "content": content(preferred, f"A cat {i}.")}],
            "non_preferred_output": [{"role": "assistant", "content": content(other, f"A dog {i}.")}],
        }
    )


def test_a_preference_pair_is_one_content_form_across_input_and_outputs(tmp_path):
    """Together's check holds a pair's input and both outputs to one form (each list alone looked fine before:
    a false pass), and wants an image in a pair written in parts."""
    lines = [
        _pair(0),  # all parts, with an image: fine
        _pair(1, prompt="string", image=False, preferred="string", other="string"),  # all strings: fine
        _pair(2, preferred="string", other="string"),  # image prompt in parts, string answers: refused
        _pair(3, prompt="string", image=False, preferred="string"),  # one answer in parts: refused
        _pair(4, image=False),  # all parts, no image: refused
    ]
    path = _write(tmp_path / "pairs.jsonl", lines)
    code, found = _check(path, "--target", VISION)
    assert code == 1 and _codes(found, "TL127", "TL128") == [(3, "error"), (4, "error"), (5, "error")]
    by_line = {d["line"]: d for d in found if d["code"] in ("TL127", "TL128")}
    assert by_line[3]["message"] == (
        "Input message 0's content is a list of content parts and the `preferred_output` message's is a string: "
        "Together AI refuses a preference pair that mixes the two, so write every message's content as a list of "
        "parts."
    )
    assert lines[2][by_line[3]["column"] - 1 :].startswith('"A cat 2."')  # on the first answer that differs
    assert by_line[4]["code"] == "TL127" and by_line[4]["message"].startswith(
        "Input message 0's content is a string and the `non_preferred_output` message's is a list of content parts"
    )
    assert by_line[5]["code"] == "TL128" and "the preference pair holds no image" in by_line[5]["message"]
    # OpenAI documents neither rule for DPO: no such finding there
    _, openai = _check(path, "--target", "openai:gpt-4.1-mini-2025-04-14")
    assert not [d for d in openai if d["code"] in ("TL127", "TL128")]


def test_the_new_facts_are_checked_like_every_other(tmp_path):
    from tuneline.analysis.targets import SHIPPED, ProvidersFileError, load_providers, shipped_providers

    providers = shipped_providers()
    together = providers["together"]
    for fact in (together.mixed_content, together.image_weight, together.parts_without_images):
        assert (fact.value, fact.verified) == (False, True)
        assert fact.source.startswith("https://github.com/togethercomputer/together-py/blob/")
        assert fact.source.endswith("/src/together/lib/utils/files.py")
    assert "user" in together.weight_roles.value and together.weight_roles.verified
    # only Together refuses a conversation of parts without an image; the local trainer reads parts as text
    assert {name: p.parts_without_images.value for name, p in providers.items()} == {
        "openai": None,
        "azure": None,
        "together": False,
        "fireworks": None,
        "openai-compatible": None,
        "local": True,
    }
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
    bad.write_text(
        text.replace(
            "[providers.together.parts_without_images]\nvalue = false",
            "[providers.together.parts_without_images]\nvalue = 0",
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        ProvidersFileError, match=r"providers\.together\.parts_without_images\.value must be true or false"
    ):
        load_providers(bad)
