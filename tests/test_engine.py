"""tblocal.engine: the one chDB wrapper (in-process, on the session's `engine` fixture from conftest)."""

import threading

import pytest

from tblocal.engine import Engine, EngineError, parse_error, quote_ident, quote_string
from tblocal.errors import BadRequest, Timeout


def test_open_hands_back_the_same_engine(engine):
    """chDB allows one data dir per process: open() reuses it and refuses another path."""
    assert Engine.open(engine.path) is engine
    with pytest.raises(RuntimeError, match="one data dir per process"):
        Engine.open(engine.path.parent / "other")


def test_query_formats_and_statistics(engine):
    """Output comes back in the asked format, with ClickHouse's statistics."""
    result = engine.query("SELECT number AS n FROM numbers(3)", "JSONEachRow")
    assert result.data == b'{"n":0}\n{"n":1}\n{"n":2}\n'
    assert result.rows_read == 3
    assert engine.rows("SELECT 1 AS a, 'x' AS b") == [{"a": 1, "b": "x"}]
    assert engine.scalar("SELECT count() FROM numbers(10)") == 10


def test_every_connection_runs_in_utc(engine):
    """Timestamps are UTC in every thread's connection."""
    seen = []
    thread = threading.Thread(target=lambda: seen.append(engine.scalar("SELECT timezone()")))
    thread.start()
    thread.join()
    assert seen == ["UTC"] and engine.scalar("SELECT timezone()") == "UTC"


def test_settings_bound_a_query(engine):
    """Per-query settings cap rows and time, and the errors map to Tinybird's codes."""
    with pytest.raises(EngineError) as e:
        engine.query("SELECT number FROM numbers(100000)", "CSV", {"max_result_rows": 10, "result_overflow_mode": "throw"})
    assert e.value.code == 396
    assert isinstance(e.value.to_api_error(), BadRequest)
    with pytest.raises(EngineError) as e:
        engine.query("SELECT count() FROM numbers(100000000000)", "CSV", {"max_execution_time": 0.2, "timeout_overflow_mode": "throw"})
    assert e.value.code == 159
    assert isinstance(e.value.to_api_error(), Timeout)


def test_a_failed_query_never_leaks_into_the_next(engine):
    """chDB keeps a failed query's partial output; the next answer on this thread is exact anyway."""
    with pytest.raises(EngineError):
        engine.query("SELECT number FROM numbers(10000000)", "CSV", {"max_result_rows": 1_000_000, "result_overflow_mode": "throw"})
    assert engine.query("SELECT 42", "CSV").data == b"42\n"


def test_memory_tables_survive_a_dropped_connection(engine):
    """Dropping a failed query's connection does not shut the engine down (Memory tables live on)."""
    engine.execute("CREATE DATABASE IF NOT EXISTS scratch ENGINE = Memory")
    engine.execute("CREATE TABLE IF NOT EXISTS scratch.t (a UInt8) ENGINE = Memory")
    engine.execute("INSERT INTO scratch.t VALUES (7)")
    with pytest.raises(EngineError):
        engine.execute("SELECT no_such_column")
    assert engine.scalar("SELECT sum(a) FROM scratch.t") == 7


def test_parse_error_splits_code_and_message():
    """ClickHouse's 'Code: N. DB::Exception: ... (NAME)' becomes code, message and name."""
    err = parse_error(Exception("Code: 60. DB::Exception: Unknown table expression identifier 'x'. (UNKNOWN_TABLE)"))
    assert (err.code, err.message, err.name) == (60, "Unknown table expression identifier 'x'.", "UNKNOWN_TABLE")
    assert parse_error(Exception("no code here")).code == 0


def test_quoting():
    """Identifiers and strings are escaped for ClickHouse."""
    assert quote_ident("a`b") == "`a\\`b`"
    assert quote_string("it's \\") == "'it\\'s \\\\'"
