"""The delete and replace routes, as the Forward CLI calls them (`tb datasource delete | replace`)."""

import asyncio
import uuid

from starlette.requests import Request
from starlette.responses import Response

from .. import rewrite as lifecycle
from ..access import admin_access
from ..datadir import resource_id
from ..errors import BadRequest
from ..workspace import Workspace
from .http import flag, json_response, read_body, read_params
from . import resources
from .resources import DATASOURCE_DOCS, body_format, chunks, import_job, job_url, keep_job, multipart_rows



def _datasource(request: Request, what: str, name: str | None = None) -> tuple[Workspace, str]:
    ws = admin_access(request, f"{what} rows of a data source needs the admin token")
    name = request.path_params["name"] if name is None else name
    ws.datasource(name, ws.tokens.admin)  # 404 for a data source the project does not have
    return ws, name


def _delete_job(request: Request, ws: Workspace, name: str, condition: str, result: lifecycle.Result) -> dict:
    job_id = str(uuid.uuid4())
    return keep_job(request, ws, {
        "id": job_id, "job_id": job_id, "delete_id": job_id, "kind": "delete_data", "status": "done",
        "datasource": {"id": resource_id(ws.database, "datasource", name), "name": name}, "delete_condition": condition,
        "rows_affected": result.rows_affected, "job_url": job_url(request, job_id)})


async def delete_v0(request: Request) -> Response:
    """POST /v0/datasources/<name>/delete: delete_condition, dry_run; a job (done by the time it is answered)."""
    ws, name = _datasource(request, "Deleting")
    params = await read_params(request)
    condition = params.get("delete_condition", "")
    if flag(params, "dry_run"):
        return json_response({"rows_to_be_deleted": await asyncio.to_thread(lifecycle.count, ws, name, condition)})
    result = await asyncio.to_thread(lifecycle.delete, ws, name, condition)
    job = _delete_job(request, ws, name, condition, result)
    return json_response({**job, "job": job})


async def delete_v1(request: Request) -> Response:
    """POST /v1/datasources/<name>/delete: a lightweight delete (wait, partition); rows_affected and the mutation."""
    ws, name = _datasource(request, "Deleting")
    params = await read_params(request)
    condition = params.get("delete_condition", "")
    result = await asyncio.to_thread(lifecycle.delete, ws, name, condition, params.get("partition") or None)
    if not flag(params, "wait", default=True):
        job = _delete_job(request, ws, name, condition, result)
        return json_response({**job, "job": job})
    parts = len(result.partitions)
    return json_response({"rows_affected": result.rows_affected,
                          "mutation": {"partitions_scanned": parts, "partitions_done": parts, "partitions_in_progress": 0}})


async def replace_v1(request: Request) -> Response:
    """POST /v1/datasources/<name>/replace: a body as append takes it; replace_condition, skip_incompatible_partition_key."""
    ws, name = _datasource(request, "Replacing", request.path_params["name"])
    return json_response(await _replace_body(request, ws, name))


async def write_v0(request: Request) -> Response:
    """POST /v0/datasources?name=X&mode=append|replace: mode=replace is a replace, anything else what append_v0 says."""
    if request.query_params.get("mode") != "replace":
        return await resources.append_v0(request)
    ws, name = _datasource(request, "Replacing", request.query_params.get("name") or "")
    return json_response(await _replace_body(request, ws, name))


async def _replace_body(request: Request, ws: Workspace, name: str) -> dict:
    if request.query_params.get("url"):
        raise BadRequest("tblocal has no network access: download the file and replace with it", DATASOURCE_DOCS)
    if "multipart/form-data" in request.headers.get("content-type", ""):
        body, fmt = await multipart_rows(request, ws)
    else:
        body, fmt = await read_body(request, ws.settings.max_append_bytes), body_format(request)
    return await replace(request, ws, name, body, fmt)


async def replace(request: Request, ws: Workspace, name: str, body: bytes, fmt: str) -> dict:
    """Replace name's rows with body's; the finished import job."""
    if not body.strip():
        raise BadRequest("The body is empty: send NDJSON or CSV rows", DATASOURCE_DOCS)
    q = request.query_params
    job_id = str(uuid.uuid4())
    result = await asyncio.to_thread(
        lifecycle.replace, ws, name, list(chunks(body)), fmt, q.get("replace_condition"),
        flag(q, "skip_incompatible_partition_key"), job_id)
    return keep_job(request, ws, import_job(request, ws, name, job_id, result.rows_affected, result.quarantined, len(body),
                                            mode="replace", rows_deleted=result.rows_deleted, views=result.views,
                                            skipped_views=result.skipped_views))

