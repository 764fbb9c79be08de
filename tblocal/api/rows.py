"""Data-source writes of row bodies: appends and replaces, from a raw body, a multipart file or a URL.

POST /v0/datasources?name=&mode=append|replace (the Data Sources API, as the SDKs and curl -F call it), and
/v1/datasources/<name>/append | replace (as the Forward CLI calls them). Each is all or nothing per batch for an
append, all or nothing for a replace, and answered as a finished import job.
"""

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from .. import rewrite
from .. import usage, write
from ..engine import EngineError, quote_string
from ..errors import ApiError, BadRequest
from ..workspace import Workspace
from . import fetch, jobs
from .auth import access, admin_access
from .http import json_response
from .params import Params, Part, body, file_format, read_params
from .resources import DATASOURCE_DOCS

APPEND_CHUNK_BYTES = 8 * 1024 * 1024  # a large append is written in batches of about this size, cut at line ends
CLICKHOUSE_FORMATS = {"ndjson": "JSONEachRow", "csv": "CSV"}
ROW_FIELDS = ("ndjson", "csv")  # multipart text fields that are the rows themselves (curl -F csv='a,b')


@body("rows", limit="max_append_bytes")
async def write_v0(request: Request) -> Response:
    """POST /v0/datasources?name=X&mode=append|replace: rows as a raw body, a multipart file, or url= (a form)."""
    params = await read_params(request)
    mode = params.get("mode", "append")
    if mode == "replace":
        ws, name = await _admin_target(request, params.get("name") or "")
        job = await _replace(request, ws, name, params)
    elif mode == "append":
        ws, grant = await access(request)
        job = await _append(request, ws, ws.datasource(params.get("name"), grant).name, params)
    else:
        raise BadRequest(f"mode={mode[:20]} is not supported by tblocal: only mode=append and mode=replace (deploy datafiles to create)")
    # The import job, and the counts the SDKs read (their AppendResult) for either mode.
    rows, bad = job["statistics"]["row_count"], job["statistics"]["quarantine_rows"]
    return json_response({**job, "successful_rows": rows, "quarantined_rows": bad, "quarantine_rows": bad,
                          "invalid_lines": 0, "error": False})


@body("rows", limit="max_append_bytes")
async def append_v1(request: Request) -> Response:
    """POST /v1/datasources/<name>/append?format=ndjson|csv: the raw body, as the Forward CLI sends files and --events."""
    ws, grant = await access(request)
    ds = ws.datasource(request.path_params["name"], grant)
    return json_response(await _append(request, ws, ds.name, await read_params(request)))


@body("rows", limit="max_append_bytes")
async def replace_v1(request: Request) -> Response:
    """POST /v1/datasources/<name>/replace: rows as append takes them; replace_condition, skip_incompatible_partition_key."""
    ws, name = await _admin_target(request, request.path_params["name"])
    return json_response(await _replace(request, ws, name, await read_params(request)))


async def _admin_target(request: Request, name: str) -> tuple[Workspace, str]:
    ws = await admin_access(request, "Replacing rows of a data source needs the admin token")
    ws.datasource(name, ws.tokens.admin)  # 404 for a data source the project does not have
    return ws, name


async def _rows(request: Request, ws: Workspace, params: Params) -> tuple[bytes, str]:
    """The rows a write sends, and their ClickHouse format: fetched from url=, a multipart file, or the raw body."""
    url = params.get("url")
    if url:
        data = await fetch.fetch(url, ws.settings.max_append_bytes, ws.settings.url_timeout_s)
        fmt = file_format(params, Part("url", urlsplit(url).path, b""))
    elif params.files:
        part = params.files[0]
        data, fmt = part.data, file_format(params, part)
    elif any(f in params.lists for f in ROW_FIELDS):
        field = next(f for f in ROW_FIELDS if f in params.lists)
        data, fmt = params.get(field).encode(), file_format(params, Part(field, "", b""))
    else:
        data, fmt = params.body, file_format(params, None, request.headers.get("content-type", ""))
    if not data.strip():
        raise BadRequest("The body is empty: send NDJSON, CSV or Parquet rows, a file, or url=", DATASOURCE_DOCS)
    if fmt == "parquet":
        return await asyncio.to_thread(_parquet_as_ndjson, ws, data), "JSONEachRow"
    return data, CLICKHOUSE_FORMATS[fmt]


def _parquet_as_ndjson(ws: Workspace, data: bytes) -> bytes:
    """A Parquet file's rows as NDJSON, read by ClickHouse (the write path parses rows line by line); the rows may
    take at most TBLOCAL_MAX_APPEND_BYTES once read, as a file in any other format."""
    fd, path = tempfile.mkstemp(suffix=".parquet")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return ws.engine.query(f"SELECT * FROM file({quote_string(path)}, Parquet)", "JSONEachRow",
                               {"output_format_json_quote_64bit_integers": 0, "max_result_bytes": ws.settings.max_append_bytes,
                                "result_overflow_mode": "throw"}).data
    except EngineError as e:
        reason = e.message.split("\n")[0][:300]  # the first line: the rest names tblocal's temporary file
        raise BadRequest(f"The Parquet file could not be read: {reason}", DATASOURCE_DOCS) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def chunks(body: bytes, size: int = APPEND_CHUNK_BYTES):
    """body in pieces of about size bytes, each ending at a line end."""
    start = 0
    while start < len(body):
        end = body.find(b"\n", start + size)
        end = len(body) if end < 0 else end + 1
        yield body[start:end]
        start = end


async def _append(request: Request, ws: Workspace, name: str, params: Params) -> dict:
    """Write the rows into name in batches (each all-or-nothing); the finished job."""
    data, fmt = await _rows(request, ws, params)
    job_id, ok, bad = str(uuid.uuid4()), 0, 0
    created, clock, error = time.time(), time.perf_counter(), None
    try:
        for chunk in chunks(data):
            outcome = await ws.ingestor.submit(name, write.Request(chunk, fmt, import_id=job_id), True)
            ok, bad = ok + outcome.successful_rows, bad + outcome.quarantined_rows
    except Exception as e:  # recorded as failed, then answered as usual
        error = e.message if isinstance(e, ApiError) else "Internal error"
        raise
    finally:
        usage.record_operation(ws, "append", name, rows=ok, rows_quarantine=bad, elapsed=time.perf_counter() - clock,
                               job_id=job_id, import_id=job_id, body_bytes=len(data), error=error)
        usage.record_job(ws, job_id, "import", "error" if error else "done", created_at=created, started_at=created,
                         datasource=name, error=error, metadata={"rows": ok, "quarantine_rows": bad})
    return jobs.import_job(request, ws, name, job_id, ok, bad, len(data))


async def _replace(request: Request, ws: Workspace, name: str, params: Params) -> dict:
    """Replace name's rows (or those matching replace_condition) with the rows sent; the finished job."""
    data, fmt = await _rows(request, ws, params)
    job_id = str(uuid.uuid4())
    result = await asyncio.to_thread(
        rewrite.replace, ws, name, list(chunks(data)), fmt, params.get("replace_condition"),
        params.flag("skip_incompatible_partition_key"), job_id)
    return jobs.import_job(request, ws, name, job_id, result.rows_affected, result.quarantined, len(data),
                           mode="replace", rows_deleted=result.rows_deleted, views=result.views,
                           skipped_views=result.skipped_views)
