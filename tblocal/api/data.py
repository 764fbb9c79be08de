"""The data API: events in; endpoints, SQL and the OpenAPI document out; health."""

import time

from starlette.requests import Request
from starlette.responses import Response

from .. import formats, openapi, pipes, usage, write
from ..errors import BadRequest
from . import resources
from .auth import access
from .http import json_response
from .params import body, read_params


async def health(request: Request) -> Response:
    """Liveness: 200 when the server takes requests; 503 degraded while the disk refuses writes (reads go on)."""
    for ws in list(request.app.state.workspaces.live.values()):
        reason = ws.ingestor.problem()
        if reason:
            return json_response({"status": "degraded", "reason": reason}, 503)
    return json_response({"status": "ok"})


@body("rows")
async def events(request: Request) -> Response:
    """Events API: NDJSON rows in, {"successful_rows", "quarantined_rows"} out."""
    ws, grant = await access(request)
    params = await read_params(request)
    ds = ws.datasource(params.get("name"), grant)
    rows = params.body
    if not rows.strip():
        raise BadRequest("The body is empty: send one JSON object per line", write.EVENTS_DOCS)
    wait = params.flag("wait")
    clock = time.perf_counter()
    outcome = await ws.ingestor.submit(ds.name, write.Request(rows), wait)
    if outcome is None:  # acknowledged: recorded as announced (its rows are written with the next batch)
        outcome = write.Outcome(write.count_lines(rows), 0)
    usage.record_operation(ws, "append-hfi", ds.name, rows=outcome.successful_rows, rows_quarantine=outcome.quarantined_rows,
                           elapsed=time.perf_counter() - clock, body_bytes=len(rows))
    return json_response({"successful_rows": outcome.successful_rows, "quarantined_rows": outcome.quarantined_rows}, 200 if wait else 202)


async def pipe_data(request: Request) -> Response:
    """An endpoint's rows in .json, .csv, .ndjson or .parquet."""
    name, _, ext = request.path_params["file"].rpartition(".")
    if not name and request.method == "GET":  # no extension: the pipe itself, with its nodes (tb test run reads it)
        return json_response(resources.pipe_json(*await resources.readable_pipe(request, ext)))
    fmt, content_type = formats.by_extension(ext)
    ws, grant = await access(request)
    with usage.endpoint_call(ws, grant, request, name) as call:
        sent = await read_params(request)
        call.params = params = sent.with_lists(_array_params(ws, name)) if sent.repeated else sent.values
        sql = ws.pipe_sql(grant, name, params)
        call.result = await ws.run(sql, fmt, params)
    return Response(call.result.data, media_type=content_type)


def _array_params(ws, name: str) -> set[str]:
    pipe = ws.project.pipes.get(name)
    return {v["name"] for v in pipes.pipe_parameters(pipe) if str(v.get("type", "")).startswith("Array")} if pipe else set()


async def pipe_openapi(request: Request) -> Response:
    """OpenAPI 3 document of the endpoints this token can read."""
    ws, grant = await access(request)
    readable = {n for n in ws.project.endpoints if grant.can_read_pipe(n)}
    base = str(request.base_url).rstrip("/")
    return json_response(openapi.document(ws.project, base, readable))


@body(raw_param="q")
async def sql(request: Request) -> Response:
    """Query API: SQL over data sources and pipes, JSON unless it ends with FORMAT."""
    ws, grant = await access(request)
    with usage.endpoint_call(ws, grant, request, None) as call:
        call.params = params = (await read_params(request)).values
        query, fmt_name = ws.sql(grant, params.get("q", ""), params)
        call.skip = usage.reads_service(query, ws.database)
        fmt, content_type = formats.by_name(fmt_name)
        call.result = await ws.run(query, fmt, params, lane="query_api")
    return Response(call.result.data, media_type=content_type)
