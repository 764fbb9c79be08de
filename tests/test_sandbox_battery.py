"""Sandbox battery: client SQL (/v0/sql, `q` over a pipe, endpoint parameters) reaches only the
project's data sources and pipes. Every refusal is a 4xx JSON error, never a 500, never data."""

import json
import subprocess
import sys

import pytest
import requests
from tinybird.ch_utils.constants import ENABLED_TABLE_FUNCTIONS

from tblocal.launcher import ROOT, ServerProcess

pytestmark = pytest.mark.e2e
CANARY = "CANARY-7f3a1c-do-not-leak"


def engine_names(sql: str) -> list[str]:
    """Names the engine itself lists, asked through chDB directly in a child process (never the client API)."""
    code = f"import chdb; print(chdb.query({sql!r}, 'CSV').bytes().decode())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.strip().strip('"') for line in out.splitlines() if line.strip()]


TABLE_FUNCTIONS = engine_names("SELECT name FROM system.table_functions ORDER BY name")
REFUSED_FUNCTIONS = [f for f in TABLE_FUNCTIONS if f not in ENABLED_TABLE_FUNCTIONS]
SYSTEM_TABLES = engine_names("SELECT name FROM system.tables WHERE database = 'system' ORDER BY name")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(ROOT / "tests" / "project", tmp_path_factory.mktemp("sandbox") / "data").start()
    token = proc.admin_token
    rows = "\n".join(json.dumps({"id": f"s{i}", "user": f"u{i % 3}", "ts": "2024-03-01 10:00:00", "kind": "click"}) for i in range(30))
    r = requests.post(proc.url + "/v0/events", params={"name": "clicks", "wait": "true", "token": token}, data=rows, timeout=30)
    assert r.status_code == 200 and r.json()["successful_rows"] == 30
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def tokens(server):
    admin = server.admin_token
    listed = requests.get(server.url + "/v0/tokens", params={"token": admin}, timeout=10).json()["tokens"]
    return {t["name"]: t["token"] for t in listed}


@pytest.fixture(scope="module")
def canary_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("canary") / "secret.txt"
    path.write_text(CANARY + "\n")
    return path


def refused(r: requests.Response, *secrets: str) -> None:
    """A 4xx JSON error that carries no rows and no secret."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body = r.json()
    assert isinstance(body, dict) and body.get("error") and not {"data", "meta", "rows"} & set(body), body
    for secret in (CANARY, *secrets):
        assert secret not in r.text


def via_sql(server, token, q):
    return requests.get(server.url + "/v0/sql", params={"q": q, "token": token}, timeout=30)


def via_q(server, token, q, pipe="top_users"):
    return requests.get(server.url + f"/v0/pipes/{pipe}.json", params={"q": q, "token": token}, timeout=30)


def test_engine_lists_are_real():
    """The battery is only as good as its lists: the engine must have named its functions and tables."""
    assert len(REFUSED_FUNCTIONS) > 50 and {"file", "url", "remote", "s3", "mysql", "executable", "merge"} <= set(REFUSED_FUNCTIONS)
    assert len(SYSTEM_TABLES) > 50 and {"tables", "one", "settings", "processes"} <= set(SYSTEM_TABLES)


@pytest.mark.parametrize("function", REFUSED_FUNCTIONS)
def test_table_function_is_refused(server, tokens, canary_file, function):
    admin = tokens["admin token"]
    for args in ("", f"'{canary_file}', 'LineAsString'", "'127.0.0.1', 'system', 'one'", f"'{server.url}/tokens', 'JSONAsString'"):
        q = f"SELECT * FROM {function}({args})"
        refused(via_sql(server, admin, q), admin)
        refused(via_q(server, admin, q), admin)
        refused(via_q(server, admin, f"SELECT * FROM _ WHERE user IN (SELECT toString(c1) FROM {function}({args}))"), admin)
    refused(via_sql(server, admin, f"SELECT {function}('{canary_file}')"), admin)


def test_allowed_table_functions_still_work(server, tokens):
    r = via_sql(server, tokens["admin token"], "SELECT sum(number) AS s FROM numbers(10)")
    assert r.status_code == 200 and r.json()["data"] == [{"s": 45}]


@pytest.mark.parametrize("table", SYSTEM_TABLES)
def test_system_table_is_refused(server, tokens, table):
    admin = tokens["admin token"]
    for q in (f"SELECT * FROM system.{table}", f"SELECT * FROM `system`.`{table}`", f"SELECT * FROM SYSTEM.{table.upper()}"):
        refused(via_sql(server, admin, q), admin)
    refused(via_q(server, admin, f"SELECT * FROM _ JOIN system.{table} ON 1"), admin)


TRICKS = [
    # other databases and internal tables
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM INFORMATION_SCHEMA.COLUMNS",
    "SELECT * FROM tb.clicks",
    "SELECT * FROM `tb`.`clicks`",
    "SELECT * FROM tb__internal.parse_clicks",
    "SELECT * FROM default.clicks",
    "SELECT * FROM _temporary_and_external_tables.x",
    # settings
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT * FROM clicks SETTINGS max_execution_time = 100000",
    "SELECT * FROM clicks SETTINGS max_memory_usage = 0, max_result_rows = 0",
    "SELECT * FROM clicks SETTINGS allow_ddl = 1",
    "SET readonly = 0",
    "SELECT getSetting('readonly')",
    # writes and outfiles
    "SELECT * FROM clicks INTO OUTFILE '/tmp/tblocal-leak.csv'",
    "SELECT * FROM clicks into\noutfile '/tmp/tblocal-leak.csv'",
    "SELECT * FROM clicks INTO OUTFILE '/tmp/tblocal-leak.csv' FORMAT CSV",
    "INSERT INTO clicks (id, user, ts) VALUES ('x', 'y', now())",
    "INSERT INTO FUNCTION file('/tmp/tblocal-leak.csv') SELECT * FROM clicks",
    "DROP TABLE clicks",
    "TRUNCATE TABLE clicks",
    "ALTER TABLE clicks DELETE WHERE 1",
    "CREATE TABLE x (a UInt8) ENGINE = Memory",
    "ATTACH TABLE x",
    "OPTIMIZE TABLE clicks FINAL",
    "KILL QUERY WHERE 1",
    "SYSTEM SHUTDOWN",
    "SHOW TABLES",
    "SHOW CREATE TABLE clicks",
    "DESCRIBE clicks",
    "EXPLAIN SELECT 1",
    "EXISTS TABLE clicks",
    "USE system",
    "GRANT ALL ON *.* TO default",
    # multi-statements
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE clicks",
    "SELECT * FROM clicks FORMAT JSON; DROP TABLE clicks",
    "SELECT 1;DROP TABLE clicks;",
    "SELECT 1 ; ; SELECT 2",
    # comments
    "SELECT 1 /* */ FROM system.one",
    "SELECT * FROM clicks -- \n UNION ALL SELECT * FROM system.one",
    "SELECT * FROM clicks /* unclosed",
    "SELECT * FROM clicks #\n UNION ALL SELECT name, '', '', now(), 0, '' FROM system.tables",
    "/*!50000 SELECT * FROM system.one */",
    "SELECT * FROM sys/**/tem.one",
    # unicode tricks
    "SELECT * FROM \u0455ystem.one",
    "SELECT * FROM system\u200b.one",
    "SELECT * FROM system\u00a0.one",
    "SELECT * FROM ｓｙｓｔｅｍ.ｏｎｅ",
    "SELECT * FROM \"system\".\"one\"",
    "SELECT * FROM system.one\u0000",
    # subqueries, joins, CTEs and functions reaching outside
    "SELECT * FROM clicks WHERE id IN (SELECT name FROM system.tables)",
    "WITH x AS (SELECT * FROM system.tables) SELECT * FROM x",
    "SELECT * FROM clicks JOIN system.one ON 1",
    "SELECT * FROM clicks ARRAY JOIN (SELECT groupArray(name) FROM system.databases) AS d",
    "SELECT currentUser(), version(), hostName()",
    "SELECT file('/etc/hostname')",
    "SELECT dictGet('x', 'y', 1)",
    "SELECT * FROM dictionary('x')",
    "SELECT sleepEachRow(1) FROM numbers(100)",
    "SELECT sleep(3)",
    "SELECT * FROM numbers(10000000000)",
    "SELECT * FROM generateRandom('a String') LIMIT 100000000",
    "SELECT * FROM clicks FORMAT Native",
    "SELECT * FROM clicks FORMAT Pretty",
    "SELECT * FROM nope",
]


@pytest.mark.parametrize("q", TRICKS)
def test_sql_trick_is_refused(server, tokens, q):
    admin = tokens["admin token"]
    refused(via_sql(server, admin, q), admin)


@pytest.mark.parametrize("q", [q for q in TRICKS if "FORMAT" not in q])
def test_q_trick_over_a_pipe_is_refused(server, tokens, q):
    admin = tokens["admin token"]
    refused(via_q(server, admin, q), admin)
    refused(via_q(server, admin, q.replace("clicks", "_")), admin)


def test_tricks_changed_nothing(server, tokens):
    """After every trick the data is still there, unchanged, and no file was written."""
    r = via_sql(server, tokens["admin token"], "SELECT count() AS n FROM clicks")
    assert r.status_code == 200 and r.json()["data"] == [{"n": 30}]
    import os

    assert not os.path.exists("/tmp/tblocal-leak.csv")


def test_scopes_hold_under_qualified_names(server, tokens):
    """A READ token for a pipe cannot reach the raw data source by any spelling."""
    read = tokens["top_users_read"]
    for q in ("SELECT * FROM clicks", "SELECT * FROM tb.clicks", "SELECT * FROM `tb`.clicks", "SELECT * FROM clicks_quarantine",
              "SELECT * FROM clicks_daily_mv", "SELECT * FROM kinds", "SELECT * FROM top_users t JOIN clicks c ON t.user = c.user"):
        refused(via_sql(server, read, q))
        refused(via_q(server, read, q.replace("top_users", "_")))
    ok = via_q(server, read, "SELECT count() AS n FROM _")
    assert ok.status_code == 200 and ok.json()["data"] == [{"n": 3}]


def endpoint_params(server, admin) -> dict[str, list[str]]:
    doc = requests.get(server.url + "/v0/pipes/openapi.json", params={"token": admin}, timeout=10).json()
    return {path.split("/")[-1][: -len(".json")]: [p["name"] for p in op["get"]["parameters"]] for path, op in doc["paths"].items()}


INJECTIONS = [
    "' OR 1=1 --",
    "x' UNION ALL SELECT name, 1, 1 FROM system.tables --",
    "1; DROP TABLE clicks",
    "1) UNION ALL SELECT name, 1, 1 FROM system.tables --",
    "\\' OR 1=1 --",
    "\u2019 OR 1=1 --",
    "{{ 7 * 7 }}",
    "{% import os %}{{ os.system('touch /tmp/tblocal-leak.csv') }}",
    "{{ __import__('os').system('touch /tmp/tblocal-leak.csv') }}",
    "%s%s%s%n",
    "file('/etc/passwd')",
    "system.one",
    "9999999999999999999999999",
    "-1",
    "1e309",
    "NaN",
    "2024-03-01 10:00:00' OR '1'='1",
    "['a'] UNION ALL SELECT 1",
    "a,b'),('c",
    "x" * 20000,
    "\u0000",
]


def test_endpoint_parameters_resist_injection(server, tokens):
    """Every parameter of every endpoint, each payload: a normal answer or a 4xx, never a 500, never other data."""
    admin = tokens["admin token"]
    params = endpoint_params(server, admin)
    assert params["top_users"] and params["user_clicks"]
    tried = 0
    for pipe, names in params.items():
        baseline = requests.get(server.url + f"/v0/pipes/{pipe}.json", params={"token": admin}, timeout=30).json()
        columns = [m["name"] for m in baseline["meta"]]
        for name in names:
            for payload in INJECTIONS:
                for method in ("GET", "POST"):
                    if method == "GET":
                        r = requests.get(server.url + f"/v0/pipes/{pipe}.json", params={name: payload, "token": admin}, timeout=30)
                    else:
                        r = requests.post(server.url + f"/v0/pipes/{pipe}.json", json={name: payload}, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
                    tried += 1
                    assert r.status_code != 500 and r.status_code < 500, (pipe, name, payload[:60], r.text[:300])
                    body = r.json()
                    if r.status_code == 200:
                        assert [m["name"] for m in body["meta"]] == columns, (pipe, name, payload[:60])
                        assert body["rows"] <= baseline["rows"], (pipe, name, payload[:60])
                        assert "49" not in json.dumps(body["data"]) or "49" in json.dumps(baseline["data"])
                    else:
                        refused(r, admin)
    assert tried >= 2 * len(INJECTIONS) * 3
    test_tricks_changed_nothing(server, tokens)
