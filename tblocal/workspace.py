"""A workspace: one project served from one chDB database, with its tokens and its writer."""

import asyncio
import time
from pathlib import Path

from . import sandbox, usage
from .ddl import Schema, backfill, desired_state, view_sources
from .datadir import DataDir, internal_db, quarantined, rewrite_db, service_db
from .engine import Engine, EngineError, Result, quote_ident, quote_string
from .errors import BadRequest, Forbidden, NotFound
from .formats import output_settings
from .lanes import lanes
from .write import Ingestor, Request
from .pipes import RESERVED_PARAMS, Renderer
from .project import Project, load_project
from .settings import Settings
from .access import Grant
from .tokens import TokenStore


DEFAULT_DATABASE = "tb"  # the default workspace's database (this repo's datafiles)


class Workspace:
    """Everything a request needs: the project, the engine, tokens and the ingestor."""

    def __init__(self, settings: Settings, project: Project | None = None, database: str = DEFAULT_DATABASE, rebuild_views: bool = False):
        self.settings = settings
        self.project = project or load_project(settings.project)
        self.database = database
        self.paths = DataDir(Path(settings.data_dir))
        self.engine = Engine.open(self.paths.chdb)
        self.renderer = Renderer(self.project, database)
        for sql in usage.create_statements(database):
            self.engine.execute(sql)
        Schema(self.engine, self.paths.schema(database)).apply(self.project, self.renderer, rebuild_views)
        # TB_TOKEN is the default workspace's admin token; every other workspace makes its own.
        self.tokens = TokenStore(self.paths.tokens(database), self.project, settings.admin_token if database == DEFAULT_DATABASE else "")
        self.ingestor = self.new_ingestor()  # finishes a commit a crash interrupted (its journal), see staging.py
        self.lanes = lanes(settings.max_concurrent_queries, settings.query_api_concurrency)
        self._sql_cache: dict[tuple, str] = {}
        self.loaded_at = time.time()  # what the resource lists show as created_at / updated_at

    def new_ingestor(self) -> Ingestor:
        """A writer for this workspace's data sources (not started)."""
        s = self.settings
        return Ingestor(self.engine, self.project, self.database, s.ingest_queue_bytes, compact_after_s=s.compact_after_s,
                        journal=self.paths.journal(self.database), rebuild_views=self._rebuild_views,
                        reserve_bytes=s.disk_reserve_bytes, retry_s=s.ingest_retry_s)

    def drop(self) -> None:
        """Remove the database and this workspace's files (its writer must be closed)."""
        for db in (self.database, self.ingestor.staging.shadow, internal_db(self.database), service_db(self.database), rewrite_db(self.database)):
            self.engine.execute(f"DROP DATABASE IF EXISTS {db} SYNC")
        for path in self.paths.database_files(self.database):
            path.unlink(missing_ok=True)

    def _rebuild_views(self) -> None:
        """After a crash in the middle of a commit, a source table may hold rows its materialized views never
        saw (ClickHouse writes the source, then each view, with no transaction): refill every view target
        from its sources, so aggregates stay exact. Only views reading no other view target are replayed;
        the rest fill through their triggers."""
        views = desired_state(self.project, self.renderer)["views"]
        targets = {v["target"] for v in views.values()}
        for target in sorted(targets):
            self.engine.execute(f"TRUNCATE TABLE {self.database}.{quote_ident(target)}")
        for view in views.values():
            if not view_sources(view) & targets:
                backfill(self.engine, self.database, view["target"], view["sql"])

    # -- reads

    def _limits(self) -> dict:
        s = self.settings
        return {
            "readonly": 2,
            "max_execution_time": s.query_timeout_s,
            "max_memory_usage": s.query_memory_bytes,
            "max_result_rows": s.max_result_rows,
            "result_overflow_mode": "throw",
            # Large GROUP BYs and sorts spill to disk instead of growing the server (affinity over 10M events).
            "max_bytes_before_external_group_by": s.query_spill_bytes,
            "max_bytes_before_external_sort": s.query_spill_bytes,
        }

    async def run(self, sql: str, fmt: str, params: dict, lane: str = "endpoint") -> Result:
        """Run a checked SELECT on its lane's threads (endpoint or query_api), bounded in time, memory, rows and
        concurrency."""
        way = self.lanes[lane]
        try:
            settings = {**self._limits(), **way.settings, **output_settings(params)}
            if usage.reads_service(sql, self.database):  # what was recorded until now is read too
                await asyncio.to_thread(usage.recorder(self.engine).flush)
            result = await way.run(self.engine.query, sql, fmt, settings)
        except EngineError as e:
            raise e.to_api_error() from None
        return result

    def pipe_sql(self, grant: Grant, name: str, params: dict) -> str:
        """The SQL of an endpoint for this token, with q applied over it when given."""
        pipe = self.renderer.pipe(name)
        grant.ensure("read pipe", name)
        q = params.get("q")
        params = grant.pinned(params, {name, *self._pipes_read(q)})  # a JWT's fixed params win over the request's
        # Rendering is deterministic in (pipe, params): cache it (the token and q are not part of the key).
        key = (name, tuple(sorted((k, v) for k, v in params.items() if k not in RESERVED_PARAMS)))
        sql = self._sql_cache.get(key)
        if sql is None:
            sql = self.renderer.endpoint_sql(pipe, params)
            if len(self._sql_cache) >= 2048:
                self._sql_cache.clear()
            self._sql_cache[key] = sql
        if q:
            q, _ = sandbox.split_format(q)
            self._check_tables_read(grant, q, {"_", name})
            return self.renderer.resolve(q, {**grant.row_filters(self.database), "_": f"({sql})", name: f"({sql})"}, params)
        return sql

    def _pipes_read(self, q: str | None) -> set[str]:
        """The pipes client SQL names."""
        if not q:
            return set()
        return {t for _, t, _ in sandbox.used_tables(sandbox.split_format(q)[0]) if t in self.project.pipes}

    def _check_tables_read(self, grant: Grant, q: str, own: set[str] = frozenset()) -> None:
        """403/404 unless every table client SQL names is a data source or pipe this token can read.

        A database-qualified name (`tb.clicks`, `system.one`) is never a client's: it would skip the scope check.
        """
        for db, table, _ in sandbox.used_tables(q):
            if db == usage.SERVICE_DATABASE and table in usage.TABLES:
                if not grant.is_admin:  # as on Tinybird: endpoint pipes may read them, client SQL needs ADMIN
                    raise Forbidden(usage.ADMIN_ONLY.format(f"{db}.{table}"), usage.DOCS)
                continue
            if db:
                raise Forbidden(f"[Error] Resource '{db}.{table}' not found", sandbox.QUERY_API_DOCS)
            if not table or table in own:
                continue
            if table not in self.project.pipes and (quarantined(table) or table) not in self.project.datasources:
                raise NotFound(f"[Error] Resource '{table}' not found", sandbox.QUERY_API_DOCS)
            grant.ensure("query", table, sandbox.QUERY_API_DOCS)

    def sql(self, grant: Grant, q: str, params: dict) -> tuple[str, str | None]:
        """Client SQL over data sources and pipes, rewritten and checked; returns (sql, FORMAT or None)."""
        q, fmt = sandbox.split_format(q)
        if not q:
            raise BadRequest("The q parameter is required", sandbox.QUERY_API_DOCS)
        self._check_tables_read(grant, q)
        params = grant.pinned(params, self._pipes_read(q))
        return self.renderer.resolve(q, grant.row_filters(self.database), params), fmt

    # -- writes

    def datasource(self, name: str | None, grant: Grant):
        """The data source a write names, checking the token's APPEND scope."""
        if not name:
            raise BadRequest("The 'name' parameter is required", "https://www.tinybird.co/docs/api-reference/events-api")
        grant.ensure("append", name)
        if name not in self.project.datasources:
            raise NotFound(f"Data Source '{name}' not found", "https://www.tinybird.co/docs/api-reference/datasource-api")
        return self.project.datasources[name]

    def table_sizes(self) -> dict[str, tuple[int, int]]:
        """(rows, bytes) of each data source."""
        names = ", ".join(quote_string(n) for n in self.project.datasources)
        rows = self.engine.rows(
            f"SELECT name, total_rows, total_bytes FROM system.tables WHERE database = '{self.database}' AND name IN ({names})"
        ) if names else []
        return {r["name"]: (int(r["total_rows"] or 0), int(r["total_bytes"] or 0)) for r in rows}

    async def truncate(self, name: str) -> None:
        """Remove every row of a data source (its materialized views keep theirs, as on Tinybird)."""
        start = time.perf_counter()
        await asyncio.to_thread(self.engine.execute, f"TRUNCATE TABLE {self.database}.{quote_ident(name)}")
        usage.record_operation(self, "truncate", name, elapsed=time.perf_counter() - start)

    def row_counts(self) -> dict[str, int]:
        """Rows in each data source."""
        return {name: rows for name, (rows, _) in self.table_sizes().items()}

    def load_file(self, path: Path, datasource: str, chunk_bytes: int = 8 * 1024 * 1024, progress=None) -> tuple[int, int]:
        """Append an NDJSON or CSV file in chunks cut at line ends; returns (successful, quarantined)."""
        if datasource not in self.project.datasources:
            raise NotFound(f"Data Source '{datasource}' not found")
        fmt = "CSV" if str(path).endswith(".csv") else "JSONEachRow"
        ok = bad = 0
        start = time.perf_counter()
        with open(path, "rb") as f:
            while True:
                chunk = f.read(chunk_bytes)
                if not chunk:
                    break
                chunk += f.readline()
                request = Request(chunk, fmt)
                self.ingestor.write_now(datasource, [request])
                ok += request.outcome.successful_rows
                bad += request.outcome.quarantined_rows
                if progress:
                    progress(len(chunk))
        usage.record_operation(self, "append", datasource, rows=ok, rows_quarantine=bad, elapsed=time.perf_counter() - start,
                               body_bytes=path.stat().st_size, options={"source": path.name})
        return ok, bad
