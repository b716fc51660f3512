"""What the per-line rules read from the target: one provider's facts (providers.toml), flattened for the hot path.

Why a separate object: a line is analysed once per text and cached, so everything a per-line verdict depends on
besides the text must be fixed when the engine is built. The method is the one exception: a line is judged by the
method its own format trains with (a preference pair by DPO's roles, an RFT prompt by RFT's), unless the user named
a method, and the file-level format rule (TL123) reports lines whose format the file's method does not take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..formats import RFT_FORMAT
from ..targets import Images, ProviderRules, method_for_format

METHOD_WORDS = {
    "sft": "supervised fine-tuning (sft)",
    "dpo": "preference fine-tuning (dpo)",
    "rft": "reinforcement fine-tuning (rft)",
}

# The roles OpenAI's chat input knows: without a provider (tests of single rules), the rules judge by these.
DEFAULT_ROLES = ("system", "user", "assistant", "tool", "function")


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
    tools: bool | None = True
    parallel_tool_calls: bool | None = True
    images: Images | None = None
    bom: str = "warn"

    @classmethod
    def of(cls, rules: ProviderRules, method: str | None = None) -> Platform:
        turn_order = rules.turn_order.value
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
            tools=rules.tools.value,
            parallel_tool_calls=rules.parallel_tool_calls.value,
            images=rules.images.value,
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
