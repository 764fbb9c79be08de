"""Helpers shared by the runtime's own tests (pytest reads fixtures from conftest.py only)."""

import contextlib
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tblocal.ddl import Schema
from tblocal.pipes import Renderer
from tblocal.project import Project, load_project

TEST_PROJECT = Path(__file__).resolve().parent / "project"
HANG_S = 60  # how long a test waits for a condition before calling it a hang: never a speed target


def wait_until(predicate, timeout: float, what: str):
    """predicate()'s first true value, asked every 0.1 s; AssertionError naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
TB = Path(sys.executable).parent / "tb"


def copy_project(dst: Path) -> Path:
    """A copy of tests/project that a test may edit."""
    shutil.copytree(TEST_PROJECT, dst)
    return dst


def datafiles(**replace) -> list[tuple]:
    """tests/project as the CLI sends it: one data_project:// part per datafile (by relative path).
    replace: relative path -> new text, or None to leave the file out; a path tests/project lacks is added."""
    parts = [("context://", ("cli-version", b"1.0.0", "text/plain"))]
    paths = sorted({p.relative_to(TEST_PROJECT).as_posix() for p in TEST_PROJECT.glob("*/*.*")} | set(replace))
    for rel in paths:
        text = replace[rel] if rel in replace else (TEST_PROJECT / rel).read_text()
        if text is not None:
            parts.append(("data_project://", (rel, text.encode(), "text/plain")))
    return parts


@contextlib.contextmanager
def project_database(engine, db: str, schema_file: Path):
    """tests/project's tables and views on a fresh database db; yields the project, then drops db and every
    `<db>__*` database made meanwhile (its shadow, a scratch copy)."""
    def drop() -> None:
        for row in engine.rows(f"SELECT name FROM system.databases WHERE name = '{db}' OR startsWith(name, '{db}__')"):
            engine.execute(f"DROP DATABASE IF EXISTS {row['name']} SYNC")

    drop()
    project: Project = load_project(TEST_PROJECT)
    Schema(engine, schema_file).apply(project, Renderer(project, db))
    try:
        yield project
    finally:
        drop()


@contextlib.contextmanager
def scratch_workspace(local, name: str, files: list[tuple]):
    """A workspace of the in-process app built from files (datafiles() parts); yields its admin token, then hard-deletes it."""
    user = local.get("/tokens").json()["user_token"]
    token = local.post("/v1/workspaces", params={"name": name, "token": user}).json()["token"]
    try:
        built = local.post("/v1/build", files=files, headers={"Authorization": f"Bearer {token}"}).json()
        assert built["result"] == "success", built
        yield token
    finally:
        local.delete(f"/v1/workspaces/{name}", params={"token": user, "hard_delete_confirmation": "yes"})


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


def tb(server, cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """Run `tb --local <args>` from cwd against server; with ok, fail the test unless it exits 0."""
    env = {k: v for k, v in os.environ.items() if k not in ("TB_HOST", "TB_TOKEN")}
    env.update(TB_LOCAL_HOST="127.0.0.1", TB_LOCAL_PORT=str(server.port), TB_CLI_TELEMETRY_OPTOUT="1", TB_VERSION_WARNING="0")
    done = subprocess.run([str(TB), "--local", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, f"tb --local {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def workspace(server, name: str) -> dict:
    """The workspace called name, as the CLI's bootstrap lists it (with its admin token)."""
    listed = requests.get(f"{server.url}/v1/user/workspaces", params={"token": server.admin_token}, timeout=10).json()
    return next(w for w in listed["workspaces"] if w["name"] == name)


def build_workspace_name(project: Path) -> str:
    """The workspace `tb --local` uses from project (no git branch, no .tinyb there)."""
    return "Tinybird_Local_Build_" + hashlib.sha256(str(project).encode()).hexdigest()


def build_workspace(server, project: Path) -> dict:
    """The workspace `tb --local build` uses from project."""
    return workspace(server, build_workspace_name(project))


@contextlib.contextmanager
def serving(files: dict[str, bytes]):
    """A loopback HTTP server answering GET /<name> with files[name] (404 otherwise); yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = files.get(self.path.lstrip("/"))
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
