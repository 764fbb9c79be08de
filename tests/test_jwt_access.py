"""Per-user access over HTTP against a real server: JWTs (valid, expired, forged, other workspace, wrong pipe,
fixed params, filters, rps), the Token API and GET /v0/workspace, and the Query API's own share (429)."""

import threading
import time

import jwt
import pytest
import requests

from helpers import TEST_PROJECT, Client, click
from tblocal.launcher import ServerProcess

pytestmark = pytest.mark.e2e
JWT_DOCS = "https://www.tinybird.co/docs/forward/administration/tokens/jwt"
ROWS = [click(1, "u1", kind="tap", value=5), click(2, "u1", value=1), click(3, "u2", value=7), click(4, "u2", kind="tap", value=2),
        click(5, "u3", value=4)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(TEST_PROJECT, tmp_path_factory.mktemp("jwt") / "data", env={"TBLOCAL_QUERY_API_CONCURRENCY": "1", "TBLOCAL_QUERY_TIMEOUT": "3"}).start()
    assert Client(proc.url, proc.admin_token).events(ROWS).status_code == 200
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def api(server):
    return Client(server.url, server.admin_token)


@pytest.fixture(scope="module")
def workspace_id(api):
    r = api.get("/v0/workspace")
    assert r.status_code == 200
    return r.json()["id"]


def sign(api, workspace_id, scopes, key=None, **over) -> str:
    body = {"workspace_id": workspace_id, "name": "front", "exp": int(time.time()) + 600, "scopes": scopes, **over}
    return jwt.encode(body, key or api.token, algorithm="HS256")


def pipe(name, **fixed) -> dict:
    return {"type": "PIPES:READ", "resource": name, **({"fixed_params": fixed} if fixed else {})}


def refused(r: requests.Response, status: int = 403) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "documentation"}
    return body["error"]


def test_workspace_routes_give_the_id_a_jwt_carries(api, workspace_id):
    listed = api.get("/v1/user/workspaces").json()["workspaces"]
    default = next(w for w in listed if w["id"] == workspace_id)
    for version in ("v0", "v1"):
        body = api.get(f"/{version}/workspace").json()
        assert body["id"] == workspace_id and body["name"] == default["name"] == "Tinybird_Local_Testing"
    reader = next(t["token"] for t in api.get("/v0/tokens").json()["tokens"] if t["name"] == "top_users_read")
    assert "admin token" in refused(api.get("/v0/workspace", token=reader))


def test_a_jwt_reads_its_pipe_in_every_format_and_nothing_else(api, workspace_id):
    token = sign(api, workspace_id, [pipe("top_users")])
    data = api.get("/v0/pipes/top_users.json", token=token).json()["data"]
    assert data == [{"user": "u1", "clicks": 2, "total_value": 6}, {"user": "u2", "clicks": 2, "total_value": 9},
                    {"user": "u3", "clicks": 1, "total_value": 4}]
    assert api.get("/v0/pipes/top_users.csv", token=token).text.splitlines()[1] == '"u1",2,6'
    assert api.get("/v0/pipes/top_users.ndjson", token=token).status_code == 200
    assert api.get("/v0/pipes/top_users.parquet", token=token).content[:4] == b"PAR1"
    r = requests.get(api.url + "/v0/pipes/top_users.json", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200
    assert list(api.get("/v0/pipes/openapi.json", token=token).json()["paths"]) == ["/v0/pipes/top_users.json"]
    assert [p["name"] for p in api.get("/v0/pipes", token=token).json()["pipes"]] == ["top_users"]
    assert refused(api.get("/v0/pipes/kinds.json", token=token)) == "The token you have provided doesn't have access to the pipe 'kinds'"
    for path in ("/v0/tokens", "/v0/datasources/clicks/truncate"):
        refused(api.get(path, token=token) if path == "/v0/tokens" else api.post(path, token=token))
    refused(api.events([click(9)], token=token))
    refused(api.sql("SELECT count() FROM clicks", token=token))


def test_fixed_params_override_what_the_request_sends(api, workspace_id):
    token = sign(api, workspace_id, [pipe("top_users", kind="tap", limit=1), pipe("user_clicks", users="u3")])
    for sent in ({}, {"kind": "click", "limit": "5"}):
        assert api.get("/v0/pipes/top_users.json", token=token, **sent).json()["data"] == [{"user": "u1", "clicks": 1, "total_value": 5}]
    body = requests.post(api.url + "/v0/pipes/top_users.json", data={"kind": "click"}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert body.json()["data"] == [{"user": "u1", "clicks": 1, "total_value": 5}]
    users = api.get("/v0/pipes/user_clicks.json", token=token, users="u1,u2").json()["data"]
    assert users == [{"user": "u3", "clicks": 1, "total_value": 4}]
    # The Query API renders a pipe it reads with that pipe's fixed params too.
    assert api.sql("SELECT user FROM user_clicks FORMAT JSON", token=token).json()["data"] == [{"user": "u3"}]
    assert "different values" not in api.sql("SELECT user FROM top_users", token=token).text


def test_a_datasource_filter_applies_wherever_the_jwt_reads_the_datasource(api, workspace_id):
    token = sign(api, workspace_id, [{"type": "DATASOURCES:READ", "resource": "clicks", "filter": "user = 'u2'"}, pipe("top_users")])
    assert api.sql("SELECT user, count() AS n FROM clicks GROUP BY user FORMAT JSON", token=token).json()["data"] == [{"user": "u2", "n": 2}]
    q = api.get("/v0/pipes/top_users.json", token=token, q="SELECT count() AS n FROM clicks").json()["data"]
    assert q == [{"n": 2}]
    assert api.rows("SELECT count() AS n FROM clicks") == [{"n": 5}]  # the admin token reads every row
    refused(api.sql("SELECT count() FROM clicks_quarantine", token=token))
    refused(api.sql("SELECT count() FROM clicks_daily_mv", token=token))


@pytest.mark.parametrize("case", ["expired", "forged", "other workspace's id", "unknown workspace", "malformed", "no exp", "admin scope"])
def test_refused_jwts_are_403(api, workspace_id, case):
    other = api.post("/v1/workspaces", name=f"jwt_other_{case.replace(' ', '_').replace(chr(39), '')}").json()
    token = {
        "expired": lambda: sign(api, workspace_id, [pipe("top_users")], exp=int(time.time()) - 5),
        "forged": lambda: sign(api, workspace_id, [pipe("top_users")], key="p.not-the-admin-token"),
        "other workspace's id": lambda: sign(api, other["id"], [pipe("top_users")]),
        "unknown workspace": lambda: sign(api, "00000000-0000-4000-8000-000000000000", [pipe("top_users")]),
        "malformed": lambda: "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
        "no exp": lambda: jwt.encode({"workspace_id": workspace_id, "name": "f", "scopes": [pipe("top_users")]}, api.token, algorithm="HS256"),
        "admin scope": lambda: sign(api, workspace_id, [{"type": "ADMIN", "resource": "x"}]),
    }[case]()
    assert refused(api.get("/v0/pipes/top_users.json", token=token)).startswith("Invalid token")
    assert api.token not in api.get("/v0/pipes/top_users.json", token=token).text


def test_rps_429_with_tinybirds_headers_then_200_after_waiting(api, workspace_id):
    # The limit counts calls per wall-clock second: the calls below are taken again, under a new name, until all of
    # them fall in one second (a loaded machine can stretch them over two), so the test never races the clock.
    for attempt in range(20):
        name = f"rps_user_{attempt}"
        token, twin = (sign(api, workspace_id, [pipe("top_users")], name=name, limits={"rps": 2}) for _ in range(2))
        other = sign(api, workspace_id, [pipe("top_users")], name=f"other_{attempt}")
        started = time.time()
        statuses = [api.get("/v0/pipes/top_users.json", token=token) for _ in range(3)]
        # Another JWT with the same name shares the count, as on Tinybird; another name does not.
        shared, separate = api.get("/v0/pipes/top_users.json", token=twin), api.get("/v0/pipes/top_users.json", token=other)
        if int(started) == int(time.time()):
            break
    else:
        pytest.fail("20 tries of five calls each spanned a second boundary")
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[2]
    assert "2 requests per second" in refused(limited, 429)
    assert {k: limited.headers[k] for k in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")} == {
        "X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1", "Retry-After": "1"}
    assert (shared.status_code, separate.status_code) == (429, 200)
    time.sleep(float(limited.headers["Retry-After"]))
    assert api.get("/v0/pipes/top_users.json", token=token).status_code == 200


def test_post_tokens_mints_what_tb_token_create_jwt_asks(api, workspace_id):
    exp = int(time.time()) + 300
    body = '{"scopes": [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"limit": "1"}}]}'
    r = requests.post(f"{api.url}/v0/tokens?name=minted&expiration_time={exp}", data=body, headers={"Authorization": f"Bearer {api.token}"}, timeout=30)
    assert r.status_code == 200 and set(r.json()) == {"token"}
    token = r.json()["token"]
    assert jwt.decode(token, api.token, algorithms=["HS256"]) == {
        "workspace_id": workspace_id, "name": "minted", "exp": exp,
        "scopes": [{"type": "PIPES:READ", "resource": "top_users", "fixed_params": {"limit": "1"}}]}
    assert api.get("/v0/pipes/top_users.json", token=token, limit="3").json()["rows"] == 1
    reader = next(t["token"] for t in api.get("/v0/tokens").json()["tokens"] if t["name"] == "top_users_read")
    refused(requests.post(f"{api.url}/v0/tokens?name=x&expiration_time={exp}&token={reader}", data=body, timeout=30))
    assert "JSON" in refused(api.post("/v0/tokens", b"not json", name="x", expiration_time=str(exp)), 400)


def test_static_tokens_through_the_token_api(api):
    made = api.post("/v0/tokens", name="reporting", origin="C", scope=["PIPES:READ:top_users", "DATASOURCES:READ:clicks:user = 'u1'"])
    assert made.status_code == 200, made.text
    token = made.json()
    assert token["name"] == "reporting" and token["id"].startswith("t_") and token["token"].startswith("p.")
    assert token["scopes"] == [{"type": "PIPES:READ", "resource": "top_users"},
                               {"type": "DATASOURCES:READ", "resource": "clicks", "filter": "user = 'u1'"}]
    assert api.sql("SELECT count() AS n FROM clicks FORMAT JSON", token=token["token"]).json()["data"] == [{"n": 2}]
    assert api.get(f"/v0/tokens/{token['id']}").json() == token
    assert "already exists" in refused(api.post("/v0/tokens", name="reporting", scope="ADMIN"), 400)
    altered = requests.put(f"{api.url}/v0/tokens/reporting?scope=PIPES:READ:kinds&token={api.token}", timeout=30).json()
    assert altered["scopes"] == [{"type": "PIPES:READ", "resource": "kinds"}] and altered["token"] == token["token"]
    refused(api.get("/v0/pipes/top_users.json", token=token["token"]))
    fresh = api.post(f"/v0/tokens/{token['id']}/refresh").json()
    assert fresh["token"] != token["token"] and fresh["name"] == "reporting"
    refused(api.get("/v0/pipes/kinds.json", token=token["token"]))
    assert api.get("/v0/pipes/kinds.json", token=fresh["token"]).status_code == 200
    r = requests.delete(f"{api.url}/v0/tokens/reporting", params={"token": api.token}, timeout=30)
    assert r.status_code == 204 and r.content == b""
    refused(api.get("/v0/pipes/kinds.json", token=fresh["token"]))
    assert refused(api.get("/v0/tokens/reporting"), 404) == "Token 'reporting' not found"
    assert "comes from the datafiles" in refused(requests.delete(f"{api.url}/v0/tokens/top_users_read", params={"token": api.token}, timeout=30), 400)


def test_a_tokens_scoped_token_manages_tokens_and_reads_nothing(api):
    manager = api.post("/v0/tokens", name="token_manager", scope="TOKENS").json()["token"]
    assert api.get("/v0/tokens", token=manager).status_code == 200
    assert api.post("/v0/tokens", token=manager, name="made_by_manager", scope="PIPES:READ:kinds").status_code == 200
    refused(api.get("/v0/pipes/kinds.json", token=manager))


def test_the_query_api_gets_429_past_its_share_and_endpoints_keep_answering(api):
    # The server's Query API share is one query; this one runs to the 3 s time limit.
    def hold_the_share():
        while api.sql("SELECT count() AS n FROM numbers(100000000000) WHERE cityHash64(number) % 7 = 1").status_code == 429:
            pass  # a probe below held the share at that moment

    slow = threading.Thread(target=hold_the_share)
    slow.start()
    try:
        # Probed until the slow query holds the share: on a loaded machine its thread may take a while to send it.
        r = api.sql("SELECT 1 AS one")
        while r.status_code == 200 and slow.is_alive():
            time.sleep(0.05)
            r = api.sql("SELECT 1 AS one")
        assert "TBLOCAL_QUERY_API_CONCURRENCY" in refused(r, 429) and r.headers["Retry-After"] == "1"
        assert api.get("/v0/pipes/top_users.json").status_code == 200
    finally:
        slow.join()
    assert api.sql("SELECT 1 AS one").status_code == 200
