"""The Token API as the Forward CLI calls it (tb token ls | copy | scopes | create static | create jwt | refresh |
rm), and the workspace a token opens (GET /v0/workspace, tb info)."""

from starlette.requests import Request
from starlette.responses import Response

from .. import jwts
from ..access import Grant
from ..datadir import resource_id
from ..errors import Forbidden
from ..tokens import TOKEN_DOCS
from ..workspace import Workspace
from .auth import access, admin_access
from .http import json_response
from .params import read_params


def _token_json(ws: Workspace, grant: Grant) -> dict:
    return {"id": resource_id(ws.database, "token", grant.name), **grant.as_json()}


async def _manager(request: Request) -> Workspace:
    """The workspace of a token that may manage tokens (ADMIN or TOKENS scope); 403 for any other."""
    ws, grant = await access(request)
    if not grant.can_manage_tokens:
        raise Forbidden("Managing tokens needs the admin token or a token with the TOKENS scope", TOKEN_DOCS)
    return ws


def _name(ws: Workspace, wanted: str) -> str:
    """The name of the token whose name or id is wanted (404 when none)."""
    found = next((g for g in ws.tokens.grants if wanted in (g.name, resource_id(ws.database, "token", g.name))), None)
    return (found or ws.tokens.get(wanted)).name


async def list_tokens(request: Request) -> Response:
    """Every token of the workspace with its id and scopes (tb token ls)."""
    ws = await _manager(request)
    return json_response({"tokens": [_token_json(ws, g) for g in ws.tokens.grants]})


async def get_token(request: Request) -> Response:
    """One token by id or name (tb token copy | scopes)."""
    ws = await _manager(request)
    return json_response(_token_json(ws, ws.tokens.get(_name(ws, request.path_params["token"]))))


def _scopes(params) -> list[str]:
    """The scopes asked for: repeated scope= (query string or form, as the Forward CLI sends them), or a JSON body's
    list of Tinybird scope names."""
    if params.json is not None and isinstance(params.json.get("scopes"), list):
        return [s for s in params.json["scopes"] if isinstance(s, str)]
    return params.getlist("scope")


async def create_token(request: Request) -> Response:
    """POST /v0/tokens: a JWT when expiration_time is given (tb token create jwt, the SDKs' create_jwt), else a static
    token; name, scopes and limits from the query string, a form or a JSON body."""
    ws = await _manager(request)
    params = await read_params(request)
    if params.get("expiration_time") is not None:
        record = request.app.state.workspaces.record(ws)
        return json_response({"token": jwts.mint(ws.tokens.admin.token, record.id, params.get("name", ""),
                                                 params.get("expiration_time"), params.json or {})})
    return json_response(_token_json(ws, ws.tokens.create(params.get("name", ""), _scopes(params))))


async def alter_token(request: Request) -> Response:
    """PUT /v0/tokens/<name>?scope=...: replace the scopes of a static token (tb token create static on an existing name)."""
    ws = await _manager(request)
    scopes = _scopes(await read_params(request))
    return json_response(_token_json(ws, ws.tokens.alter(_name(ws, request.path_params["token"]), scopes)))


async def delete_token(request: Request) -> Response:
    """DELETE /v0/tokens/<id or name> (tb token rm)."""
    ws = await _manager(request)
    ws.tokens.remove(_name(ws, request.path_params["token"]))
    return Response(status_code=204)


async def refresh_token(request: Request) -> Response:
    """POST /v0/tokens/<id or name>/refresh: a new value (tb token refresh)."""
    ws = await _manager(request)
    return json_response(_token_json(ws, ws.tokens.refresh(_name(ws, request.path_params["token"]))))


async def workspace_info(request: Request) -> Response:
    """GET /v0/workspace: the id and name of the workspace the admin token opens (the id a JWT carries; tb info)."""
    ws = await admin_access(request, "Reading the workspace needs its admin token")
    registry = request.app.state.workspaces
    record = registry.record(ws)
    return json_response({"id": record.id, "name": record.name, "created_at": record.created_at, "role": "admin",
                          "plan": "dev", "is_branch": False, "main": None, "organization_id": registry.organization_id})

