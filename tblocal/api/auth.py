"""The workspace and grant a request's token opens.

The token: Authorization: Bearer, else the query string's `token`, else a form or multipart body's `token` (the body
is read for it only when neither has one, so a request without a token is refused before its rows are read).
"""

from starlette.requests import Request

from ..access import Grant, resolve
from ..errors import Forbidden
from ..workspace import Workspace
from .params import read_params


async def token_of(request: Request) -> str | None:
    """The request's token: the Authorization header, else the query string, else the body's token parameter."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or (await read_params(request)).get("token")


async def access(request: Request) -> tuple[Workspace, Grant]:
    """The workspace the request's token opens, and what it may do there."""
    return resolve(request.app.state.workspaces, await token_of(request))


async def admin_access(request: Request, refusal: str) -> Workspace:
    """The workspace the request's admin token opens; 403 saying refusal for any other token."""
    ws, grant = await access(request)
    if not grant.is_admin:
        raise Forbidden(refusal)
    return ws


async def require_user(request: Request) -> None:
    """403 unless the request's token may manage workspaces: the user token or the default workspace's admin token."""
    registry, token = request.app.state.workspaces, await token_of(request)
    if registry.is_user_token(token):
        return
    grant = registry.default.tokens.find(token)
    if grant is None or grant is not registry.default.tokens.admin:
        raise Forbidden("Managing workspaces needs the user token or the admin token (GET /tokens)")
