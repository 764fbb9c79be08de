"""A deployment that changes a data source's columns or engine keeps its rows: they are copied into a table
of the new shape, through the datafile's FORWARD_QUERY when a column's type changed (as on Tinybird).

Without FORWARD_QUERY, columns that keep their definition are copied by name, new ones take their
default and removed ones are dropped; a column whose definition changed needs a FORWARD_QUERY (a
`SELECT` of the new columns over the live table, without FROM), or the deployment is refused.
The copy goes to `<name>__migrate`, which is then exchanged with the live table, so a copy that fails
leaves the live table as it was; the views reading the data source are rebuilt from it.
"""

import re

from .datadir import migration_table, quarantine
from .engine import EngineError, quote_ident
from .project import DataSource

EVOLVE_DOCS = "https://www.tinybird.co/docs/forward/test-and-deploy/evolve-data-source"
_NAME = re.compile(r"^\s*`((?:[^`\\]|\\.)*)`|^\s*(\w+)")
_FROM = re.compile(r"\bFROM\b", re.I)


def column_name(definition: str) -> str:
    """The name of a column from its definition (`name` Type ...)."""
    m = _NAME.match(definition)
    return (m.group(1) or m.group(2)) if m else definition


def changed_columns(old: dict, new: dict) -> list[tuple[str, str]]:
    """(old definition, new definition) of each column kept by name whose definition changed."""
    before = {column_name(c): c for c in old["columns"]}
    return [(before[column_name(c)], c) for c in new["columns"] if column_name(c) in before and before[column_name(c)] != c]


def movements(old: dict[str, DataSource], new: dict[str, DataSource], changed: list[str]) -> list[dict]:
    """The data movements a deployment reports: each changed data source whose rows go through its FORWARD_QUERY."""
    return [{"datasource_name": n, "kind": "backfill_with_forward_query"} for n in changed
            if new[n].forward_query and old[n].columns != new[n].columns]


def refusal(name: str, old: dict, new: dict) -> str | None:
    """Why this change needs a FORWARD_QUERY (Tinybird refuses it without one), or None."""
    changed = changed_columns(old, new)
    if not changed:
        return None
    what = "; ".join(f"{a} -> {b.split(maxsplit=1)[1] if ' ' in b else b}" for a, b in changed)
    return (f"Error on datasource 'datasources/{name}.datasource': the change of column {what} is incompatible with the "
            f"live version, so the deployment fails due to a schema mismatch. Add a FORWARD_QUERY that transforms the "
            f"data from the live schema to the new one, e.g. FORWARD_QUERY > SELECT ..., CAST(x AS NewType) AS x ({EVOLVE_DOCS})")


def select(db: str, ds: DataSource, old: dict) -> str:
    """The rows of the live table in the new schema's columns: the FORWARD_QUERY, or the kept columns by name."""
    table = f"{db}.{quote_ident(ds.name)}"
    query = (ds.forward_query or "").strip().rstrip(";")
    if query:
        return f"{query} FROM {table}"
    kept = {column_name(c) for c in old["columns"]}
    names = ", ".join(quote_ident(n) for n in ds.column_names if n in kept)
    return f"SELECT {names} FROM {table}"


def statements(db: str, ds: DataSource, old: dict, create: str) -> list[str]:
    """Copy the live rows into a table of the new shape (create: its CREATE TABLE), then swap the two."""
    live, tmp = f"{db}.{quote_ident(ds.name)}", f"{db}.{quote_ident(migration_table(ds.name))}"
    names = _output_names(ds, old)
    return [
        f"DROP TABLE IF EXISTS {tmp} SYNC",
        create.replace(live, tmp, 1),
        f"INSERT INTO {tmp} ({', '.join(map(quote_ident, names))}) {select(db, ds, old)}",
        f"EXCHANGE TABLES {live} AND {tmp}",
        f"DROP TABLE {tmp} SYNC",
    ] + _quarantine(db, ds)


def _output_names(ds: DataSource, old: dict) -> list[str]:
    if (ds.forward_query or "").strip():
        return ds.column_names
    kept = {column_name(c) for c in old["columns"]}
    return [n for n in ds.column_names if n in kept]


def _quarantine(db: str, ds: DataSource) -> list[str]:
    """The quarantine keeps its rows and columns and gets the new ones (as Nullable(String), in schema order)."""
    table = f"{db}.{quote_ident(quarantine(ds.name))}"
    out, prev = [], None
    for name in ds.column_names:
        where = f"AFTER {quote_ident(prev)}" if prev else "FIRST"
        out.append(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote_ident(name)} Nullable(String) {where}")
        prev = name
    return out


def check(engine, db: str, ds: DataSource, old: dict) -> str | None:
    """Run the copy's SELECT over every live row without writing (a cast that fails fails here); the error or None."""
    query = (ds.forward_query or "").strip()
    if query and _FROM.search(query):
        return f"Error on datasource 'datasources/{ds.name}.datasource': FORWARD_QUERY takes the column selection only: FROM and WHERE clauses aren't supported"
    sql = select(db, ds, old)
    try:
        described = [r["name"] for r in engine.rows(f"DESCRIBE TABLE ({sql})")]
        if query and sorted(described) != sorted(ds.column_names):
            return f"Error on datasource 'datasources/{ds.name}.datasource': FORWARD_QUERY columns don't match datasource schema."
        engine.scalar(f"SELECT count() FROM ({sql}) WHERE NOT ignore(*)")
    except EngineError as e:
        return f"Error on datasource 'datasources/{ds.name}.datasource': FORWARD_QUERY failed over the live data: {e.message}"
    return None
