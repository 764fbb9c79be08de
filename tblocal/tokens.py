"""Token store: the admin token, one token per datafile TOKEN line and the static tokens made through the Token
API, kept in the data dir."""

import hmac
import json
import secrets
from pathlib import Path

from .access import ADMIN, READ_ALL, TOKENS, Grant
from .datadir import write_private_json
from .errors import BadRequest, NotFound
from .project import Project

TOKEN_DOCS = "https://www.tinybird.co/docs/api-reference/token-api"


def static_grant(name: str, token: str, raw_scopes: list[str]) -> Grant:
    """A static token's grant from scope strings as the Token API takes them (DATASOURCES:READ:<ds>:<filter>)."""
    scopes, filters = [], {}
    for raw in raw_scopes:
        if raw.startswith("DATASOURCES:READ:") and raw.count(":") >= 3:
            ds, condition = raw[len("DATASOURCES:READ:"):].split(":", 1)
            raw, filters[ds] = f"DATASOURCES:READ:{ds}", condition
        if raw not in scopes:
            scopes.append(raw)
    return Grant(name, token, tuple(scopes), filters=filters)


def _new_token() -> str:
    return "p." + secrets.token_urlsafe(32)


class TokenStore:
    """Tokens survive restarts: values (and the scopes of tokens made through the API) are kept in tokens.json;
    the scopes of datafile tokens always come from the datafiles."""

    def __init__(self, path: Path, project: Project, admin_token: str = ""):
        self.path, self.project, self.pinned_admin = Path(path), project, bool(admin_token)
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.values: dict[str, str] = saved.get("values", {})
        self.custom: dict[str, list[str]] = saved.get("custom", {})  # static tokens made with the Token API
        admin = admin_token or self.values.get("admin token") or _new_token()
        self.values["admin token"] = admin
        self.datafile: dict[str, list[str]] = {}
        for t in project.tokens:
            self.datafile.setdefault(t.name, [])
            if t.scope not in self.datafile[t.name]:
                self.datafile[t.name].append(t.scope)
        for name in [*self.datafile, *self.custom]:
            self.values.setdefault(name, _new_token())
        self._build()
        if self.values != saved.get("values"):
            self._save()

    def _build(self) -> None:
        self.grants = [Grant("admin token", self.values["admin token"], (ADMIN,))]
        self.grants += [Grant(name, self.values[name], tuple(s)) for name, s in self.datafile.items()]
        self.grants += [static_grant(name, self.values[name], s) for name, s in self.custom.items() if name not in self.datafile]

    def _save(self) -> None:
        write_private_json(self.path, {"values": self.values, "custom": self.custom})

    @property
    def admin(self) -> Grant:
        """The workspace admin token."""
        return self.grants[0]

    def find(self, token: str | None) -> Grant | None:
        """The grant whose value equals token, compared in constant time."""
        if not token:
            return None
        found = None
        for grant in self.grants:  # check every grant so timing does not reveal which one matched
            if hmac.compare_digest(grant.token.encode(), token.encode()):
                found = grant
        return found

    def by_name(self, name: str) -> Grant | None:
        """The grant called name (datafile TOKEN name, 'admin token', or a token made through the API)."""
        return next((g for g in self.grants if g.name == name), None)

    # -- static tokens through the Token API (tb token create static | refresh | rm)

    def _valid_scopes(self, raw_scopes: list[str]) -> list[str]:
        if not raw_scopes:
            raise BadRequest("At least one scope is required (scope=PIPES:READ:<pipe>, ADMIN, ...)", TOKEN_DOCS)
        for raw in raw_scopes:
            if raw in (ADMIN, TOKENS, READ_ALL):
                continue
            kind, _, rest = raw.partition(":")
            permission, _, resource = rest.partition(":")
            resource = resource.split(":", 1)[0] if permission == "READ" else resource
            known = {"PIPES": self.project.pipes, "DATASOURCES": self.project.datasources}.get(kind)
            if known is None or permission not in ("READ", "APPEND") or (kind, permission) == ("PIPES", "APPEND"):
                raise BadRequest(f"tblocal does not support the scope '{raw[:80]}': use ADMIN, TOKENS, WORKSPACE:READ_ALL, "
                                 "PIPES:READ:<pipe>, DATASOURCES:READ:<ds>[:<filter>] or DATASOURCES:APPEND:<ds>", TOKEN_DOCS)
            if resource not in known:
                raise BadRequest(f"The scope '{raw[:80]}' names a resource this workspace does not have", TOKEN_DOCS)
        return list(dict.fromkeys(raw_scopes))

    def _editable(self, name: str) -> Grant:
        grant = self.get(name)
        if grant.name == "admin token" or grant.name in self.datafile:
            raise BadRequest(f"Token '{grant.name}' comes from the datafiles (or is the admin token): change its TOKEN lines "
                             "and deploy instead", TOKEN_DOCS)
        return grant

    def get(self, name: str) -> Grant:
        """The grant called name, else 404."""
        grant = self.by_name(name)
        if grant is None:
            raise NotFound(f"Token '{name[:80]}' not found", TOKEN_DOCS)
        return grant

    def create(self, name: str, raw_scopes: list[str]) -> Grant:
        """A new static token called name with raw_scopes; 400 when the name is taken."""
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise BadRequest("The 'name' parameter is required (at most 200 characters)", TOKEN_DOCS)
        if self.by_name(name):
            raise BadRequest(f"A token called '{name}' already exists", TOKEN_DOCS)
        self.custom[name], self.values[name] = self._valid_scopes(raw_scopes), _new_token()
        return self._changed(name)

    def alter(self, name: str, raw_scopes: list[str]) -> Grant:
        """Replace the scopes of a static token made through the API."""
        grant = self._editable(name)
        self.custom[grant.name] = self._valid_scopes(raw_scopes)
        return self._changed(grant.name)

    def refresh(self, name: str) -> Grant:
        """A new value for a token (the old one stops working; for the admin token, every JWT signed with it too)."""
        grant = self.get(name)
        if grant.name == "admin token" and self.pinned_admin:
            raise BadRequest("This admin token is set by TB_TOKEN: change TB_TOKEN and restart instead", TOKEN_DOCS)
        self.values[grant.name] = _new_token()
        return self._changed(grant.name)

    def remove(self, name: str) -> None:
        """Delete a static token made through the API."""
        grant = self._editable(name)
        del self.custom[grant.name], self.values[grant.name]
        self._build()
        self._save()

    def _changed(self, name: str) -> Grant:
        self._build()
        self._save()
        return self.get(name)
