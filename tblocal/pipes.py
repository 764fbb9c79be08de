"""Pipe + params -> one SQL: nodes rendered with tinybird.sql_template, references resolved by sql_toolset."""

from datetime import datetime
from functools import lru_cache

from tinybird.sql_template import (
    SQLTemplateCustomError,
    SQLTemplateException,
    get_template_and_variables,
    get_var_names_and_types,
    render_sql_template,
    type_fns,
)
from tinybird.sql_toolset import MissingResource, replace_tables

from . import sandbox, usage
from .datadir import quarantine, service_db
from .errors import ApiError, BadRequest, NotFound
from .project import Node, Pipe, Project

TEMPLATE_DOCS = "https://www.tinybird.co/docs/cli/advanced-templates"
# Query-string keys that configure the request, never template variables.
RESERVED_PARAMS = {"token", "q", "output_format_json_quote_64bit_integers", "pipeline", "from", "format"}


@lru_cache(maxsize=1024)
def node_variables(template: str, name: str) -> tuple:
    """The template variables of a node: name, type, default, description, enum..."""
    t, _, _ = get_template_and_variables(template, name)
    return tuple(get_var_names_and_types(t))


def pipe_parameters(pipe: Pipe) -> list[dict]:
    """Every parameter of a pipe's endpoint path, merged by name (first declaration with a type wins)."""
    merged: dict[str, dict] = {}
    for node in pipe.nodes:
        if node.type == "materialized" or not node.is_template:
            continue
        for var in node_variables(node.template, node.name):
            seen = merged.setdefault(var["name"], {"name": var["name"]})
            for key, value in var.items():
                if value is not None and key not in seen:
                    seen[key] = value
                elif key == "default" and seen.get("default") is None:
                    seen["default"] = value
    return list(merged.values())


def validate_params(pipe: Pipe, params: dict[str, str]) -> None:
    """400 naming the parameter when a given value does not parse as its declared type."""
    for var in pipe_parameters(pipe):
        name, kind = var["name"], var.get("type")
        if name not in params or kind not in type_fns or kind in ("String", "Array"):
            continue
        try:
            type_fns[kind](params[name])
            if kind in ("DateTime", "Date", "DateTime64"):
                # The template's check is a pattern; a calendar check catches 2024-13-45 before ClickHouse does.
                datetime.fromisoformat(str(params[name]).replace("Z", "+00:00"))
        except (SQLTemplateException, ValueError, TypeError):
            value = str(params[name])[:100]
            raise BadRequest(
                f"[Error] Invalid value for parameter '{name}': '{value}' is not a valid {kind}", TEMPLATE_DOCS
            ) from None


class Renderer:
    """Renders a project's pipes into SQL over one ClickHouse database."""

    def __init__(self, project: Project, database: str, service_database: str | None = None):
        self.project = project
        self.database = database
        # tinybird.<name> -> this database (a scratch check database reads the workspace's own)
        self.service_database = service_database or service_db(database)

    @property
    def allowed_tables(self) -> set[str]:
        """Table names client SQL may reach after rewriting: data sources and their quarantines."""
        names = set(self.project.datasources)
        return names | {quarantine(n) for n in names}

    def pipe(self, name: str) -> Pipe:
        """The endpoint pipe called name, or 404."""
        pipe = self.project.pipes.get(name)
        if pipe is None or pipe.endpoint is None:
            raise NotFound(f"The pipe '{name}' does not exist", "https://www.tinybird.co/docs/api-reference/pipe-api")
        return pipe

    def endpoint_sql(self, pipe: Pipe, params: dict, _depth: int = 0, test_mode: bool = False) -> str:
        """The endpoint node of pipe, rendered with params and with every reference resolved."""
        validate_params(pipe, params)
        return self.node_sql(pipe, pipe.endpoint, params, _depth, test_mode)

    def node_sql(self, pipe: Pipe, target: Node, params: dict, _depth: int = 0, test_mode: bool = False) -> str:
        """target rendered with params, the earlier nodes it reads inlined and data sources qualified.

        As on Tinybird, target is rendered first and an earlier node only when a query reaches it (sql_toolset
        calls a replacement that is a function when it gets there): the called node's own error() wins over a
        required parameter of a node it reads. test_mode renders as Tinybird's build checks do: every parameter
        gets a placeholder and error() does not fail."""
        earlier = {}
        for node in pipe.nodes:
            if node is target:
                break
            earlier[node.name] = self._later(lambda node=node: self.render(node, params, test_mode))
        sql = self.render(target, params, test_mode)
        return self.resolve(sql, earlier, params, _depth, service=target.type != "materialized", test_mode=test_mode)

    def render(self, node: Node, params: dict, test_mode: bool = False) -> str:
        """One node's SQL with its template evaluated; template errors become 400."""
        if not node.is_template:
            return node.sql
        variables = {k: v for k, v in params.items() if k not in RESERVED_PARAMS}
        try:
            sql, _, _ = render_sql_template(node.template, variables, name=node.name, test_mode=test_mode)
        except SQLTemplateCustomError as e:
            raise _template_error(e, getattr(e, "code", 400)) from None
        except (SQLTemplateException, ValueError, TypeError, SyntaxError, NameError, AttributeError) as e:
            raise _template_error(e, 400) from None
        return sql

    def resolve(self, sql: str, extra: dict, params: dict, _depth: int = 0, service: bool = True,
                test_mode: bool = False) -> str:
        """Rewrite table names: nodes (extra: name -> subquery, or Renderer._later's function) and pipes become
        subqueries, data sources database.table, service data sources (tinybird.<name>) the workspace's service
        database; service False: those are refused."""
        sandbox.used_tables(sql)  # one SELECT, no disabled table function (403), before anything is inlined
        replacements: dict = {("", name): ("", sub) for name, sub in extra.items()}
        for name in self.allowed_tables:
            replacements.setdefault(("", name), (self.database, name))
        # A pipe of the project (endpoint, copy or plain) reads as its output node, rendered only when reached.
        for name, other in self.project.pipes.items():
            if _output(other) is not None:
                replacements.setdefault(("", name), ("", self._later(
                    lambda other=other: self._pipe_sql(other, params, _depth, test_mode))))
        if service:
            for name in usage.TABLES:
                replacements[(usage.SERVICE_DATABASE, name)] = (self.service_database, name)
        try:
            out = replace_tables(sql, replacements, default_database="")
        except MissingResource as e:
            raise NotFound(f"[Error] {e.msg}") from None
        except ApiError:
            raise
        except ValueError as e:
            raise BadRequest(f"[Error] {sandbox._clean(e)}") from None
        for db, name, _ in sandbox.used_tables(out):
            if not service and db == usage.SERVICE_DATABASE and name in usage.TABLES:
                raise BadRequest(f"[Error] Service data sources cannot be used in materialized views: '{db}.{name}'",
                                 usage.DOCS)
        sandbox.check(out, self.database, self.allowed_tables, {self.service_database: set(usage.TABLES)})
        return out

    def _pipe_sql(self, pipe: Pipe, params: dict, _depth: int, test_mode: bool) -> str:
        if _depth > 8:
            raise BadRequest("[Error] Pipes reference each other too deeply")
        validate_params(pipe, params)
        return self.node_sql(pipe, _output(pipe), params, _depth + 1, test_mode)

    @staticmethod
    def _later(make):
        """A replacement sql_toolset computes when its walk reaches the table: (the SQL make() returns)."""
        def replacement(_enabled_table_functions) -> str:
            sql = make()
            sandbox.used_tables(sql)
            return f"({sql})"
        return replacement


def _output(pipe: Pipe) -> Node | None:
    """The node another pipe reads when it reads pipe: its endpoint or copy node, else its last node (a plain
    pipe); None for a pipe that only materializes."""
    if pipe.endpoint or pipe.copy:
        return pipe.endpoint or pipe.copy
    return None if not pipe.nodes or pipe.materialized else pipe.nodes[-1]


def _template_error(e: Exception, code) -> ApiError:
    err = BadRequest(str(e), TEMPLATE_DOCS)
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = 400
    err.status = code if 400 <= code < 500 else 400
    custom = getattr(e, "err", None)
    if isinstance(custom, dict):  # custom_error({...}) answers with that object as the body, as on Tinybird
        err.body = lambda: custom
    return err
