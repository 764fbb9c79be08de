"""Datafiles sent by `tb build` / `tb deploy` -> checked project -> what changes -> the workspace that serves it.

A build recreates the data sources whose datafile changed (a build workspace is for trying
things); a deployment keeps data: a changed data source must only add columns at the end,
and a data source whose datafile is gone is dropped only with allow_destructive_operations.
Changed materialized views are rebuilt from their sources (Forward backfills them too).
Everything is checked first, in a scratch database, so a refused change changes nothing.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import checks, copies, migrate
from .datadir import check_db, quarantine
from .ddl import Schema, plan, view_sources
from .engine import EngineError, quote_ident
from .pipes import Renderer
from .project import Project, ProjectError, load_project
from .workspace import Workspace

KINDS = {".datasource": "datasources", ".pipe": "pipes"}


class DeployError(Exception):
    """The datafiles cannot be applied: errors as [{"filename", "error"}] (filename may be empty)."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(e["error"] for e in errors))
        self.errors = errors


@dataclass
class Changes:
    new_datasource_names: list[str] = field(default_factory=list)
    changed_datasource_names: list[str] = field(default_factory=list)
    deleted_datasource_names: list[str] = field(default_factory=list)
    new_pipe_names: list[str] = field(default_factory=list)
    changed_pipe_names: list[str] = field(default_factory=list)
    deleted_pipe_names: list[str] = field(default_factory=list)
    data_movements: list[dict] = field(default_factory=list)  # the CLI prints them: data sources migrated by FORWARD_QUERY

    @property
    def any(self) -> bool:
        """Whether anything changes at all."""
        return any(vars(self).values())


def stage(files: dict[str, bytes], folder: Path) -> Project:
    """Write the sent datafiles into folder (datasources/, pipes/) and parse them; DeployError names each bad file."""
    shutil.rmtree(folder, ignore_errors=True)
    errors, origin = [], {}
    for name, body in sorted(files.items()):
        path = PurePosixPath(name)
        kind = KINDS.get(path.suffix)
        if kind is None:
            continue  # fixtures, tests and other project files are the CLI's business, not the server's
        target = folder / kind / path.name
        if path.name in origin.get(kind, {}):
            errors.append({"filename": name, "error": f"another file is also called {path.name}"})
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        origin.setdefault(kind, {})[path.name] = name
    if errors:
        raise DeployError(errors)
    try:
        return load_project(folder)
    except ProjectError as e:
        message = str(e)
        for kind, names in origin.items():
            for base, sent in names.items():
                prefix = str(folder / kind / base)
                if message.startswith(prefix):
                    raise DeployError([{"filename": sent, "error": message[len(prefix):].lstrip(":").strip()}]) from None
        raise DeployError([{"filename": "", "error": message}]) from None


def changes(old: Project, new: Project) -> Changes:
    """Which data sources and pipes are new, changed or gone."""
    out = Changes()
    for kind, before, after in (("datasource", old.datasources, new.datasources), ("pipe", old.pipes, new.pipes)):
        getattr(out, f"new_{kind}_names").extend(sorted(set(after) - set(before)))
        getattr(out, f"deleted_{kind}_names").extend(sorted(set(before) - set(after)))
        getattr(out, f"changed_{kind}_names").extend(sorted(n for n in set(before) & set(after) if before[n] != after[n]))
    out.data_movements = migrate.movements(old.datasources, new.datasources, out.changed_datasource_names)
    return out


def check(ws: Workspace, new: Project, diff: Changes, recreate_changed: bool, destructive: bool) -> None:
    """DeployError unless ws's database can serve new: nothing lost without consent, every statement valid."""
    if diff.deleted_datasource_names and not destructive:
        raise DeployError([{"filename": f"{n}.datasource", "error": f"Data source '{n}' would be deleted with all its data; "
                            "deploy with --allow-destructive-operations to do so"} for n in diff.deleted_datasource_names])
    kept, _ = _kept_state(ws, diff, recreate_changed)
    try:
        schema_plan = plan(new, Renderer(new, ws.database), kept, rebuild_views=True)
        problems = schema_plan.problems + [e for name in schema_plan.migrated if (e := migrate.check(
            ws.engine, ws.database, new.datasources[name], kept["datasources"][name]))]
    except ProjectError as e:
        problems = [str(e)]
    if problems:
        raise DeployError([{"filename": "", "error": p} for p in problems])
    _check_in_scratch(ws, new)


def apply(ws: Workspace, project_dir: Path, diff: Changes, recreate_changed: bool) -> Workspace:
    """Change ws's database to serve the checked datafiles in project_dir; returns the workspace serving them."""
    kept, views = _kept_state(ws, diff, recreate_changed)
    dropped = _dropped(diff, recreate_changed)
    db = ws.database
    for name, view in views.items():
        ws.engine.execute(f"DROP VIEW IF EXISTS {db}.{quote_ident(name)} SYNC")
        if view["target"] not in dropped:  # the view is re-created and refills its target from the sources
            ws.engine.execute(f"TRUNCATE TABLE IF EXISTS {db}.{quote_ident(view['target'])}")
    for name in sorted(dropped):
        for table in (name, quarantine(name)):
            ws.engine.execute(f"DROP TABLE IF EXISTS {db}.{quote_ident(table)} SYNC")
    _schema(ws).save(kept)
    return Workspace(ws.settings, project=load_project(project_dir), database=db, rebuild_views=True)


def _schema(ws: Workspace) -> Schema:
    return Schema(ws.engine, ws.paths.schema(ws.database))


def _dropped(diff: Changes, recreate_changed: bool) -> set[str]:
    return set(diff.deleted_datasource_names) | (set(diff.changed_datasource_names) if recreate_changed else set())


def _kept_state(ws: Workspace, diff: Changes, recreate_changed: bool) -> tuple[dict, dict]:
    """The schema state without the data sources to drop and the views that read or fill them (those views)."""
    dropped = _dropped(diff, recreate_changed)
    state = _schema(ws).current() or {"datasources": {}, "views": {}}
    views = {name: v for name, v in state["views"].items() if dropped & ({v["target"]} | view_sources(v))}
    kept = {"datasources": {n: d for n, d in state["datasources"].items() if n not in dropped},
            "views": {n: v for n, v in state["views"].items() if n not in views}}
    return kept, views


def _check_in_scratch(ws: Workspace, new: Project) -> None:
    """Create every table and view of new in an empty scratch database, then check every pipe's nodes over them."""
    scratch = check_db(ws.database)
    ws.engine.execute(f"DROP DATABASE IF EXISTS {scratch} SYNC")
    ws.engine.execute(f"CREATE DATABASE {scratch}")
    try:
        statements = plan(new, Renderer(new, scratch), None).statements
        for sql in statements:
            try:
                ws.engine.execute(sql)
            except EngineError as e:
                raise DeployError([{"filename": _filename(new, sql), "error": e.message}]) from None
        errors = copies.problems(ws.engine, new, scratch) + checks.endpoint_errors(ws.engine, new, scratch)
        if errors:
            raise DeployError(errors)
    finally:
        ws.engine.execute(f"DROP DATABASE IF EXISTS {scratch} SYNC")


def _filename(project: Project, sql: str) -> str:
    for pipe in project.pipes.values():
        if any(f"mv__{pipe.name}__{n.name}" in sql for n in pipe.materialized):
            return f"{pipe.name}.pipe"
    for name in project.datasources:
        if quote_ident(name) in sql.split("(")[0]:
            return f"{name}.datasource"
    return ""

