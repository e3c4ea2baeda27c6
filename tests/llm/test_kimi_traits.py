"""Kimi K2.6, K2.7 Code and K3 by family, in every host's spelling, and the options each takes."""

from __future__ import annotations

import pytest

from agentkit.llm.client import ConfigurationError, OpenAICompatibleModel
from agentkit.llm.models import model_traits, option_problem
from agentkit.llm.profiles import PROFILES


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("kimi-k3", "kimi-k3"),
        ("moonshotai/kimi-k3", "kimi-k3"),  # OpenRouter, Novita
        ("moonshotai/Kimi-K3", "kimi-k3"),  # Together
        ("accounts/fireworks/models/kimi-k3", "kimi-k3"),
        ("kimi-k3.1-pro", "kimi-k3"),
        ("kimi-k3-1-pro-highspeed", "kimi-k3"),  # Venice
        ("kimi-k2.7-code", "kimi-k2.7-code"),
        ("kimi-k2.7-code-highspeed", "kimi-k2.7-code"),
        ("moonshotai/Kimi-K2.7-Code", "kimi-k2.7-code"),
        ("accounts/fireworks/models/kimi-k2p7-code", "kimi-k2.7-code"),
        ("@cf/moonshotai/kimi-k2.7-code", "kimi-k2.7-code"),  # Cloudflare
        ("kimi-k2.6", "kimi-k2.6"),
        ("moonshotai/Kimi-K2.6-TEE", "kimi-k2.6"),  # Chutes
        ("accounts/fireworks/models/kimi-k2p6", "kimi-k2.6"),
        ("kimi-k2-6", "kimi-k2.6"),  # Venice
        ("kimi-k2.5", "kimi-k2.5"),
        ("kimi-k2-thinking", "kimi-k2-thinking"),
        ("moonshotai/kimi-k2-thinking-maas", "kimi-k2-thinking"),
        ("kimi-k2-0905-preview", "kimi-k2"),  # not "K2.9"
        ("gpt-5", "other"),
    ],
)
def test_families_across_host_spellings(name: str, family: str) -> None:
    assert model_traits(name).family == family


def test_what_each_family_takes() -> None:
    k3, code, k26, k25 = (model_traits(n) for n in ("kimi-k3", "kimi-k2.7-code", "kimi-k2.6", "kimi-k2.5"))
    assert (k3.always_thinks, k3.thinking_field, k3.reasoning_efforts, k3.default_effort) == (
        True,
        False,
        ("low", "high", "max"),
        "max",
    )
    assert (code.always_thinks, code.thinking_field, code.reasoning_efforts) == (True, False, ())
    assert (k26.thinking, k26.thinking_field, k26.reasoning_efforts) == ("switchable", True, ())
    assert [t.preserves_reasoning() for t in (k3, code, k26, k25)] == ["all", "all", "current_turn", "current_turn"]
    assert k26.preserves_reasoning(keep=True) == "all" and k25.preserves_reasoning(keep=True) == "current_turn"
    assert [t.output_field for t in (k3, code, k26, k25)] == ["max_completion_tokens"] * 3 + ["max_tokens"]
    assert [t.fixed_sampling for t in (k3, code, k26, k25)] == [True, True, True, False]
    assert [(t.vision, t.video) for t in (k3, code, k26)] == [(True, False), (True, False), (True, True)]
    assert (k3.window, k3.max_output, k26.window, k26.max_output) == (1_048_576, 1_048_576, 262_144, 262_144)
    assert k3.thinking_tool_choices is None and k26.thinking_tool_choices == ("auto", "none")
    assert {t.max_tools for t in (k3, code, k26, k25)} == {128}
    assert model_traits("gpt-5").max_tools is None and model_traits("gpt-5").tool_rules == "openai"


@pytest.mark.parametrize(
    ("model", "options", "option"),
    [
        ("kimi-k3", {"thinking": False}, "thinking"),
        ("kimi-k2.7-code", {"thinking": False}, "thinking"),
        ("kimi-k3", {"reasoning_effort": "medium"}, "reasoning_effort"),
        ("kimi-k2.6", {"reasoning_effort": "high"}, "reasoning_effort"),
        ("kimi-k2.5", {"preserve_thinking": True}, "preserve_thinking"),
        ("kimi-k3", {"preserve_thinking": False}, "preserve_thinking"),
    ],
)
def test_an_option_the_model_cannot_honour_fails_when_the_client_is_built(
    model: str, options: dict[str, object], option: str
) -> None:
    problem = option_problem(model_traits(model), model, **options)  # type: ignore[arg-type]
    assert problem is not None and problem[0] == option
    with pytest.raises(ConfigurationError, match=f"^{option}: "):
        OpenAICompatibleModel(model, "moonshot", api_key="k", **options)  # type: ignore[arg-type]


def test_options_a_model_takes_are_accepted() -> None:
    for model, options in [
        ("kimi-k3", {"reasoning_effort": "low", "preserve_thinking": True}),
        ("kimi-k2.6", {"thinking": False, "preserve_thinking": True}),
        ("kimi-k2-thinking", {"thinking": False}),  # K2 Thinking ignores the switch, as before
        ("gpt-5", {"reasoning_effort": "high"}),  # another model's own efforts go as asked
    ]:
        assert option_problem(model_traits(model), model, **options) is None  # type: ignore[arg-type]


def test_the_default_moonshot_model_is_current_and_hosts_map_it() -> None:
    moonshot = PROFILES["moonshot"]
    assert moonshot.resolve_model(None) == "kimi-k3"
    assert moonshot.window_for(None, "kimi-k3") == 1_048_576 and moonshot.window_for(None, "kimi-k2.6") == 262_144
    assert moonshot.prices_for("kimi-k3").output == 15.00 and moonshot.prices_for("kimi-k2.6").input_hit == 0.16
    assert PROFILES["openrouter"].resolve_model(None) == "moonshotai/kimi-k3"
    assert PROFILES["together"].resolve_model("kimi-k2.6") == "moonshotai/Kimi-K2.6"
    assert PROFILES["chutes"].resolve_model(None) == "moonshotai/Kimi-K2.6-TEE"  # no K3 on Chutes
    assert PROFILES["together"].window_for(None, "moonshotai/Kimi-K3") == 1_000_000
    assert PROFILES["moonshot"].prompt_cache_key and not PROFILES["openrouter"].prompt_cache_key
