"""Helpers shared by the runtime's own tests (pytest reads fixtures from conftest.py only)."""

import json
import shutil
from pathlib import Path

import requests

TEST_PROJECT = Path(__file__).resolve().parent / "project"


def copy_project(dst: Path) -> Path:
    """A copy of tests/project that a test may edit."""
    shutil.copytree(TEST_PROJECT, dst)
    return dst


def ndjson(rows) -> bytes:
    """NDJSON body of rows (dicts are JSON-encoded, strings sent as they are)."""
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode() + b"\n"


def click(i: int, user: str = "u1", ts: str = "2024-01-01 00:00:00", value: int = 1, **extra) -> dict:
    """One valid row of the test project's `clicks` data source."""
    return {"id": f"c{i}", "user": user, "ts": ts, "value": value, **extra}


class Client:
    """requests against one server with one token, by path."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def get(self, path: str, token: str | None = None, **params) -> requests.Response:
        return requests.get(self.url + path, params={"token": token or self.token, **params}, timeout=30)

    def post(self, path: str, body=b"", token: str | None = None, headers=None, **params) -> requests.Response:
        return requests.post(self.url + path, params={"token": token or self.token, **params}, data=body, headers=headers or {}, timeout=30)

    def events(self, rows, wait: bool = True, token: str | None = None, **kw) -> requests.Response:
        return self.post("/v0/events", ndjson(rows), token=token, name="clicks", wait="true" if wait else "false", **kw)

    def sql(self, q: str, token: str | None = None) -> requests.Response:
        return self.get("/v0/sql", token=token, q=q)

    def rows(self, q: str) -> list[dict]:
        """Rows of a /v0/sql query, failing loudly on an error."""
        r = self.sql(q + " FORMAT JSON")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def tokens(self) -> dict[str, str]:
        """Token name -> value, from /v0/tokens."""
        return {t["name"]: t["token"] for t in self.get("/v0/tokens").json()["tokens"]}
