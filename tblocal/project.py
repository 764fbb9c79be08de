"""Datafiles -> Project, read with the Forward CLI's own parser (tinybird.datafile)."""

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import click
from tinybird.datafile.common import DatafileSyntaxError
from tinybird.datafile.parse_datasource import parse_datasource
from tinybird.datafile.parse_pipe import parse_pipe

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
    source: str = field(default="", compare=False)  # the datafile's text, as GET /v1/datasources/<name>.datasource answers

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
    datasource: str = ""

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

    @property
    def endpoint(self) -> Node | None:
        """The node that answers /v0/pipes/<name>: the one marked TYPE endpoint (Forward publishes no other)."""
        return next((n for n in self.nodes if n.type == "endpoint"), None)

    @property
    def materialized(self) -> list[Node]:
        """Nodes with TYPE materialized, in file order."""
        return [n for n in self.nodes if n.type == "materialized"]


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


def load_project(root: Path) -> Project:
    """Read every datasources/*.datasource and pipes/*.pipe under root."""
    root = Path(root)
    datasources: dict[str, DataSource] = {}
    pipes: dict[str, Pipe] = {}
    tokens: list[Token] = []
    for path in sorted(root.glob("datasources/*.datasource")):
        doc = _parse(parse_datasource, path)
        node = doc.nodes[0]
        for col in node["columns"]:
            if col.get("jsonpath") and not _is_top_level(col["jsonpath"]):
                raise ProjectError(f"{path}: column {col['name']}: tblocal reads top-level JSONPaths only ($.key)")
        engine = node.get("engine") or {"type": "MergeTree", "args": []}
        datasources[path.stem] = DataSource(
            name=path.stem,
            description=(doc.description or "").strip(),
            columns=node["columns"],
            engine=engine["type"],
            engine_args=dict(engine["args"]),
            indexes=node.get("indexes") or [],
            source=path.read_text(),
        )
        tokens += [Token(t["token_name"], t["permission"], "datasource", path.stem) for t in doc.tokens]
    for path in sorted(root.glob("pipes/*.pipe")):
        doc = _parse(parse_pipe, path)
        nodes = [
            Node(
                name=n["name"],
                sql=n["sql"],
                description=(n.get("description") or "").strip(),
                type=(n.get("type") or "").lower(),
                datasource=n.get("datasource") or "",
            )
            for n in doc.nodes
        ]
        pipes[path.stem] = Pipe(path.stem, (doc.description or "").strip(), nodes, path.read_text())
        tokens += [Token(t["token_name"], t["permission"], "pipe", path.stem) for t in doc.tokens]
    for pipe in pipes.values():
        for node in pipe.materialized:
            if node.datasource not in datasources:
                raise ProjectError(f"pipes/{pipe.name}.pipe: node {node.name} materializes into unknown data source {node.datasource!r}")
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


def _is_top_level(jsonpath: str) -> bool:
    key = jsonpath[2:] if jsonpath.startswith("$.") else ""
    return bool(key) and not any(ch in key for ch in ".[]*")


def json_key(column: dict) -> str:
    """The JSON key a column is read from ($.key), or its name when it has no JSONPath."""
    path = column.get("jsonpath") or ""
    return path[2:] if path.startswith("$.") else column["name"]
