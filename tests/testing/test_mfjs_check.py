"""The strict fake's MFJS check (agentkit.testing._mfjs_check): each rule of the walle table
refuses the schema that breaks it, in the recorded envelope with walle's path, and a schema
that keeps every rule passes. Through HTTP, a tool's schema is checked unless it says
``strict: false``."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from agentkit.testing import FakeProvider, Turn
from agentkit.testing._mfjs_check import SCHEMA_ERROR, mfjs_problem


def root(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


@pytest.mark.parametrize(
    ("schema", "path", "what"),
    [
        (root(q={"description": "x"}), "properties.q", "type is not defined"),
        (
            root(q={"type": "string", "anyOf": [{"type": "string"}]}),
            "properties.q",
            "when using anyOf, type should be defined in anyOf items instead of the parent schema",
        ),
        (root(q={"anyOf": [{"type": "string"}], "default": "a"}), "properties.q", "keyword default is not allowed"),
        (root(q={"anyOf": []}), "properties.q", "anyOf must have 1 to 500 items"),
        (root(q={"type": "string", "format": "uri"}), "properties.q", "unsupported keywords: format"),
        (root(q={"type": "string", "pattern": "x"}), "properties.q", "unsupported keywords: pattern"),
        (root(q={"const": 1}), "properties.q", "unsupported keywords: const"),
        (root(q={"oneOf": [{"type": "string"}]}), "properties.q", "unsupported keywords: oneOf"),
        (
            root(q={"$ref": "#/$defs/A", "description": "d"}) | {"$defs": {"A": {"type": "string"}}},
            "properties.q",
            "conflicting keywords found after $ref expansion: description",
        ),
        (root(q={"$ref": "other.json#/A"}), "properties.q.$ref", "references must start with #/$defs/"),
        (root(q={"$ref": "#/$defs/Missing"}), "properties.q.$ref", "reference #/$defs/Missing is not defined"),
        (root(q={"type": "object", "$defs": {}}), "properties.q", "unsupported keywords: $defs"),
        ({"type": "object", "$defs": {"a/b": {"type": "string"}}}, "$defs.a/b", "definition names must not contain"),
        (root(q={"type": "strang"}), "properties.q", "invalid type 'strang'"),
        (
            root(q={"type": ["object", "null"]}),
            "properties.q",
            "object and array cannot be used in combination with multiple types",
        ),
        (
            root(q={"type": ["string", "null"], "maxLength": 3}),
            "properties.q",
            "keyword maxLength is not allowed in combination with multiple types",
        ),
        (
            root(q={"type": ["string", "integer"], "enum": ["a"]}),
            "properties.q",
            "enum with multiple types allows only one type and null",
        ),
        (root(q={"type": "string", "minimum": 1}), "properties.q", "keyword minimum is not allowed for type string"),
        (root(q={"type": "string", "enum": ["a", 1]}), "properties.q", "enum values must all be strings"),
        (root(q={"type": "boolean", "enum": [True]}), "properties.q", "enum values must all be strings"),
        (root(q={"type": "string", "enum": [1, 2]}), "properties.q", "does not match type string"),
        (root(q={"type": "integer", "minimum": 5, "maximum": 1}), "properties.q", "minimum must not be greater"),
        (root(q={"type": "array", "items": {"type": "object", "default": {}}}), "properties.q.items", "default must"),
        (root(required={"type": "string"}), "properties", "property name required is reserved"),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["codecType"]},
            "required",
            "required property 'codecType' is not defined in properties",
        ),
        (root(q={"type": "string", "description": 5}), "properties.q", "description must be a string"),
        (
            root(q={"type": "object", "additionalProperties": {"minLength": 1}}),
            "properties.q.additionalProperties",
            "type is not defined",
        ),
    ],
)
def test_each_mfjs_rule_refuses_what_breaks_it(schema: dict[str, Any], path: str, what: str) -> None:
    problem = mfjs_problem(schema)
    assert problem is not None and problem.startswith(SCHEMA_ERROR.split("<")[0]), problem
    assert f"<At path '{path}': " in problem and what in problem, problem


def test_a_schema_that_keeps_every_rule_passes() -> None:
    schema = {
        "type": "object",
        "$defs": {"P": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
        "properties": {
            "a": {"type": "string", "minLength": 1, "maxLength": 9, "enum": ["x", "y"], "description": "A."},
            "b": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 3}, {"type": "null"}], "title": "B"},
            "c": {"type": ["string", "null"], "description": "C."},
            "d": {"type": "array", "items": {"$ref": "#/$defs/P"}, "minItems": 1},
            "e": {"type": "object", "additionalProperties": {}},
            "f": {"type": "number", "default": 1.5},
            "g": {"$ref": "#/$defs/P"},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    assert mfjs_problem(schema) is None
    assert mfjs_problem({}) is None  # {} at the root: any value


def test_the_fake_checks_a_tools_schema_unless_it_says_strict_false() -> None:
    bad = {"type": "object", "properties": {"q": {"type": "string", "format": "date"}}}
    tool: dict[str, Any] = {"type": "function", "function": {"name": "find", "parameters": bad}}
    body = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "q"}], "tools": [tool]}
    with FakeProvider([Turn(content="ok")]) as fake, httpx2.Client(timeout=30) as http:
        refused = http.post(fake.base_url + "/chat/completions", json=body)
        tool["function"]["strict"] = False
        accepted = http.post(fake.base_url + "/chat/completions", json=body)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {
            "message": SCHEMA_ERROR.format(path="properties.q", what="unsupported keywords: format"),
            "type": "invalid_request_error",
        }
    }
    assert accepted.status_code == 200
