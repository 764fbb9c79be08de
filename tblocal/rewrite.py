"""Delete and replace a data source's rows, all or nothing: the partitions they touch are rebuilt in a
scratch database, then swapped in with `REPLACE PARTITION` (hard links, like the attach of a write).

- A delete rewrites the partitions holding rows that match the condition, without those rows. It
  does not cascade to materialized views, as on Tinybird.
- A replace parses the new rows as an append does (bad rows to the quarantine) and rewrites the
  partitions it touches: all of them, or with a condition the partitions of old or new rows that
  match it (old rows that match go, new rows that match come, new rows that do not are dropped).
  Each view fed by the data source is recomputed for those partitions from the rewritten rows, as
  Tinybird re-materializes them; a view whose partition key does not follow the data source's is
  refused, or skipped with skip_incompatible_partition_key.

Everything runs under the workspace writer's lock, so no write lands between staging and swapping.
Anything that fails before the swap (a condition ClickHouse refuses, a view's error, a full disk)
leaves every table as it was. `finished()` is the one place where an operation is done.
"""

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from . import sandbox, usage, write
from .datadir import quarantine as quarantine_table, rewrite_db
from .ddl import desired_state, view_sources
from .engine import EngineError, quote_ident, quote_string
from .errors import ApiError, BadRequest, Forbidden
from .workspace import Workspace

log = logging.getLogger("tblocal")
DOCS = "https://www.tinybird.co/docs/forward/get-data-in/data-operations/replace-and-delete-data"
REPLACE_SETTINGS = " SETTINGS allow_replace_partition_from_empty_source = 1"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Result:
    """What a delete or replace did: rows it removed or wrote, and where."""

    operation: str  # "delete" or "replace"
    datasource: str
    rows_affected: int = 0  # delete: rows removed; replace: rows written
    rows_deleted: int = 0  # replace: old rows it removed
    quarantined: int = 0
    partitions: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)  # view targets recomputed
    skipped_views: list[str] = field(default_factory=list)


def finished(ws: Workspace, result: Result, started: float, condition: str | None) -> None:
    """Called once per delete or replace that changed the data: log it and record it in datasources_ops_log."""
    event_type = "delete_data" if result.operation == "delete" else "replace"  # Tinybird's event_type names
    usage.record_operation(ws, event_type, result.datasource, rows=result.rows_affected,
                           rows_quarantine=result.quarantined, elapsed=time.perf_counter() - started,
                           options={"condition": condition} if condition else None)
    log.info("%s on %s.%s: %d rows, partitions %s, views %s", result.operation, ws.database, result.datasource,
             result.rows_affected, result.partitions, result.views)


# ---------------------------------------------------------------- the condition

def _check_condition(ws: Workspace, name: str, condition: str) -> str:
    """The condition, checked to be one expression over the data source and nothing else (400/403)."""
    condition = (condition or "").strip()
    if not condition:
        raise BadRequest("The delete_condition parameter is required (SQL over the data source's columns)", DOCS)
    depth, quote = 0, ""
    i = 0
    while i < len(condition):  # the condition must not close the parenthesis it is put in, nor comment out the rest
        char = condition[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
        elif char == ";" or condition.startswith(("--", "/*"), i) or char == "#":
            depth = -1
            break
        i += 1
    if depth != 0 or quote:
        raise BadRequest(f"[Error] The condition is not one SQL expression over '{name}': {condition[:200]}", DOCS)
    for db, table, function in sandbox.used_tables(f"SELECT 1 FROM {quote_ident(name)} WHERE (\n{condition}\n)"):
        if db or function or table != name:
            what = function or (f"{db}.{table}" if db else table)
            raise Forbidden(f"[Error] A condition reads only '{name}' itself, not '{what}'", DOCS)
    return condition


def _where(ws: Workspace, name: str, condition: str, select: str = "*", extra: str = "") -> str:
    """SELECT select FROM the data source WHERE (condition) extra, with names resolved to the workspace's database."""
    return ws.renderer.resolve(f"SELECT {select} FROM {quote_ident(name)} WHERE (\n{condition}\n){extra}", {}, {})


def _failure(ws: Workspace, e: EngineError | OSError) -> ApiError:
    """The answer to a delete or replace that failed with e (nothing was changed)."""
    error = ws.ingestor.write_error(e)  # 507 on a full or read-only disk, 503 on memory
    if error is not None and not isinstance(error, BadRequest):
        return error
    if isinstance(e, EngineError):
        return BadRequest(f"[Error] {e.message}", DOCS)
    raise e


# ---------------------------------------------------------------- delete

def count(ws: Workspace, name: str, condition: str) -> int:
    """Rows the condition matches (a dry run); 400 when ClickHouse refuses it."""
    condition = _check_condition(ws, name, condition)
    try:
        return int(ws.engine.scalar(_where(ws, name, condition, "count()")) or 0)
    except EngineError as e:
        raise _failure(ws, e) from None


def delete(ws: Workspace, name: str, condition: str, partition: str | None = None) -> Result:
    """Remove the rows matching condition (only in partition, an id, when given); views keep theirs."""
    started, condition = time.perf_counter(), _check_condition(ws, name, condition)
    with ws.ingestor.exclusive(DOCS):  # no commit between reading the partitions and swapping them
        job = _Rewrite(ws, name)
        try:
            job.open()
            only = f" AND _partition_id = {quote_string(partition)}" if partition else ""
            row = ws.engine.rows(_where(ws, name, condition, "count() AS n, groupUniqArray(_partition_id) AS p", only))[0]
            result = Result("delete", name, int(row["n"]), partitions=sorted(row["p"]))
            if result.rows_affected:
                job.stage(name, _keep(ws, name, condition, result.partitions), result.partitions)
                job.publish()
        except (EngineError, OSError) as e:
            raise _failure(ws, e) from None
        finally:
            job.close()
    if result.rows_affected:
        finished(ws, result, started, condition)
    return result


def _keep(ws: Workspace, name: str, condition: str, partitions: list[str]) -> str:
    ids = ", ".join(map(quote_string, partitions))
    return ws.renderer.resolve(
        f"SELECT * FROM {quote_ident(name)} WHERE _partition_id IN ({ids}) AND NOT (\n{condition}\n)", {}, {})


# ---------------------------------------------------------------- replace

def replace(ws: Workspace, name: str, chunks: list[bytes], fmt: str, condition: str | None = None,
            skip_incompatible: bool = False, import_id: str = "") -> Result:
    """Replace the data source's rows with the body's (only those matching condition, when given)."""
    started = time.perf_counter()
    if condition is not None:
        condition = _check_condition(ws, name, condition)
    with ws.ingestor.exclusive(DOCS):
        job = _Rewrite(ws, name)
        try:
            job.open()
            result = job.replace(chunks, fmt, condition, skip_incompatible, import_id)
        except (EngineError, OSError) as e:
            raise _failure(ws, e) from None
        finally:
            job.close()
    finished(ws, result, started, condition)
    return result


class _Rewrite:
    """One delete or replace: scratch tables in `<db>__rewrite`, swapped into the workspace's tables at the end."""

    def __init__(self, ws: Workspace, name: str):
        self.ws, self.name, self.db = ws, name, ws.database
        self.scratch = rewrite_db(ws.database)
        self.swaps: list[tuple[str, list[str]]] = []  # (table, partition ids) to replace
        self.appends: list[str] = []  # tables whose scratch rows are added (the quarantine)

    def open(self) -> None:
        """An empty scratch database (a crash may have left the last one)."""
        self._sql(f"DROP DATABASE IF EXISTS {self.scratch} SYNC")
        self._sql(f"CREATE DATABASE {self.scratch}")

    def _sql(self, sql: str, settings: dict | None = None) -> None:
        self.ws.engine.execute(sql, settings)

    def _real_table(self, table: str) -> str:
        return f"{self.db}.{quote_ident(table)}"

    def _scratch_table(self, table: str, prefix: str = "") -> str:
        return f"{self.scratch}.{quote_ident(prefix + table)}"

    def stage(self, table: str, select: str, partitions: list[str]) -> None:
        """The new content of table's partitions: select's rows (empty partitions are emptied)."""
        self._sql(f"CREATE TABLE {self._scratch_table(table)} AS {self._real_table(table)}")
        self._sql(f"INSERT INTO {self._scratch_table(table)} {select}")
        self.swaps.append((table, partitions))

    def publish(self) -> None:
        """Swap the staged partitions in (each table's in one ALTER, each partition a directory swap), under
        the writer's journal: after a kill -9 in the middle, the next start rebuilds every view from its sources."""
        self.ws.ingestor.publish_rewrite(self.name, self._swap, DOCS)

    def _swap(self) -> None:
        for table, partitions in self.swaps:
            if partitions:
                self._sql(f"ALTER TABLE {self._real_table(table)} " + ", ".join(
                    f"REPLACE PARTITION ID {quote_string(p)} FROM {self._scratch_table(table)}" for p in partitions) + REPLACE_SETTINGS)
        for table in self.appends:
            parts = self.ws.engine.rows(f"SELECT DISTINCT _partition_id AS p FROM {self._scratch_table(table)}")
            if parts:
                self._sql(f"ALTER TABLE {self._real_table(table)} " + ", ".join(
                    f"ATTACH PARTITION ID {quote_string(r['p'])} FROM {self._scratch_table(table)}" for r in parts))

    def close(self) -> None:
        try:
            self._sql(f"DROP DATABASE IF EXISTS {self.scratch} SYNC")
        except EngineError as e:
            log.warning("could not drop %s: %s", self.scratch, e.message)

    def _partitions(self, table: str, where: str = "1") -> set[str]:
        """The partition ids of table's rows that match where (a qualified table name)."""
        return {r["p"] for r in self.ws.engine.rows(f"SELECT DISTINCT _partition_id AS p FROM {table} WHERE ({where})")}

    def replace(self, chunks: list[bytes], fmt: str, condition: str | None, skip_incompatible: bool, import_id: str) -> Result:
        name, ws = self.name, self.ws
        quarantine = quarantine_table(name)
        # The body is parsed by the data source's own writer, into the scratch database.
        for table in (name, quarantine):
            self._sql(f"CREATE TABLE {self._scratch_table(table)} AS {self._real_table(table)}")
        requests = [write.Request(chunk, fmt, import_id=import_id) for chunk in chunks]
        ws.ingestor.parse_into(self.scratch, name, requests)
        result = Result("replace", name, rows_affected=sum(r.outcome.successful_rows for r in requests),
                        quarantined=sum(r.outcome.quarantined_rows for r in requests))
        new = self._scratch_table(name, "new__")
        self._sql(f"RENAME TABLE {self._scratch_table(name)} TO {new}")
        self.appends.append(quarantine)
        cols = ", ".join(quote_ident(c) for c in ws.project.datasources[name].column_names)
        if condition is None:
            partitions = self._partitions(self._real_table(name)) | self._partitions(new)
            result.rows_deleted = int(ws.engine.scalar(f"SELECT count() FROM {self._real_table(name)}") or 0)
            select = f"SELECT {cols} FROM {new}"
        else:
            old = ws.engine.rows(_where(ws, name, condition, "count() AS n, groupUniqArray(_partition_id) AS p"))[0]
            partitions = set(old["p"]) | self._partitions(new, f"\n{condition}\n")
            result.rows_deleted = int(old["n"])
            result.rows_affected = int(ws.engine.scalar(f"SELECT count() FROM {new} WHERE (\n{condition}\n)") or 0)
            ids = ", ".join(map(quote_string, sorted(partitions))) or "''"
            select = (f"SELECT {cols} FROM ({_keep(ws, name, condition, sorted(partitions))}) "
                      f"UNION ALL SELECT {cols} FROM {new} WHERE _partition_id IN ({ids}) AND (\n{condition}\n)")
        result.partitions = sorted(partitions)
        self.stage(name, select, result.partitions)
        self._views(result, full=condition is None, skip_incompatible=skip_incompatible)
        self.publish()
        return result

    def _views(self, result: Result, full: bool, skip_incompatible: bool) -> None:
        """Recompute every view fed (directly or through other views) by the replaced data source, for its partitions."""
        views = desired_state(self.ws.project, self.ws.renderer)["views"]
        staged = {self.name: set(result.partitions)}
        feeders = Counter(view["target"] for view in views.values())
        grew = True
        while grew:
            grew = False
            for view in views.values():
                target, sources = view["target"], view_sources(view)
                source = next((s for s in sources if s in staged), None)
                if source is None or target in staged or target in result.skipped_views:
                    continue
                if feeders[target] > 1:  # recomputed from one of its views, it would lose the others' rows
                    if not skip_incompatible:
                        raise BadRequest(
                            f"'{target}' is filled by {feeders[target]} materialized views, so its partitions cannot be "
                            f"recomputed from '{source}' alone: send skip_incompatible_partition_key=true to leave it as it is", DOCS)
                    result.skipped_views.append(target)
                    continue
                if not full and not self._compatible(source, target):
                    if not skip_incompatible:
                        raise BadRequest(
                            f"The partition key of '{target}' is not compatible with the partition key of '{source}', so its "
                            f"partitions cannot be recomputed from the replaced ones: replace the whole data source, or "
                            f"send skip_incompatible_partition_key=true to leave '{target}' as it is", DOCS)
                    result.skipped_views.append(target)
                    continue
                self.stage(target, write.repoint(view["sql"], self.db, source, self._scratch_table(source))[0], [])
                produced = self._partitions(self._scratch_table(target))
                if full:
                    partitions = self._partitions(self._real_table(target)) | produced
                else:
                    partitions = set(staged[source])
                    if produced - partitions:
                        raise BadRequest(f"'{target}' would get rows in partitions {sorted(produced - partitions)[:5]} that "
                                         f"the replace does not rewrite: its partition key is not compatible with '{source}'", DOCS)
                self.swaps[-1] = (target, sorted(partitions))
                staged[target] = partitions
                result.views.append(target)
                grew = True

    def _compatible(self, source: str, target: str) -> bool:
        """Whether target's partitions follow source's: the same partition function, whatever its column."""
        keys = {r["name"]: r["partition_key"] for r in self.ws.engine.rows(
            f"SELECT name, partition_key FROM system.tables WHERE database = {quote_string(self.db)} "
            f"AND name IN ({quote_string(source)}, {quote_string(target)})")}
        shape = [_IDENT.sub(lambda m: m.group(0) if m.end() < len(k) and k[m.end()] == "(" else "x", k)
                 for k in (keys.get(source, ""), keys.get(target, ""))]
        return shape[0] == shape[1]
