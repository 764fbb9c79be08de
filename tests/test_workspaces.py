"""tblocal.workspaces: the registry of workspaces, called directly in the in-process app's event loop (real chDB)."""

import json

import pytest

from tblocal.datadir import service_db
from tblocal.errors import BadRequest, NotFound
from tblocal.workspace import DEFAULT_DATABASE


@pytest.fixture
def registry(local):
    return local.app.state.workspaces


def databases(engine, database: str) -> list[str]:
    return [r["name"] for r in engine.rows(f"SELECT name FROM system.databases WHERE name LIKE '{database}%' ORDER BY name")]


def test_create_find_and_delete(local, registry, engine):
    ws = local.portal.call(registry.create, "  ws_registry  ")
    record = registry.record(ws)
    assert record.name == "ws_registry" and record.database == "w_" + record.id.replace("-", "")[:20]
    assert registry.find("ws_registry") is record and registry.find(record.id) is record
    assert registry.live[record.id] is ws and registry.deployments_of(ws) is registry.deployments[record.id]
    assert ws.database == record.database and ws.project.datasources == {} and ws.tokens.admin.is_admin
    saved = json.loads(registry.paths.registry.read_text())
    assert record.id in json.dumps(saved)
    assert databases(engine, record.database) == [record.database, service_db(record.database)]  # its data, its usage
    assert local.portal.call(registry.delete, record.id) is record
    with pytest.raises(NotFound) as e:
        registry.find("ws_registry")
    assert e.value.message == "Workspace 'ws_registry' not found"
    assert record.id not in registry.live and record.id not in json.dumps(json.loads(registry.paths.registry.read_text()))
    assert databases(engine, record.database) == []
    assert not registry.paths.tokens(record.database).exists()


@pytest.mark.parametrize("name, message", [
    ("", "The 'name' parameter is required (at most 200 characters)"),
    ("x" * 201, "The 'name' parameter is required (at most 200 characters)"),
])
def test_create_refuses_bad_names(local, registry, name, message):
    before = dict(registry.records)
    with pytest.raises(BadRequest) as e:
        local.portal.call(registry.create, name)
    assert e.value.message == message and registry.records == before


def test_create_refuses_a_taken_name_and_the_default_cannot_be_deleted(local, registry):
    default = registry.record(registry.default)
    assert default.database == DEFAULT_DATABASE
    with pytest.raises(BadRequest) as e:
        local.portal.call(registry.create, default.name)
    assert e.value.message == f"A workspace called '{default.name}' already exists"
    with pytest.raises(BadRequest) as e:
        local.portal.call(registry.delete, default.id)
    assert e.value.message == "The default workspace cannot be deleted"


def test_the_user_token(registry):
    assert registry.is_user_token(registry.user_token)
    assert not registry.is_user_token(registry.default.tokens.admin.token)
    assert not registry.is_user_token(None) and not registry.is_user_token("")
