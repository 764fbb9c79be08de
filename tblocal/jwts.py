"""Tinybird's JWTs: HS256, signed with a workspace's admin token, verified with PyJWT. Never stored: any
token signed with the admin token and not expired is valid, until the admin token is refreshed."""

import json
from dataclasses import dataclass

import jwt

from .errors import BadRequest, Forbidden

JWT_DOCS = "https://www.tinybird.co/docs/forward/administration/tokens/jwt"
SCOPE_TYPES = ("PIPES:READ", "DATASOURCES:READ")  # the only scopes a JWT can carry
REQUIRED = ["workspace_id", "name", "exp", "scopes"]


@dataclass(frozen=True)
class Claims:
    """What a verified JWT grants: its name, scopes, fixed params per pipe, filters per data source, limits.rps."""

    name: str
    scopes: tuple[str, ...]
    fixed_params: dict
    filters: dict
    rps: int


def looks_like_jwt(token: str) -> bool:
    """Whether token is shaped like a JWT (static tokens start with p.)."""
    return token.startswith("eyJ") and token.count(".") == 2


def claimed_workspace(token: str) -> str:
    """The workspace_id a JWT claims, read before its signature is checked (to know whose key checks it)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise Forbidden("Invalid token: it is not a valid JWT", JWT_DOCS) from None
    workspace = claims.get("workspace_id") if isinstance(claims, dict) else None
    if not isinstance(workspace, str) or not workspace:
        raise Forbidden("Invalid token: the JWT has no workspace_id", JWT_DOCS)
    return workspace


def verify(token: str, admin_token: str, resource_ids: dict[str, str]) -> Claims:
    """What a JWT grants in the workspace whose admin token is admin_token; 403 when forged, expired or
    malformed. resource_ids maps pipe and data source ids to names (a scope's resource may be either)."""
    try:
        claims = jwt.decode(token, admin_token, algorithms=["HS256"], options={"require": REQUIRED})
    except jwt.ExpiredSignatureError:
        raise Forbidden("Invalid token: the JWT has expired (exp)", JWT_DOCS) from None
    except jwt.InvalidSignatureError:
        raise Forbidden("Invalid token: the JWT is not signed with this workspace's admin token", JWT_DOCS) from None
    except jwt.InvalidAlgorithmError:
        raise Forbidden("Invalid token: a JWT's algorithm must be HS256", JWT_DOCS) from None
    except jwt.MissingRequiredClaimError as e:
        raise Forbidden(f"Invalid token: the JWT has no '{e.claim}'", JWT_DOCS) from None
    except jwt.InvalidTokenError as e:
        raise Forbidden(f"Invalid token: {e}", JWT_DOCS) from None
    try:
        return _claims(claims, resource_ids)
    except (TypeError, ValueError, AttributeError, KeyError):
        raise Forbidden("Invalid token: the JWT's scopes or limits are not shaped as Tinybird documents", JWT_DOCS) from None


def _claims(claims: dict, resource_ids: dict[str, str]) -> Claims:
    scopes, fixed, filters = [], {}, {}
    for scope in claims["scopes"]:
        kind, resource = scope["type"], scope["resource"]
        if kind not in SCOPE_TYPES or not isinstance(resource, str):
            raise ValueError(kind)
        resource = resource_ids.get(resource, resource)
        if kind == "PIPES:READ":
            if scope.get("fixed_params"):
                fixed[resource] = {str(k): _param(v) for k, v in scope["fixed_params"].items()}
        elif scope.get("filter"):
            filters[resource] = str(scope["filter"])
        scopes.append(f"{kind}:{resource}")
    rps = int((claims.get("limits") or {}).get("rps") or 0)
    return Claims(str(claims["name"]), tuple(scopes), fixed, filters, max(rps, 0))


def _param(value) -> str:
    """A fixed parameter as a query string would carry it (arrays comma-separated)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    return json.dumps(value)


def mint(admin_token: str, workspace_id: str, name: str, expiration_time: str, body: dict) -> str:
    """A JWT as POST /v0/tokens?name=&expiration_time= makes it (tb token create jwt); 400 on a bad request."""
    if not (name or "").strip():
        raise BadRequest("The 'name' parameter is required", JWT_DOCS)
    try:
        exp = int(expiration_time)
    except (TypeError, ValueError):
        raise BadRequest("expiration_time must be a Unix timestamp in seconds", JWT_DOCS) from None
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        raise BadRequest('The body must be JSON: {"name", "scopes": [{"type", "resource", ...}], "limits"}', JWT_DOCS)
    for scope in scopes:
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES or not isinstance(scope.get("resource"), str):
            raise BadRequest("Each scope needs a type (PIPES:READ or DATASOURCES:READ) and a resource", JWT_DOCS)
    payload = {"workspace_id": workspace_id, "name": name, "exp": exp, "scopes": scopes}
    if body.get("limits"):
        payload["limits"] = body["limits"]
    return jwt.encode(payload, admin_token, algorithm="HS256")
