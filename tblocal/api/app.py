"""The HTTP API: the app, its one route table, Tinybird's errors."""

import contextlib
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ApiError, MethodNotAllowed, NotFound
from ..workspaces import Workspaces
from ..copies import Copies
from . import copies, dashboard, data, deletes, jobs, management, resources, rows, tokens
from .cors import Cors
from .http import json_response
from .middleware import RequestLog, RetryHeaders, UrlLimit

log = logging.getLogger("tblocal")


def _both(path: str, endpoint, methods: list[str]) -> list[Route]:
    """A route under /v1 and /v0, with and without a trailing slash, as the CLI calls both."""
    return [Route(f"/{v}{path}{slash}", endpoint, methods=methods) for v in ("v1", "v0") for slash in ("", "/")]


ROUTES = [
    # management: Tinybird Local's bootstrap, workspaces, builds and deployments
    Route("/tokens", management.local_tokens, methods=["GET"]),
    *_both("/user/workspaces", management.list_workspaces, ["GET"]),
    *_both("/workspaces", management.create_workspace, ["POST"]),
    Route("/v1/workspaces/{workspace}", management.delete_workspace, methods=["DELETE"]),
    Route("/v0/workspaces/{workspace}", management.delete_workspace, methods=["DELETE"]),
    Route("/v1/build", management.build, methods=["POST"]),
    Route("/v1/deploy", management.create_deployment, methods=["POST"]),
    Route("/v1/deployments", management.list_deployments, methods=["GET"]),
    Route("/v1/deployments/{id}", management.get_deployment, methods=["GET"]),
    Route("/v1/deployments/{id}", management.discard_deployment, methods=["DELETE"]),
    Route("/v1/deployments/{id}/set-live", management.promote_deployment, methods=["POST"]),
    # tokens (static ones and JWTs) and the workspace a token opens
    Route("/v0/tokens", tokens.list_tokens, methods=["GET"]),
    Route("/v0/tokens", tokens.create_token, methods=["POST"]),
    Route("/v0/tokens/", tokens.create_token, methods=["POST"]),
    Route("/v0/tokens/{token}", tokens.get_token, methods=["GET"]),
    Route("/v0/tokens/{token}", tokens.alter_token, methods=["PUT"]),
    Route("/v0/tokens/{token}", tokens.delete_token, methods=["DELETE"]),
    Route("/v0/tokens/{token}/refresh", tokens.refresh_token, methods=["POST"]),
    Route("/v0/workspace", tokens.workspace_info, methods=["GET"]),
    Route("/v1/workspace", tokens.workspace_info, methods=["GET"]),
    # resources: pipes, data sources, jobs
    Route("/v0/pipes", resources.list_pipes, methods=["GET"]),
    Route("/v1/pipes/{name}.pipe", resources.pipe_datafile, methods=["GET"]),
    Route("/v0/datasources", resources.list_datasources, methods=["GET"]),
    Route("/v0/datasources", rows.write_v0, methods=["POST"]),
    Route("/v0/datasources/{name}", resources.get_datasource, methods=["GET"]),
    Route("/v0/datasources/{name}/truncate", resources.truncate_datasource, methods=["POST"]),
    Route("/v0/datasources/{name}/delete", deletes.delete_v0, methods=["POST"]),
    Route("/v1/datasources/{name}/delete", deletes.delete_v1, methods=["POST"]),
    Route("/v1/datasources/{name}/replace", rows.replace_v1, methods=["POST"]),
    Route("/v1/datasources/{name}/append", rows.append_v1, methods=["POST"]),
    Route("/v0/jobs", jobs.list_jobs, methods=["GET"]),
    Route("/v0/jobs/{id}", jobs.get_job, methods=["GET"]),
    Route("/examples/query.http", resources.example_url, methods=["GET"]),
    # copy pipes: runs, and pausing their schedule
    Route("/v0/pipes/{name}/copy", copies.run_copy, methods=["POST"]),
    Route("/v0/pipes/{name}/copy/pause", copies.pause_copy, methods=["POST"]),
    Route("/v0/pipes/{name}/copy/resume", copies.resume_copy, methods=["POST"]),
    # data: health, events, SQL, endpoints
    Route("/v0/health", data.health, methods=["GET"]),
    Route("/v0/events", data.events, methods=["POST"]),
    Route("/v0/sql", data.sql, methods=["GET", "POST"]),
    Route("/v0/pipes/openapi.json", data.pipe_openapi, methods=["GET"]),
    Route("/v0/pipes/{file}", data.pipe_data, methods=["GET", "POST"]),
    # the dashboard's static files
    Route("/dashboard", dashboard.dashboard_redirect, methods=["GET"]),
    Route("/dashboard/", dashboard.dashboard_index, methods=["GET"]),
    Route("/dashboard/{name}", dashboard.dashboard_asset, methods=["GET"]),
]


# ---------------------------------------------------------------- errors

async def api_error(request: Request, exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return await api_error(request, NotFound(f"Not found: {request.url.path[:200]}"))
    if exc.status_code == 405:
        return await api_error(request, MethodNotAllowed(f"Method {request.method} not allowed on {request.url.path[:200]}"))
    return json_response({"error": str(exc.detail), "documentation": ""}, exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return json_response({"error": "Internal error; see the tblocal log", "documentation": ""}, 500)


def create_app(workspaces: Workspaces) -> Starlette:
    """The ASGI app serving every workspace."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await workspaces.start()
        app.state.copies.start()
        try:
            yield
        finally:
            await app.state.copies.close()  # running copies finish before the writers close
            await workspaces.close()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.workspaces = workspaces
    app.state.copies = Copies(workspaces)
    app.add_middleware(RetryHeaders)
    app.add_middleware(UrlLimit)
    app.add_middleware(RequestLog)
    app.add_middleware(Cors)
    return app
