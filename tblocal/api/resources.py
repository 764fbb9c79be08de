"""A workspace's resources as the Forward CLI reads them: pipes, data sources, appends and their jobs."""

import time
import uuid
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

from .. import usage, write
from ..errors import ApiError, BadRequest, Forbidden, NotFound
from ..access import access, admin_access
from .http import json_response, read_body
from ..datadir import resource_id
from ..project import Pipe
from ..workspace import Workspace

DATASOURCE_DOCS = "https://www.tinybird.co/docs/api-reference/datasource-api"
APPEND_CHUNK_BYTES = 8 * 1024 * 1024  # a large append is written in batches of about this size, cut at line ends


def _stamp(ws: Workspace) -> str:
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
            "created_at": _stamp(ws), "updated_at": _stamp(ws), "nodes": nodes}


async def list_pipes(request: Request) -> Response:
    """The pipes this token can read."""
    ws, grant = access(request)
    pipes = [pipe_json(ws, p) for p in ws.project.pipes.values() if grant.can_read_pipe(p.name)]
    return json_response({"pipes": pipes})


def readable_pipe(request: Request, name: str) -> tuple[Workspace, Pipe]:
    """The pipe called name, if this token may read it (404 / 403 otherwise)."""
    ws, grant = access(request)
    pipe = ws.project.pipes.get(name)
    if pipe is None:
        raise NotFound(f"The pipe '{name[:80]}' does not exist", "https://www.tinybird.co/docs/api-reference/pipe-api")
    if not grant.can_read_pipe(name):
        raise Forbidden(f"The token you have provided doesn't have access to the pipe '{name}'")
    return ws, pipe


async def pipe_datafile(request: Request) -> Response:
    """GET /v1/pipes/<name>.pipe: the datafile's text (text/plain exactly, which the CLI reads as text)."""
    _, pipe = readable_pipe(request, request.path_params["name"])
    return _plain_text(pipe.source)


def _plain_text(body: str) -> Response:
    # Exactly "text/plain": the CLI reads that as text, and parses "text/plain; charset=utf-8" as JSON.
    return Response(body, headers={"content-type": "text/plain"})


def _datasource_json(ws: Workspace, ds, counts: dict) -> dict:
    rows, size = counts.get(ds.name, (0, 0))
    return {"id": resource_id(ws.database, "datasource", ds.name), "name": ds.name, "description": ds.description,
            "columns": [{"name": c["name"], "type": c["type"]} for c in ds.columns],
            "engine": {"engine": ds.engine, **ds.engine_args}, "created_at": _stamp(ws), "updated_at": _stamp(ws),
            "statistics": {"row_count": rows, "bytes": size}}


async def list_datasources(request: Request) -> Response:
    """The data sources this token can read or append to, with row counts and sizes."""
    ws, grant = access(request)
    counts = ws.table_sizes()
    return json_response({"datasources": [_datasource_json(ws, ds, counts) for ds in ws.project.datasources.values()
                                          if grant.can_see_datasource(ds.name)]})


async def get_datasource(request: Request) -> Response:
    """One data source, with its row count (the CLI loads fixtures only into empty ones)."""
    ws, grant = access(request)
    name = request.path_params["name"]
    # by name, or by the id other answers give (a copy job's target: `tb copy run`)
    name = next((n for n in ws.project.datasources if resource_id(ws.database, "datasource", n) == name), name)
    if name not in ws.project.datasources:
        raise NotFound(f"Data Source '{name[:80]}' not found", DATASOURCE_DOCS)
    if not grant.can_see_datasource(name):
        raise Forbidden(f"The token you have provided doesn't have access to '{name[:80]}'")
    return json_response(_datasource_json(ws, ws.project.datasources[name], ws.table_sizes()))


async def truncate_datasource(request: Request) -> Response:
    """Remove every row of a data source (admin token)."""
    ws = admin_access(request, "Truncating a data source needs the admin token")
    name = request.path_params["name"]
    ws.datasource(name, ws.tokens.admin)
    await ws.truncate(name)
    return json_response({})


def body_format(request: Request, default: str = "csv") -> str:
    kind = (request.query_params.get("format") or request.headers.get("content-type", "") or default).lower()
    if "parquet" in kind:
        raise BadRequest("tblocal appends NDJSON and CSV; convert Parquet files first", DATASOURCE_DOCS)
    return "JSONEachRow" if "json" in kind else "CSV"


def chunks(body: bytes, size: int = APPEND_CHUNK_BYTES):
    """body in pieces of about size bytes, each ending at a line end."""
    start = 0
    while start < len(body):
        end = body.find(b"\n", start + size)
        end = len(body) if end < 0 else end + 1
        yield body[start:end]
        start = end


async def _append(request: Request, ws: Workspace, name: str, body: bytes, fmt: str) -> dict:
    """Write body into name in batches (each all-or-nothing); the finished job, kept for GET /v0/jobs/<id>."""
    if not body.strip():
        raise BadRequest("The body is empty: send NDJSON or CSV rows", DATASOURCE_DOCS)
    job_id, ok, bad = str(uuid.uuid4()), 0, 0
    created, clock, error = time.time(), time.perf_counter(), None
    try:
        for chunk in chunks(body):
            outcome = await ws.ingestor.submit(name, write.Request(chunk, fmt, import_id=job_id), True)
            ok, bad = ok + outcome.successful_rows, bad + outcome.quarantined_rows
    except Exception as e:  # recorded as failed, then answered as usual
        error = e.message if isinstance(e, ApiError) else "Internal error"
        raise
    finally:
        usage.record_operation(ws, "append", name, rows=ok, rows_quarantine=bad, elapsed=time.perf_counter() - clock,
                               job_id=job_id, import_id=job_id, body_bytes=len(body), error=error)
        usage.record_job(ws, job_id, "import", "error" if error else "done", created_at=created, started_at=created,
                         datasource=name, error=error, metadata={"rows": ok, "quarantine_rows": bad})
    return keep_job(request, ws, import_job(request, ws, name, job_id, ok, bad, len(body)))


def import_job(request: Request, ws: Workspace, name: str, job_id: str, ok: int, bad: int, size: int, **extra) -> dict:
    """A finished import (append or replace) as GET /v0/jobs/<id> answers it."""
    # No "error" key at all: the CLI treats its mere presence as a failure.
    return {"id": job_id, "job_id": job_id, "import_id": job_id, "kind": "import", "status": "done",
            "datasource": {"id": resource_id(ws.database, "datasource", name), "name": name},
            "statistics": {"row_count": ok, "quarantine_rows": bad, "bytes": size},
            "blocks": [{"process_return": [{"lines": ok, "quarantine": bad, "bytes": size}], "processing_time": 0}],
            "job_url": job_url(request, job_id), "created_at": _stamp(ws), **extra}


def job_url(request: Request, job_id: str) -> str:
    """Where the CLI follows a job."""
    return f"{str(request.base_url).rstrip('/')}/v0/jobs/{job_id}"


def keep_job(request: Request, ws: Workspace, job: dict) -> dict:
    """Keep a finished job of ws for GET /v0/jobs/<id>; returns it."""
    request.app.state.workspaces.keep_job({**job, "workspace": ws.database})
    return job


async def append_v1(request: Request) -> Response:
    """POST /v1/datasources/<name>/append?format=ndjson|csv: the raw body, as the Forward CLI sends files and --events."""
    ws, grant = access(request)
    ds = ws.datasource(request.path_params["name"], grant)
    if request.query_params.get("url"):
        raise BadRequest("tblocal has no network access: download the file and append it with --file", DATASOURCE_DOCS)
    body = await read_body(request, ws.settings.max_append_bytes)
    return json_response(await _append(request, ws, ds.name, body, body_format(request)))


async def append_v0(request: Request) -> Response:
    """POST /v0/datasources?name=X&mode=append: a raw NDJSON/CSV body, or multipart fields ndjson/csv (curl -F)."""
    ws, grant = access(request)
    mode = request.query_params.get("mode", "append")
    if mode != "append":
        raise BadRequest(f"mode={mode[:20]} is not supported by tblocal: only mode=append and mode=replace (deploy datafiles to create)")
    ds = ws.datasource(request.query_params.get("name"), grant)
    if "multipart/form-data" in request.headers.get("content-type", ""):
        body, fmt = await multipart_rows(request, ws)
    else:
        body, fmt = await read_body(request, ws.settings.max_append_bytes), body_format(request)
    job = await _append(request, ws, ds.name, body, fmt)
    rows, bad = job["statistics"]["row_count"], job["statistics"]["quarantine_rows"]
    return json_response({"id": job["id"], "import_id": job["id"], "job_id": job["id"], "datasource": job["datasource"],
                          "successful_rows": rows, "quarantined_rows": bad, "quarantine_rows": bad,
                          "invalid_lines": 0, "error": False})


async def multipart_rows(request: Request, ws: Workspace) -> tuple[bytes, str]:
    form = await request.form(max_part_size=ws.settings.max_append_bytes)
    try:
        for field, fmt in (("ndjson", "JSONEachRow"), ("csv", "CSV")):
            part = form.get(field)
            if part is not None:
                data = await part.read() if hasattr(part, "read") else str(part).encode()
                return write.decode_body(data, "gzip" if data[:2] == b"\x1f\x8b" else "", ws.settings.max_append_bytes), fmt
        if form.get("url") is not None:
            raise BadRequest("tblocal has no network access: send the file itself (-F ndjson=@file)", DATASOURCE_DOCS)
        raise BadRequest("Send the rows in a multipart field named ndjson or csv", DATASOURCE_DOCS)
    finally:
        await form.close()


def _jobs_of(request: Request, ws: Workspace) -> list[dict]:
    return [{k: v for k, v in j.items() if k != "workspace"}
            for j in request.app.state.workspaces.jobs.values() if j["workspace"] == ws.database]


async def list_jobs(request: Request) -> Response:
    """This workspace's recent jobs (appends and copies), newest last."""
    ws, _ = access(request)
    return json_response({"jobs": _jobs_of(request, ws)})


async def get_job(request: Request) -> Response:
    """One job by id."""
    ws, _ = access(request)
    job = next((j for j in _jobs_of(request, ws) if j["id"] == request.path_params["id"]), None)
    if job is None:
        raise NotFound(f"Job '{request.path_params['id'][:40]}' not found")
    return json_response(job)


async def example_url(request: Request) -> Response:
    """GET /examples/query.http?pipe=<p>: the endpoint's URL with this token, as `tb endpoint url` prints it."""
    ws, pipe = readable_pipe(request, request.query_params.get("pipe", ""))
    fmt = request.query_params.get("format", "json")
    token = request.query_params.get("token", "")
    url = f"{str(request.base_url).rstrip('/')}/v0/pipes/{pipe.name}.{fmt}?token={token}"
    return _plain_text(url)
