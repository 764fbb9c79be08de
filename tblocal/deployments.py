"""A workspace's deployments, as Forward keeps them: one live, at most one staged, the rest deleted.

A staged deployment (`tb deployment create` without --auto) keeps its checked datafiles in a
folder until it is promoted (set-live) or discarded. Unlike Tinybird, tblocal changes the
workspace's tables only at promotion: until then the live deployment answers every call.
"""

import asyncio
import shutil
from datetime import datetime, timezone
from pathlib import Path

from . import deploy
from .errors import BadRequest, NotFound
from .project import Project

DEPLOY_DOCS = "https://www.tinybird.co/docs/forward/test-and-deploy/deployments"
# tblocal has no connectors; the CLI still reads these lists.
CONNECTORS = {f"{kind}_data_connector_names": [] for kind in ("new", "changed", "deleted")} | {"new_data_connector_ids": []}


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat()


class Deployments:
    """The deployments of one workspace; ids count up from 1 (0 is the seed, live at creation)."""

    def __init__(self, folder: Path, project: Project):
        self.folder = folder
        self.project = project  # the live deployment's datafiles
        self.items: list[dict] = [self._new("0", deploy.Changes(), live=True)]
        self.lock = asyncio.Lock()  # one deployment at a time, as on Tinybird

    def _new(self, deployment_id: str, diff: deploy.Changes, live: bool = False) -> dict:
        now = _stamp()
        return {"id": deployment_id, "status": "data_ready", "live": live, "created_at": now, "updated_at": now,
                "errors": [], "feedback": [], **vars(diff), **CONNECTORS}

    def describe(self, diff: deploy.Changes) -> dict:
        """A deployment that is not recorded: what a check, a build or an unchanged project answers."""
        return self._new(self.next_id(), diff)

    def next_id(self) -> str:
        """The id the next deployment gets."""
        return str(max(int(d["id"]) for d in self.items) + 1)

    def staging(self, deployment_id: str) -> Path:
        """Where a deployment's datafiles wait until promotion."""
        return self.folder / f"deployment-{deployment_id}"

    def listed(self, include_deleted: bool = False) -> list[dict]:
        """Oldest first (the CLI reads [0] as live, [1] as the candidate), without deleted ones unless asked."""
        return [d for d in self.items if include_deleted or d["status"] != "deleted"]

    def get(self, deployment_id: str) -> dict:
        """A deployment by id, else 404."""
        found = next((d for d in self.items if d["id"] == str(deployment_id)), None)
        if found is None:
            raise NotFound(f"Deployment {str(deployment_id)[:40]} not found", DEPLOY_DOCS)
        return found

    def pending(self) -> dict | None:
        """The staged deployment, if any."""
        return next((d for d in self.items if d["status"] == "data_ready" and not d["live"]), None)

    def add(self, diff: deploy.Changes) -> dict:
        """Record a new staged deployment; 400 while another one is staged."""
        if self.pending():
            raise BadRequest(f"Deployment {self.pending()['id']} is waiting to be promoted or discarded "
                             "(tb deployment promote / tb deployment discard)", DEPLOY_DOCS)
        item = self._new(self.next_id(), diff)
        self.items.append(item)
        return item

    def went_live(self, item: dict, project: Project) -> None:
        """item, whose datafiles are project, is live now; the one before it is deleted."""
        for d in self.items:
            if d["live"] and d is not item:
                d.update(live=False, status="deleted", updated_at=_stamp())
        item.update(live=True, status="data_ready", updated_at=_stamp())
        self.project = project

    def discard(self, item: dict) -> None:
        """Delete a staged deployment and its datafiles (deleting a deleted one changes nothing)."""
        if item["live"]:
            raise BadRequest("The live deployment cannot be discarded; promote another one first", DEPLOY_DOCS)
        if item["status"] != "deleted":
            item.update(status="deleted", updated_at=_stamp())
        shutil.rmtree(self.staging(item["id"]), ignore_errors=True)
