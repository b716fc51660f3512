"""Image tokens for OpenAI and Azure by OpenAI's tile formula, through `tuneline check --format json`.

The images are built here as bare headers (PNG, JPEG, GIF, WebP): the size is all the formula needs. Each file holds
one example, and a file without the image gives the text's tokens, so the difference is the image's cost.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tuneline.analysis.image_tokens import data_url_size, openai_rule

REPO = Path(__file__).resolve().parents[2]


def png(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def jpeg(w: int, h: int, metadata: int = 16) -> bytes:
    app1 = b"\xff\xe1" + struct.pack(">H", metadata + 2) + b"\0" * metadata  # EXIF-like block before the frame
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof0 + b"\xff\xd9"


def gif(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\0\0\0"


def webp(w: int, h: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def data_url(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def example(url: str | None, detail: str | None = None) -> str:
    parts: list[dict] = [{"type": "text", "text": "What is in this picture?"}]
    if url is not None:
        image: dict = {"url": url}
        if detail:
            image["detail"] = detail
        parts.append({"type": "image_url", "image_url": image})
    messages = [
        {"role": "user", "content": parts},
        {"role": "assistant", "content": "A small test image."},
    ]
    return json.dumps({"messages": messages})


CASES = {
    # name: (image URL, detail, tokens by OpenAI's published examples and formula, exact)
    "png-1024-high": (data_url("png", png(1024, 1024)), "high", 765, True),  # the page's 1024x1024 example
    "jpeg-2048x4096-high": (data_url("jpeg", jpeg(2048, 4096)), "high", 1105, True),  # the page's second example
    "gif-4096x8192-low": (data_url("gif", gif(4096, 8192)), "low", 85, True),  # low: one price at any size
    "webp-512-auto": (data_url("webp", webp(512, 512)), None, 255, True),  # auto counts as high: one tile
    "png-small-not-scaled-up": (data_url("png", png(100, 50)), "high", 255, True),
    "https-auto": ("https://example.com/cat.png", None, 255, False),  # no size offline: the least, a lower bound
    "https-low": ("https://example.com/cat.png", "low", 85, True),  # low costs the same at any size
}


def check_json(folder: Path, target: str) -> dict[str, dict]:
    names = ["text-only", *CASES]
    paths = []
    for name in names:
        url, detail, _, _ = CASES.get(name, (None, None, 0, True))
        path = folder / f"{name}.jsonl"
        path.write_text(example(url, detail) + "\n", encoding="utf-8")
        paths.append(str(path))
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", *paths, "--format", "json", "--target", target],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert p.returncode in (0, 1), p.stderr.decode()
    return {Path(f["path"]).stem: f for f in json.loads(p.stdout)["files"]}


@pytest.mark.parametrize("target", ["openai:gpt-4o-2024-08-06", "azure:gpt-4.1-2025-04-14"])
def test_image_tokens_by_openai_formula_through_the_cli(tmp_path, target):
    files = check_json(tmp_path, target)
    text = files["text-only"]["tokens"]["total"]
    assert files["text-only"]["tokens"]["exact"] is True
    for name, (_, _, tokens, exact) in CASES.items():
        got = files[name]["tokens"]
        assert got["total"] - text == tokens, name
        assert got["exact"] is exact, name


def test_an_https_image_says_the_count_is_a_lower_bound_in_the_summary(tmp_path):
    path = tmp_path / "remote.jsonl"
    path.write_text(example("https://example.com/cat.png") + "\n", encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", str(path), "--target", "openai:gpt-4o-2024-08-06"],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    out = p.stdout.decode()
    assert "1 image without a size (https URLs) counted at their least: token counts are a lower bound." in out


def test_a_provider_without_the_formula_leaves_images_uncounted_and_inexact(tmp_path):
    files = check_json(tmp_path, "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    text = files["text-only"]["tokens"]["total"]
    png_file = files["png-1024-high"]["tokens"]
    assert png_file["total"] == text and png_file["exact"] is False


def test_header_sizes_and_broken_data_urls():
    assert data_url_size(data_url("jpeg", jpeg(640, 480, metadata=60_000))) == (640, 480)  # frame behind metadata
    assert data_url_size("data:image/png;base64,!!!not base64") is None
    assert data_url_size("data:image/png;base64,") is None
    assert data_url_size(data_url("png", b"\x89PNG\r\n\x1a\n")) is None  # truncated header
    assert data_url_size("data:text/plain,hello") is None
    rule = openai_rule()
    assert rule.source.startswith("https://") and (rule.base, rule.per_tile, rule.tile) == (85, 170, 512)


def test_the_targets_doc_shows_the_formula_from_models_toml():
    """docs/targets.md is generated (a test keeps it in sync); the formula's numbers come from `[image_tokens]`."""
    rule = openai_rule()
    section = (REPO / "docs" / "targets.md").read_text(encoding="utf-8").split("\n## Image tokens\n")[1]
    assert "Images in `openai` and `azure` targets are counted by OpenAI's published formula" in section
    assert f"| `low` | {rule.low}, whatever the size |" in section
    assert f"| `high` | {rule.base} + {rule.per_tile} per {rule.tile} x {rule.tile} tile" in section
    assert "(1,024 x 1,024: 765; 2,048 x 4,096: 1,105)" in section  # the page's own examples, through the rule
    assert f"{rule.least('high')} at `high` (one tile), marked a lower bound" in section
    assert rule.source in section and "as of 2026-11-30" in section
