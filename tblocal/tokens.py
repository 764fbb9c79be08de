"""Token store: the admin token and one token per datafile TOKEN line, kept in the data dir."""

import hmac
import json
import secrets
from pathlib import Path

from .access import ADMIN, Grant
from .datadir import write_private_json
from .project import Project

def _new_token() -> str:
    return "p." + secrets.token_urlsafe(32)


class TokenStore:
    """Tokens survive restarts: values are kept in tokens.json; scopes always come from the datafiles."""

    def __init__(self, path: Path, project: Project, admin_token: str = ""):
        self.path = Path(path)
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        values: dict[str, str] = saved.get("values", {})
        admin = admin_token or values.get("admin token") or _new_token()
        values["admin token"] = admin
        scopes: dict[str, list[str]] = {}
        for t in project.tokens:
            scopes.setdefault(t.name, [])
            if t.scope not in scopes[t.name]:
                scopes[t.name].append(t.scope)
        for name in scopes:
            values.setdefault(name, _new_token())
        self.grants = [Grant("admin token", admin, (ADMIN,))]
        self.grants += [Grant(name, values[name], tuple(s)) for name, s in scopes.items()]
        if values != saved.get("values"):
            write_private_json(self.path, {"values": values})

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
        """The grant called name (datafile TOKEN name, or 'admin token')."""
        return next((g for g in self.grants if g.name == name), None)
