"""Every workspace of the server: the default one (this repo's datafiles) plus build and test ones made by `tb`.

Each workspace is its own chDB database with its own tokens and data; where each is kept: datadir.py.
"""

import asyncio
import hmac
import json
import secrets
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import deploy, usage
from .datadir import DataDir, write_private_json
from .deployments import Deployments
from .engine import EngineError
from .errors import ApiError, BadRequest, NotFound
from .project import ProjectError, load_project
from .ratelimit import RateLimiter
from .settings import Settings
from .workspace import DEFAULT_DATABASE, Workspace

DEFAULT_NAME = "Tinybird_Local_Testing"  # what Tinybird Local calls the workspace /tokens opens
WORKSPACE_DOCS = "https://www.tinybird.co/docs/forward/get-started/local"
MAX_JOBS = 1000  # jobs kept for GET /v0/jobs


def now() -> str:
    """UTC now as Tinybird's APIs print it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Record:
    id: str
    name: str
    database: str
    created_at: str


class Workspaces:
    """The registry: which workspaces exist, which token opens which, and the user token that manages them."""

    def __init__(self, settings: Settings, rebuild_views: bool = False):
        self.settings = settings
        self.paths = DataDir(Path(settings.data_dir))
        saved = json.loads(self.paths.registry.read_text()) if self.paths.registry.exists() else {}
        self.user_token = saved.get("user_token") or "p." + secrets.token_urlsafe(32)
        self.organization_id = saved.get("organization_id") or str(uuid.uuid4())
        records = [Record(**r) for r in saved.get("workspaces", [])]
        if not records or records[0].database != DEFAULT_DATABASE:
            records.insert(0, Record(str(uuid.uuid4()), DEFAULT_NAME, DEFAULT_DATABASE, now()))
        self.records = {r.id: r for r in records}
        self.live: dict[str, Workspace] = {}
        self.deployments: dict[str, Deployments] = {}
        self.jobs: dict[str, dict] = {}  # recent append and copy jobs, by id (GET /v0/jobs/<id>)
        self.limiter = RateLimiter()  # JWTs' limits.rps, by workspace and JWT name
        for r in records:
            ws = Workspace(settings, rebuild_views=rebuild_views) if r.database == DEFAULT_DATABASE else self._open(r)
            self.live[r.id], self.deployments[r.id] = ws, self._deployments(r, ws)
        self._save()

    @property
    def default(self) -> Workspace:
        """The workspace `make serve` loads from this repo and /tokens' workspace_admin_token opens."""
        return self.live[next(iter(self.records))]

    def project_dir(self, record: Record) -> Path:
        """Where a non-default workspace keeps its datafiles."""
        return self.paths.project(record.id)

    def _deployments(self, record: Record, ws: Workspace) -> Deployments:
        """The deployments of a workspace, its datafiles at start being the live (seed) one."""
        return Deployments(self.paths.deployments(record.id), ws.project)

    def _open(self, record: Record) -> Workspace:
        folder = self.project_dir(record)
        folder.mkdir(parents=True, exist_ok=True)
        return Workspace(self.settings, project=load_project(folder), database=record.database)

    def _save(self) -> None:
        write_private_json(self.paths.registry, {"user_token": self.user_token, "organization_id": self.organization_id,
                                                 "workspaces": [asdict(r) for r in self.records.values()]})

    def keep_job(self, job: dict) -> None:
        """Keep job (with its "workspace": the database) for GET /v0/jobs, forgetting the oldest past MAX_JOBS."""
        self.jobs[job["id"]] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.pop(next(iter(self.jobs)))

    # -- lookups

    def record(self, ws: Workspace) -> Record:
        """The registry entry of a live workspace; 404 when it was deleted or replaced meanwhile."""
        wid = next((i for i, w in self.live.items() if w is ws), None)
        if wid is None:
            raise NotFound("The workspace was deleted or rebuilt meanwhile; send the request again", WORKSPACE_DOCS)
        return self.records[wid]

    def deployments_of(self, ws: Workspace) -> Deployments:
        """The deployments of a live workspace."""
        return self.deployments[self.record(ws).id]

    def find(self, id_or_name: str) -> Record:
        """A workspace by id or name, else 404."""
        for r in self.records.values():
            if id_or_name in (r.id, r.name):
                return r
        raise NotFound(f"Workspace '{id_or_name[:80]}' not found", WORKSPACE_DOCS)

    def is_user_token(self, token: str | None) -> bool:
        """Whether token is the user token (manages workspaces)."""
        return bool(token) and hmac.compare_digest(token.encode(), self.user_token.encode())

    # -- changes

    async def create(self, name: str) -> Workspace:
        """A new, empty workspace called name."""
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise BadRequest("The 'name' parameter is required (at most 200 characters)", WORKSPACE_DOCS)
        if any(r.name == name for r in self.records.values()):
            raise BadRequest(f"A workspace called '{name}' already exists", WORKSPACE_DOCS)
        wid = str(uuid.uuid4())
        record = Record(wid, name, "w_" + wid.replace("-", "")[:20], now())
        self.records[wid] = record  # taken before the await below: a second create of this name is refused
        try:
            ws = await asyncio.to_thread(self._open, record)
            await ws.ingestor.start()
        except BaseException:
            del self.records[wid]
            raise
        self.live[wid], self.deployments[wid] = ws, self._deployments(record, ws)
        self._save()
        return ws

    async def delete(self, id_or_name: str) -> Record:
        """Drop a workspace, its tables, tokens and datafiles for good (after any build or deployment under way)."""
        record = self.find(id_or_name)
        if record.database == DEFAULT_DATABASE:
            raise BadRequest("The default workspace cannot be deleted", WORKSPACE_DOCS)
        deployments = self.deployments[record.id]
        async with deployments.lock:
            ws = self.live.pop(record.id)
            del self.records[record.id], self.deployments[record.id]
            self._save()
            await ws.ingestor.close()
            await asyncio.to_thread(ws.drop)
            shutil.rmtree(self.project_dir(record), ignore_errors=True)
            shutil.rmtree(deployments.folder, ignore_errors=True)
        return record

    async def submit(self, ws: Workspace, files: dict[str, bytes], *, build: bool = False, check: bool = False,
                     auto: bool = False, destructive: bool = False) -> tuple[str, dict]:
        """Stage, check and (unless check) record the datafiles; a build or an auto-promoted deployment goes live
        at once. Returns Tinybird's result ("success", "no_changes", "failed") and the deployment."""
        record = self.record(ws)
        if record.database == DEFAULT_DATABASE:
            raise BadRequest("The default workspace serves the datafiles tblocal was started with (--project): build and "
                             "deploy into a workspace of their own, as `tb --local` does from a project folder", WORKSPACE_DOCS)
        deployments = self.deployments[record.id]
        async with deployments.lock:
            ws = self._live(record)
            staging, recorded = deployments.staging(deployments.next_id()), False
            try:
                new, diff = await asyncio.to_thread(self._check, ws, files, staging, build, destructive or build)
                if not build:  # compared with the live deployment; where that matches but a build left others, with those
                    vs_live = deploy.changes(deployments.project, new)
                    diff = vs_live if vs_live.any else diff
                if check or build or not diff.any:
                    if build and diff.any:
                        await self._go_live(record, staging, build=True, checked=True)
                    return ("success" if diff.any else "no_changes"), deployments.describe(diff)
                item, recorded = deployments.add(diff), True
            except deploy.DeployError as e:
                return "failed", {**deployments.describe(deploy.Changes()), "status": "failed", "errors": e.errors}
            finally:
                if not recorded:
                    shutil.rmtree(staging, ignore_errors=True)
            if auto:
                await self.promote(self._live(record), item, checked=True)
            return "success", item

    def _live(self, record: Record) -> Workspace:
        """The workspace serving record now (a build or deployment may have replaced it); 404 once deleted."""
        if record.id not in self.live:
            raise NotFound(f"Workspace '{record.name}' was deleted", WORKSPACE_DOCS)
        return self.live[record.id]

    def _check(self, ws: Workspace, files: dict[str, bytes], staging: Path, build: bool, destructive: bool):
        """The staged project and what it changes in ws's tables; DeployError when it cannot be applied."""
        if not files:
            raise deploy.DeployError([{"filename": "", "error": "No datafiles were sent (multipart parts named data_project://)"}])
        try:
            new = deploy.stage(files, staging)
            diff = deploy.changes(ws.project, new)
            if diff.any:
                deploy.check(ws, new, diff, recreate_changed=build, destructive=destructive)
        except (ApiError, EngineError, ProjectError, OSError, ValueError) as e:  # anything the sent files provoke
            raise deploy.DeployError([{"filename": "", "error": getattr(e, "message", None) or str(e)}]) from None
        return new, diff

    async def promote(self, ws: Workspace, item: dict, checked: bool = False) -> dict:
        """Make a staged deployment live: the workspace's tables change now (the previous live one is deleted).
        checked: the caller holds the workspace's lock and has just checked the datafiles against it."""
        record = self.record(ws)
        if checked:
            return await self._promote(record, item, checked=True)
        async with self.deployments[record.id].lock:  # checked again: a build may have changed the workspace since
            return await self._promote(record, item, checked=False)

    async def _promote(self, record: Record, item: dict, checked: bool) -> dict:
        if item["live"]:
            return item
        if item["status"] != "data_ready":
            raise BadRequest(f"Deployment {item['id']} is {item['status']}; only a staged deployment can be promoted")
        deployments = self.deployments[record.id]
        try:
            await self._go_live(record, deployments.staging(item["id"]), build=False, checked=checked)
        except deploy.DeployError as e:  # the workspace changed since it was staged
            raise BadRequest(f"Deployment {item['id']} cannot go live: " + "; ".join(x["error"] for x in e.errors)) from None
        deployments.went_live(item, self._live(record).project)
        return item

    async def _go_live(self, record: Record, staging: Path, build: bool, checked: bool) -> None:
        ws, folder = self._live(record), self.project_dir(record)

        def switch() -> Workspace:
            new = load_project(staging)
            diff = deploy.changes(ws.project, new)
            if not checked:  # consent to drop data was given when it was staged
                deploy.check(ws, new, diff, recreate_changed=build, destructive=True)
            served = deploy.apply(ws, staging, diff, recreate_changed=build)
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
            return served

        await self.rebuild(ws, switch)

    async def rebuild(self, ws: Workspace, make) -> Workspace:
        """Serve make() in place of ws (a build or deployment): ws's queued rows are written first, then
        make builds the new workspace on the same database; if make fails, ws serves on."""
        wid = self.record(ws).id
        await ws.ingestor.close("The workspace is being rebuilt by a build or deployment; retry in a moment")
        try:
            new = await asyncio.to_thread(make)
        except BaseException:
            ws.ingestor = ws.new_ingestor()
            await ws.ingestor.start()
            raise
        await new.ingestor.start()
        self.live[wid] = new
        return new

    async def start(self) -> None:
        """Start every workspace's writer."""
        for ws in self.live.values():
            await ws.ingestor.start()

    async def close(self) -> None:
        """Write what is queued in every workspace (rows, then what was recorded about them), then stop."""
        for ws in self.live.values():
            await ws.ingestor.close()
        await asyncio.to_thread(usage.recorder(self.default.engine).close)
