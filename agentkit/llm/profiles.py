"""Provider profiles: what differs between OpenAI-compatible endpoints.

One client speaks the chat-completions protocol; a profile says what differs: base URL,
API-key variable, the name of the reasoning field, the tool-call id style, sampling
limits, ``tool_choice`` support, the context window and prices.

Prices are US dollars per million tokens as published by each provider (Kimi K2 and K2.5
rows: November 2025 and January 2026 lists; K2.6, K2.7 Code and K3 rows: the sources named
beside them, 2026); they change, so pass ``prices=`` to override them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentkit.llm.models import model_traits

AuthStyle = Literal["api_key", "google_adc"]
"""``api_key``: a bearer key from ``api_key_env``. ``google_adc``: Google access tokens from
Application Default Credentials, refreshed before they expire (Vertex AI)."""

ToolCallIdStyle = Literal["provider", "kimi"]
"""``provider``: keep the ids the endpoint returns (Moonshot returns ``search:0``).
``kimi``: rewrite ids to ``functions.NAME:IDX``, which self-hosted K2 engines expect."""


class Prices(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True)

    input_miss: float = 0.0
    input_hit: float = 0.0
    output: float = 0.0

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        cached = min(cached_tokens, prompt_tokens)
        return (
            (prompt_tokens - cached) * self.input_miss + cached * self.input_hit + completion_tokens * self.output
        ) / 1_000_000


class ProviderProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    base_url: str | None
    api_key_env: str | None
    api_key_required: bool = True
    default_model: str = "kimi-k3"
    """The model a run uses when none is named (a current one where the host serves it)."""
    model_aliases: dict[str, str] = Field(default_factory=dict)
    reasoning_field: str | None = "reasoning_content"
    """Field name under which reasoning is sent back on assistant tool-call turns
    (``None``: the endpoint does not accept reasoning in history)."""
    tool_call_id_style: ToolCallIdStyle = "provider"
    temperature_range: tuple[float, float] = (0.0, 1.0)
    default_temperature: float | None = 1.0
    default_max_tokens: int = 32_768
    max_completion_tokens: bool = True
    """The endpoint reads ``max_completion_tokens``: it is sent instead of ``max_tokens`` to models
    whose API deprecates ``max_tokens`` (K2.6 and later). ``False``: hosts whose API documents
    ``max_tokens`` only (OpenRouter, Together...), which get ``max_tokens`` for every model."""
    output_caps: dict[str, int] = Field(default_factory=dict)
    """The largest output a host serves a model with (per model name after aliasing), where it is
    below the model's own."""
    prompt_cache_key: bool = False
    """The endpoint takes ``prompt_cache_key`` (the run id is sent as the key)."""
    response_format: bool = False
    """The endpoint takes ``response_format: {"type": "json_schema", ...}`` (structured output):
    a run with an output type sends it on the turns meant to give the final answer. ``False``
    (hosts whose docs say nothing of it): the answer is checked, and asked for again once, all
    the same, without the field."""
    supports_tool_choice_required: bool = False
    supports_tool_choice_none: bool = True
    supports_stream_usage: bool = True
    context_window: int = 262_144
    windows: dict[str, int] = Field(default_factory=dict)
    """Per model name (after aliasing), where it differs from ``context_window``."""
    probe_window: bool = False
    """Ask the server's ``GET /models`` for the window it serves (self-hosted servers, where
    the window is whatever the server was started with)."""
    auth: AuthStyle = "api_key"
    prices: dict[str, Prices] = Field(default_factory=dict)
    """Per model name (after aliasing); key ``"*"`` is the fallback."""

    def window_for(self, declared: int | None, model: str | None = None) -> int:
        """The context window a run plans with: the one declared (task file or ``Agent``),
        else this profile's for ``model`` (a name as sent, after aliasing). (A local server's own
        answer may still replace it at run start.)"""
        return declared or (self.windows.get(model) if model else None) or self.context_window

    def resolve_model(self, model: str | None) -> str:
        name = model or self.default_model
        return self.model_aliases.get(name, name)

    def prices_for(self, model: str) -> Prices:
        return self.prices.get(model) or self.prices.get("*") or Prices()


_K2_THINKING = Prices(input_miss=0.60, input_hit=0.15, output=2.50)
_K2_5 = Prices(input_miss=0.60, input_hit=0.10, output=3.00)
"""Kimi K2.5 list prices (Moonshot, January 2026, as OpenRouter and Workers AI relay them)."""
_K3 = Prices(input_miss=3.00, input_hit=0.30, output=15.00)
"""Kimi K3 on the Kimi platform (platform.kimi.ai/docs/pricing/chat-k3, 2026-07-16, as quoted by
pydantic/genai-prices #467 and litellm #35592). The page later showed cache writes at $3 (5 min)
or $6 (1 h) while earlier readers saw no write price; writes are billed here at the input rate,
as the fact sheet recommends (pass prices= when your bill differs)."""
_K2_6 = Prices(input_miss=0.95, input_hit=0.16, output=4.00)
"""Kimi K2.6 on the Kimi platform (docs/pricing/chat-k26, 2026-05-20, simonw/llm-prices #60)."""
_K2_7_CODE = Prices(input_miss=0.95, input_hit=0.19, output=4.00)
"""Kimi K2.7 Code (Kimi platform pricing page as quoted by juspay/neurolink, 2026-09-29)."""
_K3_WINDOW = 1_048_576

PROFILES: dict[str, ProviderProfile] = {
    p.name: p
    for p in [
        ProviderProfile(
            name="moonshot",
            base_url="https://api.moonshot.ai/v1",
            api_key_env="MOONSHOT_API_KEY",
            # kimi-k3: K2.x is being retired on the Kimi platform (new users lost access on
            # 2026-10-31; CloudBase retires K2.6/K2.7 Code on 2027-01-07 with K3 as the
            # replacement); see docs/models.md for the trade-off against kimi-k2.6.
            default_model="kimi-k3",
            prompt_cache_key=True,  # OAS-EN: in ChatRequestBase and ChatRequestCommon (every K model)
            response_format=True,  # OAS-EN: text | json_object | json_schema {name, schema, strict}
            windows={"kimi-k3": _K3_WINDOW, "kimi-k3.1-pro": _K3_WINDOW, "kimi-k3.1-pro-highspeed": _K3_WINDOW},
            prices={
                "kimi-k3": _K3,
                # Kimi K3.1 Pro: no official price page is stored; hosts (Novita, Vercel) list $2 / $10
                # and Novita $0.20 cached. Unverified for the Kimi platform.
                "kimi-k3.1-pro": Prices(input_miss=2.00, input_hit=0.20, output=10.00),
                "kimi-k2.7-code": _K2_7_CODE,
                # pricing/chat-k27-code.md, verified 2026-08-27 (pydantic/genai-prices #626)
                "kimi-k2.7-code-highspeed": Prices(input_miss=1.90, input_hit=0.38, output=8.00),
                "kimi-k2.6": _K2_6,
                "kimi-k2-thinking": _K2_THINKING,
                "kimi-k2-thinking-turbo": Prices(input_miss=1.15, input_hit=0.15, output=8.00),
                "kimi-k2-0905-preview": _K2_THINKING,
                "kimi-k2.5": _K2_5,
                "*": _K3,
            },
        ),
        ProviderProfile(
            name="openrouter",
            base_url="https://openrouter.ai/api/v1",
            api_key_env="OPENROUTER_API_KEY",
            model_aliases={
                "kimi-k3": "moonshotai/kimi-k3",
                "kimi-k3.1-pro": "moonshotai/kimi-k3.1-pro",
                "kimi-k2.7-code": "moonshotai/kimi-k2.7-code",
                "kimi-k2.6": "moonshotai/kimi-k2.6",
                "kimi-k2-thinking": "moonshotai/kimi-k2-thinking",
                "kimi-k2.5": "moonshotai/kimi-k2.5",
            },
            reasoning_field="reasoning",
            max_completion_tokens=False,  # openrouter.ai/docs/api-reference/overview: max_tokens
            response_format=True,  # openrouter.ai/docs/structured-outputs (for the models that support it)
            windows={"moonshotai/kimi-k3": _K3_WINDOW, "moonshotai/kimi-k3.1-pro": _K3_WINDOW},
            output_caps={"moonshotai/kimi-k2.7-code": 16_384},  # models.dev, 2026-07-02
            prices={
                # OpenRouter shows its cheapest routed provider, so these drift: models.dev's
                # openrouter files (K3 at commit 0676e261, launch price was Moonshot's $3/$0.30/$15;
                # K2.6 latest read; K2.7 Code 2026-07-02).
                "moonshotai/kimi-k3": Prices(input_miss=1.89, input_hit=0.216, output=9.48),
                "moonshotai/kimi-k2.7-code": Prices(input_miss=0.74, input_hit=0.15, output=3.50),
                "moonshotai/kimi-k2.6": Prices(input_miss=0.67, input_hit=0.14, output=3.39),
                "moonshotai/kimi-k2-thinking": _K2_THINKING,
                "moonshotai/kimi-k2.5": _K2_5,
            },
        ),
        ProviderProfile(
            name="together",
            base_url="https://api.together.xyz/v1",
            api_key_env="TOGETHER_API_KEY",
            model_aliases={
                "kimi-k3": "moonshotai/Kimi-K3",
                "kimi-k2.7-code": "moonshotai/Kimi-K2.7-Code",
                "kimi-k2.6": "moonshotai/Kimi-K2.6",
                "kimi-k2-thinking": "moonshotai/Kimi-K2-Thinking",
                "kimi-k2.5": "moonshotai/Kimi-K2.5",
            },
            reasoning_field="reasoning",
            max_completion_tokens=False,
            windows={"moonshotai/Kimi-K3": 1_000_000},  # models.dev PR #3785 (together.ai model page)
            output_caps={"moonshotai/Kimi-K2.6": 131_000},  # models.dev, 2026-07-02
            prices={
                "moonshotai/Kimi-K3": _K3,  # models.dev togetherai Kimi-K3.toml (2026-07-27)
                "moonshotai/Kimi-K2.7-Code": _K2_7_CODE,
                "moonshotai/Kimi-K2.6": Prices(input_miss=1.20, input_hit=0.20, output=4.50),
                "moonshotai/Kimi-K2-Thinking": Prices(input_miss=1.20, input_hit=1.20, output=4.00),
            },
        ),
        ProviderProfile(
            name="chutes",
            base_url="https://llm.chutes.ai/v1",
            api_key_env="CHUTES_API_KEY",
            default_model="kimi-k2.6",  # no K3 on Chutes in any source (fact sheet §6.2)
            model_aliases={
                "kimi-k2.6": "moonshotai/Kimi-K2.6-TEE",
                "kimi-k2-thinking": "moonshotai/Kimi-K2-Thinking",
                "kimi-k2.5": "moonshotai/Kimi-K2.5",
            },
            reasoning_field="reasoning_content",
            output_caps={"moonshotai/Kimi-K2.6-TEE": 65_535},  # models.dev chutes, 2026-07-02
            prices={
                "moonshotai/Kimi-K2.6-TEE": Prices(input_miss=0.66, input_hit=0.33, output=3.50),
                "moonshotai/Kimi-K2-Thinking": Prices(input_miss=0.45, input_hit=0.45, output=1.75),
            },
        ),
        ProviderProfile(
            name="cometapi",
            base_url="https://api.cometapi.com/v1",
            api_key_env="COMETAPI_KEY",
            default_model="kimi-k2-thinking",  # the only Kimi page of CometAPI's found (no K2.6/K3)
            max_completion_tokens=False,
            prices={"kimi-k2-thinking": Prices(input_miss=0.48, input_hit=0.12, output=2.00)},
        ),
        ProviderProfile(
            name="openai",
            base_url="https://api.openai.com/v1",
            api_key_env="OPENAI_API_KEY",
            default_model="gpt-5",
            reasoning_field=None,
            temperature_range=(0.0, 2.0),
            default_temperature=None,
            supports_tool_choice_required=True,
            response_format=True,
            context_window=400_000,
            prices={
                "gpt-5": Prices(input_miss=1.25, input_hit=0.125, output=10.00),
                "gpt-5-mini": Prices(input_miss=0.25, input_hit=0.025, output=2.00),
                "gpt-4.1": Prices(input_miss=2.00, input_hit=0.50, output=8.00),
            },
        ),
        # Self-hosted servers serve what they were started with; the default names K2 Thinking's
        # open weights (the served name by alias), as before.
        ProviderProfile(
            name="vllm",
            base_url="http://localhost:8000/v1",
            api_key_env="VLLM_API_KEY",
            api_key_required=False,
            default_model="kimi-k2-thinking",
            model_aliases={"kimi-k2-thinking": "moonshotai/Kimi-K2-Thinking"},
            reasoning_field="reasoning",
            tool_call_id_style="kimi",
            supports_tool_choice_required=True,
            response_format=True,  # vLLM's structured outputs (guided decoding) read it
            probe_window=True,
        ),
        ProviderProfile(
            name="sglang",
            base_url="http://localhost:30000/v1",
            api_key_env="SGLANG_API_KEY",
            api_key_required=False,
            default_model="kimi-k2-thinking",
            model_aliases={"kimi-k2-thinking": "moonshotai/Kimi-K2-Thinking"},
            reasoning_field="reasoning_content",
            tool_call_id_style="kimi",
            response_format=True,  # SGLang's structured outputs read it
            probe_window=True,
        ),
        ProviderProfile(
            name="ollama",
            base_url="http://localhost:11434/v1",
            api_key_env=None,
            api_key_required=False,
            default_model="kimi-k2-thinking",
            model_aliases={"kimi-k2-thinking": "kimi-k2-thinking:cloud"},
            reasoning_field="reasoning",
            supports_stream_usage=True,
            max_completion_tokens=False,
            # Self-hosted Ollama (0.5+) constrains to it; Ollama Cloud accepts it without enforcing
            # it (pydantic-ai's Ollama notes): the answer is checked either way.
            response_format=True,
            probe_window=True,
        ),
        ProviderProfile(
            name="custom",
            base_url=None,
            api_key_env=None,
            api_key_required=False,
            probe_window=True,
        ),
        # Vertex AI's OpenAI-compatible endpoint; the base URL comes from GOOGLE_CLOUD_PROJECT and
        # GOOGLE_CLOUD_LOCATION (see agentkit.llm._vertex). Verified from Google's docs: the model
        # name kimi-k2-thinking-maas of publisher moonshotai, region global, 262,144-token window.
        # Not verified (no recorded Vertex traffic): that Vertex streams K2's reasoning as
        # ``reasoning_content`` and expects it back under that name (the client reads both names),
        # and the prices, which are Moonshot's list prices as third-party model registries give
        # them for Vertex; pass prices= when your contract differs.
        ProviderProfile(
            name="vertex",
            base_url=None,
            api_key_env=None,
            api_key_required=False,
            auth="google_adc",
            default_model="kimi-k2-thinking",  # the only Kimi model on Vertex's Kimi page
            model_aliases={"kimi-k2-thinking": "moonshotai/kimi-k2-thinking-maas"},
            reasoning_field="reasoning_content",
            max_completion_tokens=False,
            prices={"moonshotai/kimi-k2-thinking-maas": _K2_THINKING},
        ),
    ]
}


def get_profile(name: str) -> ProviderProfile:
    """Return the named profile; raises ``KeyError`` listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise KeyError(f"unknown provider {name!r}; known providers: {known}") from None


def keeps_reasoning_by_default(model: str | None, provider: str) -> bool | None:
    """Preserved Thinking for agent runs where the model makes it optional (K2.6's
    ``thinking.keep: "all"``); ``None`` elsewhere (always on, or not offered).

    Measured (tools/bench/context.py, 1,000 steps, an ask-again notice every 100): with it
    K2.6 bills 114 M prompt tokens ($22.88), without 103 M ($21.08), cache hits 97% against
    96%. Chosen anyway: without it the model loses all its earlier reasoning at every user
    message agentkit inserts (wrap-up, ask-again, the final-answer request), the moments it
    sums up; Moonshot's docs ask for every turn's reasoning back "as-is" and made Preserved
    Thinking always on for K2.7 Code and K3; the cost target bounds what it adds."""
    profile = PROFILES.get(provider)  # an unknown one is refused by the client, with its message
    if profile is None:
        return None
    name = profile.resolve_model(model)
    return True if model_traits(name).preserved_thinking == "optional" else None
