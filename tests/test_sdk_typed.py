"""The SDKs' typed-project flow against tblocal on localhost:7181, where both SDKs' local mode is fixed.

`tinybird build --local` (TypeScript, @tinybirdco/sdk) and `tinybird --local build` (Python, tinybird-sdk,
which hands it to the Tinybird CLI it pins) on a feature branch, where the workspace is named after
the branch, and on main, where TypeScript names it after the workspace of the configured token (asked
of the configured base URL, the team's hosted workspace, for which a second tblocal stands in) and Python
after the project folder (Tinybird_Local_Build_<sha256 of its path>); then the typed client's ingest
and query on what was built. Each project is a copy of tests/sdk/typed_*/ in its own git repository.
"""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from sdk_helpers import LOCAL_PORT, NODE_MODULES, SDK_DIR, SDK_VENV_BIN, sdk_env, sdk_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LOCAL_URL = f"http://localhost:{LOCAL_PORT}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """tblocal on localhost:7181, the SDKs' fixed local address; fails clearly when the port is taken."""
    yield from sdk_server(tmp_path_factory, "sdk-typed", port=LOCAL_PORT)


def workspaces(server) -> dict[str, dict]:
    """Workspaces by name, with their admin tokens (GET /v1/user/workspaces, as the SDKs list them)."""
    listed = requests.get(f"{server.url}/v1/user/workspaces", params={"token": server.admin_token}, timeout=10).json()["workspaces"]
    return {w["name"]: w for w in listed}


def project(kind: str, folder: Path, branch: str, token: str, base_url: str = LOCAL_URL) -> Path:
    """A copy of tests/sdk/typed_<kind> in folder, committed on branch, with tinybird.config.json in local mode."""
    shutil.copytree(SDK_DIR / f"typed_{kind}", folder)
    config = {"include": ["src/tinybird.ts"], "token": token, "baseUrl": base_url, "devMode": "local"} if kind == "ts" else \
        {"include": ["lib/resources.py"], "token": token, "base_url": base_url, "dev_mode": "local"}
    (folder / "tinybird.config.json").write_text(json.dumps(config, indent=2))
    if kind == "ts":
        (folder / "node_modules").symlink_to(NODE_MODULES)
    git = ["git", "-c", "user.name=sdk tests", "-c", "user.email=sdk-tests@localhost", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", "-b", branch], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "typed project"], cwd=folder, check=True)
    return folder


def build(kind: str, folder: Path) -> str:
    """The SDK's local build, as its README says to run it; fails the test unless it exits 0."""
    command = [str(NODE_MODULES / ".bin" / "tinybird"), "build", "--local"] if kind == "ts" else [str(SDK_VENV_BIN / "tinybird"), "--local", "build"]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=180, env=sdk_env(TB_VERSION_WARNING="0"))
    assert done.returncode == 0 and "✗" not in done.stdout, f"{' '.join(command[-2:])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_app(kind: str, folder: Path, token: str, plan: dict) -> dict:
    """The typed client's ingest and query (tests/sdk/typed_*/app), with the built workspace's token."""
    env = sdk_env(TINYBIRD_URL=LOCAL_URL, TINYBIRD_TOKEN=token)
    if kind == "ts":
        bundle = subprocess.run([str(NODE_MODULES / ".bin" / "esbuild"), "src/app.ts", "--bundle", "--platform=node", "--format=esm",
                                 "--packages=external", "--outfile=dist/app.mjs", "--log-level=warning"], cwd=folder, capture_output=True, text=True, timeout=60)
        assert bundle.returncode == 0, bundle.stderr
        command = ["node", "dist/app.mjs"]
    else:
        command = [str(SDK_VENV_BIN / "python"), "app.py"]
    done = subprocess.run(command, cwd=folder, input=json.dumps(plan), capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"typed client exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def views(n: int, prefix: str) -> list[dict]:
    """n page views over four paths, one a minute from 2024-01-15 10:00."""
    return [{"timestamp": f"2024-01-15 {10 + i // 60:02d}:{i % 60:02d}:00", "pathname": f"/{prefix}/{('home', 'pricing', 'docs', 'blog')[i % 7 % 4]}",
             "session_id": f"s{i % 5}"} for i in range(n)]


def check_ingest_and_query(kind: str, folder: Path, token: str, prefix: str) -> None:
    rows = views(30, prefix)
    answer = run_app(kind, folder, token, {"rows": rows, "start_date": "2024-01-15 10:10:00", "limit": 3})
    assert [a["successful_rows"] for a in answer["ingested"]] == [1] * len(rows)
    counts: dict[str, int] = {}
    for r in rows:
        if r["timestamp"] >= "2024-01-15 10:10:00":
            counts[r["pathname"]] = counts.get(r["pathname"], 0) + 1
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [(r["pathname"], int(r["views"])) for r in answer["top"]["data"]] == expected


def datasources_of(server, token: str) -> list[str]:
    return sorted(d["name"] for d in requests.get(f"{server.url}/v0/datasources", params={"token": token}, timeout=10).json()["datasources"])


@pytest.mark.parametrize("kind", ["ts", "py"])
def test_build_on_a_feature_branch_makes_the_branch_workspace(kind, server, tmp_path):
    folder = project(kind, tmp_path / "app", f"feature/{kind}-typed-views", server.admin_token)
    build(kind, folder)
    built = workspaces(server)[f"feature_{kind}_typed_views"]  # the branch name, sanitized as both SDKs do
    assert datasources_of(server, built["token"]) == ["page_views"]
    check_ingest_and_query(kind, folder, built["token"], kind)


@pytest.fixture
def cloud(tmp_path_factory):
    """Another tblocal standing in for the team's hosted workspace (the config's baseUrl and token on main)."""
    yield from sdk_server(tmp_path_factory, "sdk-cloud")


def test_typescript_build_on_main_names_the_workspace_after_the_tokens(server, cloud, tmp_path):
    user_token = requests.get(f"{cloud.url}/tokens", timeout=5).json()["user_token"]
    made = requests.post(f"{cloud.url}/v1/workspaces", params={"name": "engagement_app", "token": user_token}, timeout=10)
    assert made.status_code == 200, made.text
    folder = project("ts", tmp_path / "app", "main", made.json()["token"], base_url=cloud.url)
    assert "engagement_app" not in workspaces(server)
    assert "engagement_app" in build("ts", folder)  # the SDK asked cloud for its name, then made it on localhost:7181
    token = workspaces(server)["engagement_app"]["token"]
    assert datasources_of(server, token) == ["page_views"]
    check_ingest_and_query("ts", folder, token, "main")


def test_python_build_on_main_uses_the_folders_workspace(server, tmp_path):
    folder = project("py", tmp_path / "app", "main", server.admin_token)
    build("py", folder)
    name = "Tinybird_Local_Build_" + hashlib.sha256(str(folder).encode()).hexdigest()
    token = workspaces(server)[name]["token"]
    assert datasources_of(server, token) == ["page_views"]
    check_ingest_and_query("py", folder, token, "main")
