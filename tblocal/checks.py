"""Every node of every pipe, checked by ClickHouse before a build or deployment goes live.

Each node is rendered with its parameters' defaults (a required parameter without one gets a sample
of its type), its references resolved over the scratch database where the new tables were just
created, and EXPLAINed: a missing data source, column or function fails the build or deployment,
naming the file and the node, as Tinybird does.
"""

from .datadir import service_db
from .engine import Engine, EngineError
from .errors import ApiError
from .pipes import TEMPLATE_DOCS, Renderer, pipe_parameters
from .project import Project

SAMPLES = {  # a value of each type for a required parameter without a default
    "Boolean": "1", "DateTime64": "2024-01-01 00:00:00", "DateTime": "2024-01-01 00:00:00", "Date": "2024-01-01",
    "Float32": "1.5", "Float64": "1.5", "UUID": "00000000-0000-0000-0000-000000000000",
}


def sample(kind: str) -> str:
    """A value that parses as kind (Int*, UInt*, Array(...) too); 'sample' for a String or an unknown type."""
    if kind.startswith("Array"):
        inner = kind[6:-1] if kind.startswith("Array(") else "String"
        return sample(inner)
    if "Int" in kind:
        return "1"
    return SAMPLES.get(kind, "sample")


def parameters(pipe) -> dict[str, str]:
    """The values a check renders pipe with: a sample for each required parameter that has no default."""
    return {v["name"]: sample(v.get("type") or "String") for v in pipe_parameters(pipe)
            if v.get("required") and v.get("default") is None}


def endpoint_errors(engine: Engine, project: Project, database: str) -> list[dict]:
    """[{"filename", "error"}] for each node of each pipe that ClickHouse refuses over database's tables."""
    renderer, errors = Renderer(project, database), []
    for pipe in project.pipes.values():
        params = parameters(pipe)
        for node in pipe.nodes:
            if node.type == "materialized":  # created as a view in the same scratch database: already checked
                continue
            try:
                sql = renderer.node_sql(pipe, node, params)
                if service_db(database) in sql:  # service data sources (tinybird.*) exist only in the live workspace
                    continue
                engine.execute(f"EXPLAIN {sql}")
            except EngineError as e:
                errors.append(_error(pipe.name, node.name, e.message))
            except ApiError as e:
                if e.documentation != TEMPLATE_DOCS:  # a template that refuses the sample values is no error
                    errors.append(_error(pipe.name, node.name, e.message))
    return errors


def _error(pipe: str, node: str, message: str) -> dict:
    return {"filename": f"pipes/{pipe}.pipe", "error": f"Node '{node}': {message}"}
