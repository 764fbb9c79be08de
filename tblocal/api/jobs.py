"""Jobs: the answers of imports, deletes and copies as Tinybird shapes them, kept for GET /v0/jobs and /v0/jobs/<id>."""

from starlette.requests import Request
from starlette.responses import Response

from ..datadir import resource_id
from ..errors import NotFound
from ..workspace import Workspace
from .auth import access
from .http import json_response
from .resources import stamp


def job_url(request: Request, job_id: str) -> str:
    """Where a client follows a job."""
    return f"{str(request.base_url).rstrip('/')}/v0/jobs/{job_id}"


def _datasource(ws: Workspace, name: str) -> dict:
    return {"id": resource_id(ws.database, "datasource", name), "name": name}


def import_job(request: Request, ws: Workspace, name: str, job_id: str, ok: int, bad: int, size: int, **extra) -> dict:
    """A finished import (append or replace), kept; as GET /v0/jobs/<id> answers it."""
    # No "error" key at all: the Forward CLI treats its mere presence as a failure.
    return _keep(request, ws, {
        "id": job_id, "job_id": job_id, "import_id": job_id, "kind": "import", "status": "done",
        "datasource": _datasource(ws, name), "statistics": {"row_count": ok, "quarantine_rows": bad, "bytes": size},
        "blocks": [{"process_return": [{"lines": ok, "quarantine": bad, "bytes": size}], "processing_time": 0}],
        "job_url": job_url(request, job_id), "created_at": stamp(ws), **extra})


def delete_job(request: Request, ws: Workspace, name: str, job_id: str, condition: str, rows_affected: int) -> dict:
    """A finished delete, kept; as GET /v0/jobs/<id> answers it."""
    return _keep(request, ws, {
        "id": job_id, "job_id": job_id, "delete_id": job_id, "kind": "delete_data", "status": "done",
        "datasource": _datasource(ws, name), "delete_condition": condition, "rows_affected": rows_affected,
        "job_url": job_url(request, job_id)})


def answer(job: dict, **extra) -> Response:
    """A job as the route that started it answers: its fields, and the same again under "job"."""
    shown = {k: v for k, v in job.items() if k != "workspace"}
    return json_response({**shown, "job": shown, **extra})


def _keep(request: Request, ws: Workspace, job: dict) -> dict:
    request.app.state.workspaces.keep_job({**job, "workspace": ws.database})
    return job


def _jobs_of(request: Request, ws: Workspace) -> list[dict]:
    return [{k: v for k, v in j.items() if k != "workspace"}
            for j in request.app.state.workspaces.jobs.values() if j["workspace"] == ws.database]


async def list_jobs(request: Request) -> Response:
    """This workspace's recent jobs (imports, deletes and copies), newest last."""
    ws, _ = await access(request)
    return json_response({"jobs": _jobs_of(request, ws)})


async def get_job(request: Request) -> Response:
    """One job by id."""
    ws, _ = await access(request)
    job = next((j for j in _jobs_of(request, ws) if j["id"] == request.path_params["id"]), None)
    if job is None:
        raise NotFound(f"Job '{request.path_params['id'][:40]}' not found")
    return json_response(job)
