"""tblocal.deploy: sent datafiles -> a checked project -> what changes (real parser, real chDB for the check)."""

import pytest

from helpers import TEST_PROJECT
from tblocal.deploy import Changes, DeployError, changes, check, stage
from tblocal.project import load_project


def sent() -> dict[str, bytes]:
    """tests/project's datafiles as the CLI sends them: relative path -> bytes."""
    return {p.relative_to(TEST_PROJECT).as_posix(): p.read_bytes() for p in sorted(TEST_PROJECT.glob("*/*.*"))}


def test_stage_writes_only_datafiles_and_parses_them(tmp_path):
    files = {**sent(), "fixtures/clicks.ndjson": b"{}", "README.md": b"x"}
    project = stage(files, tmp_path / "staged")
    assert sorted(p.relative_to(tmp_path / "staged").as_posix() for p in (tmp_path / "staged").rglob("*.*")) == sorted(sent())
    assert project.datasources.keys() == load_project(TEST_PROJECT).datasources.keys()
    assert project.pipes.keys() == load_project(TEST_PROJECT).pipes.keys()


def test_stage_names_the_sent_file_of_an_error(tmp_path):
    files = {**sent(), "more/kinds.pipe": b"NODE a\nSQL >\n    SELECT 1\n"}
    with pytest.raises(DeployError) as e:
        stage(files, tmp_path / "staged")
    assert e.value.errors == [{"filename": "pipes/kinds.pipe", "error": "another file is also called kinds.pipe"}]
    with pytest.raises(DeployError) as e:
        stage({"datasources/broken.datasource": b"SCHEMA >\n    `a` NoSuchType\n"}, tmp_path / "staged")
    assert [err["filename"] for err in e.value.errors] == ["datasources/broken.datasource"]


def test_changes_between_two_projects(tmp_path):
    old = load_project(TEST_PROJECT)
    kinds = (TEST_PROJECT / "pipes" / "kinds.pipe").read_text()
    files = sent()
    files.pop("pipes/top_users.pipe")
    files["pipes/kinds.pipe"] = kinds.replace("DESCRIPTION >", "DESCRIPTION >\n    Changed.", 1).encode()
    files["pipes/extra.pipe"] = kinds.encode()
    new = stage(files, tmp_path / "staged")
    todo = changes(old, new)
    assert todo == Changes(new_pipe_names=["extra"], changed_pipe_names=["kinds"], deleted_pipe_names=["top_users"])
    assert todo.any and not changes(old, old).any


def test_check_refuses_to_delete_a_data_source_without_consent(local, tmp_path):
    ws = local.app.state.workspaces.default
    files = sent()
    for name in ("datasources/clicks_daily_mv.datasource", "pipes/clicks_daily.pipe"):
        files.pop(name)
    new = stage(files, tmp_path / "staged")
    todo = changes(ws.project, new)
    assert todo == Changes(deleted_datasource_names=["clicks_daily_mv"], deleted_pipe_names=["clicks_daily"])
    with pytest.raises(DeployError) as e:
        check(ws, new, todo, recreate_changed=False, destructive=False)
    assert e.value.errors == [{"filename": "clicks_daily_mv.datasource",
                               "error": "Data source 'clicks_daily_mv' would be deleted with all its data; "
                                        "deploy with --allow-destructive-operations to do so"}]
