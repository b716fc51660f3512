"""TL108 for an image content part that is not written as the chat schema has it:
`{"type": "image_url", "image_url": {"url": "...", "detail": "..."}}`.

Converters write other shapes (`"image_url": "https://..."`, a part with no `image_url`, a `detail` of their own),
and a platform that trains on images refuses them when the job starts. The shape is the chat format's, the same at
every provider that takes OpenAI's content parts; which `detail` values a target takes is its fact
(`image_detail` in providers.toml). A target that drops images (the local trainer, TL125 says so) is not judged.
"""

from __future__ import annotations

from typing import Any

from ..scan import PathItem
from ..types import Severity
from .base import Collector, describe, nearest
from .edits import replace_value
from .platform import Platform, unverified


def check_image_shape(part: dict[str, Any], k: int, c: Collector, path: tuple[PathItem, ...], p: Platform) -> None:
    """The `image_url` of image part `k` (at `path`): an object with a non-empty string `url` and, if it has one,
    a `detail` the target takes."""
    if p.images is not None and p.images.accepted is False:
        return
    if "image_url" not in part:
        c.add(
            "TL108", f'Image part {k} has no `image_url`; write {{"image_url": {{"url": ...}}}} beside its type.', path
        )
        return
    value = part["image_url"]
    where = (*path, "image_url")
    if isinstance(value, str):
        c.add(
            "TL108",
            '`image_url` must be an object holding the URL, {"url": ...}, not a string.',
            where,
            fix=replace_value(where, {"url": value}, 'Wrap the URL as {"url": ...}'),
        )
        return
    if not isinstance(value, dict):
        c.add("TL108", f'`image_url` must be an object like {{"url": ...}}, not {describe(value)}.', where)
        return
    url = value.get("url")
    if not isinstance(url, str) or not url.strip():
        what = "has no `url`" if "url" not in value else f"needs a non-empty string `url`, not {describe(url)}"
        c.add("TL108", f"The image {what}.", (*where, "url") if "url" in value else where)
    if "detail" in value:
        _check_detail(value["detail"], c, (*where, "detail"), p)


def _check_detail(detail: Any, c: Collector, path: tuple[PathItem, ...], p: Platform) -> None:
    allowed, verified = p.image_detail
    if allowed is None or detail in allowed:
        return
    fix_to = nearest(detail, allowed) if isinstance(detail, str) else None
    shown = repr(detail) if isinstance(detail, str) else describe(detail)
    c.add(
        "TL108",
        f"Image detail {shown} is not one {p.title} takes (valid: {', '.join(allowed)}){unverified(p, verified)}.",
        path,
        fix=replace_value(path, fix_to, f"Change detail to {fix_to!r}") if fix_to else None,
        severity=None if verified else Severity.WARNING,
    )
