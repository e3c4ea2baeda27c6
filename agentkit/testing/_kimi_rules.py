"""The request rules the strict fake enforces for Kimi models, written from the Kimi platform's
docs independently of the client's own tables (agentkit/llm/models.py, _request.py,
_tool_wire.py, _schema.py), so a test against the fake checks the client rather than
repeating it.

Sources (dated and quoted in the project's Kimi fact sheet): the English OpenAPI of the Kimi
platform (OAS-EN, revisions to 2026-08-17), "Using Thinking Models", the model parameter
reference, the tool-use guide, hosts' API references (ANYFAST for K2.6, TENCENT TokenHub).

- ``kimi-k3`` (and K3.1): always thinks; no ``thinking`` field (refused here: Kimi Code answers
  400, api.moonshot.ai reportedly ignores it; no real body is recorded); ``reasoning_effort``
  low | high | max; temperature 1, top_p 0.95, n 1, penalties 0 "cannot be modified";
  ``max_tokens`` deprecated (not honoured); output defaults to 131,072; window 1,048,576; every
  earlier turn's reasoning is context (Preserved Thinking always on); images, no video.
- ``kimi-k2.7-code`` (+ ``-highspeed``): always thinks; ``thinking`` may only say
  ``{"type": "enabled", "keep": "all"}`` ("Passing disabled errors"); no effort; fixed
  sampling as K3; ``tool_choice`` auto | none; Preserved Thinking always on; 262,144 window.
- ``kimi-k2.6``: ``thinking: {"type": "enabled" | "disabled", "keep": "all" | null}``; fixed
  sampling (temperature 1 thinking, 0.6 instant); ``tool_choice`` auto | none while thinking;
  ``max_tokens`` "deprecated and not honored" (a host's reference; the service's default
  output is "a reasonable integer such as 1024"); Preserved Thinking with ``keep: "all"``;
  images and video (``video_url``: base64 data URL or ``ms://FILE_ID``).
- ``kimi-k2.5``: ``thinking: {"type": ...}`` only; temperature 1 / 0.6, top_p 0.95; images.
- K2 Thinking and the K2 previews: the older, looser checks.
- Every Kimi model: at most 128 tools (the tool-use guide; the OpenAPI dropped ``maxItems`` on
  2026-07-20, so ``tool_limit`` is a switch); names ``^[a-zA-Z_][a-zA-Z0-9-_]{0,255}$`` (OAS-EN
  2026-08-17), unique; ``parameters`` an object schema, in MFJS unless ``strict: false``
  (agentkit.testing._mfjs_check).
- The chat-completions protocol takes images and video only in user messages.

Recorded 400 texts: ``invalid <field>: only <value> is allowed for this model``,
``thinking is enabled but reasoning_content is missing in assistant tool call message at index
N`` (agentkit.testing._wire) and ``tools.function.parameters.type is required and must be
"object"``. ``function name X is duplicated`` is Kimi Code's documented text. Every other text
here is the fake's own (synthetic): no real body is recorded for it.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from typing import Any

from agentkit.testing._mfjs_check import mfjs_problem

_IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif")
_VIDEO_MIMES = ("video/mp4", "video/mpeg", "video/quicktime", "video/webm", "video/x-flv", "video/3gpp")
TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9-_]{0,255}$")
ROOT_NOT_OBJECT = 'tools.function.parameters.type is required and must be "object"'
TOOL_LIMIT = 128


@dataclass(frozen=True)
class Rules:
    family: str
    kimi: bool = True
    vision: bool = False
    video: bool = False
    thinking: str = "free"
    """``always`` (no switch), ``switch`` (``thinking.type``), ``free`` (the older, looser check)."""
    thinking_keys: frozenset[str] = frozenset({"type"})
    efforts: tuple[str, ...] | None = None
    """``None``: the model has no ``reasoning_effort`` parameter."""
    fixed: dict[str, float] = field(default_factory=dict)
    instant_temperature: float | None = None
    thinking_tool_choices: tuple[str, ...] | None = None
    honours_max_tokens: bool = True
    default_output: int | None = None
    preserved: str = "never"
    """``always``, ``keep`` (with ``thinking.keep: "all"``) or ``never``."""


_FIXED = {"temperature": 1.0, "top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0}
K3 = Rules(
    "k3",
    vision=True,
    thinking="always",
    thinking_keys=frozenset(),
    efforts=("low", "high", "max"),
    fixed=_FIXED,
    honours_max_tokens=False,
    default_output=131_072,
    preserved="always",
)
K27_CODE = Rules(
    "k2.7-code",
    vision=True,
    thinking="always",
    thinking_keys=frozenset({"type", "keep"}),
    fixed=_FIXED,
    thinking_tool_choices=("auto", "none"),
    honours_max_tokens=False,
    default_output=1024,
    preserved="always",
)
K26 = Rules(
    "k2.6",
    vision=True,
    video=True,
    thinking="switch",
    thinking_keys=frozenset({"type", "keep"}),
    fixed=_FIXED,
    instant_temperature=0.6,
    thinking_tool_choices=("auto", "none"),
    honours_max_tokens=False,
    default_output=1024,
    preserved="keep",
)
K25 = Rules(
    "k2.5",
    vision=True,
    thinking="switch",
    fixed={"temperature": 1.0, "top_p": 0.95},
    instant_temperature=0.6,
    thinking_tool_choices=("auto", "none"),
)
K2 = Rules("k2")
OTHER = Rules("other", kimi=False)


def rules_for(model: str) -> Rules:
    name = re.sub(r"^(?:[^/]*/)+", "", model.strip().lower())
    match = re.match(r"^kimi-k(\d+)(?:[.p](\d+)|-(\d)(?!\d))?(?!\d)", name)
    if match is None:
        return OTHER
    major, minor = int(match.group(1)), int(match.group(2) or match.group(3) or 0)
    if major >= 3:
        return K3
    if major == 2 and minor >= 7:
        return K27_CODE
    if major == 2 and minor == 6:
        return K26
    if major == 2 and minor == 5:
        return K25
    return K2


def thinking_enabled(body: dict[str, Any]) -> bool:
    """Whether the request thinks (and so must carry reasoning back on tool-call turns)."""
    rules = rules_for(str(body.get("model", "")))
    thinking = body.get("thinking")
    if rules.thinking == "switch" and isinstance(thinking, dict):
        return thinking.get("type") != "disabled"
    return True


def preserves_reasoning(body: dict[str, Any]) -> bool:
    """Whether every earlier turn's reasoning is context the model reads (and must be sent)."""
    rules = rules_for(str(body.get("model", "")))
    if rules.preserved == "always":
        return True
    thinking = body.get("thinking")
    return rules.preserved == "keep" and isinstance(thinking, dict) and thinking.get("keep") == "all"


def output_cap(body: dict[str, Any]) -> int | None:
    """The output cap the service applies: ``max_completion_tokens``, else ``max_tokens`` where
    it is honoured, else the service's default (``None``: no cap known)."""
    rules = rules_for(str(body.get("model", "")))
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and (key != "max_tokens" or rules.honours_max_tokens):
            return value
    return rules.default_output


def check_request(body: dict[str, Any], *, tool_limit: int | None = TOOL_LIMIT) -> str | None:
    """The 400 message for a request the service would refuse, or ``None``."""
    rules = rules_for(str(body.get("model", "")))
    problem = _check_thinking(body, rules)
    on = thinking_enabled(body)
    if problem is None:
        problem = _check_sampling(body, rules, on)
    allowed = rules.thinking_tool_choices
    if problem is None and on and allowed is not None and body.get("tool_choice") not in (None, *allowed):
        problem = f"Invalid request: tool_choice {body.get('tool_choice')!r} is not supported while thinking"
    if problem is None and "prompt_cache_key" in body and not isinstance(body["prompt_cache_key"], str):
        problem = "Invalid request: prompt_cache_key must be a string"
    if problem is None and rules.kimi:
        problem = _check_tools(body.get("tools") or [], tool_limit)
    if problem is None:
        for index, message in enumerate(body.get("messages") or []):
            problem = _check_parts(message, index, rules)
            if problem is not None:
                break
    return problem


def check_preserved_reasoning(messages: list[dict[str, Any]], field: str | None) -> str | None:
    """Under Preserved Thinking every assistant message carries its reasoning ("keep the
    reasoning_content from every historical assistant message in messages as-is")."""
    if not field:
        return None
    for index, message in enumerate(messages):
        if message.get("role") == "assistant" and not isinstance(message.get(field), str):
            return (
                f"Invalid request: {field} is missing in assistant message at index {index} "
                "(Preserved Thinking keeps every earlier turn's reasoning)"
            )
    return None


def _check_thinking(body: dict[str, Any], rules: Rules) -> str | None:
    thinking = body.get("thinking")
    effort = body.get("reasoning_effort")
    if "thinking" in body:
        if not rules.thinking_keys and rules.kimi and rules.thinking == "always":
            return "Invalid request: thinking is not supported by this model; use reasoning_effort"
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            return 'invalid thinking: expected an object {"type": "enabled"} or {"type": "disabled"}'
        if rules.thinking != "free":
            extra = set(thinking) - rules.thinking_keys
            if extra:
                return f"Invalid request: unknown field(s) in thinking: {', '.join(sorted(extra))}"
            if thinking.get("keep") not in (None, "all"):
                return f'Invalid request: invalid thinking.keep {thinking.get("keep")!r}: only "all" or null'
        if rules.thinking == "always" and thinking.get("type") == "disabled":
            return "Invalid request: thinking cannot be disabled for this model"
        if effort is not None:
            return "thinking and reasoning_effort cannot be set together"
    if effort is not None and rules.kimi and rules.thinking != "free":
        if rules.efforts is None:
            return "Invalid request: reasoning_effort is not supported by this model"
        if effort not in rules.efforts:
            return f"Invalid request: invalid reasoning_effort {effort!r}: only {', '.join(rules.efforts)}"
    return None


def _check_sampling(body: dict[str, Any], rules: Rules, on: bool) -> str | None:
    for name, fixed in rules.fixed.items():
        if name == "temperature" and not on and rules.instant_temperature is not None:
            fixed = rules.instant_temperature
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(float(value) - fixed) > 1e-9:
            return f"invalid {name}: only {fixed:g} is allowed for this model"
    return None


def _check_tools(tools: list[Any], limit: int | None) -> str | None:
    if limit is not None and len(tools) > limit:
        return f"Invalid request: the number of functions in tools cannot exceed {limit} (got {len(tools)})"
    seen: set[str] = set()
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict):
            return "Invalid request: each tool needs a function"
        name = fn.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return f"Invalid request: function name {name!r} does not match {TOOL_NAME.pattern}"
        if name in seen:
            return f"function name {name} is duplicated"
        seen.add(name)
        params = fn.get("parameters")
        if not isinstance(params, dict) or params.get("type") != "object":
            return ROOT_NOT_OBJECT
        if fn.get("strict") is not False:
            problem = mfjs_problem(params)
            if problem is not None:
                return problem
    return None


def _check_parts(message: dict[str, Any], index: int, rules: Rules) -> str | None:
    content = message.get("content")
    if not isinstance(content, list):
        return None
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            continue
        if kind not in ("image_url", "video_url"):
            return f"messages[{index}]: unsupported content part type {kind!r}"
        if message.get("role") != "user":
            return f"messages[{index}]: image and video content is only allowed in user messages"
        if kind == "image_url" and not rules.vision:
            return "this model does not support image input"
        if kind == "video_url" and not rules.video:
            return "Invalid request: this model does not support video input"
        ref = part.get(kind)
        url = ref if isinstance(ref, str) else (ref or {}).get("url", "") if isinstance(ref, dict) else ""
        problem = _check_media_url(str(url), kind)
        if problem is not None:
            return f"messages[{index}]: {problem}"
        extra = set(part) - {"type", kind}
        if extra:
            return f"messages[{index}]: unknown field(s) in {kind} part: {', '.join(sorted(extra))}"
    return None


def _check_media_url(url: str, kind: str) -> str | None:
    if url.startswith("ms://") and len(url) > len("ms://"):
        return None  # a file uploaded with the Files API
    head, _, payload = url.partition(",")
    if not head.startswith("data:") or ";base64" not in head:
        return f"{kind} must be a base64 data URL or ms://FILE_ID"
    mime = head[5:].split(";", 1)[0]
    if mime not in (_IMAGE_MIMES if kind == "image_url" else _VIDEO_MIMES):
        return f"unsupported {kind.split('_')[0]} type {mime!r}"
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        return f"{kind} data is not valid base64"
    magic = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/gif": b"GIF8", "image/webp": b"RIFF"}
    if kind == "image_url" and not data.startswith(magic[mime]):
        return f"image_url data is not a {mime} image"
    return None


def without_images(message: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``message`` with its image parts' data removed, and the tokens those images cost as
    the service counts them (one per 28x28 pixels, MoonViT's merged 14-pixel patches)."""
    content = message.get("content")
    if not isinstance(content, list) or not any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
        return message, 0
    from PIL import Image  # the fake needs Pillow only when a request carries images

    tokens = 0
    parts: list[Any] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            ref = part.get("image_url")
            url = ref if isinstance(ref, str) else (ref or {}).get("url", "") if isinstance(ref, dict) else ""
            try:
                with Image.open(io.BytesIO(base64.b64decode(str(url).partition(",")[2]))) as image:
                    width, height = image.size
            except Exception:  # refused by check_request already (or an ms:// file); count it as small
                width = height = 28
            tokens += -(-width // 28) * -(-height // 28)
            parts.append({"type": "image_url"})
        else:
            parts.append(part)
    return {**message, "content": parts}, tokens
