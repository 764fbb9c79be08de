"""All or nothing per commit, on an engine with no multi-table transactions: stage, then attach.

A commit never writes the workspace's tables directly. Its rows go to a shadow copy of the data
source (`<db>__shadow.<name>`, same engine and structure), whose shadow materialized views fill
shadow copies of the view targets, and its refused rows to a shadow quarantine. Whatever fails
there (a full disk, a read-only disk, a view's own error, a memory limit) fails before anything
is visible: the shadow tables are emptied and the workspace's tables were never touched.

When staging succeeded, the shadow parts are published into the real tables with
`ALTER TABLE ... ATTACH PARTITION ID ... FROM` (hard links: no copy, and no space reservation, so
it works on a disk that staging just filled). Publishing runs under a journal that records, for
every real table, the highest block number before the commit. Attached parts get new, higher
block numbers, so after a kill -9 in the middle of publishing the next start can tell which
partitions were attached and attach the rest: the commit is rolled forward, never half-visible.
A crash before the journal is written leaves only shadow rows, which the next start drops.

Each shadow partition is one part when it is attached (a multi-part partition is merged first),
so one attach is one directory rename: atomic on disk.
"""

import json
import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..datadir import quarantine, shadow_db
from ..ddl import desired_state
from ..engine import Engine, EngineError, quote_ident, quote_string, storage_fault
from ..errors import Unavailable
from ..pipes import Renderer
from ..project import Project

log = logging.getLogger("tblocal")


def repoint(sql: str, database: str, table: str, to: str, trigger_only: bool = False) -> tuple[str, int]:
    """A view's SQL reading `to` (a qualified table) where it reads database.table (quoted or not): everywhere,
    or with trigger_only only after the first FROM (the table an insert triggers the view on); and how many."""
    prefix = r"((?i:\bFROM)\s+)" if trigger_only else r"(\b)"
    pattern = re.compile(prefix + re.escape(database) + r"\.(`?)" + re.escape(table) + r"\2(?![\w`])")
    return pattern.subn(lambda m: m.group(1) + to, sql, count=1 if trigger_only else 0)


class PublishPending(Exception):
    """A commit is staged and partly attached, and the rest cannot be attached now (read-only disk);
    the journal stays, and recover() finishes the commit at the next start."""


class Staging:
    """The shadow database of one workspace database, its journal and its disk reserve."""

    def __init__(self, engine: Engine, project: Project, database: str, journal: Path | None = None,
                 reserve: Path | None = None, reserve_bytes: int = 0,
                 rebuild_views: Callable[[], None] | None = None):
        self.engine, self.project, self.db = engine, project, database
        self.shadow = shadow_db(database)
        self.journal, self.reserve, self.reserve_bytes = journal, reserve, reserve_bytes
        self.rebuild_views = rebuild_views
        self.tables = [t for ds in project.datasources for t in (ds, quarantine(ds))]
        self.dirty = True  # the shadow may hold rows of a failed commit: clear before staging
        self.created = False  # the shadow database is made by the first commit
        self.reach: dict[str, list[str]] = {}  # data source -> the tables a commit into it can write
        # After a commit, the shadow is emptied on this thread while the writer parses the next batch.
        self._cleaner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tblocal-staging")
        # A commit's attaches to different tables run side by side (each table's own are one ALTER).
        self._attachers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="tblocal-attach")
        self._clearing: Future | None = None
        self._begun = False  # the current commit wrote (or may have written) to the shadow

    # -- start-up

    def open(self) -> None:
        """Finish or roll back what a crash left, and drop the shadow database (made again by the first commit)."""
        self.recover()
        self.engine.execute(f"DROP DATABASE IF EXISTS {quote_ident(self.shadow)} SYNC")
        self.created, self.dirty = False, False
        self.ensure_reserve()

    def _create(self) -> None:
        """The shadow database: a copy of each table (same engine and structure) and of each view."""
        self.engine.execute(f"DROP DATABASE IF EXISTS {quote_ident(self.shadow)} SYNC")
        self.engine.execute(f"CREATE DATABASE {quote_ident(self.shadow)} ENGINE = Atomic")
        for table in self.tables:
            self.engine.execute(f"CREATE TABLE {self.shadow_table(table)} AS {self._real_table(table)}")
        feeds: dict[str, set[str]] = {}
        for name, view in self._shadow_views().items():
            self.engine.execute(f"CREATE MATERIALIZED VIEW {self.shadow_table(name)} TO {self.shadow_table(view['target'])} AS {view['sql']}")
            feeds.setdefault(view["source"], set()).add(view["target"])
        self.reach = {}
        for ds in self.project.datasources:  # the tables a commit into ds can write: it, its quarantine, views downstream
            seen, to_visit = {ds, quarantine(ds)}, [ds]
            while to_visit:
                for target in feeds.get(to_visit.pop(), ()):
                    if target not in seen:
                        seen.add(target)
                        to_visit.append(target)
            self.reach[ds] = sorted(seen)
        self.created, self.dirty = True, False

    def close(self) -> None:
        """Drop the shadow database unless a commit waits in it to be finished."""
        self._settle()
        self._cleaner.shutdown(wait=True)
        self._attachers.shutdown(wait=True)
        if self.journal is None or not self.journal.exists():
            try:
                self.engine.execute(f"DROP DATABASE IF EXISTS {quote_ident(self.shadow)} SYNC")
            except EngineError as e:
                log.warning("could not drop %s: %s", self.shadow, e.message)

    def _shadow_views(self) -> dict:
        """The project's materialized views with their trigger table moved to the shadow database.

        Only the table an insert triggers the view on is swapped; a view that also joins other tables
        reads the real ones, as the real view does."""
        views = desired_state(self.project, Renderer(self.project, self.db))["views"]
        triggers = {}
        for row in self.engine.rows(
            f"SELECT name, dependencies_database AS dbs, dependencies_table AS views FROM system.tables "
            f"WHERE database = {quote_string(self.db)}"
        ):
            for db, view in zip(row["dbs"], row["views"]):
                if db == self.db:
                    triggers[view] = row["name"]
        out = {}
        first_from = re.compile(r"(?i:\bFROM)\s+" + re.escape(self.db) + r"\.(`?)(\w+)\1")
        for name, view in views.items():
            source = triggers.get(name)
            if source is None:  # not created yet: the first table it reads from
                m = first_from.search(view["sql"])
                if m is None:
                    raise RuntimeError(f"materialized view {name}: cannot tell which table triggers it")
                source = m.group(2)
            sql, n = repoint(view["sql"], self.db, source, self.shadow_table(source), trigger_only=True)
            if not n:  # staging without it would publish rows its target never saw
                raise RuntimeError(f"materialized view {name}: its source {source} is not in its SQL")
            out[name] = {"target": view["target"], "sql": sql, "source": source}
        return out

    def shadow_table(self, table: str) -> str:
        """table's copy in the shadow database, quoted."""
        return f"{quote_ident(self.shadow)}.{quote_ident(table)}"

    def _real_table(self, table: str) -> str:
        return f"{quote_ident(self.db)}.{quote_ident(table)}"

    # -- a commit

    def begin(self) -> None:
        """Right before a commit writes to the shadow: it must be empty (raises the storage error when it
        cannot be emptied)."""
        self._settle()
        if not self.created:
            self._create()
        elif self.dirty:
            self.clear()
        self.dirty = True  # until published and emptied, or aborted
        self._begun = True

    def _settle(self) -> None:
        """Wait for the emptying of the last commit's shadow tables (it leaves dirty set when it failed)."""
        if self._clearing is not None:
            self._clearing.result()
            self._clearing = None

    def _clear_quietly(self, tables: list[str]) -> None:
        try:
            self.clear(tables)
        except (EngineError, OSError) as e:
            log.warning("could not empty %s after a commit (retried before the next one): %s", self.shadow, e)

    def _shadow_parts(self) -> list[dict]:
        return self.engine.rows(
            "SELECT table, partition_id, count() AS parts FROM system.parts "
            f"WHERE database = {quote_string(self.shadow)} AND active GROUP BY table, partition_id ORDER BY table, partition_id"
        )

    def clear(self, tables: list[str] | None = None) -> None:
        """Empty the shadow tables (all that hold parts when tables is None). Emptying writes an empty
        covering part, which needs 1 MiB free: on a full disk the reserve file is given up for it."""
        self.dirty = True
        if tables is None:
            tables = sorted({row["table"] for row in self._shadow_parts()})
        for table in tables:
            try:
                self.engine.execute(f"TRUNCATE TABLE {self.shadow_table(table)}")
            except EngineError as e:
                if storage_fault(e) != "full" or not self.release_reserve():
                    raise
                self.engine.execute(f"TRUNCATE TABLE {self.shadow_table(table)}")
        self.dirty = False

    def abort(self) -> None:
        """After a failed staging: drop what it wrote to the shadow (best effort; retried by begin())."""
        self._begun = False
        if not self.created:
            return
        try:
            self._settle()
            self.clear()
        except (EngineError, OSError) as e:
            log.warning("could not empty %s after a failed commit (retried before the next one): %s", self.shadow, e)

    def publish(self, should_stop: Callable[[BaseException], bool] = lambda e: True, retry_s: float = 1.0, datasource: str | None = None) -> None:
        """Attach every staged partition to its real table, under the journal.

        Until the journal is written, a failure is an ordinary failed commit (raised; nothing is
        visible). Once it is, the commit is finished whatever it takes: retried every retry_s until
        should_stop(), then PublishPending with the journal left for the next start."""
        if not self._begun:  # the commit wrote nothing: never publish what another left in the shadow
            return
        self._begun = False
        parts, marks = self._staged(self.reach.get(datasource) or self.tables)
        if not parts:
            self.dirty = False
            return
        for row in parts:
            if int(row["parts"]) > 1:  # one part per partition, so that one attach is one rename
                self.engine.execute(
                    f"OPTIMIZE TABLE {self.shadow_table(row['table'])} PARTITION ID {quote_string(row['partition_id'])} FINAL"
                )
        tables = sorted({row["table"] for row in parts})
        marks = {t: marks.get(t, 0) for t in tables}
        state = {"phase": "publish", "marks": marks, "partitions": [[row["table"], row["partition_id"]] for row in parts]}
        self._write_journal(state)  # raises on a full or read-only disk: nothing attached yet
        attempt = 0
        while True:
            try:
                self._attach(state, check=attempt > 0)
                break
            except (EngineError, OSError) as e:
                attempt += 1
                if attempt == 1:
                    log.warning("publishing a staged commit failed, retrying until it succeeds: %s", e)
                if should_stop(e):
                    raise PublishPending(str(e)) from None
                time.sleep(retry_s)
        self._remove_journal()
        self._clearing = self._cleaner.submit(self._clear_quietly, tables)

    def _staged(self, tables: list[str]) -> tuple[list[dict], dict[str, int]]:
        """In one read of system.parts: the shadow's partitions of tables (with their part counts), and each
        real table's mark, its highest block number so far (no part: 0). Nothing else writes the real tables
        until this commit is published (the writer's lock; merges and compaction make no new block number)."""
        rows = self.engine.rows(
            f"SELECT database = {quote_string(self.shadow)} AS staged, table, if(staged, partition_id, '') AS partition_id, "
            "count() AS parts, max(max_block_number) AS mark FROM system.parts "
            f"WHERE database IN ({quote_string(self.db)}, {quote_string(self.shadow)}) "
            f"AND table IN ({', '.join(map(quote_string, tables))}) AND active "
            "GROUP BY staged, table, partition_id ORDER BY table, partition_id"
        )
        parts = [row for row in rows if int(row["staged"])]
        marks = {row["table"]: int(row["mark"]) for row in rows if not int(row["staged"])}
        return parts, marks

    def _attach(self, state: dict, check: bool) -> None:
        """Attach each journaled partition not attached yet (check: tell by block numbers; else none is).
        A table's partitions go in one ALTER; each of its commands is still one atomic attach."""
        unattached: dict[str, list[str]] = {}
        for table, partition in state["partitions"]:
            if check and self._attached(table, partition, int(state["marks"].get(table, 0))):
                continue
            unattached.setdefault(table, []).append(partition)
        statements = [
            f"ALTER TABLE {self._real_table(table)} " + ", ".join(f"ATTACH PARTITION ID {quote_string(p)} FROM {self.shadow_table(table)}" for p in partitions)
            for table, partitions in unattached.items()
        ]
        if len(statements) == 1:
            self.engine.execute(statements[0])
            return
        futures = [self._attachers.submit(self.engine.execute, sql) for sql in statements]
        errors = [f.exception() for f in futures]  # wait for all before raising, so a retry never races one
        for e in errors:
            if e is not None:
                raise e

    def _attached(self, table: str, partition: str, mark: int) -> bool:
        """Whether the real table has a part of partition made after the journal's mark (only attaching makes one)."""
        return bool(int(self.engine.scalar(
            f"SELECT count() FROM system.parts WHERE database = {quote_string(self.db)} AND table = {quote_string(table)} "
            f"AND partition_id = {quote_string(partition)} AND active AND max_block_number > {mark}"
        ) or 0))

    def _write_journal(self, state: dict) -> None:
        if self.journal is None:
            return
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        try:
            with open(tmp, "w") as f:
                f.write(json.dumps(state))
            os.replace(tmp, self.journal)
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise

    def publish_rewrite(self, datasource: str, swap: Callable[[], None], docs: str = "") -> None:
        """Run swap() (a delete's or replace's partitions swapped in) under the journal: a crash in the middle
        leaves it, and the next start rebuilds every view from its sources (recover()), so the views agree
        with what was swapped. 503 while a commit's journal waits to be finished (never overwritten)."""
        if self.journal is not None and self.journal.exists():
            raise Unavailable("A write is still being published; retry shortly", docs)
        self._write_journal({"phase": "rewrite", "datasource": datasource})
        swap()
        self._remove_journal()

    def _remove_journal(self) -> None:
        if self.journal is not None:
            try:
                self.journal.unlink(missing_ok=True)
            except OSError as e:  # read-only: the commit is done; a stale journal is only re-checked at start
                log.warning("could not remove the journal %s: %s", self.journal, e)

    def recover(self) -> None:
        """At start: finish a commit the journal says was being published; a journal of the older format
        (a data source's name: its views may lack rows) rebuilds the views."""
        if self.journal is None or not self.journal.exists():
            return
        text = self.journal.read_text()
        try:
            state = json.loads(text)
        except ValueError:
            state = None
        shadow_exists = bool(int(self.engine.scalar(
            f"SELECT count() FROM system.databases WHERE name = {quote_string(self.shadow)}") or 0))
        if isinstance(state, dict) and state.get("phase") == "publish" and shadow_exists:
            try:
                self._attach(state, check=True)
                log.warning("finished publishing a commit interrupted by a crash (%d partitions)", len(state["partitions"]))
            except EngineError as e:  # e.g. the schema changed since: copy the rows, then rebuild the views
                log.warning("finishing an interrupted commit by attaching failed (%s); copying and rebuilding views", e.message)
                self._copy_unattached(state)
                if self.rebuild_views:
                    self.rebuild_views()
        elif self.rebuild_views:
            self.rebuild_views()
        self.journal.unlink()

    def _copy_unattached(self, state: dict) -> None:
        targets = {v["target"] for v in desired_state(self.project, Renderer(self.project, self.db))["views"].values()}
        for table, partition in state["partitions"]:
            if table in targets or self._attached(table, partition, int(state["marks"].get(table, 0))):
                continue
            cols = [r["name"] for r in self.engine.rows(
                f"SELECT name FROM system.columns WHERE database = {quote_string(self.shadow)} AND table = {quote_string(table)} "
                f"AND name IN (SELECT name FROM system.columns WHERE database = {quote_string(self.db)} AND table = {quote_string(table)})"
            )]
            names = ", ".join(map(quote_ident, cols))
            self.engine.execute(
                f"INSERT INTO {self._real_table(table)} ({names}) SELECT {names} FROM {self.shadow_table(table)} WHERE _partition_id = {quote_string(partition)}"
            )

    # -- the reserve: a file given up when emptying the shadow needs space on a full disk

    def ensure_reserve(self) -> None:
        """(Re)create the reserve file when it is missing and the disk has room for it several times over."""
        if self.reserve is None or self.reserve_bytes <= 0 or self.reserve.exists():
            return
        try:
            st = os.statvfs(self.reserve.parent)
            if st.f_bavail * st.f_frsize < 4 * self.reserve_bytes:
                return
            tmp = self.reserve.with_name(self.reserve.name + ".tmp")
            with open(tmp, "wb") as f:
                chunk = b"\0" * (1024 * 1024)
                left = self.reserve_bytes
                while left > 0:
                    f.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
            os.replace(tmp, self.reserve)
        except OSError:
            try:
                self.reserve.with_name(self.reserve.name + ".tmp").unlink(missing_ok=True)
            except OSError:
                pass

    def release_reserve(self) -> bool:
        """Delete the reserve file; whether there was one to give up."""
        if self.reserve is None or not self.reserve.exists():
            return False
        try:
            self.reserve.unlink()
        except OSError:
            return False
        log.warning("disk full: released the %d-byte reserve %s to empty the staging tables", self.reserve_bytes, self.reserve)
        return True
