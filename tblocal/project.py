"""Datafiles -> Project, read with the Forward CLI's own parser (tinybird.datafile)."""

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import click
from tinybird.datafile.common import DatafileSyntaxError
from tinybird.datafile.parse_datasource import parse_datasource
from tinybird.datafile.parse_pipe import parse_pipe

from . import jsonpaths
from .access import scope_name


class ProjectError(Exception):
    """A datafile tblocal cannot serve, with the file and the reason."""


@dataclass(frozen=True)
class Token:
    name: str
    permission: str  # READ or APPEND, as written in the datafile
    resource_kind: str  # "pipe" or "datasource"
    resource: str

    @property
    def scope(self) -> str:
        """Tinybird's scope name, e.g. PIPES:READ:my_pipe."""
        return scope_name(self.resource_kind, self.permission, self.resource)


@dataclass
class DataSource:
    name: str
    description: str
    columns: list[dict]
    engine: str
    engine_args: dict
    indexes: list = field(default_factory=list)
    forward_query: str = field(default="", compare=False)  # FORWARD_QUERY: how a deployment migrates the live rows (migrate.py)

    @property
    def column_names(self) -> list[str]:
        """Column names in schema order."""
        return [c["name"] for c in self.columns]


@dataclass
class Node:
    name: str
    sql: str
    description: str = ""
    type: str = ""
    datasource: str = ""  # the data source it fills: TYPE materialized DATASOURCE, or TYPE copy TARGET_DATASOURCE
    copy_schedule: str = ""  # TYPE copy: a cron expression or @on-demand
    copy_mode: str = ""  # TYPE copy: append or replace

    @property
    def is_template(self) -> bool:
        """Whether the node's SQL starts with %, Tinybird's template marker."""
        return self.sql.lstrip().startswith("%")

    @property
    def template(self) -> str:
        """The SQL without the leading % marker."""
        sql = self.sql.lstrip()
        return sql[1:] if sql.startswith("%") else sql


@dataclass
class Pipe:
    name: str
    description: str
    nodes: list[Node]
    source: str = field(default="", compare=False)  # the datafile's text, as GET /v1/pipes/<name>.pipe answers
    path: Path = field(default=Path(), compare=False)  # the datafile it was read from

    @property
    def endpoint(self) -> Node | None:
        """The node that answers /v0/pipes/<name>: the one marked TYPE endpoint (Forward publishes no other)."""
        return next((n for n in self.nodes if n.type == "endpoint"), None)

    @property
    def materialized(self) -> list[Node]:
        """Nodes with TYPE materialized, in file order."""
        return [n for n in self.nodes if n.type == "materialized"]

    @property
    def copy(self) -> Node | None:
        """The node marked TYPE copy (Tinybird allows one per pipe, and no other output)."""
        return next((n for n in self.nodes if n.type == "copy"), None)


@dataclass
class Project:
    root: Path
    datasources: dict[str, DataSource]
    pipes: dict[str, Pipe]
    tokens: list[Token]

    @property
    def endpoints(self) -> dict[str, Pipe]:
        """Pipes that are published as API endpoints."""
        return {name: p for name, p in self.pipes.items() if p.endpoint}


def datafiles(root: Path, suffix: str) -> list[Path]:
    """The files ending in suffix that `tb build` sends from root: in it or one folder down (endpoints/,
    materializations/, copies/, ... as `tb create` lays them out), not under vendor/; one per name."""
    found: dict[str, Path] = {}
    for path in sorted([*root.glob(f"*{suffix}"), *root.glob(f"*/*{suffix}")]):
        if path.parent.name == "vendor":
            continue
        if path.stem in found:
            raise ProjectError(f"{path}: another file is also called {path.name} ({found[path.stem]})")
        found[path.stem] = path
    return list(found.values())


def load_project(root: Path) -> Project:
    """Read every .datasource and .pipe file of the project folder root."""
    root = Path(root)
    datasources: dict[str, DataSource] = {}
    pipes: dict[str, Pipe] = {}
    tokens: list[Token] = []
    for path in datafiles(root, ".datasource"):
        doc = _parse(parse_datasource, path)
        node = doc.nodes[0]
        try:
            jsonpaths.check(node["columns"])
        except jsonpaths.JsonPathError as e:
            raise ProjectError(f"{path}: {e}") from None
        engine = node.get("engine") or {"type": "MergeTree", "args": []}
        datasources[path.stem] = DataSource(
            name=path.stem,
            description=(doc.description or "").strip(),
            columns=node["columns"],
            engine=engine["type"],
            engine_args=dict(engine["args"]),
            indexes=node.get("indexes") or [],
            forward_query=(doc.forward_query or "").strip(),
        )
        tokens += [Token(t["token_name"], t["permission"], "datasource", path.stem) for t in doc.tokens]
    for path in datafiles(root, ".pipe"):
        doc = _parse(parse_pipe, path)
        nodes = [
            Node(
                name=n["name"],
                sql=n["sql"],
                description=(n.get("description") or "").strip(),
                type=(n.get("type") or "").lower(),
                datasource=n.get("datasource") or n.get("target_datasource") or "",
                copy_schedule=(n.get("copy_schedule") or "").strip(),
                copy_mode=(n.get("mode") or "").strip().lower(),
            )
            for n in doc.nodes
        ]
        pipes[path.stem] = Pipe(path.stem, (doc.description or "").strip(), nodes, path.read_text(), path)
        tokens += [Token(t["token_name"], t["permission"], "pipe", path.stem) for t in doc.tokens]
    for pipe in pipes.values():
        for node in pipe.materialized:
            if node.datasource not in datasources:
                raise ProjectError(f"{pipe.path}: node {node.name} materializes into unknown data source {node.datasource!r}")
        if pipe.copy and pipe.copy.datasource not in datasources:
            raise ProjectError(f"{pipe.path}: node {pipe.copy.name} copies into unknown data source {pipe.copy.datasource!r}")
    clash = set(datasources) & set(pipes)
    if clash:
        raise ProjectError(f"names used by both a data source and a pipe: {sorted(clash)}")
    return Project(root, datasources, pipes, tokens)


def _parse(parser, path: Path):
    # The parser prints warnings to stdout and raises click exceptions; turn both into one clear error.
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return parser(str(path)).datafile
    except DatafileSyntaxError as e:
        raise ProjectError(f"{path}:{e.lineno}: {e.message}") from None
    except click.ClickException as e:
        raise ProjectError(f"{path}: {e.format_message()}") from None
    except Exception as e:  # the parser raises bare ValueErrors too
        raise ProjectError(f"{path}: {e}") from None
