"""The official Forward CLI (`tb --local ...`, the real binary) against a real tblocal: each command a user runs.

The project is copied to a temporary folder, so the repo's own .tinyb and git branch do not pick the
workspace; the CLI then uses Tinybird_Local_Build_<sha256 of the folder>, as it would on a machine with
Tinybird Local in Docker. Assertions read the server's state over HTTP, not only what the CLI printed.
"""

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from helpers import build_workspace, build_workspace_name, tb, workspace
from tblocal.launcher import ROOT, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FIXTURE_ROWS = sum(1 for line in (ROOT / "fixtures" / "user_events.ndjson").read_bytes().splitlines() if line.strip())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """tblocal with the repo's datafiles and fixtures in its default workspace."""
    server = ServerProcess(ROOT, tmp_path_factory.mktemp("tblocal") / "data", load_fixtures=ROOT / "fixtures").start(timeout=180)
    yield server
    server.stop()


def copy_project(folder: Path) -> Path:
    """A copy of the Forward project in folder: datafiles, fixtures and the tests/<pipe>.yaml cases."""
    for name in ("datasources", "pipes", "fixtures"):
        shutil.copytree(ROOT / name, folder / name)
    (folder / "tests").mkdir()
    for case in (ROOT / "tests").glob("*.yaml"):
        shutil.copy(case, folder / "tests" / case.name)
    return folder


@pytest.fixture(scope="module")
def project(server, tmp_path_factory) -> Path:
    """A copy of the project, built once with `tb --local build` (its workspace holds the fixtures)."""
    folder = copy_project(tmp_path_factory.mktemp("project"))
    tb(server, folder, "build")
    return folder


def variant(project: Path, folder: Path) -> Path:
    """A copy of project in folder whose .tinyb names project's workspace, so `tb --local` changes that one."""
    shutil.copytree(project, folder)
    (folder / ".tinyb").write_text(json.dumps({"name": build_workspace_name(project)}))
    return folder


def sql(server: ServerProcess, token: str, q: str) -> list[dict]:
    r = requests.get(f"{server.url}/v0/sql", params={"q": q + " FORMAT JSON", "token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_build_creates_a_workspace_and_loads_fixtures(server, tmp_path):
    project = copy_project(tmp_path / "fresh")
    done = tb(server, project, "build")
    assert "✓ datasources/user_events.datasource created" in done.stdout and "✓ Build completed" in done.stdout
    ws = build_workspace(server, project)
    counts = {r["name"]: int(r["rows"]) for r in sql(server, ws["token"], "SELECT 'user_events' AS name, count() AS rows FROM user_events "
                                                      "UNION ALL SELECT 'quarantine', count() FROM user_events_quarantine")}
    assert counts == {"user_events": FIXTURE_ROWS, "quarantine": 0}
    views = sql(server, ws["token"], "SELECT sum(events) AS events FROM content_engagement_mv")
    assert int(views[0]["events"]) == FIXTURE_ROWS  # the materialized views were filled by the fixtures too
    again = tb(server, project, "build")
    assert "No changes. Build skipped." in again.stdout


def test_test_run_passes_every_case(server, project):
    done = tb(server, project, "test", "run")
    passed = re.search(r"✓ (\d+)/(\d+) passed", done.stdout)
    assert passed and passed.group(1) == passed.group(2) and int(passed.group(1)) >= 5, done.stdout
    cases = sum(1 for line in done.stdout.splitlines() if line.endswith(" passed") and not line.startswith("✓ " + passed.group(1)))
    assert cases >= 30, done.stdout  # each YAML case ran, not only the files


def test_a_broken_datafile_fails_the_build_naming_file_and_line(server, project, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    pipe = broken / "pipes" / "user_recommendations.pipe"
    pipe.write_text(pipe.read_text().replace("NODE ", "NODDE ", 1))
    done = tb(server, broken, "build", ok=False)
    assert done.returncode == 1 and "✗ Build failed" in done.stdout
    assert "pipes/user_recommendations.pipe" in done.stdout and "NODDE is not a valid option" in done.stdout


def test_deploy_check_then_deploy_then_list(server, project):
    assert "✓ Deployment is valid" in tb(server, project, "deploy", "--check").stdout
    done = tb(server, project, "deploy")
    live = re.search(r"✓ Deployment #(\d+) is live!", done.stdout)
    assert live, done.stdout
    listed = tb(server, project, "deployment", "ls").stdout
    assert re.findall(r"^\|\s+(\d+) \| (\w+)", listed, re.M) == [(live.group(1), "Live")], listed


def test_staged_deployment_promote_and_discard(server, tmp_path):
    project = copy_project(tmp_path / "own")  # its own workspace: this test changes its schema
    tb(server, project, "build")
    token = build_workspace(server, project)["token"]
    changed = variant(project, tmp_path / "changed")
    ds = changed / "datasources" / "user_events.datasource"
    ds.write_text(ds.read_text().replace("`metadata` String `json:$.metadata` DEFAULT '{}'",
                                         "`metadata` String `json:$.metadata` DEFAULT '{}',\n    `country` String `json:$.country` DEFAULT ''"))
    tb(server, changed, "deployment", "create")
    staged = re.search(r"\|\s+(\d+) \| Staging", tb(server, changed, "deployment", "ls").stdout).group(1)
    assert "country" not in [c["name"] for c in _columns(server, token)]  # staged: the live tables are untouched
    tb(server, changed, "deployment", "promote")
    assert re.search(rf"\|\s+{staged} \| Live", tb(server, changed, "deployment", "ls").stdout)
    assert [c["name"] for c in _columns(server, token)][-1] == "country"  # a column added at the end keeps the data
    assert int(sql(server, token, "SELECT count() AS n FROM user_events")[0]["n"]) == FIXTURE_ROWS
    pipe = changed / "pipes" / "session_analysis.pipe"
    pipe.write_text(pipe.read_text().replace("DESCRIPTION >\n", "DESCRIPTION >\n    Staged, then discarded.\n", 1))
    tb(server, changed, "deployment", "create")
    tb(server, changed, "deployment", "discard")
    listed = tb(server, changed, "deployment", "ls").stdout
    assert re.findall(r"^\|\s+(\d+) \| (\w+)", listed, re.M) == [(staged, "Live")], listed


def _columns(server, token):
    return requests.get(f"{server.url}/v0/datasources/user_events", params={"token": token}, timeout=10).json()["columns"]


def test_deleting_a_data_source_needs_consent(server, tmp_path):
    project = copy_project(tmp_path / "own")  # its own workspace: this test drops a data source
    tb(server, project, "build")
    smaller = variant(project, tmp_path / "smaller")
    (smaller / "datasources" / "user_recommendations_mv.datasource").unlink()
    (smaller / "pipes" / "user_recommendations_mat.pipe").unlink()
    (smaller / "pipes" / "user_recommendations.pipe").unlink()
    (smaller / "tests" / "user_recommendations.yaml").unlink()
    refused = tb(server, smaller, "deploy", ok=False)
    assert refused.returncode == 1 and "--allow-destructive-operations" in refused.stdout
    token = build_workspace(server, project)["token"]
    names = lambda: {d["name"] for d in requests.get(f"{server.url}/v0/datasources", params={"token": token}, timeout=10).json()["datasources"]}  # noqa: E731
    assert "user_recommendations_mv" in names()
    tb(server, smaller, "deploy", "--allow-destructive-operations")
    assert "user_recommendations_mv" not in names()
    tb(server, project, "deploy")  # back again: the view target is re-created and backfilled from user_events
    rows = sql(server, token, "SELECT sum(impressions + clicks + likes + shares) > 0 AS filled FROM user_recommendations_mv")
    assert rows == [{"filled": 1}]


def test_datasource_ls_and_append_file(server, project):
    listed = tb(server, project, "datasource", "ls").stdout
    assert "name: user_events" in listed and f"row_count: {FIXTURE_ROWS:,}" in listed
    token = build_workspace(server, project)["token"]
    before = int(sql(server, token, "SELECT count() AS n FROM user_events")[0]["n"])
    done = tb(server, project, "datasource", "append", "user_events", "--file", "fixtures/user_events.ndjson")
    assert "✓ Rows appended!" in done.stdout
    after = sql(server, token, "SELECT (SELECT count() FROM user_events) AS n, (SELECT count() FROM user_events_quarantine) AS q")
    assert after == [{"n": before + FIXTURE_ROWS, "q": 0}]


def test_append_events_reports_rows_and_quarantine(server, project):
    done = tb(server, project, "datasource", "append", "user_events", "--events",
              '{"event_id":"e1","user_id":"u_cli","event_type":"view","content_id":"c1","timestamp":"2024-01-01 00:00:00","session_id":"s"}\n'
              '{"event_id":"e2","user_id":"u_cli","event_type":"view","content_id":"c1","timestamp":"yesterday","session_id":"s"}')
    assert "✓ 1 row appended!" in done.stdout and "✗ 1 row went to quarantine" in done.stdout


def test_multipart_append_leaves_nothing_in_quarantine(server, project):
    token = build_workspace(server, project)["token"]
    before = sql(server, token, "SELECT (SELECT count() FROM user_events) AS n, (SELECT count() FROM user_events_quarantine) AS q")[0]
    with open(ROOT / "fixtures" / "user_events.ndjson", "rb") as f:  # what `curl -F ndjson=@file` sends
        r = requests.post(f"{server.url}/v0/datasources", params={"name": "user_events", "mode": "append", "token": token},
                          files={"ndjson": ("user_events.ndjson", f)}, timeout=120)
    assert r.status_code == 200, r.text
    assert (r.json()["successful_rows"], r.json()["quarantined_rows"]) == (FIXTURE_ROWS, 0)
    after = sql(server, token, "SELECT (SELECT count() FROM user_events) AS n, (SELECT count() FROM user_events_quarantine) AS q")[0]
    assert after == {"n": before["n"] + FIXTURE_ROWS, "q": before["q"]}


def test_sql(server, project):
    done = tb(server, project, "sql", "SELECT count() AS events, uniqExact(user_id) AS users FROM user_events WHERE user_id = 'u_李雷'")
    assert "events" in done.stdout and "UInt64" in done.stdout


def test_endpoint_ls_data_url_token(server, project):
    listed = tb(server, project, "endpoint", "ls").stdout
    assert sorted(re.findall(r"^name: (\w+)$", listed, re.M)) == sorted(
        ["api_usage", "content_engagement", "recommendation_performance", "session_analysis", "user_content_affinity", "user_recommendations"])
    token = build_workspace(server, project)["token"]
    read = next(t for t in requests.get(f"{server.url}/v0/tokens", params={"token": token}, timeout=10).json()["tokens"]
                if t["name"] == "endpoints_read")
    url = tb(server, project, "endpoint", "url", "user_content_affinity").stdout.strip()
    assert url == f"{server.url}/v0/pipes/user_content_affinity.json?token={read['token']}"
    assert requests.get(url, timeout=30).status_code == 200
    assert read["token"] in tb(server, project, "endpoint", "token", "user_content_affinity").stdout
    data = tb(server, project, "endpoint", "data", "user_content_affinity", "--user_id", "u_李雷", "--format", "json").stdout
    expected = requests.get(f"{server.url}/v0/pipes/user_content_affinity.json", params={"user_id": "u_李雷", "token": token}, timeout=30).json()
    assert expected["rows"] > 0 and json.loads(data)["data"] == expected["data"]


def test_endpoint_stats_sql_and_logs_read_the_service_data_sources(server, project):
    """After N calls of an endpoint, `tb endpoint stats`, `tb sql` on tinybird.pipe_stats_rt and `tb logs` show them."""
    token, calls = build_workspace(server, project)["token"], 4
    for _ in range(calls):
        assert requests.get(f"{server.url}/v0/pipes/content_engagement.json", params={"limit": 3, "token": token}, timeout=60).status_code == 200
    recorded = sql(server, token, "SELECT count() AS requests, countIf(error = 1) AS errors, avg(duration) AS latency "
                                  "FROM tinybird.pipe_stats_rt WHERE pipe_name = 'content_engagement'")[0]
    assert recorded["requests"] >= calls and recorded["errors"] == 0
    stats = json.loads(tb(server, project, "endpoint", "stats", "content_engagement", "--format", "json").stdout)
    assert stats == {"pipes": [{"name": "content_engagement", "requests": recorded["requests"], "errors": 0,
                                "latency": pytest.approx(recorded["latency"], rel=1e-6)}]}
    assert recorded["latency"] > 0
    table = tb(server, project, "endpoint", "stats").stdout
    assert re.search(rf"\| content_engagement +\| +{recorded['requests']} \| +0 \| +0\.\d+ \|", table), table

    done = tb(server, project, "sql", "SELECT count() FROM tinybird.pipe_stats_rt WHERE pipe_name = 'content_engagement'")
    assert re.findall(r"^\s*(\d+)\s*$", done.stdout, re.M) == [str(recorded["requests"])], done.stdout

    logs = json.loads(tb(server, project, "--output", "json", "logs", "--source", "tinybird.pipe_stats_rt", "-n", "1000").stdout)
    mine = [(r["data"]["pipe_name"], r["data"]["status_code"]) for r in logs["data"] if r["data"]["parameters"] == {"limit": "3"}]
    assert mine == [("content_engagement", 200)] * calls  # other tests' calls in this workspace have other parameters
    printed = tb(server, project, "logs").stdout
    assert "tinybird.pipe_stats_rt" in printed and "content_engagement" in printed and "GET" in printed


def past_newest_second(server: ServerProcess, token: str) -> None:
    """Wait until the clock has left the second of the newest ops and jobs row.

    `tb logs` asks for rows stamped before now cut to the whole second (as on Tinybird), so a row of the
    current second is not listed yet: the wait is for that condition, not a guess at how long it takes."""
    newest = sql(server, token, "SELECT max(t) AS t FROM (SELECT toUnixTimestamp(max(timestamp)) AS t FROM tinybird.datasources_ops_log "
                                "UNION ALL SELECT toUnixTimestamp(max(created_at)) FROM tinybird.jobs_log)")[0]["t"]
    while time.time() < newest + 1:
        time.sleep(max(0.0, newest + 1 - time.time()))  # the clock may pass the mark between two reads


def test_logs_show_the_fixture_load_and_a_truncate(server, tmp_path):
    """A fresh build's fixture load and a `tb datasource truncate` are in tinybird.datasources_ops_log and `tb logs`."""
    project = copy_project(tmp_path / "ops")
    tb(server, project, "build")
    tb(server, project, "datasource", "truncate", "user_events", "--yes")
    token = build_workspace(server, project)["token"]
    ops = sql(server, token, "SELECT event_type, datasource_name, result, rows, rows_quarantine FROM tinybird.datasources_ops_log "
                             "ORDER BY event_type")
    assert ops == [
        {"event_type": "append", "datasource_name": "user_events", "result": "ok", "rows": FIXTURE_ROWS, "rows_quarantine": 0},
        {"event_type": "truncate", "datasource_name": "user_events", "result": "ok", "rows": None, "rows_quarantine": None},
    ]
    past_newest_second(server, token)
    logs = json.loads(tb(server, project, "--output", "json", "logs", "--source", "tinybird.datasources_ops_log,tinybird.jobs_log").stdout)
    assert sorted((r["source"], r["data"].get("event_type") or r["data"]["job_type"]) for r in logs["data"]) == [
        ("tinybird.datasources_ops_log", "append"), ("tinybird.datasources_ops_log", "truncate"), ("tinybird.jobs_log", "import")], (
        logs, sql(server, token, "SELECT job_id, status, toString(created_at) AS c, toString(updated_at) AS u FROM tinybird.jobs_log"),
        sql(server, token, "SELECT toString(timestamp) AS t, event_type FROM tinybird.datasources_ops_log"), time.time(),
        [line for line in server.log_path.read_text().splitlines() if "WARNING" in line or "Error" in line][-20:])
    printed = tb(server, project, "logs", "--source", "tinybird.datasources_ops_log").stdout
    assert re.search(rf"\| tinybird\.datasources_ops_log \| append +\| user_events \| ok +\| [\d,.]+ ms +\| rows: {FIXTURE_ROWS:,} rows", printed), printed
    assert re.search(r"\| tinybird\.datasources_ops_log \| truncate \| user_events \| ok +\| [\d,.]+ ms", printed), printed


def test_token_ls(server, project):
    listed = tb(server, project, "token", "ls").stdout
    assert {"admin token", "endpoints_read", "events_append"} <= set(re.findall(r"^name: (.+)$", listed, re.M))


def test_token_create_jwt_pins_the_user(server, project):
    """The issue's line: a JWT from `tb token create jwt` answers its user's rows whatever user_id is sent."""
    token = build_workspace(server, project)["token"]
    users = [r["user_id"] for r in sql(server, token, "SELECT user_id FROM user_events GROUP BY user_id ORDER BY count() DESC LIMIT 2")]
    out = tb(server, project, "token", "create", "jwt", "front", "--ttl", "1h", "--scope", "PIPES:READ", "--resource",
             "user_recommendations", "--fixed-params", f"user_id={users[0]}").stdout
    jwt_token = re.search(r"The token is: (\S+)", out).group(1)
    call = lambda pipe, t, **p: requests.get(f"{server.url}/v0/pipes/{pipe}.json", params={"token": t, **p}, timeout=30)  # noqa: E731
    mine = call("user_recommendations", token, user_id=users[0]).json()["data"]
    assert mine and {r["user_id"] for r in mine} == {users[0]}
    for sent in ({}, {"user_id": users[1]}):
        assert call("user_recommendations", jwt_token, **sent).json()["data"] == mine
    refused = call("content_engagement", jwt_token)
    assert refused.status_code == 403 and refused.json()["error"] == "The token you have provided doesn't have access to the pipe 'content_engagement'"


def test_token_create_static_scopes_refresh_rm(server, project):
    token = build_workspace(server, project)["token"]

    def listed() -> dict:
        return {t["name"]: t for t in requests.get(f"{server.url}/v0/tokens", params={"token": token}, timeout=10).json()["tokens"]}

    assert "generated successfully" in tb(server, project, "token", "create", "static", "reporting", "--scope", "PIPES:READ",
                                          "--resource", "content_engagement").stdout
    made = listed()["reporting"]
    assert made["scopes"] == [{"type": "PIPES:READ", "resource": "content_engagement"}]
    assert "updated successfully" in tb(server, project, "token", "create", "static", "reporting", "--scope", "DATASOURCES:READ",
                                        "--resource", "user_events", "--filter", "event_type = 'view'").stdout
    assert listed()["reporting"]["scopes"] == [{"type": "DATASOURCES:READ", "resource": "user_events", "filter": "event_type = 'view'"}]
    scopes = tb(server, project, "token", "scopes", "reporting").stdout
    assert "DATASOURCES:READ" in scopes and "event_type = 'view'" in scopes
    tb(server, project, "token", "refresh", made["id"], "--yes")
    assert listed()["reporting"]["token"] != made["token"]
    tb(server, project, "token", "rm", "reporting", "--yes")
    assert "reporting" not in listed()
    assert tb(server, project, "token", "rm", "reporting", "--yes", ok=False).returncode != 0


def test_info_shows_the_workspace_id(server, project):
    ws = build_workspace(server, project)
    out = tb(server, project, "info").stdout
    assert re.search(rf"workspace_id: {ws['id']}$", out, re.M), out


def test_test_workspaces_are_thrown_away(server, project):
    tb(server, project, "test", "run")
    tb(server, project, "test", "run")  # deletes the previous run's workspace first, as the CLI does
    names = [w["name"] for w in requests.get(f"{server.url}/v1/user/workspaces", params={"token": server.admin_token}, timeout=10).json()["workspaces"]]
    assert sum(n.startswith("Tinybird_Local_Test_") for n in names) == 1
    assert names[0] == "Tinybird_Local_Testing"  # the default workspace (this repo) stays first
