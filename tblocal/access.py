"""Who may do what: Tinybird's scope names, a token's Grant, and the one place a token is resolved.

Every route asks a Grant (`ensure`, `can_read_pipe`, `is_admin`...) instead of spelling scopes, and `Grant.ensure` is
the one place the "no access" 403 is answered. A static token's grant comes from its workspace's TokenStore, a JWT's
from its signed payload (jwts.py).
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import jwts
from .datadir import quarantined, resource_id
from .engine import quote_ident
from .errors import Forbidden

if TYPE_CHECKING:
    from .workspace import Workspace
    from .workspaces import Workspaces

ADMIN = "ADMIN"
TOKENS = "TOKENS"  # may create, change and remove tokens, and mint JWTs
READ_ALL = "WORKSPACE:READ_ALL"  # may read every pipe and data source
READ_SCOPES = ("PIPES:READ:", "DATASOURCES:READ:")


def scope_name(resource_kind: str, permission: str, resource: str) -> str:
    """Tinybird's scope name, e.g. PIPES:READ:my_pipe, for a "pipe" or "datasource" and READ or APPEND."""
    kind = "PIPES" if resource_kind == "pipe" else "DATASOURCES"
    return f"{kind}:{permission}:{resource}"


@dataclass(frozen=True)
class Grant:
    name: str
    token: str
    scopes: tuple[str, ...]  # Tinybird scope names: ADMIN, PIPES:READ:<pipe>, DATASOURCES:APPEND:<ds>...
    fixed_params: dict = field(default_factory=dict)  # pipe -> {param: value} a JWT pins, whatever the request sends
    filters: dict = field(default_factory=dict)  # data source -> SQL condition its rows are read through
    rps: int = 0  # a JWT's limits.rps (calls a second, counted by name); 0 = no limit

    def can(self, scope: str) -> bool:
        """Whether this token has scope, or is admin (WORKSPACE:READ_ALL: any read scope)."""
        if ADMIN in self.scopes or scope in self.scopes:
            return True
        return READ_ALL in self.scopes and scope.startswith(READ_SCOPES)

    @property
    def can_manage_tokens(self) -> bool:
        """Whether this token may create, change and remove tokens and mint JWTs (ADMIN or TOKENS)."""
        return self.can(TOKENS)

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

    def can_query(self, table: str) -> bool:
        """Whether client SQL may read table: a pipe, a data source, or its quarantine (never through a row filter)."""
        base = quarantined(table) or table
        return self.can_read_pipe(table) or (self.can_read_datasource(base) and (table == base or base not in self.filters))

    def ensure(self, action: str, resource: str, documentation: str | None = None) -> None:
        """403 unless this token may do action ("read pipe", "see", "query" or "append") on resource."""
        check, named = ACTIONS[action]
        if not check(self, resource):
            raise Forbidden(f"The token you have provided doesn't have access to {named.format(resource[:80])}", documentation)

    def pinned(self, params: dict, pipes: set[str]) -> dict:
        """params with the fixed parameters of the pipes a query reads put over the request's; 403 when two of
        those pipes fix one parameter to different values (no single rendering could honour both)."""
        fixed: dict = {}
        for pipe in sorted(pipes & set(self.fixed_params)):
            for key, value in self.fixed_params[pipe].items():
                if fixed.setdefault(key, value) != value:
                    raise Forbidden(f"The token fixes '{key}' to different values for the pipes this query reads: read them one at a time")
        return {**params, **fixed} if fixed else params

    def row_filters(self, database: str) -> dict[str, str]:
        """Each filtered data source as the subquery client SQL reads in its place."""
        return {ds: f"(SELECT * FROM {database}.{quote_ident(ds)} WHERE {condition})" for ds, condition in self.filters.items()}

    def as_json(self) -> dict:
        """The token as GET /v0/tokens lists it."""
        return {
            "name": self.name,
            "token": self.token,
            "scopes": [self._scope_json(s) for s in self.scopes],
        }

    def _scope_json(self, scope: str) -> dict:
        if ":" not in scope:
            return {"type": scope}
        kind, permission, resource = scope.split(":", 2)
        out = {"type": f"{kind}:{permission}", "resource": resource}
        if scope.startswith("DATASOURCES:READ:") and resource in self.filters:
            out["filter"] = self.filters[resource]
        return out


# ---------------------------------------------------------------- a token's workspace

def resolve(registry: "Workspaces", token: str | None) -> tuple["Workspace", Grant]:
    """The workspace and grant a token opens; 403 when it opens none. The one place tokens are resolved."""
    if not token:
        raise Forbidden("Authentication is required: pass a token in an Authorization: Bearer header or a token parameter")
    if registry.is_user_token(token):  # the user token acts as the default workspace's admin, as on Tinybird Local
        return registry.default, registry.default.tokens.admin
    if jwts.looks_like_jwt(token):
        return _jwt(registry, token)
    for ws in registry.live.values():
        grant = ws.tokens.find(token)
        if grant is not None:
            return ws, grant
    raise Forbidden("Invalid token")


def _jwt(registry: "Workspaces", token: str) -> tuple["Workspace", Grant]:
    """The workspace a JWT names, if signed with its admin token; counted against the JWT's limits.rps."""
    wid = jwts.claimed_workspace(token)
    if wid not in registry.live:
        raise Forbidden("Invalid token: the JWT's workspace_id is not a workspace of this server", jwts.JWT_DOCS)
    ws = registry.live[wid]
    ids = {resource_id(ws.database, "pipe", n): n for n in ws.project.pipes}
    ids.update({resource_id(ws.database, "datasource", n): n for n in ws.project.datasources})
    claims = jwts.verify(token, ws.tokens.admin.token, ids)
    grant = Grant(claims.name, token, claims.scopes, claims.fixed_params, claims.filters, claims.rps)
    if grant.rps:
        registry.limiter.hit((wid, grant.name), grant.rps)
    return ws, grant


ACTIONS = {  # action -> (the Grant's check, how the 403 names the resource)
    "read pipe": (Grant.can_read_pipe, "the pipe '{}'"),
    "see": (Grant.can_see_datasource, "'{}'"),
    "query": (Grant.can_query, "'{}'"),
    "append": (Grant.can_append, "append to '{}'"),
}
