"""Data lifecycle through the real `tb --local` binary: delete, replace, FORWARD_QUERY, endpoint checks at build."""

import json
import re

import pytest

from test_tb_local import FIXTURE_ROWS, build_workspace, copy_project, server, sql, tb, variant  # noqa: F401 (server: fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def own(server, tmp_path):
    """A built copy of the project in its own workspace (these tests change its data and schema); (folder, token)."""
    project = copy_project(tmp_path / "own")
    tb(server, project, "build")
    return project, build_workspace(server, project)["token"]


def count(server, token, where="1"):
    return int(sql(server, token, f"SELECT count() AS n FROM user_events WHERE {where}")[0]["n"])


def a_user(server, token):
    return sql(server, token, "SELECT user_id FROM user_events GROUP BY user_id ORDER BY count() DESC, user_id LIMIT 2")


def test_both_deletes_remove_the_rows(server, own):
    project, token = own
    first, second = (r["user_id"] for r in a_user(server, token))
    n1, n2 = count(server, token, f"user_id = '{first}'"), count(server, token, f"user_id = '{second}'")
    done = tb(server, project, "datasource", "delete", "user_events", "--sql-condition", f"user_id='{first}'", "--yes", "--wait")
    assert "/v0/jobs/" in done.stdout
    assert count(server, token, f"user_id = '{first}'") == 0 and count(server, token) == FIXTURE_ROWS - n1
    done = tb(server, project, "datasource", "delete", "user_events", "--sql-condition", f"user_id='{second}'", "--yes", "--lightweight-delete")
    assert str(n2) in done.stdout
    assert count(server, token) == FIXTURE_ROWS - n1 - n2
    dry = tb(server, project, "datasource", "delete", "user_events", "--sql-condition", "1=1", "--dry-run")
    assert str(FIXTURE_ROWS - n1 - n2) in dry.stdout
    bad = tb(server, project, "datasource", "delete", "user_events", "--sql-condition", "no_such_column = 1", "--yes", "--wait", ok=False)
    assert bad.returncode == 1 and "no_such_column" in bad.stdout + bad.stderr
    assert count(server, token) == FIXTURE_ROWS - n1 - n2


def test_replace_leaves_exactly_the_file(server, own, tmp_path):
    project, token = own
    rows = [json.loads(line) for line in (project / "fixtures" / "user_events.ndjson").read_text().splitlines()[:25] if line.strip()]
    file = tmp_path / "rows.ndjson"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tb(server, project, "datasource", "replace", "user_events", str(file))
    assert sorted(r["event_id"] for r in sql(server, token, "SELECT event_id FROM user_events")) == sorted(r["event_id"] for r in rows)
    assert int(sql(server, token, "SELECT sum(events) AS n FROM content_engagement_mv")[0]["n"]) == len(rows)
    data = json.loads(tb(server, project, "endpoint", "data", "content_engagement", "--format", "json").stdout)
    assert sum(int(r["events"]) for r in data["data"]) == len(rows)


def _schema(project, old, new, forward_query=None):
    ds = project / "datasources" / "user_events.datasource"
    text = ds.read_text().replace(old, new)
    if forward_query:
        text = text.replace("\nENGINE MergeTree", f"\nFORWARD_QUERY >\n    {forward_query}\n\nENGINE MergeTree")
    ds.write_text(text)


def test_deploys_keep_every_row_through_an_added_column_and_a_forward_query(server, own, tmp_path):
    project, token = own
    tb(server, project, "deploy")
    added = variant(project, tmp_path / "added")
    _schema(added, "`metadata` String `json:$.metadata` DEFAULT '{}'",
            "`metadata` String `json:$.metadata` DEFAULT '{}',\n    `country` String `json:$.country` DEFAULT ''")
    tb(server, added, "deploy")
    assert count(server, token) == FIXTURE_ROWS

    wider = variant(project, tmp_path / "wider")
    (wider / "datasources" / "user_events.datasource").write_text((added / "datasources" / "user_events.datasource").read_text())
    _schema(wider, "`duration` UInt32", "`duration` UInt64")
    refused = tb(server, wider, "deploy", ok=False)
    assert refused.returncode == 1 and "FORWARD_QUERY" in refused.stdout, refused.stdout
    columns = ("event_id, user_id, event_type, content_id, recommendation_id, timestamp, session_id, device, platform, "
               "toUInt64(duration) AS duration, metadata, country")
    _schema(wider, "", "", forward_query=f"SELECT {columns}")
    checked = tb(server, wider, "deploy", "--check").stdout
    assert "| user_events | From live deployment using Forward Query |" in checked, checked
    tb(server, wider, "deploy")
    typed = sql(server, token, "SELECT count() AS n, toTypeName(any(duration)) AS t, sum(duration) AS total FROM user_events")[0]
    assert (int(typed["n"]), typed["t"]) == (FIXTURE_ROWS, "UInt64")
    views = sql(server, token, "SELECT sum(engaged_seconds) AS total FROM session_analysis_mv")[0]
    assert int(views["total"]) == int(typed["total"])  # the views were rebuilt from the migrated rows
    assert "passed" in tb(server, wider, "test", "run").stdout


def test_a_pipe_reading_a_missing_data_source_fails_the_build(server, own, tmp_path):
    project, _ = own
    broken = variant(project, tmp_path / "broken")
    (broken / "pipes" / "reads_nothing.pipe").write_text(
        "NODE endpoint\nSQL >\n    SELECT count() AS n FROM no_such_datasource\n\nTYPE endpoint\n")
    done = tb(server, broken, "build", ok=False)
    assert done.returncode == 1 and "no_such_datasource" in done.stdout and "reads_nothing" in done.stdout, done.stdout
    checked = tb(server, broken, "deploy", "--check", ok=False)
    assert checked.returncode == 1 and "no_such_datasource" in checked.stdout
    column = variant(project, tmp_path / "column")
    (column / "pipes" / "reads_nothing.pipe").write_text(
        "NODE endpoint\nSQL >\n    %\n    SELECT no_such_column FROM user_events WHERE user_id = {{ String(user_id, required=True) }}\n\nTYPE endpoint\n")
    done = tb(server, column, "build", ok=False)
    assert done.returncode == 1 and "no_such_column" in done.stdout and re.search(r"reads_nothing|endpoint", done.stdout)
