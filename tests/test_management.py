"""Tinybird Local's management API in-process (tblocal/api/management.py): bootstrap, workspaces, build, deployments."""

import re

import pytest

from helpers import datafiles
from tblocal.api.management import _loopback

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHANGES = ["new_datasource_names", "changed_datasource_names", "deleted_datasource_names",
           "new_pipe_names", "changed_pipe_names", "deleted_pipe_names"]
CONNECTORS = {"new_data_connector_names": [], "changed_data_connector_names": [], "deleted_data_connector_names": [],
              "new_data_connector_ids": []}


@pytest.fixture(scope="module")
def tokens(local):
    return local.get("/tokens").json()


@pytest.fixture()
def workspace(local, tokens, request):
    """A new empty workspace (deleted afterwards): its listing entry, with its admin token."""
    name = f"ws_{request.node.name[:40]}"
    r = local.post("/v1/workspaces", params={"name": name, "token": tokens["user_token"]})
    assert r.status_code == 200, r.text
    yield r.json()
    local.delete(f"/v1/workspaces/{name}", params={"token": tokens["user_token"], "hard_delete_confirmation": "yes"})


def bearer(ws: dict) -> dict:
    return {"Authorization": f"Bearer {ws['token']}"}


def test_bootstrap_tokens_and_listing(local, tokens):
    assert set(tokens) == {"admin_token", "workspace_admin_token", "user_token"}
    assert tokens["admin_token"] == tokens["workspace_admin_token"] != tokens["user_token"]
    for token in (tokens["admin_token"], tokens["user_token"]):
        listed = local.get("/v1/user/workspaces", params={"with_organization": "true", "token": token}).json()
        assert ID.fullmatch(listed["organization_id"])
        default = listed["workspaces"][0]
        assert (default["name"], default["token"], default["role"]) == ("Tinybird_Local_Testing", tokens["admin_token"], "admin")


def test_tokens_route_is_loopback_only(local):
    from starlette.testclient import TestClient

    remote = TestClient(local.app, client=("10.1.2.3", 50000))
    r = remote.get("/tokens")
    assert (r.status_code, r.json()["error"]) == (403, "/tokens is only served to loopback clients")


def test_create_and_delete_a_workspace(local, tokens):
    user = {"token": tokens["user_token"]}
    made = local.post("/v1/workspaces", params={"name": "scratch_ws", **user}).json()
    assert ID.fullmatch(made["id"]) and made["name"] == "scratch_ws" and made["token"].startswith("p.")
    assert local.post("/v1/workspaces", params={"name": "scratch_ws", **user}).json()["error"] == "A workspace called 'scratch_ws' already exists"
    assert local.get("/v0/datasources", params={"token": made["token"]}).json() == {"datasources": []}
    r = local.delete(f"/v1/workspaces/{made['id']}", params={**user, "hard_delete_confirmation": "yes"})
    assert r.json() == {"id": made["id"], "name": "scratch_ws", "deleted": True}
    assert local.get("/v0/datasources", params={"token": made["token"]}).status_code == 403  # its tokens went with it
    assert local.delete("/v1/workspaces/scratch_ws", params=user).status_code == 404
    r = local.delete("/v1/workspaces/Tinybird_Local_Testing", params=user)
    assert (r.status_code, r.json()["error"]) == (400, "The default workspace cannot be deleted")


def test_managing_workspaces_needs_the_user_or_admin_token(local, workspace):
    r = local.post("/v1/workspaces", params={"name": "nope", "token": workspace["token"]})
    assert (r.status_code, r.json()["error"]) == (403, "Managing workspaces needs the user token or the admin token (GET /tokens)")


def test_build_reports_every_new_resource_then_no_changes(local, workspace):
    r = local.post("/v1/build", files=datafiles(), headers=bearer(workspace))
    body = r.json()
    assert (r.status_code, body["result"]) == (200, "success")
    build = body["build"]
    assert {k: build[k] for k in CHANGES} == {
        "new_datasource_names": ["clicks", "clicks_daily_mv"], "changed_datasource_names": [], "deleted_datasource_names": [],
        "new_pipe_names": ["clicks_daily", "kinds", "top_users", "user_clicks"], "changed_pipe_names": [], "deleted_pipe_names": [],
    }
    assert build["errors"] == [] and build["feedback"] == []
    again = local.post("/v1/build", files=datafiles(), headers=bearer(workspace)).json()
    assert again["result"] == "success" and not any(again["build"][k] for k in CHANGES)  # the CLI: "No changes"


def test_build_error_names_the_file_and_changes_nothing(local, workspace):
    broken = datafiles(**{"pipes/kinds.pipe": "NODE endpoint\nSQL >\n    SELECT nope(\n\nTYPE ENDPOINT\n"})
    r = local.post("/v1/build", files=broken, headers=bearer(workspace))
    body = r.json()
    assert body["result"] == "failed" and [e["filename"] for e in body["errors"]] == ["pipes/kinds.pipe"]
    assert local.get("/v0/pipes", params={"token": workspace["token"]}).json() == {"pipes": []}
    bad_type = datafiles(**{"datasources/clicks.datasource": "SCHEMA >\n    `id` Strang\n"})
    body = local.post("/v1/build", files=bad_type, headers=bearer(workspace)).json()
    assert body["result"] == "failed" and body["errors"][0]["filename"] == "datasources/clicks.datasource"


def test_build_needs_the_workspace_admin_token(local, workspace):
    local.post("/v1/build", files=datafiles(), headers=bearer(workspace))
    read = next(t for t in local.get("/v0/tokens", params={"token": workspace["token"]}).json()["tokens"] if t["name"] == "top_users_read")
    r = local.post("/v1/build", files=datafiles(), headers={"Authorization": f"Bearer {read['token']}"})
    assert (r.status_code, r.json()["error"]) == (403, "This needs the workspace's admin token")
    r = local.post("/v1/build", content=b"not multipart", headers=bearer(workspace))
    assert (r.status_code, r.json()["error"]) == (400, "Send the datafiles as multipart/form-data parts named data_project://")


def test_deploy_check_auto_promote_and_listing(local, workspace):
    check = local.post("/v1/deploy", params={"check": "true"}, files=datafiles(), headers=bearer(workspace)).json()
    assert check["result"] == "success" and check["deployment"]["new_pipe_names"] == ["clicks_daily", "kinds", "top_users", "user_clicks"]
    assert local.get("/v0/pipes", params={"token": workspace["token"]}).json() == {"pipes": []}  # a check changes nothing
    done = local.post("/v1/deploy", params={"auto_promote": "true"}, files=datafiles(), headers=bearer(workspace)).json()
    deployment = done["deployment"]
    assert (done["result"], deployment["id"], deployment["live"], deployment["status"]) == ("success", "1", True, "data_ready")
    assert {k: deployment[k] for k in CONNECTORS} == CONNECTORS and deployment["errors"] == []
    listed = local.get("/v1/deployments", headers=bearer(workspace)).json()["deployments"]
    assert [(d["id"], d["live"], d["status"]) for d in listed] == [("1", True, "data_ready")]
    assert local.get("/v1/deployments/0", headers=bearer(workspace)).json()["deployment"]["status"] == "deleted"
    same = local.post("/v1/deploy", params={"auto_promote": "true"}, files=datafiles(), headers=bearer(workspace)).json()
    assert same["result"] == "no_changes"


def test_staged_deployment_promote_and_discard(local, workspace):
    local.post("/v1/deploy", params={"auto_promote": "true"}, files=datafiles(), headers=bearer(workspace))
    smaller = datafiles(**{"pipes/kinds.pipe": None})
    staged = local.post("/v1/deploy", files=smaller, headers=bearer(workspace)).json()["deployment"]
    assert (staged["id"], staged["live"], staged["deleted_pipe_names"]) == ("2", False, ["kinds"])
    second = local.post("/v1/deploy", files=smaller, headers=bearer(workspace))
    assert second.json()["error"] == "Deployment 2 is waiting to be promoted or discarded (tb deployment promote / tb deployment discard)"
    assert "kinds" in [p["name"] for p in local.get("/v0/pipes", params={"token": workspace["token"]}).json()["pipes"]]
    assert local.post("/v1/deployments/2/set-live", headers=bearer(workspace)).json()["deployment"]["live"] is True
    assert "kinds" not in [p["name"] for p in local.get("/v0/pipes", params={"token": workspace["token"]}).json()["pipes"]]
    third = local.post("/v1/deploy", files=datafiles(), headers=bearer(workspace)).json()["deployment"]
    assert local.delete(f"/v1/deployments/{third['id']}", headers=bearer(workspace)).json()["deployment"]["status"] == "deleted"
    assert local.get(f"/v1/deployments/{third['id']}", headers=bearer(workspace)).json()["deployment"]["status"] == "deleted"
    assert [d["id"] for d in local.get("/v1/deployments", headers=bearer(workspace)).json()["deployments"]] == ["2"]
    assert local.delete("/v1/deployments/2", headers=bearer(workspace)).json()["error"] == "The live deployment cannot be discarded; promote another one first"


def test_deleting_a_data_source_needs_consent(local, workspace):
    local.post("/v1/deploy", params={"auto_promote": "true"}, files=datafiles(), headers=bearer(workspace))
    without = datafiles(**{"datasources/clicks_daily_mv.datasource": None, "pipes/clicks_daily.pipe": None})
    refused = local.post("/v1/deploy", params={"auto_promote": "true"}, files=without, headers=bearer(workspace)).json()
    assert refused["result"] == "failed" and refused["deployment"]["errors"] == [{
        "filename": "clicks_daily_mv.datasource",
        "error": "Data source 'clicks_daily_mv' would be deleted with all its data; deploy with --allow-destructive-operations to do so",
    }]
    ok = local.post("/v1/deploy", params={"auto_promote": "true", "allow_destructive_operations": "true"}, files=without, headers=bearer(workspace))
    assert ok.json()["deployment"]["deleted_datasource_names"] == ["clicks_daily_mv"]
    r = local.get("/v0/sql", params={"q": "SELECT 1 FROM clicks_daily_mv", "token": workspace["token"]})
    assert r.status_code == 404


def test_a_build_removes_a_data_source_whose_datafile_is_gone(local, workspace):
    local.post("/v1/build", files=datafiles(), headers=bearer(workspace))
    without = datafiles(**{"datasources/clicks_daily_mv.datasource": None, "pipes/clicks_daily.pipe": None})
    build = local.post("/v1/build", files=without, headers=bearer(workspace)).json()
    assert build["result"] == "success", build
    assert (build["build"]["deleted_datasource_names"], build["build"]["deleted_pipe_names"]) == (["clicks_daily_mv"], ["clicks_daily"])


def test_build_and_deploy_leave_the_default_workspace_alone(local, tokens):
    for route in ("/v1/build", "/v1/deploy"):
        r = local.post(route, files=datafiles(), headers={"Authorization": f"Bearer {tokens['admin_token']}"})
        assert r.status_code == 400 and r.json()["error"].startswith("The default workspace serves the datafiles tblocal was started with")


def test_odd_file_names_and_empty_bodies_are_a_failed_build(local, workspace):
    odd = datafiles() + [("data_project://", ("pipes/" + "x" * 300 + ".pipe", b"NODE a\nSQL >\n    SELECT 1\n", "text/plain"))]
    body = local.post("/v1/build", files=odd, headers=bearer(workspace)).json()
    assert body["result"] == "failed" and "File name too long" in body["errors"][0]["error"]
    nothing = [("context://", ("cli-version", b"1.0.0", "text/plain"))]
    body = local.post("/v1/build", files=nothing, headers=bearer(workspace)).json()
    assert body == {"result": "failed", "errors": [{"filename": "", "error": "No datafiles were sent (multipart parts named data_project://)"}]}
    assert local.get("/v0/pipes", params={"token": workspace["token"]}).json() == {"pipes": []}


def test_deleting_a_workspace_leaves_no_database_or_file(local, tokens, engine):
    user = {"token": tokens["user_token"]}
    made = local.post("/v1/workspaces", params={"name": "leaves_nothing", **user}).json()
    local.post("/v1/build", files=datafiles(), headers=bearer(made))
    r = local.post("/v0/events", params={"name": "clicks", "wait": "true", "token": made["token"]}, content=b'{"id":"1","user":"u","ts":"2024-01-01 00:00:00"}\n')
    assert r.status_code == 200, r.text
    database = next(row["database"] for row in engine.rows("SELECT database FROM system.tables WHERE name = 'clicks_daily_mv'")
                    if row["database"].startswith("w_") and engine.scalar(f"SELECT count() FROM `{row['database']}`.clicks") == 1)
    local.delete(f"/v1/workspaces/{made['id']}", params=user)
    left = engine.rows(f"SELECT name FROM system.databases WHERE name LIKE '{database}%'")
    assert left == []
    data_dir = engine.path.parent
    assert not [p.name for p in data_dir.rglob("*") if database in p.name or made["id"] in p.name]


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
                                                ("127.0.0.2", True), ("10.1.2.3", False), ("testclient", False)])
def test_loopback_clients(host, loopback):
    assert _loopback(host) is loopback
