"""The typed sections of a run's configuration, shared by task files and the Python API.

One definition of each section (limits, context, sandbox, fetch, heavy, output, prices), of
the names they accept (tools, aggregators, isolation modes...) and of their validation, so a
value is checked once, the same way, wherever it comes from. Messages are written for the
person who wrote the value; ``agentkit.task`` adds the file and field path.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from agentkit._redact import redact_url
from agentkit._task_read import HugeNumber

TOOL_NAMES: tuple[str, ...] = ("web_search", "fetch", "python", "note", "delegate")
DEFAULT_TOOLS: tuple[str, ...] = ("web_search", "fetch", "python")
SEARCH_BACKENDS: tuple[str, ...] = ("duckduckgo", "searxng", "local")
AGGREGATORS: tuple[str, ...] = ("reflective", "vote", "select")
OUTPUT_FORMATS: tuple[str, ...] = ("md", "html")
TOOL_CHOICES: tuple[str, ...] = ("auto", "none")
ISOLATIONS: tuple[str, ...] = ("bwrap", "none")

MAX_TRAJECTORIES = 64


def fail(message: str, at: str = "") -> PydanticCustomError:
    """A validation error with our own wording; ``at`` extends the field path (``[1]``, ``url``)."""
    return PydanticCustomError("agentkit", "{message}", {"message": message, "at": at})


def num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def show(value: object, limit: int = 60) -> str:
    """A short, safe rendering of a user's value for a message."""
    if value is None:
        return "null"
    if isinstance(value, HugeNumber):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return num(value)
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return repr(text)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise fail(f"must be an http(s) URL such as http://localhost:8000/v1 (got {show(redact_url(value))})")
    return value


def one_of(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, str) and value in valid:
            return value
        choices = ", ".join(valid)
        if not isinstance(value, str):
            raise fail(f"must be one of {choices} (got {show(value)})")
        close = difflib.get_close_matches(value, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(f"unknown {noun} {show(value)}; {hint}valid {noun}s: {choices}")

    return check


def one_of_or_null(valid: tuple[str, ...], noun: str) -> Callable[[object], object]:
    check = one_of(valid, noun)
    return lambda value: None if value is None else check(value)


SPEC_CONFIG = ConfigDict(extra="forbid", strict=True, validate_assignment=True, allow_inf_nan=False)

Aggregate = Literal["reflective", "vote", "select"]
OutputFormat = Literal["md", "html"]
Backend = Literal["duckduckgo", "searxng", "local"]


class PricesSpec(BaseModel):
    """USD per million tokens, for a model the profiles do not price (self-hosted, new)."""

    model_config = SPEC_CONFIG

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    """Prompt tokens served from the provider's prefix cache; default: ``input``."""
    output: float = Field(ge=0)

    @model_validator(mode="after")
    def _cached_defaults_to_input(self) -> PricesSpec:
        if self.cached_input is None:
            self.cached_input = self.input
        return self


class FetchSpec(BaseModel):
    model_config = SPEC_CONFIG

    allow_private_hosts: bool = False


class SandboxSpec(BaseModel):
    model_config = SPEC_CONFIG

    network: bool = False
    memory_mb: int = Field(default=2048, ge=128)
    timeout_s: float = Field(default=120.0, gt=0)
    isolation: Annotated[Literal["bwrap", "none"], BeforeValidator(one_of(ISOLATIONS, "isolation"))] = "bwrap"
    """``none`` runs Python without a sandbox (the task opts out of isolation)."""


class LimitsSpec(BaseModel):
    model_config = SPEC_CONFIG

    max_steps: int = Field(default=300, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0)


class ContextSpec(BaseModel):
    model_config = SPEC_CONFIG

    window: int | None = Field(default=None, gt=0)
    keep_tool_results: int | None = Field(default=None, ge=1)


class HeavySpec(BaseModel):
    model_config = SPEC_CONFIG

    trajectories: int = Field(default=1, ge=1, le=MAX_TRAJECTORIES)
    aggregate: Annotated[Aggregate, BeforeValidator(one_of(AGGREGATORS, "aggregator"))] = "reflective"


class OutputSpec(BaseModel):
    model_config = SPEC_CONFIG

    dir: Annotated[Path | None, Field(strict=False)] = None
    report: bool = True
    format: Annotated[OutputFormat, BeforeValidator(one_of(OUTPUT_FORMATS, "output format"))] = "md"


SectionT = TypeVar("SectionT", bound=BaseModel)


def settings_section(settings: Mapping[str, Any] | None, name: str, model: type[SectionT]) -> SectionT:
    """Section ``name`` of a run's settings (plain data, as tools receive them), validated with
    its one definition here: defaults come from the model, a bad value raises ``ValueError``."""
    raw = (settings or {}).get(name)
    return model.model_validate(raw if raw is not None else {})
