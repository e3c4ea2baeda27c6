"""The strict fake's check of tool schemas against Moonshot Flavored JSON Schema (MFJS).

Written from MoonshotAI/walle's rule table (``docs/mfjs-spec.md``, ``docs/walle.md``, HEAD
196bb0c, 2026-06-29; the project's Kimi fact sheet §10.2) at its strictest level, independently
of the client's rewriter (agentkit/llm/_schema.py), so a run against the fake checks that
rewriter instead of repeating it. Error texts: ``type is not defined``, ``when using anyOf, type
should be defined in anyOf items instead of the parent schema``, ``required property 'X' is not
defined in properties``, ``conflicting keywords found after $ref expansion: description``,
``references must start with #/$de...`` (cut in the record; completed here) and the envelope
``tools.function.parameters is not a valid moonshot flavored json schema, details: <At path
'...': ...>`` are recorded (kimi-cli #2061, #2531, kimi-code #1610, pi #4138, command-code
#594); ``unsupported keywords: ...``, ``object and array cannot be used in combination with
multiple types`` and ``keyword %s is not allowed in combination with multiple types`` are
walle's own messages; the rest is the fake's wording (synthetic).
"""

from __future__ import annotations

from typing import Any

SCHEMA_ERROR = (
    "tools.function.parameters is not a valid moonshot flavored json schema, details: <At path '{path}': {what}>"
)
_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})
_KEYWORDS = frozenset(
    {"type", "description", "title", "enum", "anyOf", "$ref", "default"}
    | {"properties", "required", "additionalProperties", "items", "minItems", "maxItems"}
    | {"minLength", "maxLength", "minimum", "maximum"}
)
_ROOT_ONLY = frozenset({"$defs", "$id"})
_OWNER = {
    "minLength": ("string",),
    "maxLength": ("string",),
    "minimum": ("number", "integer"),
    "maximum": ("number", "integer"),
    "items": ("array",),
    "minItems": ("array",),
    "maxItems": ("array",),
    "properties": ("object",),
    "required": ("object",),
    "additionalProperties": ("object",),
}
_RESERVED = frozenset({"$defs", "$ref", "anyOf", "required", "additionalProperties"})
MAX_ANY_OF = 500  # walle.md says 1-10; its config default is 500 since 2026-06-10 (commit 47cb452)
MAX_ENUM = 500


class _Refused(Exception):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(SCHEMA_ERROR.format(path=path, what=what))


def mfjs_problem(schema: Any) -> str | None:
    """The 400 text for a ``parameters`` schema outside MFJS, or ``None``."""
    if schema == {}:
        return None  # {} at the root: any value
    defs = schema.get("$defs") if isinstance(schema, dict) else None
    try:
        if defs is not None:
            if not isinstance(defs, dict):
                raise _Refused("root.$defs", "$defs must be an object")
            for name, sub in defs.items():
                if "/" in name:
                    raise _Refused(f"$defs.{name}", "definition names must not contain '/'")
                _check(sub, f"$defs.{name}", defs, root=False)
        _check(schema, "root", defs or {}, root=True)
    except _Refused as exc:
        return str(exc)
    return None


def _child(path: str, key: str) -> str:
    return key if path == "root" else f"{path}.{key}"


def _check(node: Any, path: str, defs: dict[str, Any], *, root: bool = False, any_ok: bool = False) -> None:
    if not isinstance(node, dict):
        raise _Refused(path, "schema must be an object")
    if node == {} and any_ok:
        return
    unknown = set(node) - _KEYWORDS - (_ROOT_ONLY if root else set())
    if unknown:
        raise _Refused(path, f"unsupported keywords: {', '.join(sorted(unknown))}")
    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/$defs/")):
            raise _Refused(_child(path, "$ref"), "references must start with #/$defs/")
        beside = set(node) - {"$ref"} - (_ROOT_ONLY if root else set())
        if beside:
            raise _Refused(path, f"conflicting keywords found after $ref expansion: {', '.join(sorted(beside))}")
        if ref != "#" and ref.removeprefix("#/$defs/") not in defs:
            raise _Refused(_child(path, "$ref"), f"reference {ref} is not defined")
        return
    if "anyOf" in node:
        if "type" in node:
            raise _Refused(path, "when using anyOf, type should be defined in anyOf items instead of the parent schema")
        beside = set(node) - {"anyOf", "description", "title"} - (_ROOT_ONLY if root else set())
        if beside:
            raise _Refused(path, f"keyword {sorted(beside)[0]} is not allowed beside anyOf")
        branches = node["anyOf"]
        if not isinstance(branches, list) or not 1 <= len(branches) <= MAX_ANY_OF:
            raise _Refused(path, f"anyOf must have 1 to {MAX_ANY_OF} items")
        for i, branch in enumerate(branches):
            _check(branch, _child(path, f"anyOf.{i}"), defs)
        return
    if "type" not in node:
        raise _Refused(path, "type is not defined")
    kinds = _types(node["type"], path)
    _multiple_types(node, kinds, path)
    for key, owners in _OWNER.items():
        if key in node and not set(owners) & set(kinds):
            raise _Refused(path, f"keyword {key} is not allowed for type {'/'.join(kinds)}")
    _enum(node, kinds, path)
    _bounds(node, path)
    if "default" in node:
        _default(node["default"], kinds, path)
    if "description" in node and not isinstance(node["description"], str):
        raise _Refused(path, "description must be a string")
    if "object" in kinds:
        _object(node, path, defs)
    if "array" in kinds and "items" in node:
        _check(node["items"], _child(path, "items"), defs)


def _types(value: Any, path: str) -> list[str]:
    kinds = value if isinstance(value, list) else [value]
    if not kinds or any(k not in _TYPES for k in kinds):
        raise _Refused(path, f"invalid type {value!r}")
    return kinds


def _multiple_types(node: dict[str, Any], kinds: list[str], path: str) -> None:
    if len(kinds) < 2:
        return
    if {"object", "array"} & set(kinds):
        raise _Refused(path, "object and array cannot be used in combination with multiple types")
    if "enum" in node:
        if len(kinds) != 2 or "null" not in kinds:
            raise _Refused(path, "enum with multiple types allows only one type and null")
        allowed = {"type", "description", "title", "enum"}
    else:
        allowed = {"type", "description", "title"}
    for key in node:
        if key not in allowed:
            raise _Refused(path, f"keyword {key} is not allowed in combination with multiple types")


def _enum(node: dict[str, Any], kinds: list[str], path: str) -> None:
    if "enum" not in node:
        return
    values = node["enum"]
    if not isinstance(values, list) or not values or len(values) > MAX_ENUM:
        raise _Refused(path, f"enum must list 1 to {MAX_ENUM} values")
    if all(isinstance(v, str) for v in values):
        kind = "string"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        kind = "integer"
    elif all(isinstance(v, float) for v in values):
        kind = "number"
    else:
        raise _Refused(path, "enum values must all be strings, all integers or all floats")
    if kind not in kinds and not (kind == "integer" and "number" in kinds):
        raise _Refused(path, f"enum of {kind} values does not match type {'/'.join(kinds)}")


def _bounds(node: dict[str, Any], path: str) -> None:
    for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        value = node.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _Refused(path, f"{key} must be a number")
    for low, high in (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems")):
        if low in node and high in node and node[low] > node[high]:
            raise _Refused(path, f"{low} must not be greater than {high}")


def _default(value: Any, kinds: list[str], path: str) -> None:
    fits = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
    }
    if not any(fits.get(k, False) for k in kinds):
        raise _Refused(path, "default must be a scalar value of the schema's type")


def _object(node: dict[str, Any], path: str, defs: dict[str, Any]) -> None:
    props = node.get("properties", {})
    if not isinstance(props, dict):
        raise _Refused(_child(path, "properties"), "properties must be an object")
    for name, sub in props.items():
        if name in _RESERVED:
            raise _Refused(_child(path, "properties"), f"property name {name} is reserved")
        _check(sub, _child(path, f"properties.{name}"), defs)
    required = node.get("required", [])
    if not isinstance(required, list):
        raise _Refused(_child(path, "required"), "required must be a list")
    for name in required:
        if name not in props:
            raise _Refused(_child(path, "required"), f"required property '{name}' is not defined in properties")
    extra = node.get("additionalProperties")
    if extra is not None and not isinstance(extra, bool):
        _check(extra, _child(path, "additionalProperties"), defs, any_ok=True)
