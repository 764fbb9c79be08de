"""Tinybird's SDKs for tests/test_sdk_*.py: where `make sdk-deps` installed them, and how a test drives one.

Each SDK runs as a subprocess in its own environment (.venv-sdk for the Python SDKs, Node with the
repo's node_modules for the npm ones), driven by a small script under tests/sdk/.
"""

import json
import os
import socket
import subprocess
from pathlib import Path

from helpers import Client
from tblocal.launcher import ROOT, ServerProcess

SDK_DIR = ROOT / "tests" / "sdk"
SDK_PROJECT = SDK_DIR / "project"
SDK_VENV_BIN = ROOT / ".venv-sdk" / "bin"
NODE_MODULES = ROOT / "node_modules"
DRIVERS = {"python": [str(SDK_VENV_BIN / "python"), str(SDK_DIR / "py_sdk.py")],
           "typescript": ["node", str(SDK_DIR / "ts_sdk.mjs")]}
LOCAL_PORT = 7181
PRIVATE_ENV = ("TB_", "TINYBIRD_", "GITHUB_", "VERCEL_", "CI_MERGE_REQUEST_")  # both SDKs' local mode is fixed to http://localhost:7181


def sdk_server(tmp_path_factory, name: str, port: int | None = None, **env):
    """Yield a tblocal serving tests/sdk/project in its default workspace (on port, else a free one), then stop it."""
    require_installed()
    server = ServerProcess(SDK_PROJECT, tmp_path_factory.mktemp(name) / "data", env=env)
    if port is not None:
        require_free_port(port)
        server.port = port
    try:
        yield server.start(timeout=120)
    finally:
        server.stop()


def emptied(server) -> Client:
    """The admin's HTTP client of server, once its events and tb_logs data sources are empty."""
    client = Client(server.url, server.admin_token)
    for name in ("events", "tb_logs"):
        assert client.post(f"/v0/datasources/{name}/truncate").status_code == 200, f"truncate {name} failed"
    return client


def require_installed() -> None:
    """Fail (never skip) when `make sdk-deps` has not installed the SDKs."""
    missing = [str(p) for p in (SDK_VENV_BIN / "python", NODE_MODULES / "@tinybirdco" / "sdk", NODE_MODULES / "@tinybirdco" / "mockingbird")
               if not p.exists()]
    assert not missing, f"Tinybird's SDKs are not installed ({', '.join(missing)}): run `make sdk-deps` (part of `make test`)"


def sdk_env(**extra) -> dict:
    """The environment of an SDK subprocess, as on a developer's machine: no Tinybird settings of the caller's shell,
    and none of the CI variables (GITHUB_HEAD_REF, VERCEL_ENV, ...) that switch the SDKs to preview-branch tokens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_ENV)}
    env.update(TB_CLI_TELEMETRY_OPTOUT="1", **extra)
    return env


def run_calls(sdk: str, url: str, token: str, *calls: tuple[str, dict]) -> list[dict]:
    """Run calls ((op, args) of tests/sdk/*_sdk.*) through sdk; one answer per call."""
    require_installed()
    plan = json.dumps({"url": url, "token": token, "calls": [list(c) for c in calls]})
    done = subprocess.run(DRIVERS[sdk], input=plan, capture_output=True, text=True, timeout=120, cwd=SDK_DIR, env=sdk_env())
    assert done.returncode == 0, f"{sdk} driver exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def earlier_sdk(server, **plan) -> dict:
    """Run the earlier Python SDK (tests/sdk/py_earlier.py) against server; its requests' statuses and its waits."""
    require_installed()
    done = subprocess.run([str(SDK_VENV_BIN / "python"), str(SDK_DIR / "py_earlier.py")], capture_output=True, text=True, timeout=120,
                          input=json.dumps({"url": server.url, "token": server.admin_token, **plan}), cwd=SDK_DIR, env=sdk_env())
    assert done.returncode == 0, f"tinybird-python-sdk exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def ok(answer: dict):
    """The result of a call that must have succeeded."""
    assert "ok" in answer, f"the SDK call failed: {answer}"
    return answer["ok"]


def require_free_port(port: int = LOCAL_PORT) -> None:
    """Fail with a clear message when the SDKs' fixed local port is taken (a `make serve` or Tinybird Local running)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise AssertionError(f"port {port} is busy: the SDKs' local mode only talks to localhost:{port}; "
                                 f"stop what listens there (make serve, Tinybird Local) and run again") from None
