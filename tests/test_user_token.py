"""scripts/user_token.py as an app backend runs it (TB_HOST/TB_TOKEN), against tblocal with fixtures/."""

import os
import subprocess
import sys
import time

import jwt
import pytest
import requests

from tblocal.launcher import ROOT, ServerProcess

pytestmark = pytest.mark.e2e
SCRIPT = ROOT / "scripts" / "user_token.py"
USER = "u_tasha01"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerProcess(ROOT, tmp_path_factory.mktemp("user_token") / "data", load_fixtures=ROOT / "fixtures").start(timeout=180)
    yield s
    s.stop()


def run(server, *args, token=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TB_HOST": server.url, "TB_TOKEN": token or server.admin_token}
    env.pop("TB_WORKSPACE_ID", None)
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def get(server, pipe, token, **params) -> requests.Response:
    return requests.get(f"{server.url}/v0/pipes/{pipe}.json", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_the_token_reads_its_users_rows_whatever_user_id_is_sent(server):
    done = run(server, USER, "--ttl", "15m", "--rps", "5")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    workspace = requests.get(server.url + "/v0/workspace", params={"token": server.admin_token}, timeout=10).json()["id"]
    claims = jwt.decode(token, server.admin_token, algorithms=["HS256"])
    assert abs(claims.pop("exp") - (time.time() + 900)) < 30
    assert claims == {"workspace_id": workspace, "name": f"app_user_{USER}", "limits": {"rps": 5},
                      "scopes": [{"type": "PIPES:READ", "resource": pipe, "fixed_params": {"user_id": USER}}
                                 for pipe in ("user_content_affinity", "user_recommendations")]}
    for pipe in ("user_content_affinity", "user_recommendations"):
        mine = get(server, pipe, server.admin_token, user_id=USER).json()["data"]
        assert mine and {r["user_id"] for r in mine} == {USER}
        assert get(server, pipe, token, user_id="u_someone_else").json()["data"] == mine
        time.sleep(0.5)  # stay under --rps 5
    r = get(server, "content_engagement", token)
    assert r.status_code == 403 and r.json()["error"] == "The token you have provided doesn't have access to the pipe 'content_engagement'"


def test_rps_zero_means_no_limit_and_a_bad_admin_token_fails_clearly(server):
    token = run(server, USER, "--rps", "0").stdout.strip()
    assert "limits" not in jwt.decode(token, server.admin_token, algorithms=["HS256"])
    assert all(get(server, "user_recommendations", token).status_code == 200 for _ in range(12))
    done = run(server, USER, token="p.wrong")
    assert done.returncode != 0 and "GET /v0/workspace answered 403" in done.stderr
    assert run(server, " ").returncode != 0
