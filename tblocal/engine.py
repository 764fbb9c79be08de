"""The one chDB session: run SQL with time, memory and row limits. Only this module talks to chDB."""

import errno
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import chdb

from . import errors

_CODE = re.compile(r"Code: (\d+)\. (?:DB::Exception: )?(.*?)(?: \(([A-Z_]+)\))?(?: \(version [^)]*\))?\s*$", re.S)
# ClickHouse error codes that mean "the client asked too much", not "the server broke".
_TIMEOUT_CODES = {159, 160, 209}  # TIMEOUT_EXCEEDED, TOO_SLOW, SOCKET_TIMEOUT

_lock = threading.Lock()
_opened: dict[str, "Engine"] = {}


@dataclass(frozen=True)
class Result:
    data: bytes
    elapsed: float
    rows_read: int  # rows and bytes the query scanned
    bytes_read: int
    result_rows: int = 0


class EngineError(Exception):
    """A ClickHouse error, with its numeric code and message."""

    def __init__(self, code: int, message: str, name: str = ""):
        super().__init__(message)
        self.code, self.message, self.name = code, message, name

    def to_api_error(self) -> errors.ApiError:
        """Tinybird's answer to a client whose query failed this way."""
        if self.code in _TIMEOUT_CODES:
            return errors.Timeout(f"[Error] Query timed out: {self.message}")
        return errors.BadRequest(f"[Error] {self.message}")


_DISK_FULL_CODES = {243}  # NOT_ENOUGH_SPACE ("Cannot reserve N MiB, not enough space")
_DISK_FULL_TEXT = re.compile(r"not enough space|No space left on device|Disk quota exceeded|ENOSPC|errno: 28\b", re.I)
_READ_ONLY_TEXT = re.compile(r"Read-only file system|EROFS|errno: 30\b", re.I)


def storage_fault(exc: BaseException) -> str | None:
    """'full' or 'read-only' when exc (an EngineError or an OSError) means the disk refused a write, else None."""
    if isinstance(exc, OSError):
        return {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read-only"}.get(exc.errno)
    if isinstance(exc, EngineError):
        if exc.code in _DISK_FULL_CODES or _DISK_FULL_TEXT.search(exc.message):
            return "full"
        if _READ_ONLY_TEXT.search(exc.message):
            return "read-only"
    return None


def parse_error(exc: Exception) -> EngineError:
    """Split chDB's 'Code: N. DB::Exception: ...' text into code and message."""
    text = str(exc).strip()
    m = _CODE.match(text)
    if not m:
        return EngineError(0, text)
    message = re.sub(r"\s*: While executing \w+\.?$", "", m.group(2).strip())
    return EngineError(int(m.group(1)), message, m.group(3) or "")


class Engine:
    """A chDB data dir. chDB allows one per process, so open() hands back the same one."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # chDB shuts the engine down (and its Memory tables with it) when its last connection closes;
        # this one stays open for the life of the process so discarding a query connection never does that.
        self._anchor = chdb.connect(f"{self.path}?session_timezone=UTC")

    @classmethod
    def open(cls, path: Path) -> "Engine":
        """The process's engine for path; chDB cannot open a second path in one process."""
        key = str(Path(path).resolve())
        with _lock:
            if key not in _opened:
                if _opened:
                    raise RuntimeError(f"chDB is already open at {next(iter(_opened))}; one data dir per process")
                _opened[key] = cls(Path(path))
            return _opened[key]

    def _connection(self):
        """This thread's connection: chDB runs queries from different connections in parallel."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = chdb.connect(f"{self.path}?session_timezone=UTC")
        return conn

    def query(self, sql: str, fmt: str = "JSON", settings: dict | None = None) -> Result:
        """Run one statement and return its output in fmt; raises EngineError."""
        if settings:
            sql = f"{sql}\nSETTINGS " + ", ".join(f"{k} = {_literal(v)}" for k, v in settings.items())
        conn = self._connection()
        try:
            res = conn.query(sql, fmt)
            if getattr(res, "has_error", lambda: False)():
                raise Exception(res.error_message())
        except Exception as e:
            self._discard(conn)
            raise parse_error(e) from None
        # chDB's rows_read() counts the rows returned; storage_*_read() what was scanned.
        return Result(res.bytes() or b"", res.elapsed(), res.storage_rows_read(), res.storage_bytes_read(), res.rows_read())

    def _discard(self, conn) -> None:
        """chDB keeps the output a failed query had written so far and prepends it to that connection's next
        result (hundreds of MB after a timeout): drop the connection, so no partial result is ever reused."""
        self._local.conn = None
        try:
            conn.close()
        except Exception:
            pass

    def execute(self, sql: str, settings: dict | None = None) -> None:
        """Run a statement whose output does not matter (DDL, INSERT)."""
        self.query(sql, "CSV", settings)

    def rows(self, sql: str, settings: dict | None = None) -> list[dict]:
        """Run a query and return its rows as dicts (for internal bookkeeping, small results)."""
        data = self.query(sql, "JSONEachRow", settings).data
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def scalar(self, sql: str):
        """The first column of the first row, or None."""
        rows = self.rows(sql)
        return next(iter(rows[0].values())) if rows else None


def _literal(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(name: str) -> str:
    """A backquoted ClickHouse identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    """A single-quoted ClickHouse string literal."""
    return _literal(str(value))
