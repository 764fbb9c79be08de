"""The HTTP API: one route table, small handlers, Tinybird's errors."""

import contextlib
import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import dashboard, formats, ingest, management, openapi, resources
from .http import access, json_response, read_body, read_params
from .errors import ApiError, BadRequest, MethodNotAllowed, NotFound, UriTooLong
from .workspaces import Workspaces

log = logging.getLogger("tblocal")
MAX_URL_BYTES = 64 * 1024  # longer path + query string: 414, as Tinybird; send long SQL or params in a POST body


# ---------------------------------------------------------------- handlers

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
        raise BadRequest("The body is empty: send one JSON object per line", ingest.EVENTS_DOCS)
    wait = request.query_params.get("wait", "false").lower() in ("true", "1")
    outcome = await ws.ingestor.submit(ds.name, ingest.Request(body), wait)
    if outcome is None:
        return json_response({"successful_rows": ingest.count_lines(body), "quarantined_rows": 0}, 202)
    return json_response({"successful_rows": outcome.successful_rows, "quarantined_rows": outcome.quarantined_rows}, 200)


async def pipe_data(request: Request) -> Response:
    """An endpoint's rows in .json, .csv, .ndjson or .parquet."""
    name, _, ext = request.path_params["file"].rpartition(".")
    if not name and request.method == "GET":  # no extension: the pipe itself, with its nodes (tb test run reads it)
        return json_response(resources.pipe_json(*resources.readable_pipe(request, ext)))
    fmt, content_type = formats.by_extension(ext)
    ws, grant = access(request)
    params = await read_params(request)
    sql = ws.pipe_sql(grant, name, params)
    return Response(await ws.run(sql, fmt, params), media_type=content_type)


async def pipe_openapi(request: Request) -> Response:
    """OpenAPI 3 document of the endpoints this token can read."""
    ws, grant = access(request)
    readable = {n for n in ws.project.endpoints if grant.can(f"PIPES:READ:{n}")}
    base = str(request.base_url).rstrip("/")
    return json_response(openapi.document(ws.project, base, readable))


async def sql(request: Request) -> Response:
    """Query API: SQL over data sources and pipes, JSON unless it ends with FORMAT."""
    ws, grant = access(request)
    params = await read_params(request)
    query, fmt_name = ws.sql(grant, params.get("q", ""), params)
    fmt, content_type = formats.by_name(fmt_name)
    return Response(await ws.run(query, fmt, params), media_type=content_type)


ROUTES = [
    *management.ROUTES,
    *resources.ROUTES,
    Route("/v0/health", health, methods=["GET"]),
    Route("/v0/events", events, methods=["POST"]),
    Route("/v0/sql", sql, methods=["GET", "POST"]),
    Route("/v0/pipes/openapi.json", pipe_openapi, methods=["GET"]),
    Route("/v0/pipes/{file}", pipe_data, methods=["GET", "POST"]),
    *dashboard.ROUTES,
]


# ---------------------------------------------------------------- errors, logs, lifecycle

async def api_error(request: Request, exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return await api_error(request, NotFound(f"Not found: {request.url.path[:200]}"))
    if exc.status_code == 405:
        return await api_error(request, MethodNotAllowed(f"Method {request.method} not allowed on {request.url.path[:200]}"))
    return json_response({"error": str(exc.detail), "documentation": ""}, exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return json_response({"error": "Internal error; see the tblocal log", "documentation": ""}, 500)


class RequestLog:
    """One log line per request: method, path (never the query string, which may hold a token), status, ms."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL_BYTES:
            await ingest.drain(receive)  # a body sent with the long URL is read first, so the client reads the 414
            app = json_response(UriTooLong(f"The URL is longer than {MAX_URL_BYTES // 1024} KB: send the parameters in a POST body").body(), 414)
            log.info("%s %s 414", scope["method"], scope["path"][:200])
            return await app(scope, receive, send)

        async def send_with_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %s %.1fms", scope["method"], scope["path"], status[0], ms)


def create_app(workspaces: Workspaces) -> Starlette:
    """The ASGI app serving every workspace."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await workspaces.start()
        try:
            yield
        finally:
            await workspaces.close()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.workspaces = workspaces
    app.add_middleware(RequestLog)
    app.add_middleware(dashboard.Cors)
    return app
