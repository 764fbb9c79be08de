from pathlib import Path

import pytest

from helpers import TEST_PROJECT, copy_project
from tblocal.project import ProjectError, Token, load_project


@pytest.fixture(scope="module")
def project():
    return load_project(TEST_PROJECT)


def test_data_sources_columns_and_engines(project):
    assert list(project.datasources) == ["clicks", "clicks_daily_mv"]
    clicks = project.datasources["clicks"]
    assert clicks.column_names == ["id", "user", "kind", "ts", "value", "tags"]
    assert [c["type"] for c in clicks.columns] == ["String", "String", "LowCardinality(String)", "DateTime", "UInt32", "String"]
    assert [c["default_value"] for c in clicks.columns] == [None, None, "DEFAULT 'click'", None, "DEFAULT 0", "DEFAULT '{}'"]
    assert clicks.engine == "MergeTree"
    assert clicks.engine_args == {"partition_key": "toYYYYMM(ts)", "sorting_key": "user, ts"}
    assert clicks.description == "Raw clicks of the runtime's own test project."
    assert project.datasources["clicks_daily_mv"].engine == "SummingMergeTree"


def test_pipes_nodes_and_endpoints(project):
    # other tests may add pipes to tests/project: check the ones these tests rely on
    assert {"clicks_daily", "top_users", "user_clicks"} <= set(project.pipes)
    assert {"top_users", "user_clicks"} <= set(project.endpoints) and "clicks_daily" not in project.endpoints
    daily = project.pipes["clicks_daily"]
    assert daily.endpoint is None
    assert [(n.name, n.type, n.datasource) for n in daily.materialized] == [("aggregate_per_day", "materialized", "clicks_daily_mv")]
    top = project.pipes["top_users"]
    assert [n.name for n in top.nodes] == ["filtered", "endpoint"]
    assert [n.is_template for n in top.nodes] == [True, True]
    assert [n.type for n in top.nodes] == ["", "endpoint"] and top.endpoint is top.nodes[1]
    assert top.nodes[0].description == "Clicks in the range."
    assert top.nodes[0].template.lstrip().startswith("SELECT user, value")
    assert not project.pipes["user_clicks"].nodes[1].is_template


def test_tokens_and_scopes_as_written(project):
    assert [t for t in project.tokens if t.resource in ("clicks", "top_users")] == [
        Token("clicks_append", "APPEND", "datasource", "clicks"),
        Token("top_users_read", "READ", "pipe", "top_users"),
    ]
    assert [t.scope for t in project.tokens if t.resource in ("clicks", "top_users")] == ["DATASOURCES:APPEND:clicks", "PIPES:READ:top_users"]


def test_explicit_type_endpoint_wins_over_last_node(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "first.pipe").write_text("NODE a\nSQL >\n    SELECT 1 AS x\n\nTYPE endpoint\n\nNODE b\nSQL >\n    SELECT 2 AS x\n")
    assert load_project(root).pipes["first"].endpoint.name == "a"


def test_a_jsonpath_tblocal_cannot_read_is_refused_naming_file_and_path(tmp_path):
    root = copy_project(tmp_path / "p")
    path = root / "datasources" / "clicks.datasource"
    path.write_text(path.read_text().replace("`json:$.tags`", "`json:$.tags[*].a`"))
    with pytest.raises(ProjectError, match=r"clicks.datasource: JSONPath '\$.tags\[\*\].a': cannot read '\[\*\].a'"):
        load_project(root)


def test_datafiles_are_read_from_the_folders_tb_create_makes(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "endpoints").mkdir()
    (root / "pipes" / "top_users.pipe").rename(root / "endpoints" / "top_users.pipe")
    (root / "vendor").mkdir()
    (root / "vendor" / "other.pipe").write_text("NODE a\nSQL >\n    SELECT 1\n")
    (root / "deeper" / "still").mkdir(parents=True)
    (root / "deeper" / "still" / "deep.pipe").write_text("NODE a\nSQL >\n    SELECT 1\n")
    p = load_project(root)
    assert "top_users" in p.endpoints and not {"other", "deep"} & set(p.pipes)


def test_two_datafiles_with_one_name_are_refused(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "endpoints").mkdir()
    (root / "endpoints" / "top_users.pipe").write_text("NODE a\nSQL >\n    SELECT 1\n")
    with pytest.raises(ProjectError, match=r"top_users.pipe: another file is also called top_users.pipe"):
        load_project(root)


def test_materializing_into_an_unknown_data_source(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "datasources" / "clicks_daily_mv.datasource").unlink()
    with pytest.raises(ProjectError, match=r"node aggregate_per_day materializes into unknown data source 'clicks_daily_mv'"):
        load_project(root)


def test_a_name_used_by_a_data_source_and_a_pipe(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "clicks.pipe").write_text("NODE a\nSQL >\n    SELECT 1\n")
    with pytest.raises(ProjectError, match=r"names used by both a data source and a pipe: \['clicks'\]"):
        load_project(root)


def test_an_unparsable_datafile_names_the_file(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "datasources" / "broken.datasource").write_text("SCHEMA >\n    `a` String\n\nNOT_A_KEYWORD x\n")
    with pytest.raises(ProjectError) as e:
        load_project(root)
    assert str(e.value).startswith(str(root / "datasources" / "broken.datasource") + ":3: ")


def test_empty_folder_is_an_empty_project(tmp_path):
    p = load_project(tmp_path)
    assert (p.datasources, p.pipes, p.tokens, p.root) == ({}, {}, [], Path(tmp_path))


def test_a_pipe_without_type_endpoint_publishes_nothing(tmp_path):
    """Forward publishes only a node marked TYPE ENDPOINT; an untyped pipe is not an endpoint."""
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "plain.pipe").write_text("NODE only\nSQL >\n    SELECT 1 AS one\n")
    project = load_project(root)
    assert project.pipes["plain"].endpoint is None and "plain" not in project.endpoints


def test_forward_query_and_engine_settings_are_read(tmp_path):
    root = copy_project(tmp_path / "p")
    path = root / "datasources" / "clicks.datasource"
    path.write_text(path.read_text() + "ENGINE_SETTINGS index_granularity = 1024\n\nFORWARD_QUERY >\n    SELECT id, user, kind, ts, value, tags\n")
    clicks = load_project(root).datasources["clicks"]
    assert clicks.engine_args["settings"] == "index_granularity = 1024"
