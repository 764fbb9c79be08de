"""The copy pipe routes `tb copy run/pause/resume` call; the copies themselves: tblocal/copies.py."""

from starlette.requests import Request
from starlette.responses import Response

from ..access import access
from ..copies import COPY_DOCS, copy_sql, mode_of
from ..datadir import resource_id
from ..errors import Forbidden, NotFound
from ..project import Pipe
from ..workspace import Workspace
from .http import json_response
from .resources import readable_pipe


def _copy_pipe(request: Request) -> tuple[Workspace, Pipe]:
    ws, pipe = readable_pipe(request, request.path_params["name"])
    if pipe.copy is None:
        raise NotFound(f"The pipe '{pipe.name}' is not a copy pipe", COPY_DOCS)
    _, grant = access(request)
    if not grant.can_append(pipe.copy.datasource):
        raise Forbidden(f"The token you have provided doesn't have access to append to '{pipe.copy.datasource}'")
    return ws, pipe


async def run_copy(request: Request) -> Response:
    """POST /v0/pipes/<name>/copy?<params>&_mode=append|replace: start a copy job."""
    ws, pipe = _copy_pipe(request)
    params = dict(request.query_params)
    mode = mode_of(pipe, params.get("_mode"))
    copy_sql(ws.renderer, pipe, params)  # a bad parameter is a 400 now, not a failed job
    copies = request.app.state.copies
    job = await copies.started(copies.submit(ws, pipe, params, mode, str(request.base_url)))
    shown = {k: v for k, v in job.items() if k != "workspace"}
    return json_response({**shown, "job": shown, "tags": {"copy_target_datasource": job["datasource"]["id"]}})


async def pause_copy(request: Request) -> Response:
    """POST /v0/pipes/<name>/copy/pause: no more scheduled runs."""
    ws, pipe = _copy_pipe(request)
    request.app.state.copies.pause(ws, pipe)
    return json_response({"id": resource_id(ws.database, "pipe", pipe.name), "name": pipe.name, "schedule": {"status": "paused"}})


async def resume_copy(request: Request) -> Response:
    """POST /v0/pipes/<name>/copy/resume: scheduled runs again."""
    ws, pipe = _copy_pipe(request)
    request.app.state.copies.resume(ws, pipe)
    return json_response({"id": resource_id(ws.database, "pipe", pipe.name), "name": pipe.name, "schedule": {"status": "running"}})
