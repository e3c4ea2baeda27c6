"""What a model can do, recognised by its family rather than its exact name.

Providers spell one model many ways (``kimi-k2.5``, ``moonshotai/Kimi-K2.5``,
``moonshotai/kimi-k2.5-maas``, ``kimi-k2.6-preview``...), and successors keep the family's
rules. :func:`model_traits` reads the name once and answers what the request builder and the
context budget need: whether the model sees images, whether thinking can be switched (and
how it is asked for), which sampling values the service fixes, which ``tool_choice`` values
thinking mode allows.

Sources (Moonshot platform docs, "models overview" and "use kimi k2 thinking model", 2026):
K2.5 takes ``thinking: {"type": "enabled" | "disabled"}`` (an object, never a boolean; on by
default); its temperature cannot be changed (1.0 thinking, 0.6 instant) nor its ``top_p``
(0.95); in thinking mode ``tool_choice`` may only be ``auto`` or ``none``; images come as
``image_url`` content parts (data URLs). K2 Thinking always thinks and takes text only.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ThinkingControl = Literal["always", "switchable", "never", "unknown"]


class ModelTraits(BaseModel):
    """Capabilities and request rules of one model family."""

    model_config = ConfigDict(frozen=True)

    family: str
    """``kimi-k2.5`` for K2.5 and its successors (K2.6...), ``kimi-k2-thinking``, ``kimi-k2``, or ``other``."""
    vision: bool = False
    """Accepts ``image_url`` content parts in user messages."""
    thinking: ThinkingControl = "unknown"
    thinking_temperature: float | None = None
    """The only temperature the service accepts in thinking mode (``None``: free)."""
    instant_temperature: float | None = None
    """The only temperature the service accepts with thinking off (``None``: free)."""
    fixed_top_p: float | None = None
    thinking_tool_choices: tuple[str, ...] | None = None
    """``tool_choice`` values the service allows while thinking (``None``: no known rule; an
    option the user set in ``extra_body`` is then sent as given)."""

    def temperature(self, thinking: bool) -> float | None:
        """The fixed temperature for this mode, or ``None`` when the caller may choose."""
        return self.thinking_temperature if thinking else self.instant_temperature


_PROVIDER_PREFIX = re.compile(r"^(?:[\w.-]+/)+")
_KIMI_VERSIONED = re.compile(r"^kimi-k(\d+)\.(\d+)(?![\d])")
_KIMI_K2_THINKING = re.compile(r"^kimi-k2-thinking")
_KIMI_K2 = re.compile(r"^kimi-k2(?:-|$)")

_K25 = ModelTraits(
    family="kimi-k2.5",
    vision=True,
    thinking="switchable",
    thinking_temperature=1.0,
    instant_temperature=0.6,
    fixed_top_p=0.95,
    thinking_tool_choices=("auto", "none"),
)
_K2_THINKING = ModelTraits(family="kimi-k2-thinking", thinking="always")
_K2 = ModelTraits(family="kimi-k2", thinking="never")
_OTHER = ModelTraits(family="other")


def model_traits(model: str) -> ModelTraits:
    """The traits of ``model`` as any provider names it (case, ``org/`` prefixes and
    suffixes such as ``-maas``, ``-preview`` or ``:cloud`` do not matter)."""
    name = _PROVIDER_PREFIX.sub("", model.strip().lower())
    versioned = _KIMI_VERSIONED.match(name)
    if versioned is not None:
        major, minor = int(versioned.group(1)), int(versioned.group(2))
        if (major, minor) >= (2, 5):
            return _K25
    if _KIMI_K2_THINKING.match(name):
        return _K2_THINKING
    if _KIMI_K2.match(name):
        return _K2
    return _OTHER


def thinking_on(traits: ModelTraits, requested: bool | None) -> bool:
    """Whether a request to this model thinks: what was asked where the model can switch,
    else what the model always does (``unknown`` models count as thinking, the safe side
    for sending reasoning back)."""
    if traits.thinking == "switchable":
        return True if requested is None else requested
    return traits.thinking != "never"


def apply_traits(body: dict[str, Any], traits: ModelTraits, thinking: bool | None) -> dict[str, Any]:
    """Make a chat-completions ``body`` obey the model's rules, in place: the fixed
    temperature of the mode, ``thinking`` as an object (a boolean from ``extra_body`` becomes
    one) and never beside ``reasoning_effort``, and no ``tool_choice`` thinking mode forbids.
    ``thinking``: what the caller asked (``None``: the model's default, nothing sent)."""
    raw = body.get("thinking")
    if isinstance(raw, bool):
        thinking = raw if thinking is None else thinking
        body.pop("thinking")
    on = thinking_on(traits, thinking)
    if traits.thinking == "switchable" and thinking is not None:
        body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    if "thinking" in body:
        body.pop("reasoning_effort", None)
    fixed = traits.temperature(on)
    if fixed is not None:
        body["temperature"] = fixed
    if traits.fixed_top_p is not None:
        body.pop("top_p", None)  # the service fixes it; a different value is refused
    allowed = traits.thinking_tool_choices
    if on and allowed is not None and body.get("tool_choice") not in (None, *allowed):
        body.pop("tool_choice")
    return body


__all__ = ["ModelTraits", "ThinkingControl", "apply_traits", "model_traits", "thinking_on"]
