import pytest

from helpers import TEST_PROJECT
from tblocal.openapi import _schema, document
from tblocal.project import load_project

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "documentation": {"type": "string"}},
    "required": ["error"],
}


@pytest.fixture(scope="module")
def project():
    return load_project(TEST_PROJECT)


def test_document_shape(project):
    doc = document(project, "http://127.0.0.1:7181", {"top_users", "user_clicks"})
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": "http://127.0.0.1:7181"}]
    assert doc["security"] == [{"TokenAuth": []}]
    assert doc["components"] == {"securitySchemes": {"TokenAuth": {"type": "http", "scheme": "bearer"}}}
    assert set(doc["info"]) == {"title", "version"}
    assert sorted(doc["paths"]) == ["/v0/pipes/top_users.json", "/v0/pipes/user_clicks.json"]
    op = doc["paths"]["/v0/pipes/top_users.json"]["get"]
    assert (op["summary"], op["description"], op["operationId"]) == ("top_users", "Users ranked by clicks.", "get_top_users")
    assert sorted(op["responses"]) == ["200", "400", "403", "408", "429"]
    assert op["responses"]["400"] == {"description": "A parameter is not valid", "content": {"application/json": {"schema": ERROR}}}
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["meta", "data", "rows", "statistics"]


def test_parameters_with_type_default_description_enum(project):
    doc = document(project, "http://x", {"top_users", "user_clicks"})
    assert doc["paths"]["/v0/pipes/top_users.json"]["get"]["parameters"] == [
        {"name": "start", "in": "query", "required": False, "description": "Keep clicks at or after this time", "schema": {"type": "string"}},
        {"name": "kind", "in": "query", "required": False, "description": "Only this kind", "schema": {"type": "string", "enum": ["click", "tap"]}},
        {"name": "limit", "in": "query", "required": False, "description": "Rows to return", "schema": {"type": "integer", "format": "int32", "default": 10}},
    ]
    assert doc["paths"]["/v0/pipes/user_clicks.json"]["get"]["parameters"] == [
        {"name": "min_clicks", "in": "query", "required": False, "description": "Fewest clicks a user needs", "schema": {"type": "integer", "format": "int32", "default": 0}},
        {"name": "users", "in": "query", "required": False, "description": "Only these users", "schema": {"type": "array", "items": {"type": "string"}}},
    ]


def test_only_readable_pipes_are_documented(project):
    assert list(document(project, "http://x", {"top_users"})["paths"]) == ["/v0/pipes/top_users.json"]
    assert document(project, "http://x", set())["paths"] == {}
    assert document(project, "http://x", {"clicks_daily"})["paths"] == {}  # not an endpoint


@pytest.mark.parametrize(
    "var, schema",
    [
        ({"type": "Int32", "default": 5}, {"type": "integer", "format": "int32", "default": 5}),
        ({"type": "Int64"}, {"type": "integer", "format": "int64"}),
        ({"type": "UInt32"}, {"type": "integer", "format": "int64"}),
        ({"type": "Float64", "default": 30.0}, {"type": "number", "format": "double", "default": 30.0}),
        ({"type": "Boolean"}, {"type": "boolean"}),
        ({"type": "DateTime"}, {"type": "string"}),
        ({"type": "Date", "default": "2024-01-01"}, {"type": "string", "default": "2024-01-01"}),
        ({"type": "String", "enum": ["a", "b"], "default": "a"}, {"type": "string", "default": "a", "enum": ["a", "b"]}),
        ({"type": "Array(Int32)", "default": [1]}, {"type": "array", "items": {"type": "string"}}),
        ({}, {"type": "string"}),
    ],
)
def test_schema_of_each_type(var, schema):
    assert _schema(var) == schema
