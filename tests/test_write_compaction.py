"""tblocal.write.compaction, and the ingestor's idle-time compaction, on the in-process engine."""

import asyncio
import time
from pathlib import Path

from helpers import HANG_S
from tblocal.write.compaction import compact, fragmented_partitions
from tblocal.write import Ingestor
from tblocal.project import Project

TOTALS = "SELECT k % 2 AS half, uniqExactMerge(users) AS users, sum(n) AS n FROM {db}.t GROUP BY half ORDER BY half"


def fragmented_table(engine, db: str) -> None:
    """db.t: an AggregatingMergeTree with 2 partitions of 3 parts each."""
    engine.execute(f"DROP DATABASE IF EXISTS {db}")
    engine.execute(f"CREATE DATABASE {db}")
    engine.execute(
        f"CREATE TABLE {db}.t (k UInt32, users AggregateFunction(uniqExact, String), n SimpleAggregateFunction(sum, UInt64)) "
        "ENGINE = AggregatingMergeTree PARTITION BY k % 2 ORDER BY k"
    )
    for block in range(3):
        engine.execute(
            f"INSERT INTO {db}.t SELECT number % 10 AS k, uniqExactState(toString(number % (7 + {block}))), count() "
            f"FROM numbers({block * 100}, 100) GROUP BY k"
        )


def part_counts(engine, db: str) -> list[dict]:
    return engine.rows(
        f"SELECT partition_id, count() AS parts FROM system.parts WHERE database = '{db}' AND active "
        "GROUP BY partition_id ORDER BY partition_id"
    )


def test_compact_merges_every_fragmented_partition_and_keeps_the_results(engine):
    fragmented_table(engine, "compact_all")
    before = engine.rows(TOTALS.format(db="compact_all"))
    assert fragmented_partitions(engine, "compact_all") == [("t", "0"), ("t", "1")]
    assert compact(engine, "compact_all") == 2
    assert part_counts(engine, "compact_all") == [{"partition_id": "0", "parts": 1}, {"partition_id": "1", "parts": 1}]
    assert fragmented_partitions(engine, "compact_all") == []
    assert engine.rows(TOTALS.format(db="compact_all")) == before
    assert compact(engine, "compact_all") == 0


def test_compact_stops_between_partitions_when_asked(engine):
    fragmented_table(engine, "compact_stop")
    asked = []
    assert compact(engine, "compact_stop", lambda: asked.append(1) or len(asked) > 1) == 1
    assert fragmented_partitions(engine, "compact_stop") == [("t", "1")]


def test_ingestor_compacts_once_writes_pause(engine):
    """After compact_after_s without writes, the ingestor merges each fragmented partition into one part."""
    fragmented_table(engine, "compact_idle")
    ingestor = Ingestor(engine, Project(Path("."), {}, {}, []), "compact_idle", 1024, compact_after_s=0.2)

    async def run():
        await ingestor.start()
        deadline = time.monotonic() + HANG_S  # compaction's timing is not what is tested
        while fragmented_partitions(engine, "compact_idle") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await ingestor.close()

    asyncio.run(run())
    assert part_counts(engine, "compact_idle") == [{"partition_id": "0", "parts": 1}, {"partition_id": "1", "parts": 1}]


def test_compact_after_zero_never_compacts(engine):
    ingestor = Ingestor(engine, Project(Path("."), {}, {}, []), "compact_never", 1024, compact_after_s=0)

    async def run():
        await ingestor.start()
        started = ingestor._compactor
        await ingestor.close()
        return started

    assert asyncio.run(run()) is None
