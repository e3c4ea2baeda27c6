"""Tool schemas in Moonshot Flavored JSON Schema (MFJS), the dialect the Kimi API checks.

The Kimi API constrains a tool's arguments with its ``parameters`` schema, which must be MFJS
unless the tool says ``strict: false`` (tool-use guide: "true (default, omitting is equivalent
to true): ... must conform to the MFJS specification; false (must be explicitly passed): Only
guarantees output is a valid JSON object"). Pydantic and MCP servers write full JSON Schema,
which MFJS refuses in places (``$ref`` with siblings, a missing ``type``, ``format``,
``const``, ``default`` beside ``anyOf``, ...). :func:`to_mfjs` rewrites a schema into MFJS
when that keeps its meaning, and raises :class:`NotExpressible` when it cannot; the caller then
sends the tool unchanged with ``strict: false`` (the documented way to send a schema outside
MFJS) rather than a schema with its constraints quietly dropped. A pure function: the same
schema always gives the same bytes (prompt caches need stable tool definitions).

The rules (MoonshotAI/walle ``docs/mfjs-spec.md`` and ``docs/walle.md``, HEAD 196bb0c,
2026-06-29, as summarised in the project's Kimi fact sheet §10.2):

- every subschema declares ``type`` (``{}`` means "any" only at the root or as
  ``additionalProperties``); ``type`` never sits beside ``anyOf`` (only ``description`` and
  ``title`` may); a type list holds scalars only, with only ``description``/``title`` beside it;
- ``$ref`` only into the document's root ``$defs``, nothing beside it ("conflicting keywords
  found after $ref expansion: description" is a recorded refusal);
- refused: ``oneOf``, ``allOf``, ``not``, ``if``/``then``/``else``, ``const``, ``format``,
  ``pattern``, ``exclusiveMinimum``/``exclusiveMaximum``, ``multipleOf``, ``uniqueItems``,
  ``contains``, ``prefixItems``/tuple ``items``, ``minProperties``/``maxProperties``,
  ``patternProperties``, ``propertyNames``, ``dependent*``, ``$schema``, ``$comment``,
  ``$anchor``, ``$dynamicRef``, ``deprecated``, ``examples``, ``readOnly``, ``writeOnly``;
- ``enum`` lists literals of one kind (strings, integers or floats; never booleans or null);
- ``required`` names only declared ``properties``; ``minimum <= maximum``, written without
  scientific notation; ``default`` is accepted by the validator but "the Moonshot server
  constrained decoding module does not yet support default", so it goes into the description.

What is rewritten, each time keeping the meaning: ``$ref``/single ``allOf`` inlined (a
recursive reference cannot be, so it is not expressible); ``const`` -> a one-value ``enum``;
an ``enum`` holding null or several kinds -> ``anyOf`` of one ``enum`` per kind; ``[true,
false]`` -> ``type: boolean``; an integer's exclusive bounds -> inclusive ones; a type list with
other keywords -> ``anyOf``; keywords beside ``anyOf`` -> copied into every branch (A and (B or C)
is (A and B) or (A and C)); ``{}`` -> ``anyOf`` of every type; a missing ``type`` -> ``anyOf``
of the type its keywords constrain (with them) and every other type; annotations (``title``,
``$comment``, ``deprecated``...) dropped; ``default``, ``format`` (an annotation in JSON Schema
2020-12) and ``examples`` folded into the description.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_ANY: dict[str, Any] = {"anyOf": [{"type": t} for t in TYPES]}
"""The MFJS spelling of "any value" inside ``properties`` (where ``{}`` is refused)."""

_DROPPED = frozenset(
    {"title", "$comment", "$schema", "$id", "$anchor", "deprecated", "readOnly", "writeOnly"}
    | {"contentEncoding", "contentMediaType", "contentSchema"}  # annotations in 2020-12
)
_REFUSED = frozenset(
    {"oneOf", "not", "if", "then", "else", "pattern", "patternProperties", "propertyNames"}
    | {"dependentSchemas", "dependentRequired", "dependencies", "minProperties", "maxProperties"}
    | {"contains", "minContains", "maxContains", "prefixItems", "multipleOf", "$dynamicRef", "$recursiveRef"}
    | {"unevaluatedItems", "unevaluatedProperties", "additionalItems"}
)
_FOR_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "enum"}),
    "number": frozenset({"minimum", "maximum", "enum"}),
    "integer": frozenset({"minimum", "maximum", "enum"}),
    "array": frozenset({"items", "minItems", "maxItems"}),
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "boolean": frozenset(),
    "null": frozenset(),
}
_TYPED = frozenset().union(*_FOR_TYPE.values())
_KEPT = _TYPED | {"type", "description", "anyOf"}
_REWRITTEN = frozenset({"const", "exclusiveMinimum", "exclusiveMaximum"})
"""Kept past the annotation pass for a later step to rewrite."""
_ANNOTATED = _DROPPED | {"description", "default", "examples", "format"}
"""Keywords that say something about a value without constraining it: two of them may differ."""
_RESERVED_NAMES = frozenset({"$defs", "$ref", "anyOf", "required", "additionalProperties"})


class NotExpressible(ValueError):
    """The schema means something MFJS cannot say; the message says where and what."""


def to_mfjs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (a tool's ``parameters``, a JSON object schema) rewritten into MFJS with the
    same meaning. Raises :class:`NotExpressible`."""
    if not isinstance(schema, dict):
        raise NotExpressible("root: the parameters are not a JSON object schema")
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update({f"#/{key}/{name}": sub for name, sub in found.items()})
    root = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    if "type" not in root and "anyOf" not in root:
        root = {**root, "type": "object"}  # arguments are always an object (the API requires it there)
    out = _Rewriter(defs).node(root, "root")
    if out.get("type") != "object":
        raise NotExpressible("root: the arguments must be one object (type: object), not a union")
    out.setdefault("properties", {})
    return out


class _Rewriter:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.following: list[str] = []

    def node(self, raw: Any, at: str) -> dict[str, Any]:
        if raw is True or raw == {}:
            return dict(_ANY)
        if not isinstance(raw, dict):
            raise NotExpressible(f"{at}: {orjson.dumps(raw).decode()} is not a schema MFJS can state")
        node = dict(raw)
        if "$ref" in node:
            return self.ref(node, at)
        if "allOf" in node:
            node = self.all_of(node, at)
        refused = sorted(k for k in node if k in _REFUSED)
        if refused:
            raise NotExpressible(f"{at}: MFJS has no {', '.join(refused)}")
        if node.get("uniqueItems") is True:
            raise NotExpressible(f"{at}: MFJS has no uniqueItems")
        node = self.annotations(node)
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if isinstance(node.get("items"), list):
            raise NotExpressible(f"{at}: MFJS has no tuple items")
        if "enum" in node:
            split = self.enum(node, at)
            if split is not None:
                return self.node(split, at)
        node = self.bounds(node, at)
        types = node.get("type")
        if isinstance(types, list):
            if not types:
                raise NotExpressible(f"{at}: an empty type list allows nothing")
            if len(types) == 1:
                node["type"] = types = types[0]
            elif "anyOf" in node:
                raise NotExpressible(f"{at}: a type list beside anyOf")
            elif set(node) - {"type", "description"} or {"object", "array"} & set(types):
                return self.node(self.split_types(node, types), at)
            else:
                return node  # a scalar type list with only a description beside it is MFJS
        if "anyOf" in node:
            return self.any_of(node, at)
        if types is None:
            implied = self.implied_type(node, at)
            described = {"description": node["description"]} if "description" in node else {}
            if implied is None:  # only a description: any value
                return {**_ANY, **described}
            # Keywords of one type and no type: they constrain values of that type only, and
            # any other value is valid. The same in MFJS: that type with them, or any other type.
            own = {k: v for k, v in node.items() if k != "description"}
            others = [{"type": t} for t in TYPES if t not in (implied, "integer")]
            return self.node({**described, "anyOf": [{**own, "type": implied}, *others]}, at)
        if types not in TYPES:
            raise NotExpressible(f"{at}: unknown type {types!r}")
        return self.children(node, types, at)

    # -- pieces ------------------------------------------------------------------------------

    def ref(self, node: dict[str, Any], at: str) -> dict[str, Any]:
        ref = node.pop("$ref")
        if not isinstance(ref, str) or ref not in self.defs:
            raise NotExpressible(f"{at}: $ref {ref!r} points outside the schema's $defs")
        if ref in self.following:
            raise NotExpressible(f"{at}: $ref {ref!r} is recursive (MFJS cannot inline it)")
        target = self.defs[ref]
        if target is True:
            target = {}
        if not isinstance(target, dict):
            raise NotExpressible(f"{at}: $ref {ref!r} points at a schema that allows nothing")
        merged = self.merge(target, node, at)
        self.following.append(ref)
        try:
            return self.node(merged, at)
        finally:
            self.following.pop()

    def all_of(self, node: dict[str, Any], at: str) -> dict[str, Any]:
        """``allOf`` whose branches share no keyword is their merge; anything else is not MFJS."""
        branches = node.pop("allOf")
        if not isinstance(branches, list):
            raise NotExpressible(f"{at}: allOf must be a list")
        for branch in branches:
            if not isinstance(branch, dict):
                raise NotExpressible(f"{at}: allOf holds a boolean schema")
            node = self.merge(branch, node, at)
        return node

    @staticmethod
    def merge(base: dict[str, Any], extra: dict[str, Any], at: str) -> dict[str, Any]:
        """``base`` and ``extra`` both applying (their conjunction), when no constraint clashes;
        ``extra``'s annotations win (a field's description over its model's)."""
        out = dict(base)
        for key, value in extra.items():
            if key in out and out[key] != value and key not in _ANNOTATED:
                raise NotExpressible(f"{at}: {key!r} is constrained twice (a $ref or allOf with its own {key!r})")
            out[key] = value
        return out

    @staticmethod
    def annotations(node: dict[str, Any]) -> dict[str, Any]:
        notes: list[str] = []
        if "format" in node:
            notes.append(f"format: {node.pop('format')}")
        if "default" in node:
            notes.append(f"default: {orjson.dumps(node.pop('default')).decode()}")
        if "examples" in node:
            examples = node.pop("examples")
            if isinstance(examples, list) and examples:
                notes.append("examples: " + ", ".join(orjson.dumps(e).decode() for e in examples))
        # Keywords MFJS has no use for and that constrain nothing (vendor extensions, unknown
        # keywords: annotations in JSON Schema) go; the refused ones were caught before.
        out = {k: v for k, v in node.items() if k in _KEPT or k in _REWRITTEN}
        if notes:
            text = str(out.get("description") or "").strip()
            extra = "; ".join(notes)
            out["description"] = f"{text} ({extra})" if text else extra[:1].upper() + extra[1:]
        return out

    @staticmethod
    def enum(node: dict[str, Any], at: str) -> dict[str, Any] | None:
        """``None`` when the enum is MFJS as it stands (typed to match); else the ``anyOf``
        that says the same, one branch per kind of value."""
        values = node["enum"]
        if not isinstance(values, list) or not values:
            raise NotExpressible(f"{at}: enum must list at least one value")
        kinds: dict[str, list[Any]] = {}
        for value in values:
            kind = _kind(value)
            if kind is None:
                raise NotExpressible(f"{at}: enum value {orjson.dumps(value).decode()} is not a string or number")
            kinds.setdefault(kind, []).append(value)
        declared = node.get("type")
        if len(kinds) == 1 and "boolean" not in kinds and "null" not in kinds:
            kind = next(iter(kinds))
            if declared in (None, kind) or (declared == "number" and kind == "integer"):
                node["type"] = declared or kind
                return None
        allowed = set(declared) if isinstance(declared, list) else {declared} if declared else set(TYPES)
        rest = {k: v for k, v in node.items() if k not in ("enum", "type", "description")}
        branches: list[dict[str, Any]] = []
        for kind, vals in kinds.items():
            if kind not in allowed and not (kind == "integer" and "number" in allowed):
                continue  # a value its own type excludes can never be valid
            if kind == "null":
                branches.append({"type": "null"})
            elif kind == "boolean":
                if len(set(vals)) < 2:
                    raise NotExpressible(f"{at}: MFJS has no one-value boolean enum")
                branches.append({"type": "boolean"})
            else:
                branches.append({**rest, "type": kind, "enum": vals})
        if not branches:
            raise NotExpressible(f"{at}: no enum value fits the declared type")
        described = {"description": node["description"]} if "description" in node else {}
        return branches[0] | described if len(branches) == 1 else {"anyOf": branches, **described}

    @staticmethod
    def bounds(node: dict[str, Any], at: str) -> dict[str, Any]:
        integer = node.get("type") == "integer"
        for key, inclusive, step in (("exclusiveMinimum", "minimum", 1), ("exclusiveMaximum", "maximum", -1)):
            if key not in node:
                continue
            if not integer:
                raise NotExpressible(f"{at}: MFJS has no {key} (only an integer's bound can be made inclusive)")
            value = node.pop(key)
            bound = (math.floor(value) + 1) if step > 0 else (math.ceil(value) - 1)
            current = node.get(inclusive)
            node[inclusive] = bound if current is None else (max if step > 0 else min)(current, bound)
        for key in ("minimum", "maximum"):
            value = node.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise NotExpressible(f"{at}: {key} must be a finite number")
            if integer and isinstance(value, float):
                value = math.ceil(value) if key == "minimum" else math.floor(value)
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                value = int(value)
            if isinstance(value, float) and b"e" in orjson.dumps(value):
                raise NotExpressible(f"{at}: {key} {value!r} needs scientific notation, which MFJS refuses")
            node[key] = value
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and high is not None and low > high:
            raise NotExpressible(f"{at}: minimum {low} is above maximum {high}: nothing is allowed")
        return node

    @staticmethod
    def split_types(node: dict[str, Any], types: list[Any]) -> dict[str, Any]:
        """A type list as ``anyOf``, each keyword going to the types it applies to."""
        branches = []
        for kind in types:
            own = _FOR_TYPE.get(kind, frozenset())
            branches.append({"type": kind, **{k: v for k, v in node.items() if k in own}})
        rest = {k: v for k, v in node.items() if k not in _TYPED and k != "type"}
        return {**rest, "anyOf": branches}

    def any_of(self, node: dict[str, Any], at: str) -> dict[str, Any]:
        branches = node.pop("anyOf")
        if not isinstance(branches, list) or not branches:
            raise NotExpressible(f"{at}: anyOf must list at least one schema")
        shared = {k: v for k, v in node.items() if k != "description"}
        out: list[dict[str, Any]] = []
        for i, branch in enumerate(branches):
            where = f"{at}.anyOf.{i}"
            if branch is True or branch == {}:
                branch = {}
            if not isinstance(branch, dict):
                raise NotExpressible(f"{where}: a boolean schema")
            rewritten = self.node(self.merge(branch, shared, where) if shared else branch, where)
            nested = rewritten.get("anyOf")
            if nested is not None and set(rewritten) <= {"anyOf", "description"}:
                out.extend(nested)  # a branch that is itself a union: its branches join this one
            else:
                out.append(rewritten)
        unique: list[dict[str, Any]] = []
        for branch in out:
            if branch not in unique:
                unique.append(branch)
        if len(unique) == 1:
            merged = dict(unique[0])
            if "description" in node and "description" not in merged:
                merged["description"] = node["description"]
            return merged
        return {**({"description": node["description"]} if "description" in node else {}), "anyOf": unique}

    @staticmethod
    def implied_type(node: dict[str, Any], at: str) -> str | None:
        """The type whose values a node's keywords constrain (``None``: no keyword constrains)."""
        implied = {kind for kind, keys in _FOR_TYPE.items() if set(node) & keys and kind != "integer"}
        if not implied:
            return None
        if len(implied) > 1:
            raise NotExpressible(f"{at}: keywords of several types ({', '.join(sorted(implied))}) with no type")
        return implied.pop()

    def children(self, node: dict[str, Any], kind: str, at: str) -> dict[str, Any]:
        out = {k: v for k, v in node.items() if k in ("type", "description") or k in _FOR_TYPE[kind]}
        if kind == "object":
            props = out.get("properties") or {}
            if not isinstance(props, dict):
                raise NotExpressible(f"{at}.properties: not a mapping")
            reserved = sorted(set(props) & _RESERVED_NAMES)
            if reserved:
                raise NotExpressible(f"{at}.properties: MFJS refuses argument names {', '.join(reserved)}")
            required = out.get("required")
            if required is not None:
                if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
                    raise NotExpressible(f"{at}.required: not a list of names")
                props = {**props, **{name: {} for name in required if name not in props}}  # "any value"
            if props or "properties" in out or required is not None:
                out["properties"] = {name: self.node(sub, f"{at}.properties.{name}") for name, sub in props.items()}
            extra = out.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                out["additionalProperties"] = self.node(extra, f"{at}.additionalProperties")
            elif extra is not None and not isinstance(extra, bool | dict):
                raise NotExpressible(f"{at}.additionalProperties: not a schema")
        elif kind == "array" and "items" in out:
            out["items"] = self.node(out["items"], f"{at}.items")
        return out


def _kind(value: Any) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float) and math.isfinite(value):
        return "number"
    return None


__all__ = ["TYPES", "NotExpressible", "to_mfjs"]
