"""The copy pipe routes `tb copy run/pause/resume` call; the copies themselves: tblocal/copies.py."""

from starlette.requests import Request
from starlette.responses import Response

from ..copies import COPY_DOCS, copy_sql, mode_of
from ..datadir import resource_id
from ..errors import NotFound
from ..project import Pipe
from ..workspace import Workspace
from . import jobs
from .auth import access
from .http import json_response
from .params import read_params
from .resources import readable_pipe


async def _copy_pipe(request: Request) -> tuple[Workspace, Pipe]:
    ws, pipe = await readable_pipe(request, request.path_params["name"])
    if pipe.copy is None:
        raise NotFound(f"The pipe '{pipe.name}' is not a copy pipe", COPY_DOCS)
    _, grant = await access(request)
    grant.ensure("append", pipe.copy.datasource)
    return ws, pipe


async def run_copy(request: Request) -> Response:
    """POST /v0/pipes/<name>/copy?<params>&_mode=append|replace: start a copy job."""
    ws, pipe = await _copy_pipe(request)
    params = (await read_params(request)).values
    mode = mode_of(pipe, params.get("_mode"))
    copy_sql(ws.renderer, pipe, params)  # a bad parameter is a 400 now, not a failed job
    copies = request.app.state.copies
    job = await copies.started(copies.submit(ws, pipe, params, mode, str(request.base_url)))
    return jobs.answer(job, tags={"copy_target_datasource": job["datasource"]["id"]})


async def pause_copy(request: Request) -> Response:
    """POST /v0/pipes/<name>/copy/pause: no more scheduled runs."""
    ws, pipe = await _copy_pipe(request)
    request.app.state.copies.pause(ws, pipe)
    return json_response({"id": resource_id(ws.database, "pipe", pipe.name), "name": pipe.name, "schedule": {"status": "paused"}})


async def resume_copy(request: Request) -> Response:
    """POST /v0/pipes/<name>/copy/resume: scheduled runs again."""
    ws, pipe = await _copy_pipe(request)
    request.app.state.copies.resume(ws, pipe)
    return json_response({"id": resource_id(ws.database, "pipe", pipe.name), "name": pipe.name, "schedule": {"status": "running"}})
