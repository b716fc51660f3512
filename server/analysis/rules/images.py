"""TL125: image content parts the target does not take.

Providers differ on images more than on anything else: OpenAI and Azure fetch https URLs, Together and Fireworks
take only base64 data URLs, tuneline's local trainer keeps only text parts (an image would be dropped silently).
Models differ too: OpenAI fine-tunes gpt-4o-2024-08-06 on images and no other model, so an image in a file for
gpt-4o-mini fails the job. The provider facts come from providers.toml through `Platform.images`, the model's from
models.toml (`vision.PROVIDER`) through `Platform.model_images`; a fact left undocumented is not judged. Image
tokens are counted elsewhere (image_tokens.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..scan import PathItem
from ..types import Severity
from .base import Collector, word_list
from .platform import unverified

if TYPE_CHECKING:
    from .platform import Platform

_DATA_URL = re.compile(r"data:image/([a-zA-Z0-9.+-]+);base64,", re.ASCII)
_SPELLINGS = {"jpg": "jpeg", "pjpeg": "jpeg"}


def image_url(part: dict[str, Any]) -> str | None:
    """The URL of an `image_url` content part (`{"image_url": {"url": ...}}`, or the string form some tools write)."""
    value = part.get("image_url")
    if isinstance(value, dict):
        value = value.get("url")
    return value if isinstance(value, str) else None


def _decoded_size(url: str, start: int) -> int:
    payload = len(url) - start
    padding = len(url) - len(url.rstrip("="))
    return payload * 3 // 4 - padding


def _model_takes_no_images(c: Collector, path: tuple[PathItem, ...], p: Platform) -> None:
    """TL125 when the target's model does not fine-tune on images at this provider (OpenAI: gpt-4o-2024-08-06
    only), naming the models that do."""
    verified = p.model_images[1]
    if p.image_models:
        which = f"only {word_list(p.image_models)} {'does' if len(p.image_models) == 1 else 'do'}"
    else:
        which = "none of the models tuneline knows for it does"
    c.add(
        "TL125",
        f"{p.title} does not fine-tune {p.model} on images; {which}{unverified(p, verified)}.",
        path,
        severity=None if verified else Severity.WARNING,
    )


def check_image_part(
    part: dict[str, Any], role: Any, c: Collector, path: tuple[PathItem, ...], p: Platform, *, first: bool = True
) -> None:
    """One image part against the target's image rules (an image in an assistant message is TL108's). `first`:
    the example's first image, where a model that takes no images is reported (once per example, not per image)."""
    rules = p.images
    if rules is None or rules.accepted is None:
        return
    if rules.accepted is False:
        c.add(
            "TL125",
            f"{p.title} does not train on images: this image would be dropped and the example trained on its text "
            "alone.",
            path,
        )
        return
    if p.model_images[0] is False:  # the model takes no image at all: once per example, and nothing finer
        if first:
            _model_takes_no_images(c, path, p)
        return
    if rules.roles and isinstance(role, str) and role not in rules.roles and role != "assistant":
        c.add("TL125", f"{p.title} accepts images only in {' or '.join(rules.roles)} messages, not {role!r}.", path)
    url = image_url(part)
    if url is None:
        return  # no URL at all: TL108's business, not a target rule
    where = (*path, "image_url", "url") if isinstance(part.get("image_url"), dict) else (*path, "image_url")
    data = _DATA_URL.match(url)
    if data:
        if rules.data_url is False:
            c.add("TL125", f"{p.title} does not accept base64 data URLs for images; use an https URL.", where)
            return
        kind = data.group(1).lower()
        kind = _SPELLINGS.get(kind, kind)
        if rules.formats and kind not in rules.formats:
            allowed = "/".join(f.upper() for f in rules.formats)
            c.add("TL125", f"{p.title} accepts {allowed} images, not {kind.upper()}.", where)
        if rules.max_bytes is not None:
            size = _decoded_size(url, data.end())
            if size > rules.max_bytes:
                c.add(
                    "TL125",
                    f"The image is {size / 2**20:.1f} MB; {p.title} accepts at most {rules.max_bytes / 2**20:.0f} MB "
                    "per image.",
                    where,
                )
    elif url.startswith(("https://", "http://")) and rules.url is False:
        c.add(
            "TL125",
            f"{p.title} accepts images only as base64 data URLs (data:image/png;base64,...), not as links: download "
            "the image and embed it.",
            where,
        )


@dataclass(slots=True)
class ImageCount:
    """Images seen in one example, for the per-example limit."""

    count: int = 0

    def check_count(self, c: Collector, path: tuple[PathItem, ...], p: Platform) -> None:
        rules = p.images
        limit = rules.max_per_example if rules is not None and rules.accepted else None
        if limit is not None and self.count > limit:
            c.add("TL125", f"{self.count} images in one example; {p.title} accepts at most {limit}.", path)
