"""Every node of every pipe checked by ClickHouse at build and deploy (tblocal/checks.py)."""

from helpers import TEST_PROJECT, copy_project
from tblocal.checks import endpoint_errors, parameters, sample
from tblocal.ddl import plan
from tblocal.pipes import Renderer
from tblocal.project import load_project

DB = "checks_test"


def scratch(engine, project):
    engine.execute(f"DROP DATABASE IF EXISTS {DB} SYNC")
    engine.execute(f"CREATE DATABASE {DB}")
    for sql in plan(project, Renderer(project, DB), None).statements:
        engine.execute(sql)


def test_samples_parse_as_their_type():
    assert [sample(t) for t in ("String", "Int32", "UInt64", "Float64", "DateTime", "Date", "Array(Int32)", "Boolean")] == [
        "sample", "1", "1", "1.5", "2024-01-01 00:00:00", "2024-01-01", "1", "1"]


def test_only_required_parameters_without_default_get_a_sample():
    project = load_project(TEST_PROJECT)
    assert all(parameters(p) == {} for p in project.pipes.values())  # every parameter of tests/project is optional


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
