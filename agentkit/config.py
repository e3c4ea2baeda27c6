"""The typed sections of a run's configuration, shared by task files and the Python API.

One definition of each section (limits, context, sandbox, fetch, heavy, output, prices), of
the names they accept (tools, aggregators, isolation modes...) and of their validation, so a
value is checked once, the same way, wherever it comes from. Messages are written for the
person who wrote the value; ``agentkit.task`` adds the file and field path.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
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


OptionalUrl = Annotated[str | None, BeforeValidator(check_http_url)]


def _check_backends(value: object) -> object:
    check = one_of(SEARCH_BACKENDS, "search backend")
    if isinstance(value, list):
        if not value:
            raise fail("must name at least one search backend")
        for i, item in enumerate(value):
            try:
                check(item)
            except PydanticCustomError as exc:
                raise fail(str(exc), at=f"[{i}]") from None
            if item in value[:i]:
                raise fail(f"{item!r} is listed twice", at=f"[{i}]")
        return value
    return check(value)


class SearchSpec(BaseModel):
    """Web search backend(s); a list is tried in order (fail-over)."""

    model_config = SPEC_CONFIG

    backend: Annotated[Backend | list[Backend], BeforeValidator(_check_backends)] = "duckduckgo"
    url: OptionalUrl = None
    index: Annotated[Path | None, Field(strict=False)] = None

    @property
    def backends(self) -> list[str]:
        """The backends in fail-over order."""
        return [self.backend] if isinstance(self.backend, str) else list(self.backend)

    @field_validator("index")
    @classmethod
    def _index_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        path = value.expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        if not path.exists():
            raise fail(f"offline index not found: {path}")
        return path.absolute()

    @model_validator(mode="after")
    def _backends_have_their_settings(self) -> SearchSpec:
        if "searxng" in self.backends and self.url is None:
            raise fail("required when the searxng backend is used (e.g. http://localhost:8888)", at="url")
        if "local" in self.backends and self.index is None:
            raise fail(
                "required when the local backend is used: a folder of documents or an index file "
                "built with `agentkit index FOLDER`",
                at="index",
            )
        return self


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


class ToolSettings(Mapping[str, Any]):
    """The task's tool sections as tools read them: ``search``, ``fetch`` and ``sandbox`` typed
    (:class:`SearchSpec`, :class:`FetchSpec`, :class:`SandboxSpec`), any other key kept as given
    for a user's own tools (``settings["my_tool"]``).

    Each typed section is validated once, on first use, and kept; a bad one raises
    ``ValueError`` naming the field (``search.url: required when ...``). An :class:`~agentkit.Agent`
    calls :meth:`validated` when it is built, so a bad setting fails before any run starts; a
    :class:`~agentkit.tools.ToolContext` made by hand from a mapping reports it when a tool
    reads the section.
    """

    SECTIONS: ClassVar[dict[str, type[BaseModel]]] = {
        "search": SearchSpec,
        "fetch": FetchSpec,
        "sandbox": SandboxSpec,
    }

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {}
        self._typed: dict[str, BaseModel] = {}
        for key, value in (data or {}).items():
            if isinstance(value, BaseModel) and type(value) is self.SECTIONS.get(key):
                self._typed[key] = value
                self._data[key] = value.model_dump(mode="json", exclude_defaults=True)
            else:
                self._data[key] = value

    @classmethod
    def of(cls, settings: ToolSettings | Mapping[str, Any] | None) -> ToolSettings:
        return settings if isinstance(settings, ToolSettings) else cls(settings)

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """Section ``name`` validated with ``model`` (its defaults when absent)."""
        cached = self._typed.get(name)
        if isinstance(cached, model):
            return cached
        raw = self._data.get(name)
        try:
            typed = model.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            raise ValueError(_first_problem(name, exc)) from None
        self._typed[name] = typed
        return typed

    @property
    def search(self) -> SearchSpec:
        return self.section("search", SearchSpec)

    @property
    def fetch(self) -> FetchSpec:
        return self.section("fetch", FetchSpec)

    @property
    def sandbox(self) -> SandboxSpec:
        return self.section("sandbox", SandboxSpec)

    def validated(self) -> ToolSettings:
        """Self, after checking every typed section (raises ``ValueError`` on the first bad one)."""
        for name, model in self.SECTIONS.items():
            self.section(name, model)
        return self

    def as_data(self) -> dict[str, Any]:
        """Plain JSON-ready data (as stored in a run's config)."""
        return dict(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ToolSettings({self._data!r})"


def _first_problem(section: str, exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    path = ".".join([section, *(str(p) for p in err["loc"])])
    ctx = err.get("ctx") or {}
    if err["type"] == "agentkit":
        at = str(ctx.get("at") or "")
        path = f"{path}{at}" if at.startswith("[") else f"{path}.{at}" if at else path
        return f"{path}: {ctx['message']}"
    return f"{path}: {err['msg']}"


def settings_section(settings: Mapping[str, Any] | None, name: str, model: type[SectionT]) -> SectionT:
    """Section ``name`` of a run's settings, validated with its one definition here: defaults
    come from the model, a bad value raises ``ValueError``."""
    return ToolSettings.of(settings).section(name, model)
