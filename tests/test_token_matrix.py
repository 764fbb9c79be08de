"""Token matrix: every route against no token, a wrong token, admin, READ on another pipe, READ on
this pipe, APPEND, a JWT reading this pipe and an expired one, each passed as ?token= and as
Authorization: Bearer. 403 for a missing, invalid or out-of-scope token, as on Tinybird."""

import json
import time

import jwt
import pytest
import requests

from tblocal.launcher import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

WHO = ["none", "wrong", "admin", "read_other", "read_this", "append", "jwt_this", "jwt_expired"]
ROW = json.dumps({"id": "tm", "user": "u1", "ts": "2024-03-01 10:00:00"}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(ROOT / "tests" / "project", tmp_path_factory.mktemp("tokens") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def tokens(server):
    admin = server.admin_token
    listed = requests.get(server.url + "/v0/tokens", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()["tokens"]
    by_name = {t["name"]: t for t in listed}
    assert by_name["top_users_read"]["scopes"] == [{"type": "PIPES:READ", "resource": "top_users"}]
    assert by_name["kinds_read"]["scopes"] == [{"type": "PIPES:READ", "resource": "kinds"}]
    assert by_name["clicks_append"]["scopes"] == [{"type": "DATASOURCES:APPEND", "resource": "clicks"}]
    workspace = requests.get(server.url + "/v0/workspace", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()["id"]
    claims = {"workspace_id": workspace, "name": "matrix", "scopes": [{"type": "PIPES:READ", "resource": "top_users"}]}
    return {
        "jwt_this": jwt.encode({**claims, "exp": int(time.time()) + 3600}, admin, algorithm="HS256"),
        "jwt_expired": jwt.encode({**claims, "exp": int(time.time()) - 1}, admin, algorithm="HS256"),
        "none": None,
        "wrong": "p." + "x" * 43,
        "admin": admin,
        "read_other": by_name["kinds_read"]["token"],
        "read_this": by_name["top_users_read"]["token"],
        "append": by_name["clicks_append"]["token"],
    }


def S(admin, read_other, read_this, append, none=403, wrong=403):
    """Expected statuses; a JWT reading this pipe answers as the datafile token does, an expired one as a wrong token."""
    return dict(zip(WHO, (none, wrong, admin, read_other, read_this, append, read_this, wrong)))


# (route id, method, path, params, body, expected status per token kind); "this pipe" is top_users.
ROUTES = [
    ("health", "GET", "/v0/health", {}, None, S(200, 200, 200, 200, none=200, wrong=200)),
    ("local-tokens", "GET", "/tokens", {}, None, S(200, 200, 200, 200, none=200, wrong=200)),
    ("list-tokens", "GET", "/v0/tokens", {}, None, S(200, 403, 403, 403)),
    ("workspace", "GET", "/v0/workspace", {}, None, S(200, 403, 403, 403)),
    ("mint-jwt", "POST", "/v0/tokens", {"name": "m", "expiration_time": "2000000000"}, b'{"scopes": [{"type": "PIPES:READ", "resource": "top_users"}]}', S(200, 403, 403, 403)),
    ("events", "POST", "/v0/events", {"name": "clicks", "wait": "true"}, ROW, S(200, 403, 403, 200)),
    ("events-async", "POST", "/v0/events", {"name": "clicks"}, ROW, S(202, 403, 403, 202)),
    ("events-quarantine-name", "POST", "/v0/events", {"name": "clicks_quarantine"}, ROW, S(404, 403, 403, 403)),
    ("events-unknown-datasource", "POST", "/v0/events", {"name": "nope"}, ROW, S(404, 403, 403, 403)),
    ("bulk-append", "POST", "/v0/datasources", {"name": "clicks", "mode": "append", "format": "ndjson"}, ROW, S(200, 403, 403, 200)),
    ("bulk-append-mv", "POST", "/v0/datasources", {"name": "clicks_daily_mv", "mode": "append", "format": "ndjson"}, b'{"day": "2024-03-01", "user": "u", "clicks": 1, "total_value": 1}', S(200, 403, 403, 403)),
    ("delete-rows", "POST", "/v0/datasources/clicks/delete", {}, b"delete_condition=id%3D%27nobody%27", S(200, 403, 403, 403)),
    ("delete-rows-lightweight", "POST", "/v1/datasources/clicks/delete", {}, b"delete_condition=id%3D%27nobody%27", S(200, 403, 403, 403)),
    ("replace-rows", "POST", "/v1/datasources/clicks/replace", {"format": "ndjson", "replace_condition": "id = 'tm'"}, ROW, S(200, 403, 403, 403)),
    ("replace-rows-v0", "POST", "/v0/datasources", {"name": "clicks", "mode": "replace", "format": "ndjson", "replace_condition": "id = 'tm'"}, ROW, S(200, 403, 403, 403)),
    ("list-datasources", "GET", "/v0/datasources", {}, None, S(200, 200, 200, 200)),
    ("list-pipes", "GET", "/v0/pipes", {}, None, S(200, 200, 200, 200)),
    ("openapi", "GET", "/v0/pipes/openapi.json", {}, None, S(200, 200, 200, 200)),
    ("pipe-json", "GET", "/v0/pipes/top_users.json", {}, None, S(200, 403, 200, 403)),
    ("pipe-csv", "GET", "/v0/pipes/top_users.csv", {}, None, S(200, 403, 200, 403)),
    ("pipe-ndjson", "GET", "/v0/pipes/top_users.ndjson", {}, None, S(200, 403, 200, 403)),
    ("pipe-parquet", "GET", "/v0/pipes/top_users.parquet", {}, None, S(200, 403, 200, 403)),
    ("pipe-post", "POST", "/v0/pipes/top_users.json", {}, b"limit=3", S(200, 403, 200, 403)),
    ("pipe-q", "GET", "/v0/pipes/top_users.json", {"q": "SELECT count() AS n FROM _"}, None, S(200, 403, 200, 403)),
    ("pipe-q-datasource", "GET", "/v0/pipes/top_users.json", {"q": "SELECT count() AS n FROM clicks"}, None, S(200, 403, 403, 403)),
    ("pipe-q-other-pipe", "GET", "/v0/pipes/top_users.json", {"q": "SELECT * FROM kinds"}, None, S(200, 403, 403, 403)),
    ("other-pipe", "GET", "/v0/pipes/kinds.json", {}, None, S(200, 200, 403, 403)),
    ("pipe-without-token", "GET", "/v0/pipes/user_clicks.json", {}, None, S(200, 403, 403, 403)),
    ("materializing-pipe", "GET", "/v0/pipes/clicks_daily.json", {}, None, S(404, 404, 404, 404)),
    ("unknown-pipe", "GET", "/v0/pipes/nope.json", {}, None, S(404, 404, 404, 404)),
    ("sql-pipe", "GET", "/v0/sql", {"q": "SELECT count() AS n FROM top_users"}, None, S(200, 403, 200, 403)),
    ("sql-post", "POST", "/v0/sql", {}, b"q=SELECT+count()+AS+n+FROM+top_users", S(200, 403, 200, 403)),
    ("sql-datasource", "GET", "/v0/sql", {"q": "SELECT count() AS n FROM clicks"}, None, S(200, 403, 403, 403)),
    ("sql-quarantine", "GET", "/v0/sql", {"q": "SELECT count() AS n FROM clicks_quarantine"}, None, S(200, 403, 403, 403)),
    ("sql-mv", "GET", "/v0/sql", {"q": "SELECT count() AS n FROM clicks_daily_mv"}, None, S(200, 403, 403, 403)),
    ("sql-qualified", "GET", "/v0/sql", {"q": "SELECT count() AS n FROM tb.clicks"}, None, S(403, 403, 403, 403)),
    ("sql-other-pipe", "GET", "/v0/sql", {"q": "SELECT * FROM kinds"}, None, S(200, 200, 403, 403)),
    ("sql-no-table", "GET", "/v0/sql", {"q": "SELECT 1 AS one"}, None, S(200, 200, 200, 200)),
]


def call(server, method, path, params, body, token, how):
    headers, params = {}, dict(params)
    if token is not None:
        if how == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        else:
            params["token"] = token
    if method == "POST" and body is not None and path.startswith(("/v0/sql", "/v0/pipes")):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return requests.request(method, server.url + path, params=params, data=body, headers=headers, timeout=30)


CELLS = [(r[0], who) for r in ROUTES for who in WHO]


@pytest.mark.parametrize("route, who", CELLS, ids=[f"{r}-{w}" for r, w in CELLS])
@pytest.mark.parametrize("how", ["query", "bearer"])
def test_token_matrix_cell(server, tokens, route, who, how):
    _, method, path, params, body, expected = next(r for r in ROUTES if r[0] == route)
    r = call(server, method, path, params, body, tokens[who], how)
    assert r.status_code == expected[who], (route, who, how, r.status_code, r.text[:300])
    if path.endswith((".csv", ".ndjson", ".parquet")) and r.status_code == 200:
        return
    body = r.json()
    if r.status_code >= 400:
        assert set(body) == {"error", "documentation"} and body["error"]
        for secret in tokens.values():  # an error never echoes a token
            assert not secret or secret not in r.text


def names(server, token, path, key):
    return sorted(x["name"] for x in requests.get(server.url + path, params={"token": token}, timeout=10).json()[key])


def test_lists_show_only_what_the_token_reaches(server, tokens):
    assert names(server, tokens["read_this"], "/v0/pipes", "pipes") == ["top_users"]
    assert names(server, tokens["jwt_this"], "/v0/pipes", "pipes") == ["top_users"]
    assert names(server, tokens["read_other"], "/v0/pipes", "pipes") == ["kinds"]
    assert names(server, tokens["append"], "/v0/pipes", "pipes") == []
    assert names(server, tokens["append"], "/v0/datasources", "datasources") == ["clicks"]
    assert names(server, tokens["read_this"], "/v0/datasources", "datasources") == []
    assert "top_users" in names(server, tokens["admin"], "/v0/pipes", "pipes")
    for who in ("read_this", "jwt_this"):
        doc = requests.get(server.url + "/v0/pipes/openapi.json", params={"token": tokens[who]}, timeout=10).json()
        assert list(doc["paths"]) == ["/v0/pipes/top_users.json"]


def test_bearer_edge_cases_are_403(server, tokens):
    read = tokens["read_this"]
    for header in ("Bearer", "Bearer ", f"Bearer {read[:-1]}", f"Bearer {read}x", f"Basic {read}", f"Bearer  {read.upper()}"):
        r = requests.get(server.url + "/v0/pipes/top_users.json", headers={"Authorization": header}, timeout=10)
        assert r.status_code == 403, (header, r.status_code)
    r = requests.get(server.url + "/v0/pipes/top_users.json", params={"token": ""}, timeout=10)
    assert r.status_code == 403


def test_tokens_survive_a_restart(server, tokens):
    server.stop()
    server.start()
    r = requests.get(server.url + "/v0/pipes/top_users.json", params={"token": tokens["read_this"]}, timeout=10)
    assert r.status_code == 200
    assert server.admin_token == tokens["admin"]
