"""Who may do what: Tinybird's scope names, a token's Grant, and the one place a request's token is resolved.

Every route asks a Grant (`can_read_pipe`, `can_append`, `is_admin`...) instead of spelling scopes.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import Forbidden

if TYPE_CHECKING:
    from starlette.requests import Request

    from .workspace import Workspace
    from .workspaces import Workspaces

ADMIN = "ADMIN"


def scope_name(resource_kind: str, permission: str, resource: str) -> str:
    """Tinybird's scope name, e.g. PIPES:READ:my_pipe, for a "pipe" or "datasource" and READ or APPEND."""
    kind = "PIPES" if resource_kind == "pipe" else "DATASOURCES"
    return f"{kind}:{permission}:{resource}"


@dataclass(frozen=True)
class Grant:
    name: str
    token: str
    scopes: tuple[str, ...]  # Tinybird scope names: ADMIN, PIPES:READ:<pipe>, DATASOURCES:APPEND:<ds>...

    def can(self, scope: str) -> bool:
        """Whether this token has scope, or is admin."""
        return ADMIN in self.scopes or scope in self.scopes

    @property
    def is_admin(self) -> bool:
        """Whether this is a workspace admin token."""
        return ADMIN in self.scopes

    def can_read_pipe(self, name: str) -> bool:
        """Whether this token may call the pipe called name."""
        return self.can(scope_name("pipe", "READ", name))

    def can_read_datasource(self, name: str) -> bool:
        """Whether this token may query the data source called name."""
        return self.can(scope_name("datasource", "READ", name))

    def can_append(self, name: str) -> bool:
        """Whether this token may write rows into the data source called name."""
        return self.can(scope_name("datasource", "APPEND", name))

    def can_see_datasource(self, name: str) -> bool:
        """Whether the data source called name is listed for this token (it may read or append to it)."""
        return self.can_read_datasource(name) or self.can_append(name)

    def as_json(self) -> dict:
        """The token as GET /v0/tokens lists it."""
        return {
            "name": self.name,
            "token": self.token,
            "scopes": [_scope_json(s) for s in self.scopes],
        }


def _scope_json(scope: str) -> dict:
    if scope == ADMIN:
        return {"type": ADMIN}
    kind, permission, resource = scope.split(":", 2)
    return {"type": f"{kind}:{permission}", "resource": resource}


# ---------------------------------------------------------------- a request's token

def token_of(request: "Request") -> str | None:
    """The token of a request: Authorization: Bearer, else ?token=."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token")


def resolve(registry: "Workspaces", token: str | None) -> tuple["Workspace", Grant]:
    """The workspace and grant a token opens; 403 when it opens none. The one place tokens are resolved."""
    if not token:
        raise Forbidden("Authentication is required: pass a token with ?token= or an Authorization: Bearer header")
    if registry.is_user_token(token):  # the user token acts as the default workspace's admin, as on Tinybird Local
        return registry.default, registry.default.tokens.admin
    for ws in registry.live.values():
        grant = ws.tokens.find(token)
        if grant is not None:
            return ws, grant
    raise Forbidden("Invalid token")


def access(request: "Request") -> tuple["Workspace", Grant]:
    """The workspace the request's token opens, and what it may do there."""
    return resolve(request.app.state.workspaces, token_of(request))


def admin_access(request: "Request", refusal: str) -> "Workspace":
    """The workspace the request's admin token opens; 403 saying refusal for any other token."""
    ws, grant = access(request)
    if not grant.is_admin:
        raise Forbidden(refusal)
    return ws


def require_user(request: "Request") -> None:
    """403 unless the request's token may manage workspaces: the user token or the default workspace's admin token."""
    registry, token = request.app.state.workspaces, token_of(request)
    if registry.is_user_token(token):
        return
    grant = registry.default.tokens.find(token)
    if grant is None or grant is not registry.default.tokens.admin:
        raise Forbidden("Managing workspaces needs the user token or the admin token (GET /tokens)")
