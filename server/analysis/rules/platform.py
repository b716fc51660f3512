"""What the per-line rules read from the target: one provider's facts (providers.toml), flattened for the hot path.

Why a separate object: a line is analysed once per text and cached, so everything a per-line verdict depends on
besides the text must be fixed when the engine is built. The method is the one exception: a line is judged by the
method its own format trains with (a preference pair by DPO's roles, an RFT prompt by RFT's), unless the user named
a method, and the file-level format rule (TL123) reports lines whose format the file's method does not take.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..formats import RFT_FORMAT
from ..models import ModelTable
from ..targets import Fact, Images, ProviderRules, method_for_format

METHOD_WORDS = {
    "sft": "supervised fine-tuning (sft)",
    "dpo": "preference fine-tuning (dpo)",
    "rft": "reinforcement fine-tuning (rft)",
}

# The roles OpenAI's chat input knows: without a provider (tests of single rules), the rules judge by these.
DEFAULT_ROLES = ("system", "user", "assistant", "tool", "function")

# A fact as a rule reads it: its value (None: not documented, so no finding) and whether it was verified in the
# provider's docs. A rule built on an unverified fact reports a warning that says so, never an error.
Verdict = tuple[Any, bool]


def _verdict(fact: Fact[Any]) -> Verdict:
    return (fact.value, fact.verified)


def _image_models(models: ModelTable, provider: str) -> tuple[str, ...]:
    """The models the table records as fine-tuning on images at `provider`, for messages that name them."""
    facts = ((name, models.models[name].vision_at(provider)) for name in models.names())
    return tuple(name for name, fact in facts if fact is not None and fact.accepted)


def unverified(p: Platform, verified: bool) -> str:
    """The words an unverified fact's finding ends with, so a warning never reads as the provider's own rule."""
    return "" if verified else f" (not in {p.title}'s docs: unverified, so a warning)"


@dataclass(frozen=True)
class Platform:
    """One provider's per-line facts. `None` in a fact: the provider documents nothing, so no finding."""

    title: str = "OpenAI"
    method: str | None = None  # the user's method; None: each line's format decides
    methods: tuple[str, ...] = ("sft", "dpo", "rft")
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    system_position: dict[str, str] = field(default_factory=dict)
    alternate: bool = False
    starts_with: tuple[str, ...] = ()  # roles a training conversation may open with; () = no rule
    last_message: dict[str, str] = field(default_factory=dict)
    weight: bool | None = True
    weight_roles: Verdict = (("assistant",), True)  # the roles that may carry `weight`; None: not documented
    image_weight: Verdict = (None, True)  # False: a message with images must not carry a non-zero weight
    tools: bool | None = True
    parallel_tool_calls: bool | None = True
    strict_keys: bool = False  # a key the line's format does not define is refused (Together)
    example_weight: bool = False  # a number `weight` beside `messages` weights the example (Fireworks)
    prompt_completion_messages: bool | None = None  # False: prompt/completion are text only (Together)
    images: Images | None = None
    image_detail: Verdict = (None, True)  # the values an image part's `detail` may take; None: not documented
    mixed_content: Verdict = (None, True)  # False: one conversation must not mix string and content-part messages
    parts_without_images: Verdict = (None, True)  # False: a conversation all in content parts must hold an image
    model: str = ""
    model_images: Verdict = (None, True)  # whether the target's model fine-tunes on images here; None: not recorded
    image_models: tuple[str, ...] = ()  # the models the table records as fine-tuning on images at this provider
    bom: str = "warn"
    # Per-line check results that depend only on this platform and a line's shape (`other_formats.check_chat`):
    # a cache, not a fact, so it takes no part in comparisons
    # (not an argument: `dataclasses.replace` gives a platform with other facts a memo of its own)
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def of(
        cls, rules: ProviderRules, method: str | None = None, model: str = "", models: ModelTable | None = None
    ) -> Platform:
        """The per-line facts of a provider, and of the target's model when the model table knows it."""
        turn_order = rules.turn_order.value
        info = models.resolve(model) if models is not None and model else None
        vision = info.vision_at(rules.name) if info is not None and info.known else None
        return cls(
            title=rules.title,
            method=method,
            methods=rules.methods,
            roles=dict(rules.roles.value or {}),
            system_position=dict(rules.system_position.value or {}),
            alternate=bool(turn_order and turn_order.alternate),
            starts_with=tuple(turn_order.starts_with) if turn_order else (),
            last_message=dict(rules.last_message.value or {}),
            weight=rules.weight.value,
            weight_roles=_verdict(rules.weight_roles),
            image_weight=_verdict(rules.image_weight),
            tools=rules.tools.value,
            parallel_tool_calls=rules.parallel_tool_calls.value,
            strict_keys=rules.strict_keys.value is True,
            example_weight=rules.example_weight.value is True,
            prompt_completion_messages=rules.prompt_completion_messages.value,
            images=rules.images.value,
            image_detail=_verdict(rules.image_detail),
            mixed_content=_verdict(rules.mixed_content),
            parts_without_images=_verdict(rules.parts_without_images),
            model=model,
            model_images=(vision.accepted, vision.verified) if vision is not None else (None, True),
            image_models=_image_models(models, rules.name) if models is not None else (),
            bom=rules.bom.value or "warn",
        )

    def line_method(self, fmt: str) -> str:
        """The method a line of this format is judged by: a chat line is an RFT prompt when the user says the file
        is RFT; any other format trains with its own method (an explicit mismatch is TL123's to report)."""
        if fmt == "chat" and self.method == "rft":
            return "rft"
        if fmt == RFT_FORMAT:
            return "rft"
        return method_for_format(fmt)

    def roles_for(self, method: str) -> tuple[str, ...] | None:
        """The roles a message may have, or None when the provider does not offer the method at all (the line's
        format is then refused as a whole, and judging its roles would only add noise)."""
        if not self.roles:
            return DEFAULT_ROLES if method != "rft" else ("developer", "user", "assistant", "tool")
        return self.roles.get(method)

    def method_words(self, method: str) -> str:
        return METHOD_WORDS.get(method, method)


DEFAULT_PLATFORM = Platform()
