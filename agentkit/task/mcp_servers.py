"""``mcp:`` in a task file: the MCP servers whose tools a run uses, one
:class:`MCPServerSpec` each, with secrets only by reference (``{from_env: NAME}``) and literal
tokens refused. A typed section like the others in :mod:`agentkit.task.sections`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agentkit._redact import redact_url, secret_argument, token_kind
from agentkit.task._read import kind_of
from agentkit.task.sections import MAX_TIMEOUT_S, SPEC_CONFIG, OptionalUrl, fail, first_problem, from_base_dir

# --- MCP servers ----------------------------------------------------------------------------

MCP_NAME_CHARS = "letters, digits, '_' or '-'"
MCP_MAX_RESULT_BYTES = 8 * 2**20
"""Default cap on one answer of an MCP server (room for a base64 image of about 6 MB)."""


class EnvRef(BaseModel):
    """A value read from an environment variable when the server starts: ``{from_env: NAME}``.
    Only the variable's NAME is ever stored or shown."""

    model_config = SPEC_CONFIG

    from_env: str


def _env_name_ok(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None


def _secret_looking(name: str) -> bool:
    from agentkit._redact import SECRET_NAME

    return SECRET_NAME.search(name) is not None or "cookie" in name.lower()


def _values(kind: str) -> Callable[[object], object]:
    """Check an ``env``/``headers`` mapping: each value a string or ``{from_env: NAME}``; a
    secret-looking key must take its value from the environment (never written in the file)."""

    def check(value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise fail(f"must be a mapping of {kind} names to values (got {kind_of(value)})")
        out: dict[str, str | EnvRef] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise fail(f"{kind} names must be non-empty strings (got {kind_of(key)})")
            if kind == "variable" and not _env_name_ok(key):
                raise fail("must be an environment variable name (letters, digits, _)", at=key)
            if isinstance(item, Mapping):
                out[key] = _env_ref(item, key)
            elif isinstance(item, str):
                if _secret_looking(key):  # never echo the value: it may be the secret itself
                    raise fail(
                        "looks like a secret: write {from_env: VARIABLE} and set the value in that "
                        "environment variable, never in the task file",
                        at=key,
                    )
                kind_of_token = token_kind(item)
                if kind_of_token:
                    raise fail(_literal_token(kind_of_token, f"{key}: {{from_env: VARIABLE}}"), at=key)
                out[key] = item
            else:
                raise fail(f"must be a string or {{from_env: NAME}} (got {kind_of(item)})", at=key)
        return out

    return check


def _literal_token(kind: str, example: str) -> str:
    return (
        f"looks like {kind} written in the task file: write {example} in its place and set the "
        "value in that environment variable (a task file is stored with the run and shown by agentkit show)"
    )


def _env_ref(item: Mapping[Any, Any], at: str) -> EnvRef:
    name = item.get("from_env")
    if set(item) != {"from_env"} or not isinstance(name, str):
        raise fail("must be a string or {from_env: NAME}", at=at)
    if not _env_name_ok(name):
        raise fail("from_env must be the NAME of an environment variable (letters, digits, _)", at=at)
    return EnvRef(from_env=name)


def _arguments(value: object) -> object:
    """Check ``args``: each a string or ``{from_env: NAME}``; a literal that looks like a token
    (a known shape, or an opaque value after ``--token``/``--api-key``...) is refused, never shown."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"must be a list of strings or {{from_env: NAME}} (got {kind_of(value)})")
    literal = [v if isinstance(v, str) else "" for v in value]
    out: list[str | EnvRef] = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            out.append(_env_ref(item, f"[{i}]"))
        elif isinstance(item, str):
            why = secret_argument(literal, i)
            if why:  # never echo the value: it is the secret
                flag, eq, _ = item.partition("=")
                example = "{from_env: VARIABLE}"
                if eq and flag.startswith("-"):
                    example = "two items, [--FLAG, {from_env: VARIABLE}],"
                raise fail(_literal_token(why, example), at=f"[{i}]")
            out.append(item)
        else:
            raise fail(f"must be a string or {{from_env: NAME}} (got {kind_of(item)})", at=f"[{i}]")
    return out


class MCPServerSpec(BaseModel):
    """An MCP server whose tools the agent uses (``mcp:`` in a task file, ``Agent(mcp=[...])``).

    Either a local command spoken to over stdio (``command``, ``args``, ``env``, ``cwd``) or a
    streamable-HTTP endpoint (``url``, ``headers``). Items of ``args`` and values of ``env`` and
    ``headers`` are plain strings or ``{from_env: NAME}``; a secret-looking name (token, key,
    authorization...), a value shaped like a known token (``ghp_…``, ``sk-…``, ``xoxb-…``,
    ``AKIA…``, ``AIza…``) and an opaque value after a secret flag (``--token``, ``--api-key``)
    must use ``from_env``, so a stored run config holds variable names, never secrets. Its
    tools are offered as ``<name>__<tool>``.
    """

    model_config = SPEC_CONFIG

    name: str
    command: str | None = Field(default=None, min_length=1)
    args: Annotated[list[str | EnvRef], BeforeValidator(_arguments)] = Field(default_factory=list)
    env: Annotated[dict[str, str | EnvRef], BeforeValidator(_values("variable"))] = Field(default_factory=dict)
    cwd: Annotated[Path | None, Field(strict=False)] = None
    url: OptionalUrl = None
    headers: Annotated[dict[str, str | EnvRef], BeforeValidator(_values("header"))] = Field(default_factory=dict)
    timeout_s: float = Field(default=120.0, gt=0, le=MAX_TIMEOUT_S)
    """Longest wait for one tool call; a server that does not answer in time is restarted."""
    startup_timeout_s: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S)
    """Longest wait for the server to start and list its tools."""
    max_result_bytes: int = Field(default=MCP_MAX_RESULT_BYTES, ge=65_536, le=256 * 2**20)
    """Bytes read of one answer of the server (a tool result); the rest of a longer one is
    dropped unread and the result says how much was cut."""
    required: bool = True
    """A server that cannot start fails the run (true) or is left out with a warning (false)."""

    @field_validator("name")
    @classmethod
    def _name_chars(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", value):
            raise fail(f"must be 1-32 {MCP_NAME_CHARS}; tools are named <name>__<tool>")
        return value

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        if value is not None and redact_url(value) != value:
            raise fail(
                "must not hold credentials (user:password@ or a secret query parameter): send them "
                "in headers with {from_env: VARIABLE}"
            )
        return value

    @field_validator("cwd")
    @classmethod
    def _cwd_from_base(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else from_base_dir(value, info)

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerSpec:
        if self.command is None and self.url is None:
            raise fail("give command (a local server over stdio) or url (a streamable-HTTP server)")
        if self.command is not None and self.url is not None:
            raise fail("give command (stdio) or url (HTTP), not both")
        if self.url is not None:
            for key, given in (("args", self.args), ("env", self.env), ("cwd", self.cwd)):
                if given:
                    raise fail("only for a command (stdio) server; this one has a url", at=key)
        elif self.headers:
            raise fail("only for a url (HTTP) server; this one has a command", at="headers")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    @classmethod
    def of(cls, value: MCPServerSpec | Mapping[str, Any]) -> MCPServerSpec:
        """A spec from itself or a mapping as a task file has it (raises ``ValueError`` naming
        the field: ``mcp.env.TOKEN: looks like a secret...``)."""
        if isinstance(value, MCPServerSpec):
            return value
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            raise ValueError(first_problem("mcp", exc)) from None

    def resolved(self, values: Mapping[str, str | EnvRef], kind: str, environ: Mapping[str, str]) -> dict[str, str]:
        """``env`` or ``headers`` with each ``from_env`` read from ``environ`` (``ValueError``
        naming the variable when it is not set; the value is never shown)."""
        return {key: _from_env(item, f"{kind}.{key}", environ) for key, item in values.items()}

    def resolved_args(self, environ: Mapping[str, str]) -> list[str]:
        """``args`` with each ``from_env`` read from ``environ`` (``ValueError`` as :meth:`resolved`)."""
        return [_from_env(item, f"args[{i}]", environ) for i, item in enumerate(self.args)]

    def as_data(self) -> dict[str, Any]:
        """JSON-ready, as stored in a run's config: variable names, never their values."""
        return self.model_dump(mode="json", exclude_defaults=True)


def _from_env(item: str | EnvRef, where: str, environ: Mapping[str, str]) -> str:
    if isinstance(item, str):
        return item
    found = environ.get(item.from_env)
    if not found:
        raise ValueError(f"{where}: the environment variable {item.from_env} is not set")
    return found
