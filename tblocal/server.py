"""The HTTP API: one route table, small handlers, Tinybird's errors."""

import contextlib
import json
import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import formats, ingest, openapi
from .errors import ApiError, BadRequest, Forbidden, MethodNotAllowed, NotFound, UriTooLong
from .tokens import Grant
from .workspace import Workspace
from .workspaces import Workspaces

log = logging.getLogger("tblocal")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
MAX_URL_BYTES = 64 * 1024  # longer path + query string: 414, as Tinybird; send long SQL or params in a POST body


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status, media_type="application/json")


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token")


def _access(request: Request) -> tuple[Workspace, Grant]:
    """The workspace the request's token opens, and what it may do there."""
    return request.app.state.workspaces.access(_token(request))


async def _body(request: Request) -> bytes:
    ws: Workspace = request.app.state.workspace
    limit = ws.settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ingest.TooLarge(f"The body is larger than the {limit // (1024 * 1024)} MB limit", ingest.EVENTS_DOCS)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ingest.TooLarge(f"The body is larger than the {limit // (1024 * 1024)} MB limit", ingest.EVENTS_DOCS)
    return ingest.decode_body(bytes(raw), request.headers.get("content-encoding", ""), limit)


async def _params(request: Request) -> dict:
    """Query string, then a form or JSON body of a POST, as Tinybird reads pipe parameters."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = await _body(request)
        kind = request.headers.get("content-type", "")
        if body and "json" in kind:
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's parser goes
                raise BadRequest("The body is not valid JSON") from None
            if not isinstance(data, dict):
                raise BadRequest("The JSON body must be an object of parameters")
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
        elif body:
            from urllib.parse import parse_qsl

            params.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    for key, value in params.items():
        if "\x00" in key or "\x00" in value:
            raise BadRequest(f"Parameter '{key[:40]}' contains a NUL character")
    return params


# ---------------------------------------------------------------- handlers

async def health(request: Request) -> Response:
    """Liveness: answers when the server can take requests."""
    return _json({"status": "ok"})


async def local_tokens(request: Request) -> Response:
    """Tinybird Local's bootstrap: the admin token, on loopback only."""
    if (request.client.host if request.client else "") not in LOOPBACK:
        raise Forbidden("/tokens is only served to loopback clients")
    workspaces = request.app.state.workspaces
    admin = workspaces.default.tokens.admin.token
    return _json({"admin_token": admin, "workspace_admin_token": admin, "user_token": workspaces.user_token})


async def list_tokens(request: Request) -> Response:
    """Every token with its scopes (admin only)."""
    ws, grant = _access(request)
    if not grant.can("ADMIN"):
        raise Forbidden("Listing tokens needs the admin token")
    return _json({"tokens": [g.as_json() for g in ws.tokens.grants]})


async def events(request: Request) -> Response:
    """Events API: NDJSON rows in, {"successful_rows", "quarantined_rows"} out."""
    ws, grant = _access(request)
    ds = ws.datasource(request.query_params.get("name"), grant)
    body = await _body(request)
    if not body.strip():
        raise BadRequest("The body is empty: send one JSON object per line", ingest.EVENTS_DOCS)
    wait = request.query_params.get("wait", "false").lower() in ("true", "1")
    outcome = await ws.ingestor.submit(ds.name, ingest.Request(body), wait)
    if outcome is None:
        return _json({"successful_rows": ingest.count_lines(body), "quarantined_rows": 0}, 202)
    return _json({"successful_rows": outcome.successful_rows, "quarantined_rows": outcome.quarantined_rows}, 200)


async def pipe_data(request: Request) -> Response:
    """An endpoint's rows in .json, .csv, .ndjson or .parquet."""
    name, _, ext = request.path_params["file"].rpartition(".")
    if not name:
        raise NotFound(f"The pipe '{ext}' does not exist: call /v0/pipes/<name>.json")
    fmt, content_type = formats.by_extension(ext)
    ws, grant = _access(request)
    params = await _params(request)
    sql = ws.pipe_sql(grant, name, params)
    return Response(await ws.run(sql, fmt, params), media_type=content_type)


async def pipe_openapi(request: Request) -> Response:
    """OpenAPI 3 document of the endpoints this token can read."""
    ws, grant = _access(request)
    readable = {n for n in ws.project.endpoints if grant.can(f"PIPES:READ:{n}")}
    base = str(request.base_url).rstrip("/")
    return _json(openapi.document(ws.project, base, readable))


async def list_pipes(request: Request) -> Response:
    """The pipes this token can read."""
    ws, grant = _access(request)
    pipes = [
        {
            "name": p.name,
            "description": p.description,
            "endpoint": p.endpoint.name if p.endpoint else None,
            "type": "endpoint" if p.endpoint else ("materialized" if p.materialized else "default"),
            "nodes": [{"name": n.name, "description": n.description, "node_type": n.type or "standard"} for n in p.nodes],
        }
        for p in ws.project.pipes.values()
        if grant.can(f"PIPES:READ:{p.name}")
    ]
    return _json({"pipes": pipes})


async def list_datasources(request: Request) -> Response:
    """The data sources this token can read or append to, with row counts."""
    ws, grant = _access(request)
    counts = ws.row_counts()
    out = []
    for ds in ws.project.datasources.values():
        if not (grant.can(f"DATASOURCES:READ:{ds.name}") or grant.can(f"DATASOURCES:APPEND:{ds.name}")):
            continue
        out.append(
            {
                "name": ds.name,
                "description": ds.description,
                "columns": [{"name": c["name"], "type": c["type"]} for c in ds.columns],
                "engine": {"engine": ds.engine, **{k: v for k, v in ds.engine_args.items()}},
                "statistics": {"row_count": counts.get(ds.name, 0)},
            }
        )
    return _json({"datasources": out})


async def append_datasource(request: Request) -> Response:
    """Bulk append of an NDJSON or CSV body: POST /v0/datasources?name=X&mode=append."""
    ws, grant = _access(request)
    mode = request.query_params.get("mode", "append")
    if mode != "append":
        raise BadRequest(f"mode={mode[:20]} is not supported by tblocal: only mode=append (push datafiles instead)")
    ds = ws.datasource(request.query_params.get("name"), grant)
    body = await _body(request)
    if not body.strip():
        raise BadRequest("The body is empty")
    kind = (request.query_params.get("format") or request.headers.get("content-type", "")).lower()
    fmt = "JSONEachRow" if ("json" in kind) else "CSV"
    req = ingest.Request(body, fmt)
    outcome = await ws.ingestor.submit(ds.name, req, True)
    return _json(
        {
            "datasource": {"name": ds.name},
            "import_id": req.import_id,
            "successful_rows": outcome.successful_rows,
            "quarantined_rows": outcome.quarantined_rows,
            "quarantine_rows": outcome.quarantined_rows,
            "invalid_lines": 0,
            "error": False,
        }
    )


async def sql(request: Request) -> Response:
    """Query API: SQL over data sources and pipes, JSON unless it ends with FORMAT."""
    ws, grant = _access(request)
    params = await _params(request)
    query, fmt_name = ws.sql(grant, params.get("q", ""), params)
    fmt, content_type = formats.by_name(fmt_name)
    return Response(await ws.run(query, fmt, params), media_type=content_type)


ROUTES = [
    Route("/v0/health", health, methods=["GET"]),
    Route("/tokens", local_tokens, methods=["GET"]),
    Route("/v0/tokens", list_tokens, methods=["GET"]),
    Route("/v0/events", events, methods=["POST"]),
    Route("/v0/sql", sql, methods=["GET", "POST"]),
    Route("/v0/pipes", list_pipes, methods=["GET"]),
    Route("/v0/pipes/openapi.json", pipe_openapi, methods=["GET"]),
    Route("/v0/pipes/{file}", pipe_data, methods=["GET", "POST"]),
    Route("/v0/datasources", list_datasources, methods=["GET"]),
    Route("/v0/datasources", append_datasource, methods=["POST"]),
]


# ---------------------------------------------------------------- errors, logs, lifecycle

async def api_error(request: Request, exc: ApiError) -> Response:
    return _json(exc.body(), exc.status)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return await api_error(request, NotFound(f"Not found: {request.url.path[:200]}"))
    if exc.status_code == 405:
        return await api_error(request, MethodNotAllowed(f"Method {request.method} not allowed on {request.url.path[:200]}"))
    return _json({"error": str(exc.detail), "documentation": ""}, exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return _json({"error": "Internal error; see the tblocal log", "documentation": ""}, 500)


class RequestLog:
    """One log line per request: method, path (never the query string, which may hold a token), status, ms."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL_BYTES:
            app = _json(UriTooLong(f"The URL is longer than {MAX_URL_BYTES // 1024} KB: send the parameters in a POST body").body(), 414)
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
    app.state.workspace = workspaces.default  # settings and limits are the server's, read through the default
    app.add_middleware(RequestLog)
    return app
