"""Project -> CREATE TABLE / MATERIALIZED VIEW statements, and the check of what changed since last start."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from tinybird.ch_utils.engine import engine_full_from_dict
from tinybird.sql import schema_to_sql_columns

from . import migrate, sandbox
from .datadir import quarantine
from .engine import Engine, quote_ident
from .pipes import Renderer
from .project import DataSource, Project, ProjectError

QUARANTINE_EXTRA = [
    "`c__error_column` Array(String)",
    "`c__error` Array(String)",
    "`c__import_id` Nullable(String)",
    "`insertion_date` DateTime DEFAULT now()",
]


class SchemaChangeError(ProjectError):
    """The datafiles changed in a way tblocal cannot apply without losing data."""


def column_sql(ds: DataSource) -> list[str]:
    """The data source's columns as ClickHouse column definitions (no JSONPaths)."""
    return schema_to_sql_columns(ds.columns, skip_jsonpaths=True)


def engine_sql(ds: DataSource) -> str:
    """ENGINE clause built by tinybird-cli from the datafile's ENGINE_* settings."""
    return engine_full_from_dict(ds.engine, dict(ds.engine_args), columns=ds.columns)


def create_table(db: str, ds: DataSource) -> str:
    """CREATE TABLE for a data source, with its indexes."""
    parts = column_sql(ds) + [i.to_sql() for i in ds.indexes]
    return f"CREATE TABLE IF NOT EXISTS {db}.{quote_ident(ds.name)} (\n  " + ",\n  ".join(parts) + f"\n) ENGINE = {engine_sql(ds)}"


def create_quarantine(db: str, ds: DataSource) -> str:
    """CREATE TABLE for <name>_quarantine in Tinybird's shape: every column Nullable(String) plus the error columns."""
    cols = [f"{quote_ident(c['name'])} Nullable(String)" for c in ds.columns] + QUARANTINE_EXTRA
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{quote_ident(quarantine(ds.name))} (\n  " + ",\n  ".join(cols)
        + "\n) ENGINE = MergeTree ORDER BY insertion_date"
    )


def view_name(pipe: str, node: str) -> str:
    """The ClickHouse name of the materialized view behind a pipe's materialized node."""
    return f"mv__{pipe}__{node}"


@dataclass
class Plan:
    """What start-up will run, and what it refuses to do."""

    statements: list[str] = field(default_factory=list)
    populate: list[tuple[str, str]] = field(default_factory=list)  # (view target, view SELECT) to backfill
    problems: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)
    migrated: list[str] = field(default_factory=list)  # data sources whose rows are copied into a new shape


def view_sources(view: dict) -> set[str]:
    """The tables a materialized view of desired_state() reads (names, without their database)."""
    return {table for _, table, _ in sandbox.used_tables(view["sql"])}


def desired_state(project: Project, renderer: Renderer) -> dict:
    """A JSON-able picture of the tables and views the project needs."""
    views = {}
    for pipe in project.pipes.values():
        for node in pipe.materialized:
            views[view_name(pipe.name, node.name)] = {
                "target": node.datasource,
                "sql": renderer.node_sql(pipe, node, {}),
            }
    return {
        "datasources": {
            name: {"columns": column_sql(ds), "engine": engine_sql(ds)} for name, ds in project.datasources.items()
        },
        "views": views,
    }


def plan(project: Project, renderer: Renderer, current: dict | None, rebuild_views: bool = False) -> Plan:
    """Compare the project with what the data dir holds; list the statements or the reasons to stop."""
    db = renderer.database
    want = desired_state(project, renderer)
    have = current or {"datasources": {}, "views": {}}
    out = Plan(state=want)
    targets = {v["target"] for v in want["views"].values()}
    rebuilt: set[str] = set()

    for name, ds in project.datasources.items():
        old = have["datasources"].get(name)
        if old is None:
            out.statements += [create_table(db, ds), create_quarantine(db, ds)]
            continue
        new = want["datasources"][name]
        added = new["columns"][len(old["columns"]):]
        if new["columns"][: len(old["columns"])] == old["columns"] and new["engine"] == old["engine"]:
            for i, col in enumerate(added, start=len(old["columns"])):
                out.statements.append(f"ALTER TABLE {db}.{quote_ident(name)} ADD COLUMN {col}")
                # ClickHouse has no BEFORE: keep the quarantine's original columns ahead of c__error_column with AFTER
                qname, prev = ds.column_names[i], ds.column_names[i - 1]
                out.statements.append(
                    f"ALTER TABLE {db}.{quote_ident(quarantine(name))} ADD COLUMN {quote_ident(qname)} Nullable(String) AFTER {quote_ident(prev)}"
                )
        elif rebuild_views and name in targets:
            rebuilt.add(name)
            out.statements += [f"DROP TABLE {db}.{quote_ident(name)} SYNC", create_table(db, ds)]
        elif rebuild_views and (ds.forward_query or not migrate.refusal(name, old, new)):
            out.migrated.append(name)
            out.statements += migrate.statements(db, ds, old, create_table(db, ds))
        else:
            out.problems.append((rebuild_views and migrate.refusal(name, old, new)) or _describe_change(name, old, new, name in targets))
    for name in set(have["datasources"]) - set(project.datasources):
        out.problems.append(
            f"data source '{name}' is in the data dir but its datafile is gone; tblocal never drops data: "
            f"restore datasources/{name}.datasource, or export it with /v0/sql and start from an empty data dir"
        )

    for name, view in want["views"].items():
        old = have["views"].get(name)
        reads_migrated = bool(out.migrated) and bool(view_sources(view) & set(out.migrated))
        if old == view and view["target"] not in rebuilt and not reads_migrated:
            continue
        if old is not None or view["target"] in rebuilt:
            if not rebuild_views:
                out.problems.append(
                    f"materialized view '{name}' changed; restart with --rebuild-views to drop "
                    f"'{view['target']}' and rebuild it from its source tables"
                )
                continue
            out.statements.append(f"DROP VIEW IF EXISTS {db}.{quote_ident(name)} SYNC")
            if view["target"] not in rebuilt:
                rebuilt.add(view["target"])
                out.statements.append(f"TRUNCATE TABLE {db}.{quote_ident(view['target'])}")
        out.statements.append(
            f"CREATE MATERIALIZED VIEW {db}.{quote_ident(name)} TO {db}.{quote_ident(view['target'])} AS {view['sql']}"
        )
        out.populate.append((view["target"], view["sql"]))
    for name in set(have["views"]) - set(want["views"]):
        out.statements.append(f"DROP VIEW IF EXISTS {db}.{quote_ident(name)} SYNC")
    return out


def backfill(engine: Engine, db: str, target: str, sql: str) -> None:
    """Insert a view's rows into its target, columns matched by name as the view itself does
    (an INSERT ... SELECT without a column list is positional)."""
    names = ", ".join(quote_ident(r["name"]) for r in engine.rows(f"DESCRIBE ({sql})"))
    engine.execute(f"INSERT INTO {db}.{quote_ident(target)} ({names}) {sql}")


def _describe_change(name: str, old: dict, new: dict, is_view_target: bool) -> str:
    removed = [c for c in old["columns"] if c not in new["columns"]]
    what = []
    if removed:
        what.append("columns changed or removed: " + "; ".join(removed))
    if old["engine"] != new["engine"]:
        what.append(f"engine changed from {old['engine']} to {new['engine']}")
    how = (
        "restart with --rebuild-views to rebuild it from its sources"
        if is_view_target
        else "add new columns at the end instead, or export the data with /v0/sql and load it into a new data dir"
    )
    return f"data source '{name}': " + ", ".join(what or ["schema changed"]) + f"; {how}"


class Schema:
    """Applies a project to a chDB database and remembers what was applied."""

    def __init__(self, engine: Engine, state_file: Path):
        self.engine = engine
        self.state_file = Path(state_file)

    def current(self) -> dict | None:
        """What the data dir holds, as recorded at the last successful start."""
        if not self.state_file.exists():
            return None
        return json.loads(self.state_file.read_text())

    def apply(self, project: Project, renderer: Renderer, rebuild_views: bool = False) -> Plan:
        """Create or migrate tables and views; raise SchemaChangeError listing every change it refuses."""
        self.engine.execute(f"CREATE DATABASE IF NOT EXISTS {renderer.database}")
        schema_plan = plan(project, renderer, self.current(), rebuild_views)
        if schema_plan.problems:
            raise SchemaChangeError(
                "the datafiles changed in ways tblocal will not apply silently:\n  - " + "\n  - ".join(schema_plan.problems)
            )
        for sql in schema_plan.statements:
            self.engine.execute(sql)
        for target, sql in schema_plan.populate:
            backfill(self.engine, renderer.database, target, sql)
        self.save(schema_plan.state)
        return schema_plan

    def save(self, state: dict) -> None:
        """Record state as what the data dir holds."""
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.state_file)
