"""Is this SQL allowed? Only the project's data sources and pipes, read-only, no escapes.

The table and function lists come from tinybird-cli's sql_toolset (ClickHouse's own parser),
never from regular expressions over the text.
"""

import re

from chtoolset import query as chquery
from tinybird.ch_utils.constants import ENABLED_TABLE_FUNCTIONS
from tinybird.sql_toolset import InvalidFunction, sql_get_used_tables

from .errors import BadRequest, Forbidden

QUERY_API_DOCS = "https://www.tinybird.co/docs/api-reference/query-api"
_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.I)
_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)


def split_format(sql: str) -> tuple[str, str | None]:
    """Strip a trailing `FORMAT X` (as Tinybird's Query API allows) and return (sql, X)."""
    m = _FORMAT.search(sql)
    if m is None:
        return sql.strip().rstrip(";"), None
    return sql[: m.start()].strip(), m.group(1)


def used_tables(sql: str) -> list[tuple[str, str, str]]:
    """(database, table, table_function) triples the query reads, or 400 if it is not one plain SELECT."""
    if _OUTFILE.search(sql):
        raise BadRequest("INTO OUTFILE is not allowed", QUERY_API_DOCS)
    try:
        kind = chquery.query_get_type(sql)
    except ValueError as e:
        raise BadRequest(f"[Error] {_clean(e)}", QUERY_API_DOCS) from None
    if kind not in ("Select", "SelectWithUnionQuery", "SelectQuery", "SelectIntersectExceptQuery"):
        raise BadRequest(f"[Error] Only SELECT queries are allowed, got {kind}", QUERY_API_DOCS)
    try:
        return sql_get_used_tables(sql, raising=True, table_functions=True)
    except InvalidFunction as e:
        raise Forbidden(f"[Error] {_clean(e)}", QUERY_API_DOCS) from None
    except ValueError as e:
        raise BadRequest(f"[Error] {_clean(e)}", QUERY_API_DOCS) from None


def check(sql: str, database: str, allowed: set[str], also: dict[str, set[str]] | None = None) -> None:
    """Raise unless sql reads only database.<allowed names>, also's {database: names} and harmless table functions."""
    for db, table, function in used_tables(sql):
        if function:
            if function not in ENABLED_TABLE_FUNCTIONS:
                raise Forbidden(f"[Error] The query uses disabled table functions: '{function}'", QUERY_API_DOCS)
            if not (db or table):
                continue
        if also and table in also.get(db, ()):
            continue
        if db != database or table not in allowed:
            name = f"{db}.{table}" if db else table
            raise Forbidden(f"[Error] Resource '{name}' not found", QUERY_API_DOCS)


def _clean(e: Exception) -> str:
    text = str(e).replace("DB::Exception: ", "")
    return text.replace(" Contact support@tinybird.co if you require access to this feature", "").strip()
