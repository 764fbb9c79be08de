"""Rows: a batch of bodies -> validated rows in the data source + refused rows in its quarantine (the Writer).

ClickHouse does every conversion: a batch is parsed with FORMAT JSONEachRow (or CSV) into a
Memory table of Nullable columns. When a parse fails, the batch is split in halves until
the bad lines are alone; they go to <name>_quarantine with ClickHouse's reason, and every
good line still lands. Required columns and integer ranges are checked in SQL.
"""

import contextlib
import json
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..datadir import DataDir, internal_db
from ..datadir import quarantine as quarantine_table
from ..engine import Engine, EngineError, quote_ident, quote_string
from ..jsonpaths import JsonPath, column_path, extract_sql, is_json_type
from ..project import DataSource

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
# A data source with a column that reads the whole row (`json:$`) gets each row's JSON text under this key.
ROW_KEY = "__tblocal_row"
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
    key: str  # staging column: the JSON key, or the JSONPath when it reads deeper
    path: JsonPath
    type: str
    stage_type: str
    default: str | None  # DEFAULT expression, None when required
    nullable: bool
    json: bool = False  # a JSON column: staged as its JSON text, which must be an object
    same_as: "_Column | None" = None  # an earlier column that reads the same top-level key (or row): read from its value


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
        json_type = is_json_type(base)
        if json_type:  # parsed as its JSON text (an object read as a string), cast to JSON once checked
            stage = "Nullable(String)"
        elif _INT.match(base):
            stage = "Nullable(Int256)" if base in ("UInt128", "UInt256", "Int256") else "Nullable(Int128)"
        elif _NO_NULLABLE.match(base):
            stage = base
        else:
            stage = f"Nullable({base})"
        expr = default[len("DEFAULT"):].strip() if default.upper().startswith("DEFAULT") else None
        if expr is None and (nullable or _NO_NULLABLE.match(base)):
            expr = "NULL" if nullable else "'{}'" if json_type else None  # JSON's own default: the empty object
        path = column_path(c)
        key = ROW_KEY if path.whole_row else path.root if path.top_level else c["jsonpath"]
        first = next((other for other in cols if other.key == key), None)
        if first is not None:  # one JSON key fills one parse column: a second reader gets its own staging name
            key = f"{key}:{c['name']}"
        same_as = first if first is not None and path.top_level else None
        cols.append(_Column(c["name"], key, path, kind, stage, expr, nullable, json_type, same_as))
    return cols


def _roots(cols: list[_Column]) -> list[str]:
    """The top-level keys read deeper than the top (parsed as their raw JSON text), but not read whole by a column."""
    whole = {c.key for c in cols if c.path.top_level}
    return list(dict.fromkeys(c.path.root for c in cols if not c.path.top_level and c.path.root not in whole))


class Writer:
    """Writes batches of requests into one data source. Not thread-safe: one writer thread only."""

    def __init__(self, engine: Engine, database: str, ds: DataSource, target_db: str | None = None):
        self.engine, self.db, self.ds = engine, database, ds
        self.target_db = target_db or database  # where commit() writes: the staging (shadow) database
        self.cols = _columns(ds)
        self.roots = _roots(self.cols)
        self._parsed_json = True  # whether the parse table holds JSON rows (nested JSONPaths read from their root)
        internal = internal_db(database)
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
        roots = "".join(f", {quote_ident(r)} Nullable(String)" for r in self.roots)
        for table, extra in ((self.parse_table, f"{roots}, {LINE_KEY} Nullable(UInt32)"), (self.stage_table, ", __tag UInt32")):
            engine.execute(f"DROP TABLE IF EXISTS {table}")
            engine.execute(f"CREATE TABLE {table} ({defs}{extra}) ENGINE = Memory")

    # -- parsing into the stage, splitting out the lines ClickHouse rejects

    def _parse(self, data: bytes, fmt: str, skip_errors: bool = False) -> int:
        self.engine.execute(f"TRUNCATE TABLE {self.parse_table}")
        self._parsed_json = fmt == "JSONEachRow"
        roots = self.roots if self._parsed_json else []  # CSV fills columns by position
        keys = ", ".join(quote_ident(k) for k in [c.key for c in self.cols] + roots) + (f", {LINE_KEY}" if skip_errors else "")
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
        values = ", ".join(self._read(c) for c in self.cols)
        self.engine.execute(
            f"INSERT INTO {self.stage_table} ({cols}, __tag) SELECT {values}, {tag_sql} FROM {self.parse_table}",
            {"max_threads": 1},
        )

    def _read(self, c: _Column) -> str:
        """A parsed row's value of c: its own column, or for a nested JSONPath the value inside its root's JSON."""
        if c.same_as is not None and self._parsed_json:
            value = quote_ident(c.same_as.key)
            return value if c.same_as.stage_type == c.stage_type else f"CAST({value} AS {c.stage_type})"
        if c.path.top_level or not self._parsed_json:
            return quote_ident(c.key)
        raw = f"ifNull({quote_ident(c.path.root)}, '')"
        if c.json:  # a sub-object, as its JSON text; missing: NULL, so the column's DEFAULT applies
            return f"nullIf(JSONExtractRaw({', '.join([raw, *map(quote_string, c.path.steps)])}), '')"
        return extract_sql(c.path, f"ifNull({quote_ident(c.path.root)}, '')", c.stage_type)  # a missing root: nothing inside

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
        if any(c.path.whole_row for c in self.cols):
            requests = [Request(_with_row(r.body) if r.fmt == "JSONEachRow" else r.body, r.fmt) for r in requests]
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
            if c.json:
                bad = f"(isNotNull({k}) AND NOT (isValidJSON({k}) AND JSONType({k}) = 'Object'))"
                names.append(f"if({bad}, {quote_string(c.name)}, '')")
                messages.append(f"if({bad}, concat('Value ', substring({k}, 1, 200), ' of column {c.name} is not a JSON object'), '')")
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
        quarantine = f"{quote_ident(self.target_db)}.{quote_ident(quarantine_table(self.ds.name))}"
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
        if isinstance(obj, dict) and ROW_KEY in obj:  # the row as sent, without the key _with_row added
            obj = obj[ROW_KEY]
        if isinstance(obj, dict):
            for c in self.cols:
                v = c.path.lookup(obj)
                if v is not None:
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


def _with_row(body: bytes) -> bytes:
    """body with each JSON object line given ROW_KEY = the object itself, which a `json:$` column reads."""
    out = []
    for line in body.split(b"\n"):
        obj = line.strip(b" \t\r").removeprefix(b"\xef\xbb\xbf").strip(b" \t")
        if obj.startswith(b"{") and obj.endswith(b"}"):
            rest = obj[1:].lstrip(b" \t")
            line = b'{"' + ROW_KEY.encode() + b'":' + obj + (b"" if rest.startswith(b"}") else b",") + rest
        out.append(line)
    return b"\n".join(out)


def _one_object_line(body: bytes) -> bool:
    stripped = body.strip()
    return stripped.startswith(b"{") and stripped.endswith(b"}") and b"\n" not in stripped and b"}{" not in stripped.replace(b" ", b"")


def _is_csv_header(line: bytes, ds: DataSource) -> bool:
    first = line.decode("utf-8", errors="replace").split(",")[0].strip().strip('"')
    return first == ds.columns[0]["name"]

