"""Deleting rows of a data source by condition, as the Forward CLI and the SDKs call it (`tb datasource delete`)."""

import asyncio
import uuid

from starlette.requests import Request
from starlette.responses import Response

from .. import rewrite
from ..workspace import Workspace
from . import jobs
from .auth import admin_access
from .http import json_response
from .params import Params, read_params


async def _target(request: Request) -> tuple[Workspace, str, Params, str]:
    ws = await admin_access(request, "Deleting rows of a data source needs the admin token")
    name = request.path_params["name"]
    ws.datasource(name, ws.tokens.admin)  # 404 for a data source the project does not have
    params = await read_params(request)
    return ws, name, params, params.get("delete_condition", "")


def _job(request: Request, ws: Workspace, name: str, condition: str, result) -> Response:
    return jobs.answer(jobs.delete_job(request, ws, name, str(uuid.uuid4()), condition, result.rows_affected))


async def delete_v0(request: Request) -> Response:
    """POST /v0/datasources/<name>/delete: delete_condition, dry_run; a job (done by the time it is answered)."""
    ws, name, params, condition = await _target(request)
    if params.flag("dry_run"):
        return json_response({"rows_to_be_deleted": await asyncio.to_thread(rewrite.count, ws, name, condition)})
    return _job(request, ws, name, condition, await asyncio.to_thread(rewrite.delete, ws, name, condition))


async def delete_v1(request: Request) -> Response:
    """POST /v1/datasources/<name>/delete: a lightweight delete (wait, partition); rows_affected and the mutation."""
    ws, name, params, condition = await _target(request)
    result = await asyncio.to_thread(rewrite.delete, ws, name, condition, params.get("partition") or None)
    if not params.flag("wait", default=True):
        return _job(request, ws, name, condition, result)
    parts = len(result.partitions)
    return json_response({"rows_affected": result.rows_affected,
                          "mutation": {"partitions_scanned": parts, "partitions_done": parts, "partitions_in_progress": 0}})
