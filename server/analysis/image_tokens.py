"""Image input tokens for OpenAI and Azure OpenAI, by OpenAI's published tile formula.

The formula's numbers live in models.toml (`[image_tokens]`, with its source); this module only applies them. The
image size comes from the first bytes of a base64 data URL (PNG, JPEG, GIF and WebP headers are read by hand: no
image library, no full decode for the common formats). An `https` URL has no size offline, so its image is
counted at the least an image can cost and marked a lower bound: nothing downloads at run time.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import shipped_toml

_DATA_FILE = Path(__file__).with_name("models.toml")
_HEAD_CHARS = 4096  # base64 characters decoded first: enough for PNG, GIF and WebP, and most JPEG headers
_JPEG_MORE = 1 << 20  # then at most this much for a JPEG whose frame header sits behind large metadata
_DETAILS = ("low", "high", "auto")


@dataclass(frozen=True)
class ImageTokenRule:
    """OpenAI's tile formula: a fixed cost for detail low, tiles of the scaled image for detail high."""

    low: int
    base: int
    per_tile: int
    tile: int
    max_side: int
    short_side: int
    auto: str  # the detail "auto" is counted as
    source: str
    providers: tuple[str, ...] = ()  # the targets whose images cost this

    def tokens(self, width: int, height: int, detail: str) -> int:
        """Tokens for an image of width x height pixels at `detail` (low, high or auto)."""
        if (self.auto if detail == "auto" else detail) == "low":
            return self.low
        w, h = float(width), float(height)
        if max(w, h) > self.max_side:  # fit in the max_side square
            scale = self.max_side / max(w, h)
            w, h = w * scale, h * scale
        if min(w, h) > self.short_side:  # then bring the short side down to short_side (never up)
            scale = self.short_side / min(w, h)
            w, h = w * scale, h * scale
        tiles = max(1, math.ceil(int(w) / self.tile)) * max(1, math.ceil(int(h) / self.tile))
        return self.base + self.per_tile * tiles

    def least(self, detail: str) -> int:
        """The fewest tokens an image of unknown size can cost at `detail`: exact for low, one tile for high."""
        if (self.auto if detail == "auto" else detail) == "low":
            return self.low
        return self.base + self.per_tile


@lru_cache(maxsize=1)
def openai_rule() -> ImageTokenRule:
    """The shipped `[image_tokens]` table of models.toml."""
    t = shipped_toml.load(_DATA_FILE)["image_tokens"]
    return ImageTokenRule(
        low=int(t["low"]),
        base=int(t["base"]),
        per_tile=int(t["per_tile"]),
        tile=int(t["tile"]),
        max_side=int(t["max_side"]),
        short_side=int(t["short_side"]),
        auto=str(t["auto"]),
        source=str(t["source"]),
        providers=tuple(t["providers"]),
    )


def rule_for(provider: str) -> ImageTokenRule | None:
    """The image rule of a provider, or None when its image tokens are not known (they are left uncounted)."""
    rule = openai_rule()
    return rule if provider in rule.providers else None


# -- image size from the header bytes --------------------------------------------------------------------------------


def _png(b: bytes) -> tuple[int, int] | None:
    if b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR" and len(b) >= 24:
        return struct.unpack(">II", b[16:24])
    return None


def _gif(b: bytes) -> tuple[int, int] | None:
    if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
        return struct.unpack("<HH", b[6:10])
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP" or len(b) < 30:
        return None
    chunk = b[12:16]
    if chunk == b"VP8 " and b[23:26] == b"\x9d\x01\x2a":  # lossy: frame tag, start code, 14-bit sizes
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and b[20] == 0x2F:  # lossless: signature, then width-1 and height-1 in 14 bits each
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        return int.from_bytes(b[24:27], "little") + 1, int.from_bytes(b[27:30], "little") + 1
    return None


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _jpeg(b: bytes) -> tuple[int, int] | None:
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", b[i + 2 : i + 4])
        if marker in _SOF:
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image file's first bytes, or None when the format is not one we read."""
    for read in (_png, _jpeg, _webp, _gif):
        size = read(data)
        if size is not None:
            return size if size[0] > 0 and size[1] > 0 else None
    return None


def _decode(b64: str) -> bytes:
    b64 = "".join(b64.split())
    b64 = b64[: len(b64) - len(b64) % 4]
    try:
        return base64.b64decode(b64.replace("-", "+").replace("_", "/"))
    except (binascii.Error, ValueError):
        return b""


def data_url_size(url: str) -> tuple[int, int] | None:
    """The size of the image in a `data:image/...;base64,` URL, decoding only its head (a JPEG: up to 1 MB)."""
    head, sep, payload = url.partition(",")
    if not sep or not head.lower().startswith("data:") or ";base64" not in head.lower():
        return None
    size = header_size(_decode(payload[:_HEAD_CHARS]))
    if size is None and payload[:8].startswith("/9j/") and len(payload) > _HEAD_CHARS:  # JPEG with big metadata
        size = header_size(_decode(payload[:_JPEG_MORE]))
    return size


class ImageTally:
    """Counts the image parts of one example and remembers how many of them were counted at a lower bound."""

    __slots__ = ("inexact", "rule")

    def __init__(self, rule: ImageTokenRule) -> None:
        self.rule = rule
        self.inexact = 0

    def __call__(self, part: dict[str, Any]) -> int:
        image = part.get("image_url")
        url, detail = (image.get("url"), image.get("detail", "auto")) if isinstance(image, dict) else (image, "auto")
        detail = detail if detail in _DETAILS else "auto"
        size = data_url_size(url) if isinstance(url, str) else None
        if size is None:
            if (self.rule.auto if detail == "auto" else detail) != "low":
                self.inexact += 1  # a low-detail image costs the same at any size
            return self.rule.least(detail)
        return self.rule.tokens(size[0], size[1], detail)


def image_note(images: int, counted: bool) -> str:
    """Why a count with images is a lower bound: https images have no size offline, or the target's image rule is
    unknown."""
    what = f"{images:,} image{'s' if images != 1 else ''}"
    if counted:
        return f"{what} without a size (https URLs) counted at their least: token counts are a lower bound."
    return f"{what} not counted (the target's image tokens are unknown): token counts are a lower bound."
