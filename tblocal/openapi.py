"""Project -> OpenAPI 3 document of the endpoints, built from each pipe's template variables."""

from .pipes import pipe_parameters
from .project import Project

_TYPES = {  # first matching prefix wins
    "Int64": ("integer", "int64"),
    "Int": ("integer", "int32"),
    "UInt": ("integer", "int64"),
    "Float": ("number", "double"),
    "Boolean": ("boolean", None),
    "DateTime": ("string", "date-time"),
    "Date": ("string", "date"),
}
ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "documentation": {"type": "string"}},
    "required": ["error"],
}


def _schema(var: dict) -> dict:
    kind = str(var.get("type") or "String")
    schema: dict = {"type": "string"}
    if kind.startswith("Array"):
        schema = {"type": "array", "items": {"type": "string"}}
    else:
        for prefix, (t, fmt) in _TYPES.items():
            if kind.startswith(prefix):
                schema = {"type": t}
                if fmt and prefix not in ("DateTime", "Date"):
                    schema["format"] = fmt
                break
    if var.get("default") is not None and not kind.startswith("Array"):
        schema["default"] = var["default"]
    if var.get("enum"):
        schema["enum"] = list(var["enum"])
    return schema


def _response(description: str, content_type: str, schema: dict) -> dict:
    return {"description": description, "content": {content_type: {"schema": schema}}}


def document(project: Project, base_url: str, readable: set[str]) -> dict:
    """OpenAPI 3.0 document for the endpoint pipes in readable."""
    paths = {}
    ok = {
        "type": "object",
        "properties": {
            "meta": {"type": "array", "items": {"type": "object"}},
            "data": {"type": "array", "items": {"type": "object"}},
            "rows": {"type": "integer"},
            "rows_before_limit_at_least": {"type": "integer"},
            "statistics": {"type": "object"},
        },
        "required": ["meta", "data", "rows", "statistics"],
    }
    for name, pipe in sorted(project.endpoints.items()):
        if name not in readable:
            continue
        params = [
            {
                "name": var["name"],
                "in": "query",
                "required": bool(var.get("required")),
                "description": var.get("description") or "",
                "schema": _schema(var),
            }
            for var in pipe_parameters(pipe)
        ]
        responses = {
            "200": _response("Rows of the endpoint", "application/json", ok),
            "400": _response("A parameter is not valid", "application/json", ERROR),
            "403": _response("The token cannot read this endpoint", "application/json", ERROR),
            "408": _response("The query took too long", "application/json", ERROR),
            "429": _response("Too many requests at once", "application/json", ERROR),
        }
        paths[f"/v0/pipes/{name}.json"] = {
            "get": {
                "summary": name,
                "description": pipe.description,
                "operationId": f"get_{name}",
                "parameters": params,
                "responses": responses,
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "User Engagement Tracking API (tblocal)", "version": "1.0.0"},
        "servers": [{"url": base_url}],
        "components": {"securitySchemes": {"TokenAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"TokenAuth": []}],
        "paths": paths,
    }
