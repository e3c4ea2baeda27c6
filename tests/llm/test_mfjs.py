"""Tool schemas rewritten into Moonshot Flavored JSON Schema (agentkit.llm._schema), checked
against the published keyword table (MoonshotAI/walle docs, the Kimi fact sheet §10.2) and
against the strict fake's own, separately written validator (agentkit.testing._mfjs_check).

Each rewrite must keep the schema's meaning: the same instances are valid before and after
(checked with the jsonschema package on sample values). What MFJS cannot say goes with
``strict: false`` and the schema untouched."""

from __future__ import annotations

import datetime
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from agentkit.llm._schema import NotExpressible, to_mfjs
from agentkit.llm._tool_wire import mfjs_parameters
from agentkit.testing._mfjs_check import mfjs_problem
from agentkit.tools.base import tool


def same_meaning(before: dict[str, Any], after: dict[str, Any], samples: list[Any]) -> None:
    old, new = Draft202012Validator(before), Draft202012Validator(after)
    for sample in samples:
        assert old.is_valid(sample) == new.is_valid(sample), (sample, before, after)


def mfjs(schema: dict[str, Any], samples: list[Any]) -> dict[str, Any]:
    out = to_mfjs(schema)
    assert mfjs_problem(out) is None, (mfjs_problem(out), out)
    same_meaning(schema, out, samples)
    return out


def obj(prop: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"type": "object", "properties": {"p": prop}, **({"required": ["p"]} if required else {})}


VALUES = [None, True, False, 0, 1, 2, 7, 10, 11, -3, 2.5, "", "a", "b", "2024-01-01T00:00:00Z", [], [1], {}, {"k": 1}]
ARGS = [{"p": v} for v in VALUES] + [{}, {"p": 1, "q": 2}]


@pytest.mark.parametrize(
    ("name", "prop"),
    [
        (
            "type beside anyOf (K3 refusal, kimi-cli#2531)",
            {"type": "string", "anyOf": [{"minLength": 1}, {"maxLength": 0}]},
        ),
        ("anyOf with null (pydantic Optional)", {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}),
        ("type list with a constraint", {"type": ["string", "null"], "maxLength": 3}),
        ("type list of object and array", {"type": ["object", "array"]}),
        ("const", {"const": "a"}),
        ("enum holding null", {"enum": ["a", "b", None]}),
        ("enum of two kinds", {"enum": ["a", 1]}),
        ("enum of booleans", {"enum": [True, False]}),
        ("enum without type", {"enum": [1, 2]}),
        ("format (an annotation)", {"type": "string", "format": "date-time", "description": "When."}),
        ("integer exclusive bounds", {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}),
        ("float bounds on an integer", {"type": "integer", "minimum": 0.5, "maximum": 9.5}),
        ("default, title, examples", {"type": "integer", "default": 5, "title": "P", "examples": [1, 2]}),
        ("any value ({})", {}),
        ("no type, string keywords", {"minLength": 1}),
        ("single-branch allOf", {"allOf": [{"type": "integer"}], "description": "wrapped"}),
        ("nested anyOf", {"anyOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"type": "null"}]}),
        ("array of any", {"type": "array", "items": {}}),
        ("uniqueItems false", {"type": "array", "uniqueItems": False}),
        ("vendor keyword", {"type": "string", "x-order": 3}),
    ],
)
def test_a_schema_outside_mfjs_becomes_mfjs_with_the_same_meaning(name: str, prop: dict[str, Any]) -> None:
    mfjs(obj(prop), ARGS)


def test_the_refused_forms_are_refused_by_the_fake_as_given() -> None:
    refused = [
        obj({"type": "string", "anyOf": [{"minLength": 1}]}),
        obj({"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}),
        obj({"const": "a"}),
        obj({"type": "string", "format": "date-time"}),
        obj({}),
        obj({"minLength": 1}),
        obj({"type": "integer", "exclusiveMinimum": 0}),
        {"type": "object", "properties": {}, "required": ["missing"]},
        {
            "type": "object",
            "$defs": {"A": {"type": "integer"}},
            "properties": {"a": {"$ref": "#/$defs/A", "description": "x"}},
        },
    ]
    for schema in refused:
        assert mfjs_problem(schema) is not None, schema
        mfjs(schema, [*ARGS, {"a": 1}, {"a": "x"}, {"missing": 1}])


def test_references_are_inlined_with_their_fields_descriptions() -> None:
    schema = {
        "type": "object",
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
        "properties": {
            "at": {"$ref": "#/$defs/Point", "description": "Where."},
            "path": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
        },
        "required": ["at"],
    }
    out = mfjs(schema, [{"at": {"x": 1}}, {"at": {"x": "1"}}, {"at": {}}, {"at": {"x": 1}, "path": [{"x": 2}, {}]}])
    assert out["properties"]["at"] == {
        "type": "object",
        "properties": {"x": {"type": "integer"}},
        "required": ["x"],
        "description": "Where.",
    }
    assert "$defs" not in out


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "string", "pattern": "^[a-z]+$"},  # "Not yet supported (planned)"
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        {"not": {"type": "string"}},
        {"type": "number", "exclusiveMinimum": 0.5},
        {"type": "integer", "multipleOf": 3},
        {"type": "array", "uniqueItems": True},
        {"type": "array", "items": [{"type": "integer"}]},
        {"type": "object", "minProperties": 1},
        {"type": "object", "patternProperties": {"^x": {"type": "integer"}}},
        {"const": True},
        {"enum": [{"a": 1}]},
        {"allOf": [{"minimum": 1}, {"minimum": 2}]},
        {"type": "number", "minimum": 1e-7},  # MFJS refuses scientific notation
        {"$ref": "https://example.org/schema.json"},
    ],
)
def test_what_mfjs_cannot_say_goes_unchanged_with_strict_false(prop: dict[str, Any]) -> None:
    schema = obj(prop)
    with pytest.raises(NotExpressible):
        to_mfjs(schema)
    assert mfjs_parameters(schema) == {"parameters": schema, "strict": False}


def test_a_recursive_schema_goes_with_strict_false() -> None:
    tree = {
        "type": "object",
        "$defs": {
            "Node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}
        },
        "properties": {"root": {"$ref": "#/$defs/Node"}},
    }
    assert mfjs_parameters(tree)["strict"] is False


def test_a_root_union_goes_with_strict_false_and_an_object_root() -> None:
    schema = {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["b"]}]}
    sent = mfjs_parameters(schema)
    assert sent["strict"] is False and sent["parameters"]["type"] == "object"


class Inner(BaseModel):
    a: int = Field(description="A")


class Args(BaseModel):
    x: int | None = None
    y: Inner = Field(description="the inner")
    z: Literal["a", "b"] = "a"
    w: dict[str, int] = {}
    v: Any = None
    t: datetime.datetime
    items: list[Inner] = []
    o: Inner | None = None
    c: int = Field(3, gt=0, lt=10)


def test_pydantic_argument_models_become_mfjs() -> None:
    schema = Args.model_json_schema()
    assert mfjs_problem(schema) is not None
    out = mfjs(
        schema,
        [
            {"y": {"a": 1}, "t": "2024-01-01T00:00:00Z"},
            {"y": {"a": 1}, "t": "x", "x": None, "z": "b", "c": 9, "o": None, "v": [1]},
            {"y": {"a": "no"}, "t": "x"},
            {"y": {"a": 1}, "t": "x", "c": 10},
            {"y": {"a": 1}, "t": "x", "z": "c"},
            {"y": {"a": 1}, "t": "x", "w": {"k": "v"}},
            {"y": {"a": 1}, "t": "x", "items": [{"a": 1}, {"b": 2}]},
        ],
    )
    assert out["properties"]["c"] == {"type": "integer", "minimum": 1, "maximum": 9, "description": "Default: 3"}
    assert out["properties"]["t"]["description"] == "Format: date-time"
    assert out["properties"]["x"] == {"description": "Default: null", "anyOf": [{"type": "integer"}, {"type": "null"}]}


def test_every_builtin_tools_schema_is_sent_strict_and_passes_the_fake() -> None:
    from agentkit.run.planner import NoteTool, UpdatePlanTool
    from agentkit.tools import builtin_tools

    @tool
    async def lookup(term: str, limit: int = 5, site: str | None = None) -> str:
        """Look up."""
        return term

    for t in [*builtin_tools({}), NoteTool(), UpdatePlanTool(), lookup]:
        sent = mfjs_parameters(t.schema["function"]["parameters"])
        assert "strict" not in sent and mfjs_problem(sent["parameters"]) is None, (t.name, sent)


def test_the_rewrite_is_stable_bytes() -> None:
    import orjson

    schema = Args.model_json_schema()
    assert orjson.dumps(to_mfjs(schema)) == orjson.dumps(to_mfjs(Args.model_json_schema()))
