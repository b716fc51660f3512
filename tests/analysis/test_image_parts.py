"""TL108 on image parts written in another shape than the chat schema's `{"image_url": {"url": ..., "detail": ...}}`.

Before, a part with no `image_url`, a bare string URL, an object without `url` or a `detail` of "ultra" passed every
check and failed the job. Now each is a TL108 through `tuneline check`; the detail values are the target's fact
(providers.toml `image_detail`: OpenAI's verified, an assumed one is a warning, an undocumented one is not judged),
and a target that drops images (the local trainer) does not judge their shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import line_findings, spanned

REPO = Path(__file__).resolve().parents[2]
URL = "https://example.com/cat.png"
VISION = "openai:gpt-4o-2024-08-06"


def example(part: dict, i: int = 0) -> str:
    content = [{"type": "text", "text": f"What is in picture {i}?"}, part]
    return json.dumps({"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "A cat."}]})


def image(value: object) -> dict:
    return {"type": "image_url", "image_url": value}


CASES = {
    "missing": ({"type": "image_url"}, "Image part 1 has no `image_url`"),
    "string": (image(URL), 'Image part 1: `image_url` must be an object holding the URL, {"url": ...}, not a string.'),
    "number": (image(42), "not a number."),
    "no url": (image({"detail": "high"}), "Image part 1 has no `url` in its `image_url`."),
    "empty url": (image({"url": " "}), "Image part 1: `url` is empty."),
    "ultra": (
        image({"url": URL, "detail": "ultra"}),
        'OpenAI takes `detail` "auto", "low", "high" or "original", not "ultra".',
    ),
}


def check(path: Path, target: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", "--target", target, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)["files"][0]["diagnostics"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """One line per case, then the well-formed parts, 12 lines in all (no TL303)."""
    good = [image({"url": URL}), image({"url": URL, "detail": "original"}), image({"url": URL, "detail": "low"})]
    parts = [part for part, _ in CASES.values()] + good * 2
    path = tmp_path_factory.mktemp("shapes") / "images.jsonl"
    path.write_text("".join(example(p, i) + "\n" for i, p in enumerate(parts)), encoding="utf-8")
    return path


def test_each_malformed_image_part_is_an_error_through_check(shapes):
    found = [d for d in check(shapes, VISION) if d["code"] == "TL108"]
    assert [d["line"] for d in found] == [1, 2, 3, 4, 5, 6]
    for d, (_, message) in zip(found, CASES.values()):
        assert d["severity"] == "error" and message in d["message"], d


def test_a_model_that_takes_no_images_gets_one_tl125_and_no_shape_findings(shapes):
    """gpt-4o-mini fine-tunes on no image: TL125 says so on every example, the shapes are not judged."""
    found = check(shapes, "openai:gpt-4o-mini-2024-07-18")
    assert [d["line"] for d in found if d["code"] == "TL125"] == list(range(1, 13))
    assert [d for d in found if d["code"] == "TL108"] == []


def test_an_assumed_detail_list_warns_and_a_target_dropping_images_does_not_judge(shapes):
    azure = {d["line"]: d for d in check(shapes, "azure:gpt-4o-2024-08-06") if d["code"] == "TL108"}
    assert azure[6]["severity"] == "warning" and "unverified" in azure[6]["message"]
    assert azure[2]["severity"] == "error"  # the shape is the chat schema's, not a provider's fact
    # Together documents no detail values: "ultra" is not judged there, the shape still is
    together = [
        d["line"] for d in check(shapes, "together:meta-llama/Llama-3.2-11B-Vision-Instruct") if d["code"] == "TL108"
    ]
    assert together == [1, 2, 3, 4, 5]


def test_the_string_form_is_fixed_by_wrapping_it():
    line = example(image(URL))
    (f,) = [f for f in line_findings(line, target=VISION) if f.code == "TL108"]
    assert spanned(line, f) == json.dumps(URL)
    (edit,) = f.fix.edits
    fixed = line[: edit.span.start] + edit.text + line[edit.span.end :]
    assert json.loads(fixed)["messages"][0]["content"][1] == image({"url": URL})
    assert [g.code for g in line_findings(fixed, target=VISION) if g.code == "TL108"] == []


def test_a_detail_with_the_wrong_case_gets_the_right_one():
    line = example(image({"url": URL, "detail": "High"}))
    (f,) = [f for f in line_findings(line, target=VISION) if f.code == "TL108"]
    assert spanned(line, f) == '"High"' and f.fix.edits[0].text == '"high"'
    no_fix = example(image({"url": URL, "detail": "ultra"}))
    (g,) = [f for f in line_findings(no_fix, target=VISION) if f.code == "TL108"]
    assert g.fix is None
