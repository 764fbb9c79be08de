"""Body -> decoded lines -> validated rows + quarantined rows, written by one group-commit writer.

ClickHouse does every conversion: a batch is parsed with FORMAT JSONEachRow (or CSV) into a
Memory table of Nullable columns. When a parse fails, the batch is split in halves until
the bad lines are alone; they go to <name>_quarantine with ClickHouse's reason, and every
good line still lands. Required columns and integer ranges are checked in SQL.
"""

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import compaction
from .datadir import DataDir
from .engine import Engine, EngineError, quote_ident, quote_string, storage_fault
from .errors import ApiError, BadRequest, InsufficientStorage, TooLarge, TooManyRequests, Unavailable
from .project import DataSource, Project, json_key
from .staging import PublishPending, Staging

log = logging.getLogger("tblocal")
EVENTS_DOCS = "https://www.tinybird.co/docs/api-reference/events-api"
PARSE_SETTINGS = {
    "input_format_skip_unknown_fields": 1,
    "date_time_input_format": "best_effort",
    "input_format_null_as_default": 0,
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_arrays_as_strings": 1,
    "input_format_csv_empty_as_default": 0,
    "input_format_allow_errors_num": 0,
    "input_format_parallel_parsing": 0,
}
_INT = re.compile(r"^(U?Int(8|16|32|64|128|256))$")
_NO_NULLABLE = re.compile(r"^(Array|Map|Tuple|Nested|AggregateFunction|SimpleAggregateFunction|Nullable|Variant|Dynamic|JSON|Object)\b")
# A line that opens a JSON array, as two patterns: a leading literal lets re scan with memchr
# (`(?:^|\n)...` tried every position: 80 ms per 2.4 MB batch, a third of the writer's time).
_ARRAY_FIRST_LINE = re.compile(rb"[ \t\r]*(?:\xef\xbb\xbf)?[ \t]*\[")
_ARRAY_NEXT_LINE = re.compile(rb"\n[ \t\r]*(?:\xef\xbb\xbf)?[ \t]*\[")
# Rows of a refused batch are numbered with this key, so a parse that skips bad rows tells which they were.
LINE_KEY = "__tblocal_line"
SKIP_ERRORS = {"input_format_allow_errors_num": 1_000_000_000, "input_format_allow_errors_ratio": 1}
EXACT_REASONS = 64
# The materialized views of one INSERT run side by side rather than one after another.
VIEW_SETTINGS = {"parallel_view_processing": 1}
ROW_REFUSED = "ClickHouse could not convert this row to the data source's column types (exact reasons are given for the first 64 refused rows of a batch)"
# Parse errors of FROM INFILE name the file; strip that so reasons read as for inline data.
_INFILE_NOISE = re.compile(r"\s*:?\s*\(in file/uri [^)]*\).*$|\s*: While executing .*$", re.S)
_CODE_PREFIX = re.compile(r"^(?:Code: \d+\. (?:DB::Exception: )?)+")
_KEY_IN_ERROR = re.compile(r"while reading the value of key ([^)\s]+)\)|column ([\w.]+)")


# ---------------------------------------------------------------- request bodies

def read_limited(chunks, limit: int) -> bytes:
    """Join an iterable of byte chunks, raising 413 past limit bytes."""
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The body is larger than the {limit // (1024 * 1024)} MB limit", EVENTS_DOCS)
        out.append(chunk)
    return b"".join(out)


# An over-limit body is read and thrown away up to this many bytes before the 413 (or 414) is sent: a
# client that writes its whole body before reading (Python's urllib) then reads the JSON error instead
# of a reset connection. Past it the server answers at once and the connection is closed.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


async def drain(receive, already: int = 0) -> int:
    """Read and discard the rest of an ASGI request body, up to DRAIN_LIMIT_BYTES in all; bytes read."""
    seen = already
    while seen <= DRAIN_LIMIT_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            break
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return seen


def gunzip_limited(body: bytes, limit: int) -> bytes:
    """Decompress gzip as a stream, stopping with 413 as soon as the output passes limit."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, size, data = [], 0, body
    try:
        while data:
            piece = d.decompress(data, 1024 * 1024)
            size += len(piece)
            if size > limit:
                raise TooLarge(f"The decompressed body is larger than the {limit // (1024 * 1024)} MB limit", EVENTS_DOCS)
            out.append(piece)
            data = d.unconsumed_tail
            if d.eof:
                break
        if not d.eof:
            raise BadRequest("The gzip body is truncated", EVENTS_DOCS)
    except zlib.error as e:
        raise BadRequest(f"The body is not valid gzip: {e}", EVENTS_DOCS) from None
    return b"".join(out)


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """The request body after Content-Encoding, within limit bytes."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip_limited(body, limit)
    raise BadRequest(f"Unsupported Content-Encoding '{content_encoding[:40]}': use gzip or none", EVENTS_DOCS)


def count_lines(body: bytes) -> int:
    """Rows a body announces: lines that open a JSON object (a pretty-printed object counts once)."""
    return sum(1 for line in body.split(b"\n") if line.lstrip(b" \t\r\xef\xbb\xbf").startswith(b"{"))


# ---------------------------------------------------------------- the writer (runs in one thread)

@dataclass
class Outcome:
    successful_rows: int = 0
    quarantined_rows: int = 0


@dataclass
class Request:
    """One client's body waiting to be written."""

    body: bytes
    fmt: str = "JSONEachRow"
    import_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    outcome: Outcome = field(default_factory=Outcome)


@dataclass
class _Column:
    name: str  # target column
    key: str  # JSON key / staging column
    type: str
    stage_type: str
    default: str | None  # DEFAULT expression, None when required
    nullable: bool


def _columns(ds: DataSource) -> list[_Column]:
    cols = []
    for c in ds.columns:
        default = (c.get("default_value") or "").strip()
        if default.upper().startswith(("MATERIALIZED", "ALIAS", "EPHEMERAL")):
            continue
        kind = c["type"]
        base = re.sub(r"^LowCardinality\((.*)\)$", r"\1", kind)
        nullable = bool(c.get("nullable")) or kind.startswith("Nullable(")
        if nullable and not kind.startswith("Nullable("):
            kind = f"Nullable({kind})"
        if _INT.match(base):
            stage = "Nullable(Int256)" if base in ("UInt128", "UInt256", "Int256") else "Nullable(Int128)"
        elif _NO_NULLABLE.match(base):
            stage = base
        else:
            stage = f"Nullable({base})"
        expr = default[len("DEFAULT"):].strip() if default.upper().startswith("DEFAULT") else None
        if expr is None and (nullable or _NO_NULLABLE.match(base)):
            expr = "NULL" if nullable else None
        cols.append(_Column(c["name"], json_key(c), kind, stage, expr, nullable))
    return cols


class Writer:
    """Writes batches of requests into one data source. Not thread-safe: one writer thread only."""

    def __init__(self, engine: Engine, database: str, ds: DataSource, target_db: str | None = None):
        self.engine, self.db, self.ds = engine, database, ds
        self.target_db = target_db or database  # where commit() writes: the staging (shadow) database
        self.cols = _columns(ds)
        internal = f"{database}__internal"
        self.parse_table = f"{internal}.{quote_ident('parse_' + ds.name)}"
        self.stage_table = f"{internal}.{quote_ident('stage_' + ds.name)}"
        engine.execute(f"CREATE DATABASE IF NOT EXISTS {internal} ENGINE = Memory")
        # Batches are spooled to a file for FROM INFILE. A killed process leaves its file behind, so the
        # spool lives in the data dir (next to chdb/) and this data source's leftovers are removed at start.
        engine_path = getattr(engine, "path", None)
        self.spool = DataDir(Path(engine_path).parent).spool if engine_path else Path(tempfile.gettempdir())
        self.spool.mkdir(parents=True, exist_ok=True)
        self.spool_prefix = f"{database}.{ds.name}-"  # every workspace shares the spool: clean only this one's
        if engine_path:
            for leftover in self.spool.glob(f"{self.spool_prefix}*.buf"):
                leftover.unlink(missing_ok=True)
        defs = ", ".join(f"{quote_ident(c.key)} {c.stage_type}" for c in self.cols)
        for table, extra in ((self.parse_table, f", {LINE_KEY} Nullable(UInt32)"), (self.stage_table, ", __tag UInt32")):
            engine.execute(f"DROP TABLE IF EXISTS {table}")
            engine.execute(f"CREATE TABLE {table} ({defs}{extra}) ENGINE = Memory")

    # -- parsing into the stage, splitting out the lines ClickHouse rejects

    def _parse(self, data: bytes, fmt: str, skip_errors: bool = False) -> int:
        self.engine.execute(f"TRUNCATE TABLE {self.parse_table}")
        keys = ", ".join(quote_ident(c.key) for c in self.cols) + (f", {LINE_KEY}" if skip_errors else "")
        options = {**PARSE_SETTINGS, **(SKIP_ERRORS if skip_errors else {})}
        settings = "SETTINGS " + ", ".join(
            f"{k} = {v if isinstance(v, int) else quote_string(v)}" for k, v in options.items()
        )
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise EngineError(0, "invalid UTF-8") from None
        # FROM INFILE: chDB parses a file about twice as fast as the same bytes inlined in the query text.
        fd, path = tempfile.mkstemp(prefix=self.spool_prefix, suffix=".buf", dir=self.spool)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.write(b"\n")
            try:
                self.engine.execute(f"INSERT INTO {self.parse_table} ({keys}) FROM INFILE {quote_string(path)} {settings} FORMAT {fmt}")
            except EngineError as e:
                e.message = _INFILE_NOISE.sub("", _CODE_PREFIX.sub("", e.message))
                raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return int(self.engine.scalar(f"SELECT count() FROM {self.parse_table}"))

    def _move(self, tag_sql: str) -> None:
        cols = ", ".join(quote_ident(c.key) for c in self.cols)
        self.engine.execute(
            f"INSERT INTO {self.stage_table} ({cols}, __tag) SELECT {cols}, {tag_sql} FROM {self.parse_table}",
            {"max_threads": 1},
        )

    def _stage_lines(self, lines: list[bytes], fmt: str, tag: int, bad: list, header: bytes = b"") -> None:
        """Stage lines under tag; lines ClickHouse refuses are appended to bad with their reason."""
        if fmt == "JSONEachRow":
            objects = []
            for line in lines:  # non-objects need no parse: quarantine them as they are
                if line.lstrip(b" \t\r\xef\xbb\xbf").startswith(b"{"):
                    objects.append(line)
                else:
                    bad.append((tag, line, "the line is not a JSON object"))
            if len(objects) > 1:
                self._stage_numbered(objects, tag, bad)
                return
            lines = objects
        if not lines:
            return
        try:
            self._parse(header + b"\n".join(lines), fmt)
            self._move(str(tag))
        except EngineError as e:
            if len(lines) == 1:
                bad.append((tag, lines[0], e.message))
                return
            mid = len(lines) // 2
            self._stage_lines(lines[:mid], fmt, tag, bad, header)
            self._stage_lines(lines[mid:], fmt, tag, bad, header)

    def _stage_numbered(self, lines: list[bytes], tag: int, bad: list) -> None:
        """One parse that skips the rows ClickHouse refuses; a line-number key tells which ones they were.

        Splitting in halves costs a parse per bad line and its ancestors (minutes for a body of bad rows);
        this costs one parse, plus one per bad line for its exact reason, up to EXACT_REASONS a batch.
        """
        try:
            self._parse(b"\n".join(_numbered(line, n) for n, line in enumerate(lines)), "JSONEachRow", skip_errors=True)
        except EngineError:
            mid = len(lines) // 2  # the whole parse failed (not a per-row error): fall back to halves
            for half in (lines[:mid], lines[mid:]):
                self._stage_lines(half, "JSONEachRow", tag, bad)
            return
        parsed = {int(r["n"]) for r in self.engine.rows(f"SELECT {LINE_KEY} AS n FROM {self.parse_table}")}
        self._move(str(tag))
        refused = [line for n, line in enumerate(lines) if n not in parsed]
        for k, line in enumerate(refused):
            if k >= EXACT_REASONS:
                bad.append((tag, line, ROW_REFUSED))
                continue
            self._stage_lines([line], "JSONEachRow", tag, bad)  # alone: ClickHouse's own reason

    def _stage(self, requests: list[Request]) -> list:
        """Parse every request into the stage with __tag = its index; returns the lines ClickHouse refused."""
        bad: list = []
        simple = [i for i, r in enumerate(requests) if r.fmt == "JSONEachRow" and _one_object_line(r.body)]
        if len(simple) > 1:
            try:
                n = self._parse(b"\n".join(requests[i].body.strip() for i in simple), "JSONEachRow")
                if n == len(simple):
                    tags = "[" + ",".join(map(str, simple)) + "]"
                    self._move(f"{tags}[rowNumberInAllBlocks() + 1]")
                    simple_done = set(simple)
                else:
                    simple_done = set()
            except EngineError:
                simple_done = set()
        else:
            simple_done = set()
        for i, r in enumerate(requests):
            if i in simple_done:
                continue
            header = b""
            body = r.body[3:] if r.body.startswith(b"\xef\xbb\xbf") else r.body
            if r.fmt.startswith("CSV"):
                lines = [ln for ln in body.split(b"\n") if ln.strip()]
                if lines and _is_csv_header(lines[0], self.ds):
                    header, lines = lines[0] + b"\n", lines[1:]
                self._stage_lines(lines, "CSVWithNames" if header else "CSV", i, bad, header)
                continue
            if not (_ARRAY_FIRST_LINE.match(body) or _ARRAY_NEXT_LINE.search(body)):
                try:
                    self._parse(body, "JSONEachRow")
                    self._move(str(i))
                    continue
                except EngineError:
                    pass
            lines = [ln.rstrip(b"\r") for ln in body.split(b"\n") if ln.strip()]
            self._stage_lines(lines, "JSONEachRow", i, bad)
        return bad

    # -- from the stage to the data source and its quarantine

    def _checks(self) -> tuple[str, str]:
        names, messages = [], []
        for c in self.cols:
            k = quote_ident(c.key)
            if c.default is None and c.stage_type.startswith("Nullable("):
                names.append(f"if(isNull({k}), {quote_string(c.name)}, '')")
                messages.append(f"if(isNull({k}), {quote_string(f'Column {c.name!r} is required and missing or null')}, '')")
            if c.stage_type.startswith("Nullable(Int") and not c.type.startswith("Nullable(Int"):
                base = re.sub(r"^(LowCardinality|Nullable)\((.*)\)$", r"\2", c.type)
                bad = f"(isNotNull({k}) AND isNull(accurateCastOrNull({k}, {quote_string(base)})))"
                names.append(f"if({bad}, {quote_string(c.name)}, '')")
                messages.append(
                    f"if({bad}, concat('Value ', toString({k}), ' of column {c.name} is out of range for {base}'), '')"
                )
        if not names:
            return "[]", "[]"
        return (f"arrayFilter(x -> x != '', [{', '.join(names)}])", f"arrayFilter(x -> x != '', [{', '.join(messages)}])")

    def _value(self, c: _Column) -> str:
        k = quote_ident(c.key)
        if c.default is not None and c.stage_type.startswith("Nullable("):
            return f"CAST(ifNull({k}, {c.default}) AS {c.type})"
        if c.stage_type.startswith("Nullable(") and not c.nullable:
            return f"CAST(assumeNotNull({k}) AS {c.type})"
        return f"CAST({k} AS {c.type})"

    def commit(self, requests: list[Request], refused: str | None = None, before_write=None) -> None:
        """Write requests: good rows to the data source, the rest to its quarantine; fill each outcome.

        With refused (a reason), every line of the requests goes to the quarantine with that reason.
        before_write() runs once the rows are parsed, right before the first write to the target."""
        for r in requests:  # a retried commit counts afresh
            r.outcome = Outcome()
        target = f"{quote_ident(self.target_db)}.{quote_ident(self.ds.name)}"
        quarantine = f"{quote_ident(self.target_db)}.{quote_ident(self.ds.name + '_quarantine')}"
        if refused is not None:
            bad = [(i, ln.rstrip(b"\r"), refused) for i, r in enumerate(requests) for ln in r.body.split(b"\n") if ln.strip()]
            if bad:
                if before_write:
                    before_write()
                self._quarantine_lines(quarantine, requests, bad)
            return
        self.engine.execute(f"TRUNCATE TABLE {self.stage_table}")
        bad = self._stage(requests)
        if before_write:
            before_write()
        err_cols, err_msgs = self._checks()
        names = ", ".join(quote_ident(c.name) for c in self.cols)
        values = ", ".join(self._value(c) for c in self.cols)
        ids = "[" + ", ".join(quote_string(r.import_id) for r in requests) + "]"
        with_errors = f"SELECT *, {err_cols} AS __err_cols, {err_msgs} AS __errs FROM {self.stage_table}"
        counts = self.engine.rows(
            f"SELECT __tag, count() AS n, countIf(notEmpty(__err_cols)) AS q FROM ({with_errors}) GROUP BY __tag"
        )
        if any(int(row["q"]) for row in counts):
            self.engine.execute(f"INSERT INTO {target} ({names}) SELECT {values} FROM ({with_errors}) WHERE empty(__err_cols)", VIEW_SETTINGS)
            q_values = ", ".join(f"toString({quote_ident(c.key)})" for c in self.cols)
            self.engine.execute(
                f"INSERT INTO {quarantine} ({names}, c__error_column, c__error, c__import_id) "
                f"SELECT {q_values}, __err_cols, __errs, {ids}[__tag + 1] FROM ({with_errors}) WHERE notEmpty(__err_cols)"
            )
        else:  # every staged row passed the checks: one pass, no check expressions, no quarantine scan
            self.engine.execute(f"INSERT INTO {target} ({names}) SELECT {values} FROM {self.stage_table}", VIEW_SETTINGS)
        for row in counts:
            outcome = requests[int(row["__tag"])].outcome
            outcome.quarantined_rows += int(row["q"])
            outcome.successful_rows += int(row["n"]) - int(row["q"])
        if bad:
            self._quarantine_lines(quarantine, requests, bad)
        self.engine.execute(f"TRUNCATE TABLE {self.stage_table}")

    def _quarantine_lines(self, quarantine: str, requests: list[Request], bad: list) -> None:
        rows = []
        for tag, line, reason in bad:
            requests[tag].outcome.quarantined_rows += 1
            rows.append(json.dumps(self._quarantine_row(line, reason, requests[tag].import_id)))
        self.engine.execute(
            f"INSERT INTO {quarantine} SETTINGS input_format_skip_unknown_fields = 1 FORMAT JSONEachRow\n" + "\n".join(rows)
        )

    def _quarantine_row(self, line: bytes, reason: str, import_id: str) -> dict:
        text = line.decode("utf-8", errors="replace")
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):  # deep nesting must quarantine the line, not fail the batch
            obj = None
        row: dict = {}
        if isinstance(obj, dict):
            for c in self.cols:
                if c.key in obj and obj[c.key] is not None:
                    v = obj[c.key]
                    row[c.name] = v if isinstance(v, str) else json.dumps(v)
        m = _KEY_IN_ERROR.search(reason)
        column = next((g for g in (m.groups() if m else ()) if g), "")
        column = next((c.name for c in self.cols if c.key == column.strip("`")), "")
        if not isinstance(obj, dict):
            reason = f"{reason}: {text[:1000]}" if "JSON object" in reason or obj is None else "the line is not a JSON object: " + text[:1000]
        row.update(c__error_column=[column] if column else [], c__error=[reason], c__import_id=import_id)
        return row


def _numbered(line: bytes, n: int) -> bytes:
    """The JSON object line with LINE_KEY = n added first."""
    body = line.lstrip(b" \t\r\xef\xbb\xbf")[1:]
    sep = b"" if body.lstrip(b" \t\r").startswith(b"}") else b","
    return b'{"' + LINE_KEY.encode() + b'":' + str(n).encode() + sep + body


def _one_object_line(body: bytes) -> bool:
    stripped = body.strip()
    return stripped.startswith(b"{") and stripped.endswith(b"}") and b"\n" not in stripped and b"}{" not in stripped.replace(b" ", b"")


def _is_csv_header(line: bytes, ds: DataSource) -> bool:
    first = line.decode("utf-8", errors="replace").split(",")[0].strip().strip('"')
    return first == ds.columns[0]["name"]


# ---------------------------------------------------------------- the group commit (asyncio side)

MIN_FREE_BYTES = 1024 * 1024  # ClickHouse reserves at least 1 MiB for any write
_RESERVE_NEED = re.compile(r"Cannot reserve ([\d.]+) (B|KiB|MiB|GiB|TiB)")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_MEMORY_CODES = {241}  # MEMORY_LIMIT_EXCEEDED
_UNANSWERED = object()  # a commit left to finish at the next start: its waiters get no answer


@dataclass
class _Pending:
    request: Request
    done: asyncio.Future | None


class Ingestor:
    """Accepts bodies from many requests and writes them in large batches from one thread.

    A wait=true request is answered after its batch was published (the rows are on disk and
    queryable); wait=false requests are answered at once and written with the next batch (at the
    latest at shutdown). When writes pause, partitions are compacted.

    Every commit is all or nothing (see staging.py). A commit the disk refuses (full or read-only)
    puts the ingestor in a fault: new writes are answered 507, acknowledged wait=false rows stay
    queued (within max_queue_bytes) and are retried every retry_s, and the fault ends by itself
    with the first commit that succeeds.
    """

    def __init__(self, engine: Engine, project: Project, database: str, max_queue_bytes: int,
                 batch_bytes: int = 32 * 1024 * 1024, compact_after_s: float = 0, journal: Path | None = None,
                 rebuild_views=None, reserve_bytes: int = 8 * 1024 * 1024, retry_s: float = 1.0):
        self.engine, self.database, self.compact_after_s = engine, database, compact_after_s
        engine_path = getattr(engine, "path", None)
        self.data_dir = Path(engine_path).parent if engine_path else None
        reserve = DataDir(self.data_dir).reserve if self.data_dir else None
        self.staging = Staging(engine, project, database, journal, reserve, reserve_bytes, rebuild_views)
        self.staging.open()
        self.writers = {name: Writer(engine, database, ds, self.staging.shadow) for name, ds in project.datasources.items()}
        self.max_queue_bytes, self.batch_bytes, self.retry_s = max_queue_bytes, batch_bytes, retry_s
        self.queues: dict[str, list[_Pending]] = {name: [] for name in self.writers}
        self.queued_bytes = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tblocal-writer")
        self._lock = threading.Lock()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._compactor: asyncio.Task | None = None
        self._closing = False
        self.closed_because = "The server is starting or shutting down"
        self.last_write = time.monotonic()
        # While the disk refuses writes: (kind, message) and the free space it must reach to accept again.
        self.fault: tuple[str, str] | None = None
        self._fault_free_needed = 0
        self.refused_requests = 0  # requests answered 507 (for tests and logs)

    @property
    def journal(self) -> Path | None:
        """The file marking a commit being published (see staging.py)."""
        return self.staging.journal

    @journal.setter
    def journal(self, path: Path | None) -> None:
        self.staging.journal = path

    # -- writing (the writer thread, or a caller loading files)

    def write_now(self, datasource: str, requests: list[Request], refused: str | None = None) -> None:
        """Write synchronously, bypassing the queue (loading files, tests): all of requests' rows, or none
        (raising the ApiError to answer: 507 when the disk refuses, 400 when a view refuses the rows)."""
        with self._lock:
            try:
                try:
                    self.writers[datasource].commit(requests, refused, before_write=lambda: self.staging.begin(datasource))
                    self.staging.publish(self._publish_stalled, self.retry_s, datasource)
                except PublishPending:
                    raise
                except Exception:  # (a BaseException is a dying process: the next start drops the shadow)
                    for r in requests:
                        r.outcome = Outcome()
                    self.staging.abort()
                    raise
            except PublishPending:
                raise
            except ApiError as e:
                self._note_refusal(e, None)
                raise
            except Exception as e:
                error = self.write_error(e)
                if error is None:
                    raise
                self._note_refusal(error, e)
                raise error from None
            if self.fault is not None:
                log.warning("writes accepted again: %s", self.fault[1])
            self.fault = None
            self.staging.ensure_reserve()

    def _publish_stalled(self, error: BaseException) -> bool:
        """Called while attaching a staged commit keeps failing: refuse new writes; give up only when closing."""
        kind = storage_fault(error)
        if kind:
            self.fault = (kind, self._message(kind))
        else:
            self.fault = ("stalled", f"A commit could not be published and is retried: {error}")
            self._fault_free_needed = 1 << 62  # no write is accepted until it is published
        return self._closing

    def _note_refusal(self, error: ApiError, cause: BaseException | None) -> None:
        if not isinstance(error, InsufficientStorage):
            return
        kind = "read-only" if "read-only" in error.message else "full"
        need = MIN_FREE_BYTES
        m = _RESERVE_NEED.search(str(getattr(cause, "message", "") or cause or ""))
        if m:
            need = max(need, int(float(m.group(1)) * _UNITS[m.group(2)]))
        self._fault_free_needed = need + MIN_FREE_BYTES  # more than the disk lacked when it refused
        if self.fault is None:
            log.warning("writes refused until the disk takes them again: %s (%s)", error.message, cause)
        self.fault = (kind, error.message)

    def _message(self, kind: str) -> str:
        where = str(self.data_dir.resolve()) if self.data_dir else "the data dir"
        if kind == "read-only":
            return (f"The data dir {where} is read-only: nothing of this request was written. "
                    "Writes are accepted again once it is writable.")
        return (f"The disk of the data dir {where} is full: nothing of this request was written. "
                "Free space on it; writes are accepted again by themselves.")

    def write_error(self, exc: BaseException) -> ApiError | None:
        """The answer for a commit that failed with exc (None: an unexpected error, left to the 500 handler)."""
        kind = storage_fault(exc)
        if kind:
            return InsufficientStorage(self._message(kind), EVENTS_DOCS)
        if isinstance(exc, EngineError):
            if exc.code in _MEMORY_CODES:
                return Unavailable(
                    f"Writing the rows ran out of memory, so none was written; retry, or send smaller requests: {exc.message}",
                    EVENTS_DOCS,
                )
            return BadRequest(f"The rows could not be written (a materialized view refused them), so none was: {exc.message}", EVENTS_DOCS)
        return None

    def free_bytes(self) -> int | None:
        """Free bytes on the data dir's disk (0 when read-only, None without a data dir)."""
        if self.data_dir is None:
            return None
        try:
            st = os.statvfs(self.data_dir)
        except OSError:
            return None
        return 0 if st.f_flag & os.ST_RDONLY else st.f_bavail * st.f_frsize

    def _read_only(self) -> bool:
        try:
            return bool(self.data_dir is not None and os.statvfs(self.data_dir).f_flag & os.ST_RDONLY)
        except OSError:
            return False

    def _writable(self) -> bool:
        try:
            fd, path = tempfile.mkstemp(prefix="probe-", dir=self.data_dir)
            os.close(fd)
            os.unlink(path)
            return True
        except OSError:
            return False

    def problem(self) -> str | None:
        """Why writes are refused right now, or None. A fault with nothing queued ends here once the
        disk has room again (or is writable again); with rows queued, their commit ends it."""
        if self.fault is None:
            return None
        if not any(self.queues.values()) and self._disk_ok(0):
            self.fault = None
            return None
        return self.fault[1]

    def _disk_ok(self, size: int) -> bool:
        free = self.free_bytes()
        if free is None:
            return True
        if self.fault is not None:
            if self.fault[0] == "read-only" and not self._writable():
                return False
            return free >= max(self._fault_free_needed, MIN_FREE_BYTES + size)
        return free >= MIN_FREE_BYTES + size

    def _write_batch(self, name: str, batch: list[_Pending]) -> list[tuple[_Pending, object]]:
        """Write a batch in the writer thread; (pending, None | error | _UNANSWERED) for each request.

        When a batch fails for a reason of its own (a view refused some rows), each request is
        retried alone, so only the guilty ones fail. An acknowledged (wait=false) request that fails
        alone has its lines quarantined with the reason."""
        try:
            self.write_now(name, [p.request for p in batch])
            return [(p, None) for p in batch]
        except PublishPending:
            return [(p, _UNANSWERED) for p in batch]
        except ApiError as e:
            first = e
        results: list[tuple[_Pending, object]] = []
        if isinstance(first, InsufficientStorage) or len(batch) == 1:
            results = [(p, first) for p in batch]
        else:
            for i, p in enumerate(batch):
                try:
                    self.write_now(name, [p.request])
                    results.append((p, None))
                except PublishPending:
                    results.append((p, _UNANSWERED))
                except InsufficientStorage as e:
                    results += [(q, e) for q in batch[i:]]
                    break
                except ApiError as e:
                    results.append((p, e))
        out = []
        for p, error in results:
            if isinstance(error, ApiError) and not isinstance(error, InsufficientStorage) and p.done is None:
                try:
                    self.write_now(name, [p.request], refused=error.message)
                    log.warning("an acknowledged request's rows were quarantined: %s", error.message)
                    error = None
                except ApiError as e:
                    if isinstance(e, InsufficientStorage):
                        error = e  # kept queued, retried when the disk takes it
                    else:
                        log.error("an acknowledged request could not be written nor quarantined (%s); its rows are dropped", e.message)
            out.append((p, error))
        return out

    # -- the queue (asyncio side)

    async def start(self) -> None:
        """Start the background writer loop."""
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run())
        if self.compact_after_s > 0:
            self._compactor = asyncio.create_task(self._compact_when_idle())

    async def submit(self, datasource: str, request: Request, wait: bool) -> Outcome | None:
        """Queue a body; with wait, return its outcome once written (507 while the disk refuses writes)."""
        if self._closing or self._task is None:
            raise Unavailable(self.closed_because, EVENTS_DOCS)
        if not self._disk_ok(len(request.body)):
            self.refused_requests += 1
            if self.fault is None:
                kind = "read-only" if self._read_only() else "full"
                self.fault = (kind, self._message(kind))
                self._fault_free_needed = MIN_FREE_BYTES + len(request.body)
                log.warning("writes refused until the disk has room again: %s", self.fault[1])
            raise InsufficientStorage(self.fault[1], EVENTS_DOCS)
        if self.queued_bytes + len(request.body) > self.max_queue_bytes:
            raise TooManyRequests("Too many rows waiting to be written; retry shortly", EVENTS_DOCS)
        done = asyncio.get_running_loop().create_future() if wait else None
        self.last_write = time.monotonic()
        self.queues[datasource].append(_Pending(request, done))
        self.queued_bytes += len(request.body)
        self._wakeup.set()
        return await done if done else None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stalls_at_close = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while any(self.queues.values()):
                stalled = False
                for name, queue in self.queues.items():
                    if not queue:
                        continue
                    batch, size = [], 0
                    while queue and (not batch or size + len(queue[0].request.body) <= self.batch_bytes):
                        batch.append(queue.pop(0))
                        size += len(batch[-1].request.body)
                    try:
                        results = await loop.run_in_executor(self._thread, self._write_batch, name, batch)
                    except Exception as e:  # a failed write must fail its waiters, never hang them
                        results = [(p, e) for p in batch]
                    requeue = []
                    for p, error in results:
                        if isinstance(error, InsufficientStorage) and p.done is None:
                            requeue.append(p)  # acknowledged: kept, in order, until the disk takes it
                            continue
                        self.queued_bytes -= len(p.request.body)
                        if error is _UNANSWERED or p.done is None or p.done.done():
                            continue
                        if error is None:
                            p.done.set_result(p.request.outcome)
                        else:
                            if isinstance(error, InsufficientStorage):
                                self.refused_requests += 1
                            p.done.set_exception(error)
                    if requeue:
                        queue[0:0] = requeue
                        stalled = True
                if stalled:
                    if self._closing:
                        stalls_at_close += 1
                        if stalls_at_close > 3:
                            lost = sum(len(q) for q in self.queues.values())
                            log.error("stopping with %d acknowledged requests unwritten: %s", lost, self.fault and self.fault[1])
                            return
                    await asyncio.sleep(self.retry_s)
            if self._closing:
                return

    async def _compact_when_idle(self) -> None:
        """Once no rows have arrived for compact_after_s, merge each fragmented partition into one part
        (on its own thread, so writes go on; a write that arrives stops it after the current partition)."""
        compacted = None  # last_write as of the last finished compaction
        while not self._closing:
            await asyncio.sleep(min(1.0, self.compact_after_s))
            stamp = self.last_write
            if stamp == compacted or time.monotonic() - stamp < self.compact_after_s:
                continue
            stop = lambda: self._closing or self.last_write != stamp  # noqa: E731
            try:
                await asyncio.to_thread(compaction.compact, self.engine, self.database, stop)
            except EngineError:  # compaction only speeds reads up; it never fails a client
                pass
            if not stop():
                compacted = stamp

    async def close(self, because: str = "The server is shutting down") -> None:
        """Write everything still queued, then stop the writer; later writes get 503 saying because."""
        self.closed_because = because
        self._closing = True
        if self._compactor is not None:  # a partition being merged finishes on its thread; no other starts
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._task is not None:
            self._wakeup.set()
            await self._task
        self._thread.shutdown(wait=True)
        await asyncio.to_thread(self.staging.close)
