"""The data API: events in; endpoints, SQL and the OpenAPI document out; health."""

import time

from starlette.requests import Request
from starlette.responses import Response

from .. import formats, openapi, usage, write
from ..access import access
from ..errors import BadRequest
from . import resources
from .http import flag, json_response, read_body, read_params


async def health(request: Request) -> Response:
    """Liveness: 200 when the server takes requests; 503 degraded while the disk refuses writes (reads go on)."""
    for ws in list(request.app.state.workspaces.live.values()):
        reason = ws.ingestor.problem()
        if reason:
            return json_response({"status": "degraded", "reason": reason}, 503)
    return json_response({"status": "ok"})


async def events(request: Request) -> Response:
    """Events API: NDJSON rows in, {"successful_rows", "quarantined_rows"} out."""
    ws, grant = access(request)
    ds = ws.datasource(request.query_params.get("name"), grant)
    body = await read_body(request)
    if not body.strip():
        raise BadRequest("The body is empty: send one JSON object per line", write.EVENTS_DOCS)
    wait = flag(request.query_params, "wait")
    clock = time.perf_counter()
    outcome = await ws.ingestor.submit(ds.name, write.Request(body), wait)
    if outcome is None:  # acknowledged: recorded as announced (its rows are written with the next batch)
        outcome = write.Outcome(write.count_lines(body), 0)
    usage.record_operation(ws, "append-hfi", ds.name, rows=outcome.successful_rows, rows_quarantine=outcome.quarantined_rows,
                           elapsed=time.perf_counter() - clock, body_bytes=len(body))
    return json_response({"successful_rows": outcome.successful_rows, "quarantined_rows": outcome.quarantined_rows}, 200 if wait else 202)


async def pipe_data(request: Request) -> Response:
    """An endpoint's rows in .json, .csv, .ndjson or .parquet."""
    name, _, ext = request.path_params["file"].rpartition(".")
    if not name and request.method == "GET":  # no extension: the pipe itself, with its nodes (tb test run reads it)
        return json_response(resources.pipe_json(*resources.readable_pipe(request, ext)))
    fmt, content_type = formats.by_extension(ext)
    ws, grant = access(request)
    with usage.endpoint_call(ws, grant, request, name) as call:
        call.params = params = await read_params(request)
        sql = ws.pipe_sql(grant, name, params)
        call.result = await ws.run(sql, fmt, params)
    return Response(call.result.data, media_type=content_type)


async def pipe_openapi(request: Request) -> Response:
    """OpenAPI 3 document of the endpoints this token can read."""
    ws, grant = access(request)
    readable = {n for n in ws.project.endpoints if grant.can_read_pipe(n)}
    base = str(request.base_url).rstrip("/")
    return json_response(openapi.document(ws.project, base, readable))


async def sql(request: Request) -> Response:
    """Query API: SQL over data sources and pipes, JSON unless it ends with FORMAT."""
    ws, grant = access(request)
    with usage.endpoint_call(ws, grant, request, None) as call:
        call.params = params = await read_params(request, raw_key="q")
        query, fmt_name = ws.sql(grant, params.get("q", ""), params)
        call.skip = usage.reads_service(query, ws.database)
        fmt, content_type = formats.by_name(fmt_name)
        call.result = await ws.run(query, fmt, params, lane="query_api")
    return Response(call.result.data, media_type=content_type)
