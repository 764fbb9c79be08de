import pytest

from tblocal import sandbox
from tblocal.errors import BadRequest, Forbidden

ALLOWED = {"clicks", "clicks_quarantine"}


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT 1", ("SELECT 1", None)),
        ("SELECT 1 FORMAT CSV", ("SELECT 1", "CSV")),
        ("select 1 format JSONEachRow;", ("select 1", "JSONEachRow")),
        ("SELECT 1;", ("SELECT 1", None)),
        ("SELECT 'FORMAT CSV' AS x", ("SELECT 'FORMAT CSV' AS x", None)),
    ],
)
def test_split_format(sql, expected):
    assert sandbox.split_format(sql) == expected


def test_used_tables():
    assert sandbox.used_tables("SELECT * FROM clicks JOIN db.other USING id") == [("", "clicks", ""), ("db", "other", "")]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM db.clicks",
        "SELECT * FROM db.clicks_quarantine WHERE id IN (SELECT id FROM db.clicks)",
        "SELECT number FROM numbers(10)",
        "SELECT 1",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "SELECT 1 UNION ALL SELECT count() FROM db.clicks",
    ],
)
def test_allowed(sql):
    sandbox.check(sql, "db", ALLOWED)


@pytest.mark.parametrize(
    "sql, error",
    [
        ("SELECT * FROM system.tables", "[Error] Resource 'system.tables' not found"),
        ("SELECT * FROM other.clicks", "[Error] Resource 'other.clicks' not found"),
        ("SELECT * FROM clicks", "[Error] Resource 'clicks' not found"),  # not rewritten into the workspace database
        ("SELECT * FROM db.secret", "[Error] Resource 'db.secret' not found"),
        ("SELECT * FROM db.clicks WHERE id IN (SELECT name FROM system.users)", "[Error] Resource 'system.users' not found"),
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "[Error] Usage of function file is restricted."),
        ("SELECT * FROM url('http://example.com', 'CSV')", "[Error] Usage of function url is restricted to Copy Pipes."),
        ("SELECT 1 SETTINGS readonly = 0", "[Error] Usage of setting 'readonly' is restricted."),
    ],
)
def test_forbidden(sql, error):
    with pytest.raises(Forbidden) as e:
        sandbox.check(sql, "db", ALLOWED)
    assert (e.value.status, e.value.message) == (403, error)


@pytest.mark.parametrize(
    "sql, error",
    [
        ("INSERT INTO db.clicks VALUES ('a')", "[Error] Only SELECT queries are allowed, got InsertQuery"),
        ("DROP TABLE db.clicks", "[Error] Only SELECT queries are allowed, got DropQuery"),
        ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE is not allowed"),
    ],
)
def test_not_a_select(sql, error):
    with pytest.raises(BadRequest) as e:
        sandbox.check(sql, "db", ALLOWED)
    assert (e.value.status, e.value.message) == (400, error)


def test_syntax_error_is_400():
    with pytest.raises(BadRequest) as e:
        sandbox.check("SELEC 1", "db", ALLOWED)
    assert e.value.status == 400 and e.value.message.startswith("[Error] ")
    assert "DB::Exception" not in e.value.message
