"""The one chDB session: run SQL with time, memory and row limits. Only this module talks to chDB."""

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
_LIMIT_CODES = {241, 396, 158, 307}  # MEMORY_LIMIT_EXCEEDED, TOO_MANY_ROWS_OR_BYTES, TOO_MANY_ROWS, TOO_MANY_BYTES

_lock = threading.Lock()
_opened: dict[str, "Engine"] = {}


@dataclass(frozen=True)
class Result:
    data: bytes
    elapsed: float
    rows_read: int
    bytes_read: int


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
        self._conn = chdb.connect(str(self.path))
        self._query_lock = threading.Lock()
        self.execute("SET session_timezone = 'UTC'")

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

    def query(self, sql: str, fmt: str = "JSON", settings: dict | None = None) -> Result:
        """Run one statement and return its output in fmt; raises EngineError."""
        if settings:
            sql = f"{sql}\nSETTINGS " + ", ".join(f"{k} = {_literal(v)}" for k, v in settings.items())
        with self._query_lock:  # chDB runs one query at a time anyway; the lock keeps query + drain together
            try:
                res = self._conn.query(sql, fmt)
                if getattr(res, "has_error", lambda: False)():
                    raise Exception(res.error_message())
            except Exception as e:
                self._drain()
                raise parse_error(e) from None
        return Result(res.bytes() or b"", res.elapsed(), res.rows_read(), res.bytes_read())

    def _drain(self) -> None:
        """chDB keeps the output a failed query had written so far and prepends it to the next query's
        result (e.g. 20 MB of rows before 'Limit for result exceeded'): swallow it here, so one client's
        partial result never reaches another client."""
        try:
            self._conn.query("SELECT 1", "CSV")
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
