import pytest

from helpers import TEST_PROJECT, copy_project
from tblocal.errors import BadRequest, Forbidden, NotFound
from tblocal.pipes import Renderer, pipe_parameters, validate_params
from tblocal.project import load_project

TEMPLATE_DOCS = "https://www.tinybird.co/docs/cli/advanced-templates"


@pytest.fixture(scope="module")
def r():
    return Renderer(load_project(TEST_PROJECT), "db")


def sql(r, pipe, **params):
    return r.endpoint_sql(r.pipe(pipe), params)


def one_line(text):
    return " ".join(text.split())


def test_endpoint_renders_defaults_and_inlines_nodes(r):
    assert one_line(sql(r, "top_users")) == (
        "SELECT user, count() AS clicks, sum(value) AS total_value FROM ( SELECT user, value FROM db.clicks WHERE 1 ) "
        "AS filtered GROUP BY user ORDER BY clicks DESC, user ASC LIMIT toInt32('10')"
    )


def test_params_are_rendered_as_typed_literals(r):
    out = one_line(sql(r, "top_users", start="2024-01-02 00:00:00", kind="tap", limit="3"))
    assert "FROM db.clicks WHERE 1 AND (ts >= '2024-01-02 00:00:00') AND (kind = 'tap') ) AS filtered" in out
    assert out.endswith("LIMIT toInt32('3')")


def test_string_params_cannot_break_out_of_their_literal(r):
    out = one_line(sql(r, "top_users", kind="x' OR 1=1 --"))
    assert "kind = 'x\\' OR 1=1 --'" in out


def test_reserved_params_are_not_template_variables(r):
    assert sql(r, "top_users", token="p.x", q="SELECT 1", output_format_json_quote_64bit_integers="1") == sql(r, "top_users")


def test_invalid_value_names_the_parameter(r):
    with pytest.raises(BadRequest) as e:
        sql(r, "top_users", limit="ten")
    assert (e.value.status, e.value.body()) == (
        400,
        {"error": "[Error] Invalid value for parameter 'limit': 'ten' is not a valid Int32", "documentation": TEMPLATE_DOCS},
    )
    with pytest.raises(BadRequest, match=r"^\[Error\] Invalid value for parameter 'start': 'yesterday' is not a valid DateTime$"):
        sql(r, "top_users", start="yesterday")


def test_validate_params_ignores_strings_and_absent_params(r):
    validate_params(r.pipe("top_users"), {"kind": "anything", "other": "x"})


def test_error_function_answers_400_with_its_message(r):
    with pytest.raises(BadRequest) as e:
        sql(r, "top_users", limit="0")
    assert (e.value.status, e.value.body()) == (400, {"error": "limit must be at least 1", "documentation": TEMPLATE_DOCS})


def test_custom_error_answers_its_status_and_object(r):
    with pytest.raises(BadRequest) as e:
        sql(r, "user_clicks", min_clicks="-1")
    assert (e.value.status, e.value.body()) == (422, {"error": "min_clicks must not be negative", "code": "bad_min_clicks"})


def test_node_referencing_another_pipe_is_resolved_with_the_same_params(r):
    out = one_line(sql(r, "user_clicks", users="a,b", limit="5", min_clicks="2"))
    assert "top_users" in out  # only as the alias of the inlined pipe
    assert ") AS top_users WHERE (clicks >= toInt32('2')) AND (user IN ['a', 'b'])" in out
    assert "FROM db.clicks WHERE 1 ) AS filtered" in out
    assert "LIMIT toInt32('5') ) AS top_users" in out
    assert out.endswith(") AS chosen ORDER BY user ASC")


def test_array_param(r):
    assert "(user IN ['u1'])" in one_line(sql(r, "user_clicks", users="u1"))


def test_only_endpoints_are_found(r):
    with pytest.raises(NotFound, match="The pipe 'clicks_daily' does not exist"):
        r.pipe("clicks_daily")
    with pytest.raises(NotFound) as e:
        r.pipe("nope")
    assert e.value.status == 404


def test_parameters_merged_across_nodes(r):
    assert pipe_parameters(r.pipe("top_users")) == [
        {"name": "start", "type": "DateTime", "description": "Keep clicks at or after this time", "default": None},
        {"name": "kind", "type": "String", "description": "Only this kind", "enum": ["click", "tap"], "default": None},
        {"name": "limit", "type": "Int32", "default": 10, "description": "Rows to return"},
    ]
    assert pipe_parameters(r.pipe("user_clicks")) == [
        {"name": "min_clicks", "type": "Int32", "default": 0, "description": "Fewest clicks a user needs"},
        {"name": "users", "type": "Array(String)", "description": "Only these users", "default": None},
    ]


def test_client_sql_is_qualified_and_checked(r):
    assert one_line(r.resolve("SELECT count() FROM clicks_quarantine", {}, {})) == "SELECT count() FROM db.clicks_quarantine"
    with pytest.raises(Forbidden, match=r"Resource 'system.tables' not found"):
        r.resolve("SELECT * FROM system.tables", {}, {})


def test_node_using_a_forbidden_table_function_is_refused(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "sneaky.pipe").write_text("NODE endpoint\nSQL >\n    SELECT * FROM file('/etc/passwd', 'LineAsString')\n\nTYPE ENDPOINT\n")
    r = Renderer(load_project(root), "db")
    with pytest.raises(Forbidden) as e:
        sql(r, "sneaky")
    assert e.value.status == 403


def test_pipes_referencing_each_other_forever_stop(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "ping.pipe").write_text("NODE endpoint\nSQL >\n    SELECT * FROM pong\n\nTYPE ENDPOINT\n")
    (root / "pipes" / "pong.pipe").write_text("NODE endpoint\nSQL >\n    SELECT * FROM ping\n\nTYPE ENDPOINT\n")
    r = Renderer(load_project(root), "db")
    with pytest.raises(BadRequest, match="Pipes reference each other too deeply"):
        sql(r, "ping")


# Tinybird renders the called node first and an earlier node only when the query reaches it (sql_toolset's
# replacements that are functions), so the called node's own error() wins over a node it reads.
WINDOW = ("NODE window\nSQL >\n    %\n    SELECT user, value FROM clicks\n"
          "    WHERE ts BETWEEN {{ DateTime(start_date) }} AND {{ DateTime(end_date) }}\n\n")
UNUSED = "NODE unused\nSQL >\n    %\n    SELECT {{ Int32(never_given) }} AS x\n\n"


@pytest.fixture()
def multi(tmp_path):
    root = copy_project(tmp_path / "p")
    (root / "pipes" / "guarded.pipe").write_text(
        WINDOW + UNUSED + "NODE totals\nSQL >\n    %\n"
        "    {% if not defined(start_date) %}{{ error('start_date (DateTime) query param is required') }}{% end %}\n"
        "    SELECT user, sum(value) AS total FROM window GROUP BY user\n\nTYPE endpoint\n")
    (root / "pipes" / "unguarded.pipe").write_text(
        WINDOW + "NODE totals\nSQL >\n    SELECT user, sum(value) AS total FROM window GROUP BY user\n\nTYPE endpoint\n")
    (root / "pipes" / "window_plain.pipe").write_text(WINDOW + "NODE last\nSQL >\n    SELECT * FROM window\n")
    (root / "pipes" / "reads_plain.pipe").write_text(
        "NODE outer\nSQL >\n    %\n    {% if not defined(end_date) %}{{ error('end_date is required') }}{% end %}\n"
        "    SELECT count() AS n FROM window_plain\n\nTYPE endpoint\n")
    return Renderer(load_project(root), "db")


def test_the_called_nodes_own_error_wins_over_a_required_parameter_of_a_node_it_reads(multi):
    with pytest.raises(BadRequest) as e:
        sql(multi, "guarded")
    assert e.value.status == 400 and e.value.message == "start_date (DateTime) query param is required"


def test_a_required_parameter_of_a_node_read_fails_when_the_called_node_has_no_guard(multi):
    with pytest.raises(BadRequest) as e:
        sql(multi, "unguarded", start_date="2024-01-01 00:00:00")
    assert "Required parameter is not defined. Check the parameters start_date and end_date" in e.value.message


def test_a_node_the_query_never_reaches_is_not_rendered(multi):
    out = one_line(sql(multi, "guarded", start_date="2024-01-01 00:00:00", end_date="2024-02-01 00:00:00"))
    assert out == ("SELECT user, sum(value) AS total FROM ( SELECT user, value FROM db.clicks WHERE (ts >= '2024-01-01 00:00:00') "
                   "AND (ts <= '2024-02-01 00:00:00') ) AS window GROUP BY user")


def test_a_plain_pipe_is_read_as_its_last_node_after_the_callers_guard(multi):
    with pytest.raises(BadRequest) as e:
        sql(multi, "reads_plain", start_date="2024-01-01 00:00:00")
    assert (e.value.status, e.value.message) == (400, "end_date is required")
    out = one_line(sql(multi, "reads_plain", start_date="2024-01-01 00:00:00", end_date="2024-02-01 00:00:00"))
    assert out == ("SELECT count() AS n FROM ( SELECT * FROM ( SELECT user, value FROM db.clicks WHERE (ts >= '2024-01-01 00:00:00') "
                   "AND (ts <= '2024-02-01 00:00:00') ) AS window ) AS window_plain")
