"""Every node of every pipe, checked by ClickHouse before a build or deployment goes live.

Each node is rendered as Tinybird's own build renders it (`tinybird.sql_template`'s test mode: every
parameter gets a placeholder of its type, and neither a required parameter nor a guard's error() fails),
its references resolved (earlier nodes, other pipes of the project, data sources of the scratch database
where the new tables were just created), and EXPLAINed: a missing data source, column or function fails
the build or deployment, naming the file and the node, as Tinybird does.
"""

from .datadir import service_db
from .engine import Engine, EngineError
from .errors import ApiError
from .pipes import Renderer
from .project import Project

# Test mode's placeholder values (symbol() -> `placeholder`, String -> '__no_value__', Array -> ['']):
# an error that names one is the placeholder's, not the node's (a real value would do).
PLACEHOLDER_ERRORS = ("`placeholder`", "'__no_value__'", "string '' to type")


def endpoint_errors(engine: Engine, project: Project, database: str) -> list[dict]:
    """[{"filename", "error"}] for each node of each pipe that ClickHouse refuses over database's tables."""
    renderer, errors = Renderer(project, database), []
    for pipe in project.pipes.values():
        for node in pipe.nodes:
            if node.type == "materialized":  # created as a view in the same scratch database: already checked
                continue
            try:
                sql = renderer.node_sql(pipe, node, {}, test_mode=True)
                if service_db(database) in sql:  # service data sources (tinybird.*) exist only in the live workspace
                    continue
                engine.execute(f"EXPLAIN {sql}")
            except (EngineError, ApiError) as e:
                reason = e.message.split(" In scope ")[0]  # ClickHouse quotes the query after it
                if not any(p in reason for p in PLACEHOLDER_ERRORS):
                    errors.append(_error(pipe.name, node.name, e.message))
    return errors


def _error(pipe: str, node: str, message: str) -> dict:
    return {"filename": f"pipes/{pipe}.pipe", "error": f"Node '{node}': {message}"}
