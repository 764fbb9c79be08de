"""Settings as data: each has a name, an environment variable, a default and help text."""

import os
from dataclasses import dataclass, fields, field
from pathlib import Path


def _setting(default, env: str, help: str):
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """Everything tblocal can be told, with the environment variable that sets it."""

    host: str = _setting("127.0.0.1", "TBLOCAL_HOST", "address to bind")
    port: int = _setting(7181, "TBLOCAL_PORT", "port to bind (Tinybird Local's)")
    data_dir: Path = _setting(Path(".tblocal"), "TBLOCAL_DATA_DIR", "chDB data, tokens and schema state")
    project: Path = _setting(Path("."), "TBLOCAL_PROJECT", "Forward project folder: its .datasource and .pipe files, there or one folder down")
    admin_token: str = _setting("", "TB_TOKEN", "admin token; made once and kept in the data dir when empty")
    max_body_bytes: int = _setting(10 * 1024 * 1024, "TBLOCAL_MAX_BODY_BYTES", "largest request body, after gunzip")
    max_append_bytes: int = _setting(512 * 1024 * 1024, "TBLOCAL_MAX_APPEND_BYTES", "largest file a data source append takes (tb datasource append, fixtures), after gunzip")
    url_timeout_s: float = _setting(60.0, "TBLOCAL_URL_TIMEOUT", "seconds an append or replace from a URL may take to download its file (at most TBLOCAL_MAX_APPEND_BYTES)")
    query_timeout_s: float = _setting(10.0, "TBLOCAL_QUERY_TIMEOUT", "seconds a query may run before 408")
    query_memory_bytes: int = _setting(4 * 1024**3, "TBLOCAL_QUERY_MEMORY", "memory a query may use before 400")
    query_spill_bytes: int = _setting(512 * 1024**2, "TBLOCAL_QUERY_SPILL_BYTES", "GROUP BY/ORDER BY memory before a query spills to disk; 0 = never")
    max_result_rows: int = _setting(1_000_000, "TBLOCAL_MAX_RESULT_ROWS", "rows a query may return")
    max_concurrent_queries: int = _setting(64, "TBLOCAL_MAX_CONCURRENT_QUERIES", "endpoint queries in flight before 429")
    query_api_concurrency: int = _setting(8, "TBLOCAL_QUERY_API_CONCURRENCY", "Query API (/v0/sql) queries in flight before 429; they run on their own threads at the lowest OS priority, so endpoints keep their speed")
    ingest_queue_bytes: int = _setting(256 * 1024 * 1024, "TBLOCAL_INGEST_QUEUE_BYTES", "unflushed bytes before 429; also bounds the acknowledged rows kept while the disk is full")
    disk_reserve_bytes: int = _setting(8 * 1024 * 1024, "TBLOCAL_DISK_RESERVE_BYTES", "bytes kept in a reserve file in the data dir, given up on a full disk so a failed write can be undone; 0 = none")
    ingest_retry_s: float = _setting(1.0, "TBLOCAL_INGEST_RETRY", "seconds between retries of acknowledged (wait=false) rows the disk refused; they stay queued (at most TBLOCAL_INGEST_QUEUE_BYTES) meanwhile")
    compact_after_s: float = _setting(5.0, "TBLOCAL_COMPACT_AFTER", "idle seconds after the last write before each partition is merged into one part; 0 = never")
    record_usage: bool = _setting(True, "TBLOCAL_RECORD_USAGE", "record endpoint calls and data operations in the service data sources (tinybird.pipe_stats_rt, ...); 0 = off")

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Build settings from the environment, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw not in (None, ""):
                values[f.name] = _convert(f.type, raw)
        values.update({k: _convert(cls.__dataclass_fields__[k].type, v) for k, v in overrides.items() if v is not None})
        return cls(**values)


def truthy(value) -> bool:
    """A boolean as people and Tinybird's API write it: 1, true, yes or on (any case) is true, anything else false."""
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _convert(kind, raw):
    kind = {"int": int, "float": float, "str": str, "Path": Path, "bool": bool}.get(kind, kind) if isinstance(kind, str) else kind
    if kind is bool and isinstance(raw, str):  # bool("0") is True: read the words people write
        return truthy(raw)
    return kind(raw)
