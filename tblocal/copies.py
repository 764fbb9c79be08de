"""Copy pipes: a pipe's TYPE COPY node written into its TARGET_DATASOURCE, on demand (`tb copy run`)
or on its COPY_SCHEDULE while the server runs; each run is a job followed through /v0/jobs/<id>.

A copy is all or nothing, like a write. COPY_MODE append stages the rows through the write path
(staging.py: the target's shadow copy and the shadow views downstream, then attached). COPY_MODE
replace fills a new table and swaps it with the target in one EXCHANGE TABLES (atomic on an Atomic
database). Both run under the writer's lock (`Ingestor.write_select`, `write_staged`), between two commits.
"""

import asyncio
import logging
import time
import uuid
from datetime import datetime, timezone

from croniter import croniter

from . import usage
from .datadir import resource_id
from .ddl import desired_state, view_sources
from .engine import Engine, EngineError, quote_ident
from .errors import ApiError, BadRequest
from .pipes import RESERVED_PARAMS, Renderer, validate_params
from .project import Pipe, Project
from .workspace import Workspace

log = logging.getLogger("tblocal")
COPY_DOCS = "https://www.tinybird.co/docs/forward/work-with-data/optimize/copy-pipes"
ON_DEMAND = "@on-demand"
TICK_S = 1.0  # how often the scheduler looks for due copies (cron is minute-grained)
ANSWER_WAIT_S = 1.0  # a run's answer waits this long for the copy, so `tb copy run --wait` seldom polls (2 s a poll)
# Query-string keys the CLI adds to `tb copy run` that are not template variables.
RUN_KEYS = {"_mode", "on_demand_compute", "cli_version", "__tb__semver", "__tb__deployment"}


def mode_of(pipe: Pipe, asked: str | None = None) -> str:
    """append or replace: the run's _mode, else the datafile's COPY_MODE, else append."""
    mode = (asked or pipe.copy.copy_mode or "append").lower()
    if mode not in ("append", "replace"):
        raise BadRequest(f"Copy mode must be append or replace, not '{mode[:20]}'", COPY_DOCS)
    return mode


def schedule_of(pipe: Pipe) -> str:
    """The pipe's cron expression, or "" when it runs on demand only."""
    schedule = pipe.copy.copy_schedule
    return "" if not schedule or schedule.lower() == ON_DEMAND else schedule


def copy_sql(renderer: Renderer, pipe: Pipe, params: dict, test_mode: bool = False) -> str:
    """The copy node rendered with params (typed as declared), references resolved; test_mode: as a build checks it."""
    params = {k: v for k, v in params.items() if k not in RUN_KEYS and k not in RESERVED_PARAMS}
    validate_params(pipe, params)
    return renderer.node_sql(pipe, pipe.copy, params, test_mode=test_mode)


def _columns(engine: Engine, sql: str) -> list[str]:
    return [r["name"] for r in engine.rows(f"DESCRIBE ({sql})")]


def _feeds_views(project: Project, renderer: Renderer, target: str) -> bool:
    return any(target in view_sources(v) for v in desired_state(project, renderer)["views"].values())


def problems(engine: Engine, project: Project, database: str) -> list[dict]:
    """Each copy pipe tried in database (an empty scratch copy of the workspace): its SQL renders as
    Tinybird's build renders it (test mode) and runs, and its columns are the target's by name. [{"filename", "error"}]"""
    renderer = Renderer(project, database)
    out = []
    for pipe in project.pipes.values():
        if pipe.copy is None:
            continue
        target, filename = project.datasources[pipe.copy.datasource], f"{pipe.name}.pipe"
        try:
            if mode_of(pipe) == "replace" and _feeds_views(project, renderer, target.name):
                raise BadRequest(f"COPY_MODE replace into '{target.name}', which materialized views read: tblocal "
                                 "cannot replace a view's source all at once; use COPY_MODE append")
            sql = copy_sql(renderer, pipe, {}, test_mode=True)  # a guard's error() does not fail a build
            names = _columns(engine, sql)
            unknown = [n for n in names if n not in target.column_names]
            if unknown:
                raise BadRequest(f"The copy node {pipe.copy.name} outputs columns that data source '{target.name}' "
                                 f"does not have: {', '.join(unknown)}")
            engine.execute(f"INSERT INTO {database}.{quote_ident(target.name)} ({', '.join(map(quote_ident, names))}) {sql}")
        except ApiError as e:
            out.append({"filename": filename, "error": e.message})
        except EngineError as e:
            out.append({"filename": filename, "error": e.message})
    return out


def run(ws: Workspace, pipe: Pipe, params: dict, mode: str) -> int:
    """Copy now (blocking; all or nothing); the number of rows written."""
    target = pipe.copy.datasource
    sql = copy_sql(ws.renderer, pipe, params)
    columns = _columns(ws.engine, sql)
    if mode != "replace":
        return ws.ingestor.write_select(target, columns, sql)
    names, copied = ", ".join(map(quote_ident, columns)), [0]

    def write() -> None:  # under the writer's lock, with a write's errors (507 on a full disk)
        real, fresh = f"{ws.database}.{quote_ident(target)}", f"{ws.database}.{quote_ident(target + '__copy_replace')}"
        ws.engine.execute(f"DROP TABLE IF EXISTS {fresh} SYNC")
        ws.engine.execute(f"CREATE TABLE {fresh} AS {real}")
        try:
            ws.engine.execute(f"INSERT INTO {fresh} ({names}) {sql}")
            copied[0] = int(ws.engine.scalar(f"SELECT count() FROM {fresh}") or 0)
            ws.engine.execute(f"EXCHANGE TABLES {real} AND {fresh}")
        finally:
            ws.engine.execute(f"DROP TABLE IF EXISTS {fresh} SYNC")
    ws.ingestor.write_staged(target, write)
    return copied[0]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class Copies:
    """Copy jobs of every workspace: started on demand or by the schedule, and which pipes are paused."""

    def __init__(self, workspaces):
        self.workspaces = workspaces
        self.paused: set[tuple[str, str]] = set()  # (database, pipe); kept while the server runs
        self.due: dict[tuple[str, str, str], float] = {}  # (database, pipe, cron) -> next run (epoch seconds)
        self.running: set[asyncio.Task] = set()
        self._loop: asyncio.Task | None = None

    def start(self) -> None:
        """Start running scheduled copies."""
        self._loop = asyncio.create_task(self._schedule())

    async def close(self) -> None:
        """Stop the schedule and let running copies finish."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await asyncio.gather(*self.running, return_exceptions=True)

    def submit(self, ws: Workspace, pipe: Pipe, params: dict, mode: str, base_url: str) -> dict:
        """Create the copy's job and run it in the background; the job as GET /v0/jobs/<id> answers."""
        job_id = str(uuid.uuid4())
        target = pipe.copy.datasource
        job = {"id": job_id, "job_id": job_id, "kind": "copy", "status": "waiting", "mode": mode,
               "pipe_id": resource_id(ws.database, "pipe", pipe.name), "pipe_name": pipe.name,
               "datasource": {"id": resource_id(ws.database, "datasource", target), "name": target},
               "created_at": _now(), "updated_at": _now(), "started_at": None,
               "job_url": f"{base_url.rstrip('/')}/v0/jobs/{job_id}", "statistics": {"total_rows": 0},
               "workspace": ws.database}
        self.workspaces.keep_job(job)
        task = asyncio.create_task(self._run(ws, pipe, params, job), name=job_id)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return job

    async def started(self, job: dict) -> dict:
        """job, after waiting up to ANSWER_WAIT_S for it: a quick copy is done when its run is answered."""
        task = next((t for t in self.running if t.get_name() == job["id"]), None)
        if task is not None:
            await asyncio.wait({task}, timeout=ANSWER_WAIT_S)
        return job

    async def _run(self, ws: Workspace, pipe: Pipe, params: dict, job: dict) -> None:
        job.update(status="working", started_at=_now(), updated_at=_now())
        started, clock = time.time(), time.perf_counter()
        try:
            rows = await asyncio.to_thread(run, ws, pipe, params, job["mode"])
        except ApiError as e:
            finish(job, error=e.message)
        except EngineError as e:
            finish(job, error=e.message)
        except Exception as e:  # a job never takes the server down: it fails, saying why
            log.exception("copy job %s of pipe %s failed", job["id"], pipe.name)
            finish(job, error=f"Internal error: {e}")
        else:
            finish(job, rows=rows)
        target, error = job["datasource"]["name"], job.get("error")
        usage.record_operation(ws, "copy", target, rows=job["statistics"]["total_rows"], elapsed=time.perf_counter() - clock,
                               error=error, job_id=job["id"], pipe=pipe.name)
        usage.record_job(ws, job["id"], "copy", job["status"], created_at=started, started_at=started, pipe=pipe.name,
                         datasource=target, error=error)

    def pause(self, ws: Workspace, pipe: Pipe) -> None:
        """Stop running pipe on its schedule (on-demand runs still work)."""
        self.paused.add((ws.database, pipe.name))

    def resume(self, ws: Workspace, pipe: Pipe) -> None:
        """Run pipe on its schedule again."""
        self.paused.discard((ws.database, pipe.name))
        self.due = {k: v for k, v in self.due.items() if k[:2] != (ws.database, pipe.name)}

    async def _schedule(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.tick(time.time())
            except Exception:  # the schedule keeps going whatever one workspace does
                log.exception("the copy schedule failed; retrying")

    def tick(self, now: float) -> list[dict]:
        """Start every scheduled copy whose time has come; the jobs started."""
        started, seen = [], set()
        base_url = f"http://{self.workspaces.settings.host}:{self.workspaces.settings.port}"
        for ws in list(self.workspaces.live.values()):
            for pipe in ws.project.pipes.values():
                if pipe.copy is None or not schedule_of(pipe) or (ws.database, pipe.name) in self.paused:
                    continue
                key = (ws.database, pipe.name, schedule_of(pipe))
                seen.add(key)
                if key not in self.due:  # first seen now: its first run is the next cron time from now
                    self.due[key] = croniter(key[2], now).get_next(float)
                if now >= self.due[key]:
                    self.due[key] = croniter(key[2], now).get_next(float)
                    started.append(self.submit(ws, pipe, {}, mode_of(pipe), base_url))
        self.due = {k: v for k, v in self.due.items() if k in seen}
        return started


def finish(job: dict, rows: int = 0, error: str | None = None) -> None:
    """The one place a copy job ends: done with its rows, or error with the reason."""
    job.update(updated_at=_now())
    if error is None:
        job.update(status="done", statistics={"total_rows": rows})
    else:
        job.update(status="error", error=error)
