"""The Token API as the Forward CLI calls it (tb token ls | copy | scopes | create static | create jwt | refresh |
rm), and the workspace a token opens (GET /v0/workspace, tb info)."""

import json
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from .. import jwts
from ..access import Grant, access, admin_access
from ..datadir import resource_id
from ..errors import BadRequest, Forbidden
from ..tokens import TOKEN_DOCS
from ..workspace import Workspace
from .http import json_response, read_body


def _token_json(ws: Workspace, grant: Grant) -> dict:
    return {"id": resource_id(ws.database, "token", grant.name), **grant.as_json()}


def _manager(request: Request) -> Workspace:
    """The workspace of a token that may manage tokens (ADMIN or TOKENS scope); 403 for any other."""
    ws, grant = access(request)
    if not grant.can_manage_tokens:
        raise Forbidden("Managing tokens needs the admin token or a token with the TOKENS scope", TOKEN_DOCS)
    return ws


def _name(ws: Workspace, wanted: str) -> str:
    """The name of the token whose name or id is wanted (404 when none)."""
    found = next((g for g in ws.tokens.grants if wanted in (g.name, resource_id(ws.database, "token", g.name))), None)
    return (found or ws.tokens.get(wanted)).name


async def list_tokens(request: Request) -> Response:
    """Every token of the workspace with its id and scopes (tb token ls)."""
    ws = _manager(request)
    return json_response({"tokens": [_token_json(ws, g) for g in ws.tokens.grants]})


async def get_token(request: Request) -> Response:
    """One token by id or name (tb token copy | scopes)."""
    ws = _manager(request)
    return json_response(_token_json(ws, ws.tokens.get(_name(ws, request.path_params["token"]))))


async def _scopes(request: Request) -> list[str]:
    """scope= values of the query string, or of a form body (the CLI sends long lists in the body)."""
    scopes = request.query_params.getlist("scope")
    body = await read_body(request)
    if not scopes and body:
        scopes = parse_qs(body.decode("utf-8", errors="replace")).get("scope", [])
    return scopes


async def create_token(request: Request) -> Response:
    """POST /v0/tokens: a JWT when expiration_time is given (tb token create jwt), else a static token."""
    ws = _manager(request)
    query = request.query_params
    if "expiration_time" in query:
        try:
            body = json.loads(await read_body(request) or b"{}")
        except ValueError:
            raise BadRequest('The body must be JSON: {"scopes": [...]}', jwts.JWT_DOCS) from None
        if not isinstance(body, dict):
            raise BadRequest('The body must be JSON: {"scopes": [...]}', jwts.JWT_DOCS)
        record = request.app.state.workspaces.record(ws)
        return json_response({"token": jwts.mint(ws.tokens.admin.token, record.id, query.get("name", ""), query["expiration_time"], body)})
    return json_response(_token_json(ws, ws.tokens.create(query.get("name", ""), await _scopes(request))))


async def alter_token(request: Request) -> Response:
    """PUT /v0/tokens/<name>?scope=...: replace the scopes of a static token (tb token create static on an existing name)."""
    ws = _manager(request)
    return json_response(_token_json(ws, ws.tokens.alter(_name(ws, request.path_params["token"]), await _scopes(request))))


async def delete_token(request: Request) -> Response:
    """DELETE /v0/tokens/<id or name> (tb token rm)."""
    ws = _manager(request)
    ws.tokens.remove(_name(ws, request.path_params["token"]))
    return Response(status_code=204)


async def refresh_token(request: Request) -> Response:
    """POST /v0/tokens/<id or name>/refresh: a new value (tb token refresh)."""
    ws = _manager(request)
    return json_response(_token_json(ws, ws.tokens.refresh(_name(ws, request.path_params["token"]))))


async def workspace_info(request: Request) -> Response:
    """GET /v0/workspace: the id and name of the workspace the admin token opens (the id a JWT carries; tb info)."""
    ws = admin_access(request, "Reading the workspace needs its admin token")
    registry = request.app.state.workspaces
    record = registry.record(ws)
    return json_response({"id": record.id, "name": record.name, "created_at": record.created_at, "role": "admin",
                          "plan": "dev", "is_branch": False, "main": None, "organization_id": registry.organization_id})

