"""tblocal.write.staging with the Writer: a commit is staged in the shadow database, then published or dropped
(real chDB, tests/project: clicks -> clicks_daily_mv)."""

import json

import pytest

from helpers import project_database
from tblocal.write.rows import Request, Writer
from tblocal.write.staging import Staging

ROWS = [{"id": f"s{i}", "user": f"u{i % 2}", "ts": f"2024-0{1 + i % 2}-10 10:00:00", "value": i} for i in range(6)]


@pytest.fixture
def commit(engine, tmp_path, request):
    """(staging, writer, db) on a fresh database of tests/project, dropped afterwards."""
    db = f"ws_{request.node.name.replace('test_', '')[:40]}"
    with project_database(engine, db, tmp_path / "schema.json") as project:
        staging = Staging(engine, project, db, journal=tmp_path / "committing")
        staging.open()
        yield staging, Writer(engine, db, project.datasources["clicks"], staging.shadow), db
        staging.close()


def counts(engine, db: str) -> dict:
    return {t: int(engine.scalar(f"SELECT count() FROM {db}.{t}")) for t in ("clicks", "clicks_quarantine", "clicks_daily_mv")}


def body(rows, extra: str = "") -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + extra).encode()


def test_a_commit_is_invisible_until_published(engine, commit):
    staging, writer, db = commit
    assert staging.shadow == f"{db}__shadow"
    staging.begin()
    assert staging.reach["clicks"] == ["clicks", "clicks_daily_mv", "clicks_quarantine"]
    request = Request(body(ROWS, '\n{"id": "bad"}'))
    writer.commit([request])
    assert (request.outcome.successful_rows, request.outcome.quarantined_rows) == (6, 1)
    assert counts(engine, db) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}
    assert counts(engine, staging.shadow) == {"clicks": 6, "clicks_quarantine": 1, "clicks_daily_mv": 2}
    staging.publish(datasource="clicks")
    assert not staging.journal.exists()
    assert counts(engine, db) == {"clicks": 6, "clicks_quarantine": 1, "clicks_daily_mv": 2}
    assert engine.rows(f"SELECT user, sum(clicks) AS c, sum(total_value) AS v FROM {db}.clicks_daily_mv GROUP BY user ORDER BY user") == [
        {"user": "u0", "c": 3, "v": 6}, {"user": "u1", "c": 3, "v": 9}]
    staging.begin()  # the next commit starts from an empty shadow
    assert counts(engine, staging.shadow) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}
    staging.abort()


def test_an_aborted_commit_leaves_nothing(engine, commit):
    staging, writer, db = commit
    staging.begin()
    writer.commit([Request(body(ROWS))])
    staging.abort()
    assert counts(engine, db) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}
    assert counts(engine, staging.shadow) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}
    staging.publish(datasource="clicks")  # nothing begun: nothing published
    assert counts(engine, db) == {"clicks": 0, "clicks_quarantine": 0, "clicks_daily_mv": 0}


def test_refused_rows_all_go_to_the_quarantine_with_the_reason(engine, commit):
    staging, writer, db = commit
    staging.begin()
    request = Request(body(ROWS[:2]))
    writer.commit([request], refused="a view refused them")
    staging.publish(datasource="clicks")
    assert (request.outcome.successful_rows, request.outcome.quarantined_rows) == (0, 2)
    assert engine.rows(f"SELECT id, c__error, c__import_id = {request.import_id!r} AS ours FROM {db}.clicks_quarantine ORDER BY id") == [
        {"id": "s0", "c__error": ["a view refused them"], "ours": 1},
        {"id": "s1", "c__error": ["a view refused them"], "ours": 1},
    ]
    assert counts(engine, db)["clicks"] == 0


def test_two_requests_in_one_commit_get_their_own_outcomes(engine, commit):
    staging, writer, db = commit
    first, second = Request(body(ROWS[:4])), Request(body(ROWS[4:], '\nnot json'))
    staging.begin()
    writer.commit([first, second])
    staging.publish(datasource="clicks")
    assert [(r.outcome.successful_rows, r.outcome.quarantined_rows) for r in (first, second)] == [(4, 0), (2, 1)]
    assert engine.rows(f"SELECT c__error, c__import_id = {second.import_id!r} AS ours FROM {db}.clicks_quarantine") == [
        {"c__error": ["the line is not a JSON object: not json"], "ours": 1}]
