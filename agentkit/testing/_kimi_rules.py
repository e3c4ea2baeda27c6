"""The request rules the strict fake enforces for Kimi models, written from Moonshot's
platform docs independently of the client's own table (agentkit/llm/models.py), so a test
against the fake checks the client rather than repeating it.

From the docs ("models overview", "use kimi k2 thinking model", "K2.5 quickstart", 2026):
- K2.5 and later (``kimi-k2.5``, ``kimi-k2.6``...) see images and switch thinking with
  ``thinking: {"type": "enabled" | "disabled"}`` (default enabled); the temperature cannot be
  changed (1.0 thinking, 0.6 instant), nor ``top_p`` (0.95); while thinking, ``tool_choice``
  may only be ``auto`` or ``none``.
- K2 Thinking and the K2 instruct models take text only.
- The chat-completions protocol takes images only in user messages (``role: tool`` content
  is text or text parts), as ``image_url`` parts.

The 400 texts below are the fake's own wording: no recorded real body exists for them.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

_VERSIONED = re.compile(r"^kimi-k(\d+)\.(\d+)(?!\d)")
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def _family(model: str) -> str:
    name = re.sub(r"^(?:[\w.-]+/)+", "", model.strip().lower())
    match = _VERSIONED.match(name)
    if match and (int(match.group(1)), int(match.group(2))) >= (2, 5):
        return "k2.5"
    return "k2"


def thinking_enabled(body: dict[str, Any]) -> bool:
    """Whether the request thinks (and so must carry reasoning back on tool-call turns)."""
    thinking = body.get("thinking")
    if _family(str(body.get("model", ""))) == "k2.5" and isinstance(thinking, dict):
        return thinking.get("type") != "disabled"
    return True


def check_request(body: dict[str, Any]) -> str | None:
    """The 400 message for a request the service would refuse, or ``None``."""
    family = _family(str(body.get("model", "")))
    if "thinking" in body:
        thinking = body["thinking"]
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            return 'invalid thinking: expected an object {"type": "enabled"} or {"type": "disabled"}'
        if "reasoning_effort" in body:
            return "thinking and reasoning_effort cannot be set together"
    on = thinking_enabled(body)
    if family == "k2.5":
        fixed = 1.0 if on else 0.6
        temperature = body.get("temperature")
        if temperature is not None and abs(float(temperature) - fixed) > 1e-9:
            return f"invalid temperature: only {fixed:g} is allowed for this model"
        if "top_p" in body and abs(float(body["top_p"]) - 0.95) > 1e-9:
            return "invalid top_p: only 0.95 is allowed for this model"
        if on and body.get("tool_choice") not in (None, "auto", "none"):
            return f"tool_choice {body.get('tool_choice')!r} is not supported while thinking is enabled"
    for index, message in enumerate(body.get("messages") or []):
        problem = _check_parts(message, index, vision=family == "k2.5")
        if problem is not None:
            return problem
    return None


def _check_parts(message: dict[str, Any], index: int, *, vision: bool) -> str | None:
    content = message.get("content")
    if not isinstance(content, list):
        return None
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            continue
        if kind != "image_url":
            return f"messages[{index}]: unsupported content part type {kind!r}"
        if message.get("role") != "user":
            return f"messages[{index}]: image content is only allowed in user messages"
        if not vision:
            return "this model does not support image input"
        url = (part.get("image_url") or {}).get("url", "")
        problem = _check_data_url(str(url))
        if problem is not None:
            return f"messages[{index}]: {problem}"
        extra = set(part) - {"type", "image_url"}
        if extra:
            return f"messages[{index}]: unknown field(s) in image part: {', '.join(sorted(extra))}"
    return None


def _check_data_url(url: str) -> str | None:
    head, _, payload = url.partition(",")
    if not head.startswith("data:") or ";base64" not in head:
        return "image_url must be a base64 data URL"
    mime = head[5:].split(";", 1)[0]
    if mime not in _IMAGE_MIMES:
        return f"unsupported image type {mime!r}"
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        return "image_url data is not valid base64"
    magic = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/gif": b"GIF8", "image/webp": b"RIFF"}
    if not data.startswith(magic[mime]):
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
            payload = str((part.get("image_url") or {}).get("url", "")).partition(",")[2]
            try:
                with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
                    width, height = image.size
            except Exception:  # refused by check_request already; count it as small
                width = height = 28
            tokens += -(-width // 28) * -(-height // 28)
            parts.append({"type": "image_url"})
        else:
            parts.append(part)
    return {**message, "content": parts}, tokens
