"""TL108 for an image content part that is not written as the chat schema has it:
`{"type": "image_url", "image_url": {"url": "...", "detail": "..."}}`.

Converters write other shapes (`"image_url": "https://..."`, a part with no `image_url`, a `detail` of their own),
and a platform that trains on images refuses them when the job starts. The shape is the chat format's, the same at
every provider that takes OpenAI's content parts; which `detail` values a target takes is its fact
(`image_detail` in providers.toml). Where an image cannot train anyway (the local trainer drops images; a model
that takes none), TL125 says so and the shape is not judged.
"""

from __future__ import annotations

import json
from typing import Any

from ..scan import PathItem
from ..types import Severity
from .base import Collector, describe, nearest, word_list
from .edits import replace_value
from .platform import Platform, unverified


def check_image_shape(part: dict[str, Any], k: int, c: Collector, path: tuple[PathItem, ...], p: Platform) -> None:
    """The `image_url` of image part `k` (at `path`): an object with a non-empty string `url` and, if it has one,
    a `detail` the target takes. Not judged where the image cannot train anyway: a target that drops images, or a
    model that takes none (TL125 says so, once per example)."""
    if (p.images is not None and p.images.accepted is False) or p.model_images[0] is False:
        return
    if "image_url" not in part:
        c.add(
            "TL108", f'Image part {k} has no `image_url`; write {{"image_url": {{"url": ...}}}} beside its type.', path
        )
        return
    value = part["image_url"]
    where = (*path, "image_url")
    if not isinstance(value, dict):
        c.add(
            "TL108",
            f'Image part {k}: `image_url` must be an object holding the URL, {{"url": ...}}, not {describe(value)}.',
            where,
            fix=replace_value(where, {"url": value}, 'Wrap the URL as {"url": ...}')
            if isinstance(value, str)
            else None,
        )
        return
    if "url" not in value:
        c.add("TL108", f"Image part {k} has no `url` in its `image_url`.", where)
    else:
        url = value["url"]
        if not isinstance(url, str):
            c.add("TL108", f"Image part {k}: `url` must be a string, not {describe(url)}.", (*where, "url"))
        elif not url.strip():
            c.add("TL108", f"Image part {k}: `url` is empty.", (*where, "url"))
    if "detail" in value:
        _check_detail(value["detail"], k, c, (*where, "detail"), p)


def _check_detail(detail: Any, k: int, c: Collector, path: tuple[PathItem, ...], p: Platform) -> None:
    allowed, verified = p.image_detail
    if allowed is None or (isinstance(detail, str) and detail in allowed):
        return
    fix_to = nearest(detail, allowed) if isinstance(detail, str) else None
    shown = json.dumps(detail, ensure_ascii=False) if isinstance(detail, str) else describe(detail)
    c.add(
        "TL108",
        f"Image part {k}: {p.title} takes `detail` {word_list([json.dumps(a) for a in allowed], 'or')}, not "
        f"{shown}{unverified(p, verified)}.",
        path,
        fix=replace_value(path, fix_to, f"Change detail to {fix_to!r}") if fix_to else None,
        severity=None if verified else Severity.WARNING,
    )
