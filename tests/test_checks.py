"""Every node of every pipe checked by ClickHouse at build and deploy (tblocal/checks.py)."""

from helpers import TEST_PROJECT, copy_project
from tblocal.checks import endpoint_errors
from tblocal.copies import problems
from tblocal.ddl import plan
from tblocal.pipes import Renderer
from tblocal.project import load_project

DB = "checks_test"


def scratch(engine, project):
    engine.execute(f"DROP DATABASE IF EXISTS {DB} SYNC")
    engine.execute(f"CREATE DATABASE {DB}")
    for sql in plan(project, Renderer(project, DB), None).statements:
        engine.execute(sql)


def test_the_test_project_passes(engine):
    project = load_project(TEST_PROJECT)
    scratch(engine, project)
    assert endpoint_errors(engine, project, DB) == []


def test_missing_data_source_column_and_function_name_file_and_node(engine, tmp_path):
    folder = copy_project(tmp_path / "p")
    (folder / "pipes" / "broken.pipe").write_text(
        "NODE missing_table\nSQL >\n    SELECT * FROM no_such_datasource\n\n"
        "NODE missing_column\nSQL >\n    %\n    SELECT no_such_column FROM clicks WHERE user = {{ String(user, required=True) }}\n\n"
        "NODE missing_function\nSQL >\n    SELECT no_such_function(user) FROM clicks\n\nTYPE endpoint\n")
    project = load_project(folder)
    scratch(engine, project)
    errors = endpoint_errors(engine, project, DB)
    assert [(e["filename"], e["error"].split(":")[0]) for e in errors] == [
        ("pipes/broken.pipe", "Node 'missing_table'"), ("pipes/broken.pipe", "Node 'missing_column'"),
        ("pipes/broken.pipe", "Node 'missing_function'")]
    assert "no_such_datasource" in errors[0]["error"] and "no_such_column" in errors[1]["error"]
    assert "no_such_function" in errors[2]["error"]


def test_guards_and_required_parameters_pass_as_in_tinybirds_build(engine, tmp_path):
    """Tinybird's build renders in test mode: a guard's error() and a required parameter without default pass."""
    folder = copy_project(tmp_path / "p")
    (folder / "pipes" / "guarded.pipe").write_text(
        "NODE guarded\nSQL >\n    %\n    {% if not defined(since) %}{{ error('since is required') }}{% end %}\n"
        "    SELECT user, count() AS n FROM clicks\n    WHERE ts > {{ DateTime(since) }} AND user IN {{ Array(users, 'String') }}\n"
        "    AND value > {{ Int32(min_value) }}\n    GROUP BY user\n\nTYPE endpoint\n")
    (folder / "pipes" / "placeholders.pipe").write_text(  # test mode's values need not suit the columns they meet
        "NODE by_any\nSQL >\n    %\n    SELECT {{ symbol(by) }} AS k, count() AS n FROM clicks\n"
        "    WHERE value = {{ String(v) }} AND value IN {{ Array(vs) }}\n    GROUP BY k\n\nTYPE endpoint\n")
    (folder / "pipes" / "watermarked_copy.pipe").write_text(
        "NODE since_watermark\nSQL >\n    %\n    {% if not defined(copy_watermark_ts) %}{{ error('copy_watermark_ts is required') }}{% end %}\n"
        "    SELECT toDate(ts) AS day, user, count() AS clicks, sum(value) AS total_value FROM clicks\n"
        "    WHERE ts > {{ DateTime(copy_watermark_ts) }}\n    GROUP BY day, user\n\n"
        "TYPE copy\nTARGET_DATASOURCE clicks_daily_mv\n")
    project = load_project(folder)
    scratch(engine, project)
    assert endpoint_errors(engine, project, DB) == []
    assert problems(engine, project, DB) == []


def test_nodes_reading_plain_endpoint_and_copy_pipes_are_checked_through_them(engine, tmp_path):
    folder = copy_project(tmp_path / "p")
    pipes = folder / "pipes"
    (pipes / "deduped.pipe").write_text(  # a plain pipe: no TYPE, several nodes
        "NODE latest\nSQL >\n    SELECT id, argMax(user, ts) AS user FROM clicks GROUP BY id\n\n"
        "NODE deduped\nSQL >\n    SELECT user, count() AS n FROM latest GROUP BY user\n")
    (pipes / "reads_plain.pipe").write_text("NODE stats\nSQL >\n    SELECT sum(n) AS total FROM deduped\n\nTYPE endpoint\n")
    (pipes / "reads_endpoint.pipe").write_text("NODE again\nSQL >\n    SELECT * FROM reads_plain\n\nTYPE endpoint\n")
    (pipes / "daily_copy.pipe").write_text("NODE daily\nSQL >\n    SELECT toDate(ts) AS day, user, count() AS clicks, "
                                           "sum(value) AS total_value FROM clicks GROUP BY day, user\n\n"
                                           "TYPE copy\nTARGET_DATASOURCE clicks_daily_mv\n")
    (pipes / "reads_copy.pipe").write_text("NODE busiest\nSQL >\n    SELECT user, max(clicks) AS most FROM daily_copy GROUP BY user\n\nTYPE endpoint\n")
    (pipes / "reads_wrong.pipe").write_text("NODE wrong\nSQL >\n    SELECT no_such_column FROM deduped\n\nTYPE endpoint\n")
    project = load_project(folder)
    scratch(engine, project)
    errors = endpoint_errors(engine, project, DB)
    assert [(e["filename"], e["error"].split(":")[0]) for e in errors] == [("pipes/reads_wrong.pipe", "Node 'wrong'")]
    assert "no_such_column" in errors[0]["error"]
