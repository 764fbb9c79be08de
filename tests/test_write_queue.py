"""tblocal.write.queue: the Ingestor's group commit and its door for copies, deletes and replaces
(real chDB, tests/project: clicks -> clicks_daily_mv)."""

import asyncio
import json

import pytest

from helpers import ndjson, project_database
from tblocal.errors import TooManyRequests, Unavailable
from tblocal.write import Ingestor, Request

ROWS = [{"id": f"q{i}", "user": f"u{i % 2}", "ts": f"2024-0{1 + i % 2}-10 10:00:00", "value": i} for i in range(4)]


@pytest.fixture
def database(engine, tmp_path, request):
    """(project, db): a fresh database of tests/project, dropped afterwards with what an ingestor leaves."""
    db = f"wq_{request.node.name.replace('test_', '')[:40]}"
    with project_database(engine, db, tmp_path / "schema.json") as project:
        yield project, db


def ingestor_of(engine, database, tmp_path, max_queue_bytes: int = 1 << 20) -> Ingestor:
    project, db = database
    return Ingestor(engine, project, db, max_queue_bytes, journal=tmp_path / "journal")


def counts(engine, db: str) -> dict:
    """Rows of clicks and its quarantine, and the clicks the view counted (its rows merge at any time)."""
    return {"clicks": int(engine.scalar(f"SELECT count() FROM {db}.clicks")),
            "clicks_quarantine": int(engine.scalar(f"SELECT count() FROM {db}.clicks_quarantine")),
            "clicks_daily_mv": int(engine.scalar(f"SELECT sum(clicks) FROM {db}.clicks_daily_mv"))}


def test_a_waited_append_is_answered_once_its_rows_are_published(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path), database[1]

    async def run():
        await ingestor.start()
        outcome = await ingestor.submit("clicks", Request(ndjson([*ROWS, '{"id": "bad"}'])), wait=True)
        seen = counts(engine, db)  # before close: the answer came after publishing
        await ingestor.close()
        return outcome, seen

    outcome, seen = asyncio.run(run())
    assert (outcome.successful_rows, outcome.quarantined_rows) == (4, 1)
    assert seen == {"clicks": 4, "clicks_quarantine": 1, "clicks_daily_mv": 4}
    assert engine.rows(f"SELECT user, sum(clicks) AS c, sum(total_value) AS v FROM {db}.clicks_daily_mv GROUP BY user ORDER BY user") == [
        {"user": "u0", "c": 2, "v": 2}, {"user": "u1", "c": 2, "v": 4}]


def test_unwaited_appends_are_answered_at_once_and_written_by_close(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path), database[1]

    async def run():
        await ingestor.start()
        answers = [await ingestor.submit("clicks", Request(ndjson([row])), wait=False) for row in ROWS]
        await ingestor.close()
        return answers

    assert asyncio.run(run()) == [None, None, None, None]
    assert counts(engine, db) == {"clicks": 4, "clicks_quarantine": 0, "clicks_daily_mv": 4}
    assert ingestor.queued_bytes == 0


def test_a_body_past_the_queue_limit_is_a_429_and_writes_nothing(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path, max_queue_bytes=16), database[1]

    async def run():
        await ingestor.start()
        try:
            with pytest.raises(TooManyRequests) as e:
                await ingestor.submit("clicks", Request(ndjson(ROWS)), wait=False)
        finally:
            await ingestor.close()
        return e.value

    error = asyncio.run(run())
    assert (error.status, error.message) == (429, "Too many rows waiting to be written; retry shortly")
    assert counts(engine, db) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}


def test_once_closed_every_way_in_is_a_503_saying_why(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path), database[1]

    async def run():
        await ingestor.start()
        await ingestor.close("A deployment is rebuilding this workspace")
        with pytest.raises(Unavailable) as submitted:
            await ingestor.submit("clicks", Request(ndjson(ROWS)), wait=True)
        return submitted.value

    assert asyncio.run(run()).message == "A deployment is rebuilding this workspace"
    with pytest.raises(Unavailable, match="A deployment is rebuilding"):
        ingestor.write_now("clicks", [Request(ndjson(ROWS))])
    with pytest.raises(Unavailable) as e:
        with ingestor.exclusive("https://docs.example/rewrite"):
            pytest.fail("the block must not run once the writer is closed")
    assert (e.value.status, e.value.documentation) == (503, "https://docs.example/rewrite")
    assert counts(engine, db) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}


def test_write_now_commits_every_request_in_one_go(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path), database[1]
    requests = [Request(ndjson(ROWS[:2])), Request(ndjson([*ROWS[2:], '{"id": "bad"}']))]
    ingestor.write_now("clicks", requests)
    asyncio.run(ingestor.close())
    assert [(r.outcome.successful_rows, r.outcome.quarantined_rows) for r in requests] == [(2, 0), (2, 1)]
    assert counts(engine, db) == {"clicks": 4, "clicks_quarantine": 1, "clicks_daily_mv": 4}


def test_write_select_commits_a_selects_rows_with_the_views_downstream(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path), database[1]
    select = "SELECT toString(number) AS id, 'ann' AS user, toDateTime('2024-03-01 00:00:00') + number AS ts, 2 AS value FROM numbers(5)"
    assert ingestor.write_select("clicks", ["id", "user", "ts", "value"], select) == 5
    assert ingestor.write_select("clicks", ["id", "user", "ts", "value"], select + " WHERE 0") == 0
    asyncio.run(ingestor.close())
    assert counts(engine, db) == {"clicks": 5, "clicks_quarantine": 0, "clicks_daily_mv": 5}
    assert engine.rows(f"SELECT user, sum(clicks) AS c, sum(total_value) AS v FROM {db}.clicks_daily_mv GROUP BY user") == [
        {"user": "ann", "c": 5, "v": 10}]


def test_parse_into_writes_another_databases_copies_only(engine, database, tmp_path):
    ingestor, db = ingestor_of(engine, database, tmp_path), database[1]
    other = f"{db}__other"
    engine.execute(f"CREATE DATABASE {other}")
    for table in ("clicks", "clicks_quarantine"):
        engine.execute(f"CREATE TABLE {other}.{table} AS {db}.{table}")
    requests = [Request(ndjson(ROWS[:3])), Request(ndjson([*ROWS[3:], '{"id": "bad"}']))]
    with ingestor.exclusive():
        ingestor.parse_into(other, "clicks", requests)
    ingestor.write_now("clicks", [Request(ndjson(ROWS[:1]))])  # the data source's writer targets its own tables again
    asyncio.run(ingestor.close())
    assert [(r.outcome.successful_rows, r.outcome.quarantined_rows) for r in requests] == [(3, 0), (1, 1)]
    assert sorted(r["id"] for r in engine.rows(f"SELECT id FROM {other}.clicks")) == ["q0", "q1", "q2", "q3"]
    assert engine.scalar(f"SELECT count() FROM {other}.clicks_quarantine") == 1
    assert counts(engine, db) == {"clicks": 1, "clicks_quarantine": 0, "clicks_daily_mv": 1}


def test_publish_rewrite_runs_the_swap_under_the_journal_and_never_over_a_commits(engine, database, tmp_path):
    ingestor = ingestor_of(engine, database, tmp_path)
    journal = tmp_path / "journal"
    seen = []
    with ingestor.exclusive():
        ingestor.publish_rewrite("clicks", lambda: seen.append(json.loads(journal.read_text())), "https://docs.example")
    assert seen == [{"phase": "rewrite", "datasource": "clicks"}]
    assert not journal.exists()
    journal.write_text(json.dumps({"phase": "publish", "marks": {}, "partitions": []}))  # a commit waiting to be finished
    with pytest.raises(Unavailable) as e:
        ingestor.publish_rewrite("clicks", lambda: seen.append("swapped"), "https://docs.example")
    assert (e.value.message, e.value.documentation) == ("A write is still being published; retry shortly", "https://docs.example")
    assert seen == [{"phase": "rewrite", "datasource": "clicks"}]
    assert json.loads(journal.read_text())["phase"] == "publish"
    journal.unlink()
    asyncio.run(ingestor.close())
