"""Tinybird Local's management API, as the Forward CLI calls it: bootstrap, workspaces, build, deployments."""

import ipaddress

from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadRequest, Forbidden
from ..workspace import Workspace
from ..workspaces import Record, Workspaces
from .auth import admin_access, require_user
from .http import json_response
from .params import body, read_params

DATAFILE_PART = "data_project://"


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or bool(getattr(address, "ipv4_mapped", None) and address.ipv4_mapped.is_loopback)


def _registry(request: Request) -> Workspaces:
    return request.app.state.workspaces


async def _admin(request: Request) -> Workspace:
    return await admin_access(request, "This needs the workspace's admin token")


def _workspace_json(record: Record, ws: Workspace) -> dict:
    return {"id": record.id, "name": record.name, "token": ws.tokens.admin.token, "role": "admin", "plan": "dev",
            "created_at": record.created_at}


async def local_tokens(request: Request) -> Response:
    """Tinybird Local's bootstrap, on loopback only: the user token and the default workspace's admin token."""
    if not _loopback(request.client.host if request.client else ""):
        raise Forbidden("/tokens is only served to loopback clients")
    registry = _registry(request)
    admin = registry.default.tokens.admin.token
    return json_response({"admin_token": admin, "workspace_admin_token": admin, "user_token": registry.user_token})


async def list_workspaces(request: Request) -> Response:
    """Every workspace with its admin token (user or default admin token); a workspace's own admin token sees that
    workspace only (tb info lists workspaces with it)."""
    registry = _registry(request)
    try:
        await require_user(request)
        records = list(registry.records.values())
    except Forbidden:
        records = [registry.record(await _admin(request))]
    rows = [_workspace_json(r, registry.live[r.id]) for r in records]
    return json_response({"organization_id": registry.organization_id, "workspaces": rows})


async def create_workspace(request: Request) -> Response:
    """A new empty workspace: POST /v1/workspaces with name= (query string or form, as the SDKs send it)."""
    registry = _registry(request)
    await require_user(request)
    ws = await registry.create((await read_params(request)).get("name", ""))
    return json_response(_workspace_json(registry.record(ws), ws))


async def delete_workspace(request: Request) -> Response:
    """Hard delete of a workspace by id or name, its data with it."""
    registry = _registry(request)
    await require_user(request)
    record = await registry.delete(request.path_params["workspace"])
    return json_response({"id": record.id, "name": record.name, "deleted": True})


async def _datafiles(request: Request) -> dict[str, bytes]:
    """The datafiles of a build or deploy request: multipart parts named data_project://, by relative path."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise BadRequest("Send the datafiles as multipart/form-data parts named data_project://")
    return {part.filename: part.data for part in (await read_params(request)).files if part.field == DATAFILE_PART}


@body(limit="max_append_bytes")
async def build(request: Request) -> Response:
    """tb build: replace the workspace's datafiles; data sources whose datafile changed start empty."""
    ws = await _admin(request)
    result, outcome = await _registry(request).submit(ws, await _datafiles(request), build=True)
    if result == "failed":
        return json_response({"result": "failed", "errors": outcome["errors"]})
    return json_response({"result": "success", "build": outcome})


@body(limit="max_append_bytes")
async def create_deployment(request: Request) -> Response:
    """tb deploy: check, stage and (auto_promote) promote the datafiles; check=true changes nothing."""
    ws = await _admin(request)
    params = await read_params(request)
    result, deployment = await _registry(request).submit(
        ws, await _datafiles(request), check=params.flag("check"), auto=params.flag("auto_promote"),
        destructive=params.flag("allow_destructive_operations"))
    return json_response({"result": result, "deployment": deployment})


async def list_deployments(request: Request) -> Response:
    """The workspace's deployments, oldest first."""
    ws = await _admin(request)
    deployments = _registry(request).deployments_of(ws)
    return json_response({"deployments": deployments.listed((await read_params(request)).flag("include_deleted"))})


async def get_deployment(request: Request) -> Response:
    """One deployment (deleted ones too)."""
    ws = await _admin(request)
    deployments = _registry(request).deployments_of(ws)
    return json_response({"deployment": deployments.get(request.path_params["id"])})


async def promote_deployment(request: Request) -> Response:
    """tb deployment promote: the staged deployment goes live."""
    ws = await _admin(request)
    registry = _registry(request)
    item = registry.deployments_of(ws).get(request.path_params["id"])
    return json_response({"deployment": await registry.promote(ws, item)})


async def discard_deployment(request: Request) -> Response:
    """tb deployment discard: delete a staged deployment."""
    ws = await _admin(request)
    deployments = _registry(request).deployments_of(ws)
    item = deployments.get(request.path_params["id"])
    async with deployments.lock:
        deployments.discard(item)
    return json_response({"deployment": item})
