"""A workspace's resources as the Forward CLI and the SDKs read them: pipes and data sources; truncate."""

from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFound
from ..datadir import resource_id
from ..project import Pipe
from ..workspace import Workspace
from .auth import access, admin_access, token_of
from .http import json_response
from .params import read_params

DATASOURCE_DOCS = "https://www.tinybird.co/docs/api-reference/datasource-api"


def stamp(ws: Workspace) -> str:
    """When ws was loaded, as Tinybird stamps resources."""
    # The CLI prints these with the last 7 characters (".ffffff") cut off.
    return datetime.fromtimestamp(ws.loaded_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _node_type(node) -> str:
    return node.type or "standard"


def pipe_json(ws: Workspace, pipe: Pipe) -> dict:
    """A pipe as GET /v0/pipes/<name> answers: its nodes with their SQL and node_type."""
    endpoint = pipe.endpoint
    nodes = [{"id": resource_id(ws.database, "node", f"{pipe.name}.{n.name}"), "name": n.name, "sql": n.sql,
              "description": n.description, "node_type": "endpoint" if n is endpoint else _node_type(n),
              "materialized": n.datasource or None} for n in pipe.nodes]
    return {"id": resource_id(ws.database, "pipe", pipe.name), "name": pipe.name, "description": pipe.description,
            "type": "endpoint" if endpoint else "copy" if pipe.copy else ("materialized" if pipe.materialized else "default"),
            "endpoint": resource_id(ws.database, "node", f"{pipe.name}.{endpoint.name}") if endpoint else None,
            "created_at": stamp(ws), "updated_at": stamp(ws), "nodes": nodes}


async def list_pipes(request: Request) -> Response:
    """The pipes this token can read."""
    ws, grant = await access(request)
    pipes = [pipe_json(ws, p) for p in ws.project.pipes.values() if grant.can_read_pipe(p.name)]
    return json_response({"pipes": pipes})


async def readable_pipe(request: Request, name: str) -> tuple[Workspace, Pipe]:
    """The pipe called name, if this token may read it (404 / 403 otherwise)."""
    ws, grant = await access(request)
    pipe = ws.project.pipes.get(name)
    if pipe is None:
        raise NotFound(f"The pipe '{name[:80]}' does not exist", "https://www.tinybird.co/docs/api-reference/pipe-api")
    grant.ensure("read pipe", name)
    return ws, pipe


async def pipe_datafile(request: Request) -> Response:
    """GET /v1/pipes/<name>.pipe: the datafile's text (text/plain exactly, which the CLI reads as text)."""
    _, pipe = await readable_pipe(request, request.path_params["name"])
    return _plain_text(pipe.source)


def _plain_text(body: str) -> Response:
    # Exactly "text/plain": the CLI reads that as text, and parses "text/plain; charset=utf-8" as JSON.
    return Response(body, headers={"content-type": "text/plain"})


def _datasource_json(ws: Workspace, ds, counts: dict) -> dict:
    rows, size = counts.get(ds.name, (0, 0))
    return {"id": resource_id(ws.database, "datasource", ds.name), "name": ds.name, "description": ds.description,
            "columns": [{"name": c["name"], "type": c["type"]} for c in ds.columns],
            "engine": {"engine": ds.engine, **ds.engine_args}, "created_at": stamp(ws), "updated_at": stamp(ws),
            "statistics": {"row_count": rows, "bytes": size}}


async def list_datasources(request: Request) -> Response:
    """The data sources this token can read or append to, with row counts and sizes."""
    ws, grant = await access(request)
    counts = ws.table_sizes()
    return json_response({"datasources": [_datasource_json(ws, ds, counts) for ds in ws.project.datasources.values()
                                          if grant.can_see_datasource(ds.name)]})


async def get_datasource(request: Request) -> Response:
    """One data source, with its row count (the CLI loads fixtures only into empty ones)."""
    ws, grant = await access(request)
    name = request.path_params["name"]
    # by name, or by the id other answers give (a copy job's target: `tb copy run`)
    name = next((n for n in ws.project.datasources if resource_id(ws.database, "datasource", n) == name), name)
    if name not in ws.project.datasources:
        raise NotFound(f"Data Source '{name[:80]}' not found", DATASOURCE_DOCS)
    grant.ensure("see", name)
    return json_response(_datasource_json(ws, ws.project.datasources[name], ws.table_sizes()))


async def truncate_datasource(request: Request) -> Response:
    """Remove every row of a data source (admin token)."""
    ws = await admin_access(request, "Truncating a data source needs the admin token")
    name = request.path_params["name"]
    ws.datasource(name, ws.tokens.admin)
    await ws.truncate(name)
    return json_response({})


async def example_url(request: Request) -> Response:
    """GET /examples/query.http?pipe=<p>: the endpoint's URL with this token, as `tb endpoint url` prints it."""
    params = await read_params(request)
    ws, pipe = await readable_pipe(request, params.get("pipe", ""))
    fmt = params.get("format", "json")
    token = await token_of(request) or ""
    url = f"{str(request.base_url).rstrip('/')}/v0/pipes/{pipe.name}.{fmt}?token={token}"
    return _plain_text(url)
