"""Service data sources (`tinybird.pipe_stats_rt`, ...): what the API records about itself, off the request path.

Each workspace keeps them in a database of its own (datadir.service_db); client SQL and endpoint
pipes name them `tinybird.<name>` (pipes.py maps that name). Columns and engines come from the Forward
package's own list (`tinybird.service_datasources`). A request only queues what it saw (a few references
in a bounded queue); one thread builds the rows from them and writes them in batches, at the latest
`FLUSH_S` later, before any read of a service data source, and on a clean stop.
"""

import json
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable
from urllib.parse import parse_qsl, urlencode

from tinybird.service_datasources import get_tinybird_service_datasources

from .datadir import resource_id, service_db
from .engine import Engine, EngineError, quote_ident
from .errors import ApiError

log = logging.getLogger("tblocal.usage")

SERVICE_DATABASE = "tinybird"  # the name client SQL and pipes use
RECORDED = ("pipe_stats_rt", "pipe_stats", "datasources_ops_log", "block_log", "jobs_log", "endpoint_errors")
# `tb logs --source '*'` reads these too; tblocal has no Kafka, sinks nor LLM features, so they stay empty.
EMPTY = ("kafka_ops_log", "sinks_ops_log", "llm_usage")
TABLES = RECORDED + EMPTY
# pipe_stats_rt keeps 7 days, as the Forward docs say (the package's list says 3 months).
TTL = {"pipe_stats_rt": "start_datetime + toIntervalDay(7)"}
# jobs_log is keyed by job alone, not by its DateTime64 created_at: chDB's index analysis (ClickHouse 26.9) turns
# `created_at < <a DateTime>` into a whole-second range and prunes a row stamped within the second before the
# bound, so `tb logs` (which compares with parseDateTimeBestEffort) missed jobs. The columns are Tinybird's.
KEYS = {"jobs_log": {"engine": "ReplacingMergeTree", "sorting_key": "job_id"}}
QUERY_API = "query_api"  # pipe_id and pipe_name of a Query API (/v0/sql) call, as on Tinybird
FLUSH_S = 5.0  # longest a record waits to be written (unless read first): fewer, larger INSERTs and parts
MAX_QUEUED_ROWS = 100_000  # past this, new rows are dropped (and counted) rather than grow memory
ADMIN_ONLY = "Services Data Sources like '{}' can't be directly accessed without an ADMIN token."
DOCS = "https://www.tinybird.co/docs/forward/monitoring/service-datasources"
UNKNOWN_DATABASE = 81  # ClickHouse's error code


@lru_cache(maxsize=1)
def definitions() -> dict[str, dict]:
    """Each service data source tblocal serves: its columns and engine, from the Forward package."""
    known = {d["name"].split(".", 1)[1]: d for d in get_tinybird_service_datasources()}
    return {name: known[name] for name in TABLES}


def _create_table(db: str, name: str, spec: dict) -> str:
    columns = ", ".join(f"{quote_ident(c['name'])} {c['type']}" for c in spec["columns"])
    engine = KEYS.get(name, spec["engine"])
    sql = f"CREATE TABLE IF NOT EXISTS {db}.{name} ({columns}) ENGINE = {engine['engine']} ORDER BY ({engine['sorting_key']})"
    if engine.get("partition_key"):
        sql += f" PARTITION BY {engine['partition_key']}"
    ttl = TTL.get(name, engine.get("ttl"))
    return sql + (f" TTL {ttl}" if ttl else "")


def create_statements(workspace_db: str) -> list[str]:
    """DDL of a workspace's service data sources; pipe_stats is kept by a view over pipe_stats_rt, as on Tinybird."""
    db = service_db(workspace_db)
    out = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    out += [_create_table(db, name, spec) for name, spec in definitions().items()]
    out.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.pipe_stats_mv TO {db}.pipe_stats AS SELECT "
        "toDateTime(toStartOfDay(start_datetime)) AS date, pipe_id, any(pipe_name) AS pipe_name, "
        "avgState(duration) AS avg_duration_state, toUInt64(countIf(error = 1)) AS error_count, "
        "toUInt64(count()) AS view_count, "
        "quantilesTimingState(0.9, 0.95, 0.99)(toFloat64(duration * 1000)) AS quantile_timing_state, "
        "sum(read_bytes) AS read_bytes_sum, sum(read_rows) AS read_rows_sum, "
        "toFloat64(sum(cpu_time)) AS cpu_time_sum, groupUniqArrayArray(resource_tags) AS resource_tags "
        f"FROM {db}.pipe_stats_rt GROUP BY date, pipe_id"
    )
    return out


def reads_service(sql: str, workspace_db: str) -> bool:
    """Whether rewritten SQL reads the workspace's service data sources."""
    return f"{service_db(workspace_db)}." in sql


# ---------------------------------------------------------------- the queue and its writer thread

Rows = Callable[[], list[tuple[str, dict]]]  # builds (table, row) pairs, in the writer thread


class Recorder:
    """What is waiting to be recorded, per database; a thread builds the rows and writes them in batches."""

    def __init__(self, engine: Engine, max_rows: int = MAX_QUEUED_ROWS, flush_s: float = FLUSH_S):
        self.engine, self.max_rows, self.flush_s = engine, max_rows, flush_s
        self.dropped = 0  # records refused because the queue was full
        self._queue: list[tuple[str, Rows]] = []
        self._lock = threading.Lock()  # guards the queue
        self._writing = threading.Lock()  # one batch at a time, so a flush returns after every earlier row is written
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = False

    def add(self, db: str, rows: Rows) -> None:
        """Queue what rows() will build for database db (never blocks on the engine; dropped when the queue is full)."""
        with self._lock:
            if len(self._queue) >= self.max_rows:
                self.dropped += 1
                return
            self._queue.append((db, rows))
            if self._thread is None:
                self._stop = False
                self._thread = threading.Thread(target=self._run, name="tblocal-usage", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write every queued row now."""
        with self._writing:
            with self._lock:
                queued, self._queue = self._queue, []
            batches: dict[tuple[str, str], list[dict]] = {}
            for db, build in queued:
                for table, row in build():
                    batches.setdefault((db, table), []).append(row)
            for (db, table), rows in batches.items():
                body = "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in rows)
                try:
                    self.engine.execute(f"INSERT INTO {db}.{table} FORMAT JSONEachRow\n{body}")
                except EngineError as e:
                    # UNKNOWN_DATABASE: the workspace was deleted meanwhile, and what it recorded goes with it.
                    level = logging.DEBUG if e.code == UNKNOWN_DATABASE else logging.WARNING
                    log.log(level, "%d rows for %s.%s not recorded: %s", len(rows), db, table, e.message)
        if self.dropped:
            log.warning("usage queue full: %d rows were not recorded", self.dropped)
            self.dropped = 0

    def close(self) -> None:
        """Stop the thread after writing every queued row (a later add starts it again)."""
        with self._lock:
            thread, self._thread, self._stop = self._thread, None, True
        if thread is not None:
            self._wake.set()
            thread.join()
        self.flush()


_recorders: dict[int, Recorder] = {}
_recorders_lock = threading.Lock()


def recorder(engine: Engine) -> Recorder:
    """The process's recorder for engine (chDB opens one data dir per process)."""
    found = _recorders.get(id(engine))
    if found is None:
        with _recorders_lock:
            found = _recorders.setdefault(id(engine), Recorder(engine))
    return found


def _on(ws) -> bool:
    return ws.settings.record_usage


def _now() -> float:
    return time.time()


# ---------------------------------------------------------------- what is recorded

@dataclass
class Call:
    """One endpoint or Query API call being served: the handler fills in what it learns."""

    started: float = field(default_factory=_now)
    clock: float = field(default_factory=time.perf_counter)
    params: dict = field(default_factory=dict)
    result: object = None  # the engine's Result: rows and bytes read, rows returned
    skip: bool = False  # a Query API call that reads service data sources is not recorded, as on Tinybird


@contextmanager
def endpoint_call(ws, grant, request, pipe: str | None):
    """Record the call served inside the block in pipe_stats_rt, and in endpoint_errors when it fails.
    pipe None: a Query API call. Recording never changes the answer."""
    call = Call()
    try:
        yield call
    except ApiError as e:
        _record_call(ws, grant, request, pipe, call, e.status, e.message)
        raise
    except Exception:
        _record_call(ws, grant, request, pipe, call, 500, "Internal error")
        raise
    _record_call(ws, grant, request, pipe, call, 200, None)


def _record_call(ws, grant, request, pipe, call: Call, status: int, error: str | None) -> None:
    if not _on(ws) or call.skip or (pipe is not None and pipe not in ws.project.pipes):
        return
    duration = time.perf_counter() - call.clock  # all the call itself spends: the rows are built in the writer thread
    _later(ws, lambda: _call_rows(ws, grant, request, pipe, call, status, error, duration))


def _call_rows(ws, grant, request, pipe, call: Call, status: int, error: str | None, duration: float) -> list:
    pipe_id = resource_id(ws.database, "pipe", pipe) if pipe else QUERY_API
    name = pipe or QUERY_API
    params = {k: str(v) for k, v in call.params.items() if k != "token"}
    url = _url(request.scope)
    request_id, result = str(uuid.uuid4()), call.result
    rows = [("pipe_stats_rt", {
        "start_datetime": int(call.started), "pipe_id": pipe_id, "pipe_name": name,
        "token": resource_id(ws.database, "token", grant.name), "token_name": grant.name, "duration": duration,
        "read_bytes": getattr(result, "bytes_read", 0), "read_rows": getattr(result, "rows_read", 0), "cpu_time": 0,
        "result_rows": getattr(result, "result_rows", 0), "url": url, "error": int(status >= 400), "error_message": error,
        "status_code": status, "request_id": request_id, "parameters": params, "method": request.method, "release": "",
        "user_agent": request.headers.get("user-agent"), "client_ip": request.client.host if request.client else None,
        "resource_tags": [], "memory_usage": 0, "replica": "",
    })]
    if status >= 400 and pipe:
        rows.append(("endpoint_errors", {
            "start_datetime": int(call.started), "request_id": request_id, "pipe_id": pipe_id, "pipe_name": name,
            "params": json.dumps(params), "url": url, "status_code": status, "error": error, "resource_tags": [],
        }))
    return rows


def _url(scope: dict) -> str:
    """The request's URL without its token (read straight from the ASGI scope: starlette's URL parsing costs more)."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True) if k != "token"]
    return f"{scope.get('scheme', 'http')}://{host}{scope['path']}" + (f"?{urlencode(query)}" if query else "")


def _later(ws, rows: Rows) -> None:
    recorder(ws.engine).add(service_db(ws.database), rows)


def record_operation(ws, event_type: str, datasource: str, *, rows: int | None = None, rows_quarantine: int | None = None,
                     elapsed: float = 0.0, error: str | None = None, job_id: str | None = None,
                     import_id: str | None = None, body_bytes: int | None = None, pipe: str = "",
                     options: dict | None = None) -> None:
    """Record one operation on a data source in datasources_ops_log (appends also in block_log).

    event_type is Tinybird's: append (files, fixtures), append-hfi (an Events API request), delete, replace,
    truncate, copy... options holds what the operation was asked (e.g. {"delete_condition": ...})."""
    if not _on(ws):
        return
    now = int(_now())

    def build() -> list:
        datasource_id, request_id = resource_id(ws.database, "datasource", datasource), str(uuid.uuid4())
        asked = {k: str(v) for k, v in (options or {}).items()}
        out = [("datasources_ops_log", {
            "timestamp": now, "event_type": event_type, "datasource_id": datasource_id, "datasource_name": datasource,
            "result": "error" if error else "ok", "elapsed_time": elapsed, "error": error,
            "Options.Names": list(asked), "Options.Values": list(asked.values()), "request_id": request_id,
            "import_id": import_id, "job_id": job_id, "rows": rows, "rows_quarantine": rows_quarantine, "blocks_ids": [],
            "operation_id": import_id or job_id or request_id, "read_rows": 0, "read_bytes": 0, "cpu_time": 0,
            "memory_usage": 0, "written_rows": rows or 0, "written_bytes": body_bytes or 0,
            "written_rows_quarantine": rows_quarantine or 0, "written_bytes_quarantine": 0,
            "pipe_id": resource_id(ws.database, "pipe", pipe) if pipe else "", "pipe_name": pipe, "release": "", "resource_tags": [],
        })]
        if event_type.startswith("append"):
            out.append(("block_log", {
                "timestamp": now, "request_id": request_id, "import_id": import_id or request_id, "job_id": job_id,
                "source": event_type, "block_id": str(uuid.uuid4()), "status": "error" if error else "done",
                "datasource_id": datasource_id, "datasource_name": datasource, "rows": rows,
                "quarantine_lines": rows_quarantine, "bytes": body_bytes, "processing_time": elapsed,
                "processing_error": error,
            }))
        return out

    _later(ws, build)


def record_job(ws, job_id: str, job_type: str, status: str, *, created_at: float, started_at: float | None = None,
               pipe: str = "", datasource: str = "", error: str | None = None, metadata: dict | None = None) -> None:
    """Record a job's state in jobs_log: one row each time it changes (the table keeps the latest per job)."""
    if not _on(ws):
        return
    updated = _now()
    _later(ws, lambda: [("jobs_log", {
        "job_id": job_id, "job_type": job_type, "status": status, "error": error, "workspace_id": ws.database,
        "request_id": None, "pipe_id": resource_id(ws.database, "pipe", pipe) if pipe else None,
        "datasource_id": resource_id(ws.database, "datasource", datasource) if datasource else None,
        "created_at": created_at, "started_at": started_at, "updated_at": updated,
        "job_metadata": json.dumps(metadata or {}),
    })])
