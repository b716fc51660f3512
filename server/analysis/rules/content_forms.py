"""The content form of an example's messages: plain strings or lists of content parts (TL127, TL128).

Why a rule of its own: Together's upload check reads an example written in content parts as an image example, so
it wants every message of the example in one form (no string system prompt beside a user message of image parts)
and an image somewhere in an example of parts. OpenAI, Azure and Fireworks take both forms side by side. The
facts are the provider's (`mixed_content`, `parts_without_images` in providers.toml).

An example is every message list it holds: a chat line's `messages`, or a preference pair's input messages and both
outputs, which Together's check holds to one form together. So the messages are gathered first (one
`ContentForms` per example, filled by `chat.check_messages`) and judged once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..scan import PathItem
from ..types import Severity
from .base import Collector
from .platform import Platform, unverified

Path = tuple[PathItem, ...]


@dataclass
class ContentForms:
    """The content form of each message of one example, in order, and the example's image count."""

    # (path of the message list, index, is parts); a message's label and path are built only for a finding
    entries: list[tuple[Path, int, bool]] = field(default_factory=list)
    images: int = 0
    parts: int = 0  # messages whose content is a parts list: without any, neither rule can fire

    def add(self, messages_path: Path, index: int, parts: bool) -> None:
        self.entries.append((messages_path, index, parts))
        if parts:
            self.parts += 1


def message_label(messages_path: Path, index: int) -> str:
    """How a finding names a message: "message 2" in a chat line, "input message 0" or "the `preferred_output`
    message" in a preference pair."""
    if messages_path == ("messages",):
        return f"message {index}"
    if messages_path == ("input", "messages"):
        return f"input message {index}"
    if len(messages_path) == 1 and index == 0 and str(messages_path[0]).endswith("_output"):
        return f"the `{messages_path[0]}` message"
    return f"message {index} of `{'.'.join(str(k) for k in messages_path)}`"


_FORM = {True: "a list of content parts", False: "a string"}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def check_content_forms(forms: ContentForms, c: Collector, p: Platform, example: str = "conversation") -> None:
    """TL127: string content beside content-part lists, for a target that refuses the mix; reported once, on the
    first message whose form differs from the first message's. TL128: every message in content parts and no image,
    for a target that refuses that. A mixed example gets TL127 only (Together's check stops at the mix), and its
    advice follows the images: parts when the example has some, strings when it has none."""
    if not forms.parts:  # every content a string (or none): nothing mixed, no parts without an image
        return
    first_messages, first_index, first_parts = forms.entries[0]
    first_path = (*first_messages, first_index, "content")
    other = next((e for e in forms.entries if e[2] != first_parts), None)
    mixed, mixed_verified = p.mixed_content
    if other is not None:
        if mixed is not False:
            return
        messages_path, index, parts = other
        label, path = message_label(messages_path, index), (*messages_path, index, "content")
        first_label = message_label(first_messages, first_index)
        advice = "a list of parts" if forms.images else "a plain string (it holds no image)"
        c.add(
            "TL127",
            f"{_capital(first_label)}'s content is {_FORM[first_parts]} and {label}'s is {_FORM[parts]}: {p.title} "
            f"refuses a {example} that mixes the two, so write every message's content as {advice}"
            f"{unverified(p, mixed_verified)}.",
            path,
            severity=None if mixed_verified else Severity.WARNING,
        )
        return
    allowed, verified = p.parts_without_images
    if first_parts and forms.images == 0 and allowed is False:
        c.add(
            "TL128",
            f"Every message's content is a list of content parts but the {example} holds no image: {p.title} reads "
            f"content parts as an image example and refuses one without an image, so write each message's content "
            f"as a plain string{unverified(p, verified)}.",
            first_path,
            severity=None if verified else Severity.WARNING,
        )
