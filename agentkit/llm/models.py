"""What a model can do, recognised by its family rather than its exact name.

Providers spell one model many ways (``kimi-k3``, ``moonshotai/Kimi-K3``,
``accounts/fireworks/models/kimi-k2p6``, ``kimi-k2-6``, ``kimi-k2.6-preview``...), and
successors keep the family's rules. :func:`model_traits` reads the name once and answers what
the request builder (:mod:`agentkit.llm._request`) and the context budget need: whether the
model sees images or video, whether thinking can be switched and how it is asked for, which
reasoning efforts it takes, whether earlier turns' reasoning stays in its context, which
sampling values the service fixes, which ``tool_choice`` values it allows while thinking,
the name of the output-length field, its window and output cap, and the tool rules of its API.

Sources, in short (the full, dated citations are in the project's Kimi fact sheet, whose
recommendations are followed where sources disagree; the tag before each rule names the source):

- OAS-EN: Kimi platform's English OpenAPI (platform.kimi.ai/docs/openapi.json, revisions to
  2026-08-17); KIMI-THINK: "Using Thinking Models" (platform.kimi.ai/docs/guide/
  use-kimi-k2-thinking-model); KIMI-PARAMS: "Model Parameter Reference" (docs/api/
  models-overview); TOOL-USE: docs/api/tool-use; TROUBLESHOOT: docs/guide/troubleshooting (as
  quoted by juspay/neurolink's catalog, retrieved 2026-09-29: no stored copy of an official K3
  page exists, so K3 rows lean on it and on hosts' pages).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ThinkingControl = Literal["always", "switchable", "never", "unknown"]
PreservedThinking = Literal["always", "optional", "never"]
"""Whether earlier turns' reasoning stays in the model's context: ``always`` (K3, K2.7 Code),
``optional`` (K2.6, with ``thinking.keep: "all"``), ``never`` (the service drops it)."""
ToolRules = Literal["moonshot", "openai"]
"""``moonshot``: the Kimi API's tool rules (at most 128 tools; names ``^[a-zA-Z_]...``; schemas
in Moonshot Flavored JSON Schema unless ``strict: false``). ``openai``: OpenAI's name pattern
``^[a-zA-Z0-9_-]{1,64}$``, schemas as they are."""

FIXED_SAMPLING = ("temperature", "top_p", "n", "presence_penalty", "frequency_penalty")
"""Fields KIMI-PARAMS lists as "Cannot be modified" for kimi-k3, kimi-k2.7-code and kimi-k2.6,
where "Fixed" means "passing any other value returns an error, so do not pass it explicitly"."""


class ModelTraits(BaseModel):
    """Capabilities and request rules of one model family."""

    model_config = ConfigDict(frozen=True)

    family: str
    """``kimi-k3`` (K3 and its successors, K3.1 Pro...), ``kimi-k2.7-code``, ``kimi-k2.6``,
    ``kimi-k2.5``, ``kimi-k2-thinking``, ``kimi-k2``, or ``other``."""
    vision: bool = False
    """Accepts ``image_url`` content parts in user messages."""
    video: bool = False
    """Accepts ``video_url`` content parts in user messages."""
    thinking: ThinkingControl = "unknown"
    thinking_field: bool = False
    """The request may carry the ``thinking`` object (``{"type": "enabled" | "disabled"}``)."""
    preserved_thinking: PreservedThinking = "never"
    reasoning_efforts: tuple[str, ...] = ()
    """Values of ``reasoning_effort`` the model takes (empty: no effort control)."""
    default_effort: str | None = None
    """The effort the service uses when the request names none."""
    thinking_temperature: float | None = None
    """The only temperature the service accepts in thinking mode, sent as such (``None``: free)."""
    instant_temperature: float | None = None
    """The only temperature the service accepts with thinking off (``None``: free)."""
    fixed_top_p: float | None = None
    fixed_sampling: bool = False
    """The service fixes every field of :data:`FIXED_SAMPLING`: none of them is sent."""
    thinking_tool_choices: tuple[str, ...] | None = None
    """``tool_choice`` values the service allows while thinking (``None``: no known rule; an
    option the user set in ``extra_body`` is then sent as given)."""
    output_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """The request field that caps the output (where the host reads it, see
    :attr:`~agentkit.llm.profiles.ProviderProfile.max_completion_tokens`)."""
    window: int | None = None
    """Context window on the Kimi platform (hosts may serve less: their profile says)."""
    max_output: int | None = None
    """The largest output cap the service takes (prompt + output must still fit the window)."""
    max_tools: int | None = None
    tool_rules: ToolRules = "openai"

    @property
    def always_thinks(self) -> bool:
        return self.thinking == "always"

    def preserves_reasoning(self, keep: bool | None = None) -> Literal["all", "current_turn"]:
        """``all``: every earlier assistant turn's reasoning is context the model reads (send it
        back, as it was, on every assistant message); ``current_turn``: only the reasoning of the
        turn in progress counts (the service ignores older reasoning). ``keep``: what the
        request asks for where that is optional (K2.6's ``thinking.keep``)."""
        if self.preserved_thinking == "always" or (self.preserved_thinking == "optional" and keep):
            return "all"
        return "current_turn"

    def temperature(self, thinking: bool) -> float | None:
        """The fixed temperature for this mode, or ``None`` when the caller may choose."""
        return self.thinking_temperature if thinking else self.instant_temperature


_PROVIDER_PREFIX = re.compile(r"^(?:[^/]*/)+")
# kimi-k3, kimi-k3.1-pro, kimi-k3-1-pro (Venice), kimi-k2.6, kimi-k2p6 (Fireworks), kimi-k2-6
# (Venice); never kimi-k2-0905-preview or kimi-k2-thinking (a dash is a version dot only before
# one lone digit).
_KIMI_VERSIONED = re.compile(r"^kimi-k(\d+)(?:[.p](\d+)|-(\d)(?![\d]))?(?![\d])")
_KIMI_K2_THINKING = re.compile(r"^kimi-k2-thinking")
_KIMI_K2 = re.compile(r"^kimi-k2(?:-|$)")

_KIMI_TOOLS: dict[str, Any] = {
    # TOOL-USE: "The number of functions in tools currently cannot exceed 128." OAS-EN had
    # maxItems: 128 until 2026-07-16 and dropped it on 2026-07-20; the guide still says it,
    # and hosts may run the older validator, so the client keeps the limit (fact sheet §10.1).
    "max_tools": 128,
    "tool_rules": "moonshot",
}
_K2_WINDOW = 262_144  # KIMI-OVERVIEW / OAS: 256k for K2.x; TROUBLESHOOT: output max 256*1024 - prompt

_K3 = ModelTraits(
    family="kimi-k3",
    vision=True,
    # Video: conflicting (models.dev, OXEN: yes; Baidu AIHC card, weave-os/router PR #838,
    # Together: text + image). TENCENT's Kimi guide: "Video Input: Only supported by K2.6".
    # The conservative reading: no video.
    video=False,
    # OAS-EN KimiK3ChatRequest: "Kimi K3 always enables thinking with Preserved Thinking"; the
    # schema has no `thinking` field ("remove the K2.x thinking configuration", use-reasoning-
    # effort page). Kimi Code answers 400 to one; api.moonshot.ai reportedly ignores it: never send.
    thinking="always",
    preserved_thinking="always",
    # OAS-EN 19a3755 (2026-07-20) and later: enum low | high | max, default max (715fc68 at
    # launch took "max" only).
    reasoning_efforts=("low", "high", "max"),
    default_effort="max",
    fixed_sampling=True,
    thinking_tool_choices=None,  # K3 takes auto, none, required and a named function
    output_field="max_completion_tokens",  # OAS-EN: max_tokens is "deprecated: true"
    window=1_048_576,
    max_output=1_048_576,  # OAS-EN 715fc68: "defaults to 131072 and can be set up to 1048576"
    **_KIMI_TOOLS,
)
_K27_CODE = ModelTraits(
    family="kimi-k2.7-code",
    vision=True,
    # KIMI-THINK (K2.7-era crawl): thinking "always on, and Preserved Thinking is always on";
    # "you do not need to (and should not) pass the thinking parameter"; "disabled" errors.
    thinking="always",
    preserved_thinking="always",
    fixed_sampling=True,
    thinking_tool_choices=("auto", "none"),
    output_field="max_completion_tokens",
    window=_K2_WINDOW,
    max_output=_K2_WINDOW,
    **_KIMI_TOOLS,
)
_K26 = ModelTraits(
    family="kimi-k2.6",
    vision=True,
    video=True,  # TENCENT: "Video Input: Only supported by K2.6"; ANYFAST: video_url data URL or ms://
    thinking="switchable",  # OAS-EN KimiK26ChatRequest: {"type": "enabled" | "disabled", "keep": "all" | null}
    thinking_field=True,
    preserved_thinking="optional",
    fixed_sampling=True,  # KIMI-PARAMS: temperature, top_p, n, penalties "Cannot be modified"
    thinking_tool_choices=("auto", "none"),
    # OAS-EN: max_tokens "Deprecated, please refer to max_completion_tokens"; ANYFAST (a host's
    # reference): "max_tokens is deprecated and not honored".
    output_field="max_completion_tokens",
    window=_K2_WINDOW,
    max_output=_K2_WINDOW,
    **_KIMI_TOOLS,
)
_K25 = ModelTraits(
    family="kimi-k2.5",
    vision=True,
    thinking="switchable",  # {"type": "enabled" | "disabled"}; no keep ("does not support Preserved Thinking")
    thinking_field=True,
    # Sent as before (agentkit's K2.5 traffic is recorded this way): the one temperature each
    # mode accepts; top_p never (a value other than 0.95 is refused).
    thinking_temperature=1.0,
    instant_temperature=0.6,
    fixed_top_p=0.95,
    thinking_tool_choices=("auto", "none"),
    window=_K2_WINDOW,
    **_KIMI_TOOLS,
)
_K2_THINKING = ModelTraits(family="kimi-k2-thinking", thinking="always", window=_K2_WINDOW, **_KIMI_TOOLS)
_K2 = ModelTraits(family="kimi-k2", thinking="never", window=_K2_WINDOW, **_KIMI_TOOLS)
_OTHER = ModelTraits(family="other")


def kimi_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a versioned Kimi name in any host's spelling, else ``None``."""
    name = _PROVIDER_PREFIX.sub("", model.strip().lower())
    match = _KIMI_VERSIONED.match(name)
    if match is None:
        return None
    minor = match.group(2) or match.group(3)
    if minor is None and match.group(1) == "2":
        return None  # kimi-k2 itself, kimi-k2-thinking, kimi-k2-0905-preview: the K2 generation
    return int(match.group(1)), int(minor or 0)


def model_traits(model: str) -> ModelTraits:
    """The traits of ``model`` as any provider names it (case, ``org/`` prefixes and
    suffixes such as ``-maas``, ``-preview``, ``-highspeed`` or ``:cloud`` do not matter)."""
    version = kimi_version(model)
    if version is not None:
        if version >= (3, 0):
            # K3.1 Pro (-highspeed): "the same contract as kimi-k3" per SYNAPS 0.11.0 and
            # AIHUBMIX-K31; no official page is stored, so this is unverified for K3.1.
            return _K3
        if version >= (2, 7):
            return _K27_CODE  # -highspeed: "identical parameters" (OAS-EN b90c53d)
        if version >= (2, 6):
            return _K26
        if version >= (2, 5):
            return _K25
    name = _PROVIDER_PREFIX.sub("", model.strip().lower())
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


def option_problem(
    traits: ModelTraits,
    model: str,
    *,
    thinking: bool | None = None,
    reasoning_effort: str | None = None,
    preserve_thinking: bool | None = None,
) -> tuple[str, str] | None:
    """``(option, why)`` when the model cannot honour the options asked for, else ``None``.
    The task file and :class:`~agentkit.llm.client.OpenAICompatibleModel` both ask this, so
    one wrong option gets the same message wherever it is set."""
    kimi = traits.family != "other"
    if thinking is False and traits.always_thinks and traits.family in ("kimi-k3", "kimi-k2.7-code"):
        return "thinking", f"{model} always thinks; it cannot be turned off (leave thinking unset)"
    if reasoning_effort is not None:
        if traits.reasoning_efforts and reasoning_effort not in traits.reasoning_efforts:
            allowed = " | ".join(traits.reasoning_efforts)
            return "reasoning_effort", f"{model} takes {allowed} (got {reasoning_effort!r})"
        if kimi and not traits.reasoning_efforts:
            return "reasoning_effort", (
                f"{model} has no reasoning effort control (K3-family models take low | high | max); "
                "leave reasoning_effort unset"
            )
    if preserve_thinking is not None and kimi:
        if preserve_thinking and traits.preserved_thinking == "never":
            return "preserve_thinking", f"{model} does not keep earlier turns' reasoning (K2.6 and later do)"
        if not preserve_thinking and traits.preserved_thinking == "always":
            return "preserve_thinking", f"{model} always keeps earlier turns' reasoning; it cannot be turned off"
    return None


__all__ = [
    "FIXED_SAMPLING",
    "ModelTraits",
    "PreservedThinking",
    "ThinkingControl",
    "ToolRules",
    "kimi_version",
    "model_traits",
    "option_problem",
    "thinking_on",
]
