"""Idle-time compaction: merge each partition of a database's tables into one part.

ClickHouse merges parts in the background, but leaves several per partition. Reads pay per part:
at 10M events a user's lookup in a user-keyed view opened 20 to 80 parts. Merging parts never
changes a query's result (aggregate states merge the same way whenever it happens).
"""

from collections.abc import Callable

from ..engine import Engine, quote_ident, quote_string


def fragmented_partitions(engine: Engine, database: str) -> list[tuple[str, str]]:
    """(table, partition_id) of every partition of database with more than one active part."""
    rows = engine.rows(
        "SELECT table, partition_id FROM system.parts "
        f"WHERE database = {quote_string(database)} AND active "
        "GROUP BY table, partition_id HAVING count() > 1 ORDER BY table, partition_id"
    )
    return [(row["table"], row["partition_id"]) for row in rows]


def compact(engine: Engine, database: str, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Merge fragmented partitions one at a time, until done or should_stop(); returns how many were merged."""
    merged = 0
    for table, partition in fragmented_partitions(engine, database):
        if should_stop():
            break
        engine.execute(
            f"OPTIMIZE TABLE {quote_ident(database)}.{quote_ident(table)} PARTITION ID {quote_string(partition)} FINAL"
        )
        merged += 1
    return merged
