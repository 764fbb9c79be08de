"""The read side of the HTTP API through a real server: formats, q, SQL, lists, OpenAPI, tokens, errors."""

import json
import random
import re

import pytest
import requests

from helpers import TEST_PROJECT, Client, click
from tblocal.launcher import ServerProcess

pytestmark = pytest.mark.e2e
TEMPLATE_DOCS = "https://www.tinybird.co/docs/cli/advanced-templates"

ROWS = [
    click(1, "u1", "2024-01-01 00:00:00", 1),
    click(2, "u1", "2024-01-02 00:00:00", 2),
    click(3, "u1", "2024-01-03 00:00:00", 3),
    click(4, "u2", "2024-01-02 00:00:00", 10, kind="tap"),
    click(5, "u2", "2024-01-03 00:00:00", 20, kind="tap"),
    click(6, "u3", "2024-01-03 12:00:00", 5),
]
TOP = [
    {"user": "u1", "clicks": 3, "total_value": 6},
    {"user": "u2", "clicks": 2, "total_value": 30},
    {"user": "u3", "clicks": 1, "total_value": 5},
]
META = [{"name": "user", "type": "String"}, {"name": "clicks", "type": "UInt64"}, {"name": "total_value", "type": "UInt64"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerProcess(TEST_PROJECT, tmp_path_factory.mktemp("api") / "data", env={"TBLOCAL_LOG_LEVEL": "INFO"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(server):
    client = Client(server.url, server.admin_token)
    rows = ROWS[:]
    random.Random(20240101).shuffle(rows)  # arrival order must not matter
    assert client.events(rows).json() == {"successful_rows": 6, "quarantined_rows": 0}
    return client


@pytest.fixture(scope="module")
def reader(api):
    return Client(api.url, api.tokens()["top_users_read"])


def test_json_shape(api):
    r = api.get("/v0/pipes/top_users.json")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/json")
    body = r.json()
    assert list(body) == ["meta", "data", "rows", "rows_before_limit_at_least", "statistics"]
    assert (body["meta"], body["data"], body["rows"], body["rows_before_limit_at_least"]) == (META, TOP, 3, 3)
    stats = body["statistics"]
    assert list(stats) == ["elapsed", "rows_read", "bytes_read"]
    assert isinstance(stats["elapsed"], float) and stats["rows_read"] == 6 and stats["bytes_read"] > 0


def test_params_filter_and_limit(api):
    assert api.get("/v0/pipes/top_users.json", kind="tap").json()["data"] == [TOP[1]]
    assert api.get("/v0/pipes/top_users.json", start="2024-01-03 00:00:00").json()["data"] == [
        {"user": "u1", "clicks": 1, "total_value": 3},
        {"user": "u2", "clicks": 1, "total_value": 20},
        {"user": "u3", "clicks": 1, "total_value": 5},
    ]
    body = api.get("/v0/pipes/top_users.json", limit=1).json()
    assert (body["data"], body["rows"], body["rows_before_limit_at_least"]) == ([TOP[0]], 1, 3)


def test_params_in_a_post_body(api):
    r = requests.post(api.url + "/v0/pipes/top_users.json", params={"token": api.token}, data={"kind": "tap"}, timeout=10)
    assert r.json()["data"] == [TOP[1]], r.text
    r = requests.post(api.url + "/v0/pipes/top_users.json", json={"limit": 2}, headers={"Authorization": f"Bearer {api.token}"}, timeout=10)
    assert r.json()["data"] == TOP[:2]


def test_csv(api):
    r = api.get("/v0/pipes/top_users.csv")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/csv; charset=utf-8")
    assert r.text == '"user","clicks","total_value"\n"u1",3,6\n"u2",2,30\n"u3",1,5\n'


def test_ndjson(api):
    r = api.get("/v0/pipes/top_users.ndjson")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/x-ndjson; charset=utf-8")
    assert [json.loads(line) for line in r.text.splitlines()] == TOP


def test_parquet(api):
    r = api.get("/v0/pipes/top_users.parquet")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/octet-stream")
    assert r.content[:4] == b"PAR1" and r.content[-4:] == b"PAR1"
    assert b"u1" in r.content and b"total_value" in r.content


def test_64bit_integers_unquoted_by_default_and_quoted_on_request(api):
    assert api.get("/v0/pipes/top_users.json", limit=1).json()["data"] == [{"user": "u1", "clicks": 3, "total_value": 6}]
    quoted = api.get("/v0/pipes/top_users.json", limit=1, output_format_json_quote_64bit_integers=1).json()["data"]
    assert quoted == [{"user": "u1", "clicks": "3", "total_value": "6"}]
    r = api.sql("SELECT toUInt64(18446744073709551615) AS big, toInt32(-1) AS small FORMAT JSON")
    assert r.json()["data"] == [{"big": 18446744073709551615, "small": -1}]


def test_q_over_the_pipe(api):
    r = api.get("/v0/pipes/top_users.json", q="SELECT sum(clicks) AS n, max(total_value) AS m FROM _")
    assert r.json()["data"] == [{"n": 6, "m": 30}]
    r = api.get("/v0/pipes/top_users.json", q="SELECT user FROM top_users WHERE clicks > 1 ORDER BY user", kind="click")
    assert r.json()["data"] == [{"user": "u1"}]
    r = api.get("/v0/pipes/top_users.csv", q="SELECT user FROM _ ORDER BY user DESC")
    assert r.text == '"user"\n"u3"\n"u2"\n"u1"\n'


def test_pipe_reading_another_pipe_with_array_param(api):
    assert api.get("/v0/pipes/user_clicks.json").json()["data"] == sorted(TOP, key=lambda r: r["user"])
    assert api.get("/v0/pipes/user_clicks.json", users="u3,u1,zz").json()["data"] == [TOP[0], TOP[2]]
    assert api.get("/v0/pipes/user_clicks.json", min_clicks=2, kind="click").json()["data"] == [TOP[0]]


def test_custom_error_status_and_body(api):
    r = api.get("/v0/pipes/user_clicks.json", min_clicks=-1)
    assert (r.status_code, r.json()) == (422, {"error": "min_clicks must not be negative", "code": "bad_min_clicks"})


def test_sql(api):
    assert api.rows("SELECT user, sum(value) AS v FROM clicks GROUP BY user ORDER BY user") == [
        {"user": "u1", "v": 6}, {"user": "u2", "v": 30}, {"user": "u3", "v": 5}
    ]
    assert api.rows("SELECT count() AS n FROM top_users") == [{"n": 3}]
    assert api.rows("SELECT sum(clicks) AS n FROM clicks_daily_mv") == [{"n": 6}]
    r = api.sql("SELECT user FROM clicks WHERE value > 9 ORDER BY user FORMAT CSV")
    assert (r.headers["content-type"], r.text) == ("text/csv; charset=utf-8", '"u2"\n"u2"\n')
    r = api.sql("SELECT 1 AS one")
    assert (r.headers["content-type"], r.json()["data"]) == ("application/json", [{"one": 1}])


@pytest.mark.parametrize(
    "q, status, error",
    [
        ("SELECT * FROM nope", 404, "[Error] Resource 'nope' not found"),
        ("SELECT * FROM system.tables", 403, "[Error] Resource 'system.tables' not found"),
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 403, "[Error] Usage of function file is restricted."),
        ("INSERT INTO clicks (id) VALUES ('x')", 400, "[Error] Only SELECT queries are allowed, got InsertQuery"),
        ("", 400, "The q parameter is required"),
        ("SELECT nope FROM clicks", 400, None),
    ],
)
def test_sql_errors(api, q, status, error):
    r = api.sql(q)
    assert r.status_code == status and r.headers["content-type"] == "application/json", r.text
    body = r.json()
    assert set(body) == {"error", "documentation"}
    if error:
        assert body["error"] == error
    assert "Traceback" not in body["error"] and "DB::Exception" not in body["error"]


def test_pipes_list(api, reader):
    pipes = {p["name"]: p for p in api.get("/v0/pipes").json()["pipes"]}
    top = pipes["top_users"]
    ids = [top.pop("id"), top["endpoint"], *(n.pop("id") for n in top["nodes"])]
    assert all(re.fullmatch(r"t_[0-9a-f]{32}", i) for i in ids) and ids[1] == ids[3]  # endpoint = its node's id
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", top.pop("created_at")) and top.pop("updated_at")
    assert all("SELECT" in n.pop("sql") for n in top["nodes"])
    assert top == {
        "name": "top_users", "description": "Users ranked by clicks.", "endpoint": ids[1], "type": "endpoint",
        "nodes": [
            {"name": "filtered", "description": "Clicks in the range.", "node_type": "standard", "materialized": None},
            {"name": "endpoint", "description": "Ranks users.", "node_type": "endpoint", "materialized": None},
        ],
    }
    assert (pipes["clicks_daily"]["type"], pipes["clicks_daily"]["endpoint"]) == ("materialized", None)
    assert pipes["user_clicks"]["type"] == "endpoint"
    assert [p["name"] for p in reader.get("/v0/pipes").json()["pipes"]] == ["top_users"]


def test_datasources_with_row_counts(api, reader):
    ds = {d["name"]: d for d in api.get("/v0/datasources").json()["datasources"]}
    assert ds["clicks"]["statistics"]["row_count"] == 6 and ds["clicks"]["statistics"]["bytes"] > 0
    assert ds["clicks_daily_mv"]["statistics"]["row_count"] == 6
    assert ds["clicks"]["columns"][3] == {"name": "ts", "type": "DateTime"}
    assert ds["clicks"]["engine"] == {"engine": "MergeTree", "partition_key": "toYYYYMM(ts)", "sorting_key": "user, ts"}
    assert reader.get("/v0/datasources").json() == {"datasources": []}
    appender = Client(api.url, api.tokens()["clicks_append"])
    assert [d["name"] for d in appender.get("/v0/datasources").json()["datasources"]] == ["clicks"]


def test_openapi(server, api, reader):
    doc = api.get("/v0/pipes/openapi.json").json()
    assert doc["openapi"] == "3.0.3"
    assert doc["servers"] == [{"url": server.url}]
    assert {"/v0/pipes/top_users.json", "/v0/pipes/user_clicks.json"} <= set(doc["paths"])
    params = {p["name"]: p for p in doc["paths"]["/v0/pipes/top_users.json"]["get"]["parameters"]}
    assert params["kind"] == {"name": "kind", "in": "query", "required": False, "description": "Only this kind", "schema": {"type": "string", "enum": ["click", "tap"]}}
    assert params["limit"]["schema"] == {"type": "integer", "format": "int32", "default": 10}
    assert params["limit"]["description"] == "Rows to return"
    for path in doc["paths"].values():
        op = path["get"]
        assert {"summary", "operationId", "parameters", "responses"} <= set(op)
        for p in op["parameters"]:
            assert p["in"] == "query" and "type" in p["schema"]
    assert list(reader.get("/v0/pipes/openapi.json").json()["paths"]) == ["/v0/pipes/top_users.json"]


def test_health(api):
    r = requests.get(api.url + "/v0/health", timeout=5)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_local_tokens_bootstrap(api):
    body = requests.get(api.url + "/tokens", timeout=5).json()
    assert (body["admin_token"], body["workspace_admin_token"]) == (api.token, api.token)
    assert body["user_token"].startswith("p.") and body["user_token"] != api.token  # manages workspaces


def test_v0_tokens_is_admin_only(api, reader):
    tokens = {t["name"]: t for t in api.get("/v0/tokens").json()["tokens"]}
    ids = {name: t.pop("id") for name, t in tokens.items()}
    assert len(set(ids.values())) == len(ids) and all(re.fullmatch(r"t_[0-9a-f]{32}", i) for i in ids.values())
    assert api.get(f"/v0/tokens/{ids['top_users_read']}").json()["token"] == reader.token  # by id
    assert api.get("/v0/tokens/top_users_read").json()["id"] == ids["top_users_read"]  # and by name
    assert tokens["admin token"] == {"name": "admin token", "token": api.token, "scopes": [{"type": "ADMIN"}]}
    assert tokens["clicks_append"]["scopes"] == [{"type": "DATASOURCES:APPEND", "resource": "clicks"}]
    assert tokens["top_users_read"] == {"name": "top_users_read", "token": reader.token, "scopes": [{"type": "PIPES:READ", "resource": "top_users"}]}
    r = reader.get("/v0/tokens")
    assert (r.status_code, r.json()["error"]) == (403, "Managing tokens needs the admin token or a token with the TOKENS scope")


def test_bearer_header_works_like_the_query_token(api):
    r = requests.get(api.url + "/v0/pipes/top_users.json", headers={"Authorization": f"Bearer {api.token}"}, timeout=5)
    assert r.json()["data"] == TOP


@pytest.mark.parametrize(
    "method, path, params, status, error",
    [
        ("GET", "/nope", {}, 404, "Not found: /nope"),
        ("GET", "/v0/pipes/nope.json", {}, 404, "The pipe 'nope' does not exist"),
        ("GET", "/v0/pipes/clicks_daily.json", {}, 404, "The pipe 'clicks_daily' does not exist"),
        ("GET", "/v0/pipes/top_users.xml", {}, 400, "Unsupported format 'xml': use one of csv, json, ndjson, parquet"),
        ("GET", "/v0/pipes/top_users.json", {"limit": "ten"}, 400, "[Error] Invalid value for parameter 'limit': 'ten' is not a valid Int32"),
        ("GET", "/v0/pipes/top_users.json", {"start": "yesterday"}, 400, "[Error] Invalid value for parameter 'start': 'yesterday' is not a valid DateTime"),
        ("GET", "/v0/pipes/top_users.json", {"limit": "0"}, 400, "limit must be at least 1"),
        ("GET", "/v0/pipes/top_users.json", {"q": "SELECT * FROM system.tables"}, 403, "[Error] Resource 'system.tables' not found"),
        ("DELETE", "/v0/pipes", {}, 405, "Method DELETE not allowed on /v0/pipes"),
        ("POST", "/v0/datasources", {"name": "clicks", "mode": "create"}, 400, None),
    ],
)
def test_errors_are_json(api, method, path, params, status, error):
    r = requests.request(method, api.url + path, params={"token": api.token, **params}, data=b"x", timeout=10)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error", "documentation"} and body["documentation"].startswith("https://www.tinybird.co/docs") or body["documentation"] == ""
    if error:
        assert body["error"] == error


@pytest.mark.parametrize("token, status", [(None, 403), ("p.invalid", 403)])
def test_pipe_needs_a_valid_token(api, token, status):
    params = {} if token is None else {"token": token}
    r = requests.get(api.url + "/v0/pipes/top_users.json", params=params, timeout=5)
    assert r.status_code == status and set(r.json()) == {"error", "documentation"}


def test_read_token_scope(reader):
    assert reader.get("/v0/pipes/top_users.json").json()["data"] == TOP
    r = reader.get("/v0/pipes/user_clicks.json")
    assert (r.status_code, r.json()["error"]) == (403, "The token you have provided doesn't have access to the pipe 'user_clicks'")
    assert reader.sql("SELECT count() FROM clicks").status_code == 403
    assert reader.rows("SELECT count() AS n FROM top_users") == [{"n": 3}]


def test_request_log_never_contains_the_token(server, api, reader):
    api.get("/v0/pipes/top_users.json", limit=2)
    requests.get(api.url + "/v0/pipes/top_users.json", headers={"Authorization": f"Bearer {reader.token}"}, timeout=5)
    api.sql("SELECT 1")
    api.get("/v0/pipes/nope.json")
    lines = [ln for ln in server.log_path.read_text().splitlines() if " tblocal GET /v0/" in ln or " tblocal POST /v0/" in ln]
    assert any(ln.endswith("ms") and " GET /v0/pipes/top_users.json 200 " in ln for ln in lines)
    assert any(" GET /v0/pipes/nope.json 404 " in ln for ln in lines)
    assert any(" GET /v0/tokens 200 " in ln for ln in lines)
    secrets = list(api.tokens().values())
    for line in lines:
        assert "token=" not in line and "Bearer" not in line and not any(s in line for s in secrets), line
