"""tblocal.deployments: a workspace's deployments, as Forward keeps them (one live, at most one staged)."""

import pytest

from helpers import TEST_PROJECT
from tblocal.deploy import Changes
from tblocal.deployments import CONNECTORS, Deployments
from tblocal.errors import BadRequest, NotFound
from tblocal.project import load_project

NEW_PIPE = Changes(new_pipe_names=["kinds"])


@pytest.fixture
def deployments(tmp_path):
    return Deployments(tmp_path / "deployments", load_project(TEST_PROJECT))


def test_a_workspace_starts_with_its_seed_deployment_live(deployments):
    [seed] = deployments.listed()
    assert {k: seed[k] for k in ("id", "status", "live", "errors", "new_pipe_names")} == {
        "id": "0", "status": "data_ready", "live": True, "errors": [], "new_pipe_names": []}
    assert {k: seed[k] for k in CONNECTORS} == CONNECTORS
    assert deployments.next_id() == "1" and deployments.pending() is None


def test_a_described_deployment_is_not_recorded(deployments):
    described = deployments.describe(NEW_PIPE)
    assert (described["id"], described["live"], described["new_pipe_names"]) == ("1", False, ["kinds"])
    assert [d["id"] for d in deployments.listed()] == ["0"]


def test_one_deployment_is_staged_at_a_time(deployments):
    staged = deployments.add(NEW_PIPE)
    assert (staged["id"], staged["status"], staged["live"], staged["new_pipe_names"]) == ("1", "data_ready", False, ["kinds"])
    assert deployments.pending() is staged and deployments.get(1) is staged and deployments.get("1") is staged
    with pytest.raises(BadRequest) as e:
        deployments.add(Changes(deleted_pipe_names=["kinds"]))
    assert e.value.message == ("Deployment 1 is waiting to be promoted or discarded "
                               "(tb deployment promote / tb deployment discard)")
    assert [d["id"] for d in deployments.listed()] == ["0", "1"]
    assert deployments.staging("1") == deployments.folder / "deployment-1"


def test_going_live_deletes_the_one_before(deployments):
    staged = deployments.add(NEW_PIPE)
    promoted_project = load_project(TEST_PROJECT)
    deployments.went_live(staged, promoted_project)
    assert deployments.project is promoted_project and deployments.pending() is None
    assert [(d["id"], d["status"], d["live"]) for d in deployments.listed()] == [("1", "data_ready", True)]
    assert [(d["id"], d["status"], d["live"]) for d in deployments.listed(include_deleted=True)] == [
        ("0", "deleted", False), ("1", "data_ready", True)]
    assert deployments.next_id() == "2"


def test_discarding_deletes_a_staged_deployment_and_its_datafiles(deployments):
    staged = deployments.add(NEW_PIPE)
    folder = deployments.staging(staged["id"])
    (folder / "pipes").mkdir(parents=True)
    (folder / "pipes" / "kinds.pipe").write_text("NODE n\nSQL >\n    SELECT 1\n")
    deployments.discard(staged)
    assert staged["status"] == "deleted" and not folder.exists() and deployments.pending() is None
    stamp = staged["updated_at"]
    deployments.discard(staged)  # deleting a deleted one changes nothing
    assert (staged["status"], staged["updated_at"]) == ("deleted", stamp)
    assert deployments.next_id() == "2"  # ids are never reused
    with pytest.raises(BadRequest, match="The live deployment cannot be discarded"):
        deployments.discard(deployments.get("0"))


def test_an_unknown_deployment_is_a_404(deployments):
    with pytest.raises(NotFound) as e:
        deployments.get("7")
    assert e.value.message == "Deployment 7 not found"
