"""Two lanes for reads, so the Query API cannot stall endpoints: each has its own threads and its own share of
concurrent queries (429 past it), and Query API queries run on OS threads of the lowest priority.

Endpoint calls used to queue behind long /v0/sql queries for a thread of asyncio's default pool, and then
compete with them for the CPU. ClickHouse's os_thread_priority sets the nice value of every thread working
on a query (and resets it after); it needs CAP_SYS_NICE (root, or `setcap cap_sys_nice`), else ClickHouse
ignores it and only the separate threads and shares remain (docs/tblocal.md).
"""

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TooManyRequests

LOWEST_PRIORITY = 19  # nice value of Query API query threads
log = logging.getLogger("tblocal")


@dataclass
class Lane:
    name: str
    share: int  # queries in flight before 429
    settings: dict  # ClickHouse settings added to every query of the lane
    refusal: str
    in_flight: int = 0
    pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self):
        self.pool = ThreadPoolExecutor(max_workers=self.share, thread_name_prefix=f"tblocal-{self.name}")

    async def run(self, fn, *args):
        """fn(*args) on one of this lane's threads; 429 when the lane's share is in flight."""
        if self.in_flight >= self.share:
            raise TooManyRequests(self.refusal, headers={"Retry-After": "1"})
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            self.in_flight -= 1


_lanes: dict[tuple, dict[str, Lane]] = {}


def lanes(endpoint_share: int, query_api_share: int) -> dict[str, Lane]:
    """The process's lanes ("endpoint", "query_api"): every workspace shares them (one chDB, one CPU)."""
    key = (endpoint_share, query_api_share)
    if key not in _lanes:
        if not _lanes and not can_lower_priority():
            log.warning("No CAP_SYS_NICE: Query API queries run at normal OS priority, so heavy /v0/sql can slow endpoints")
        _lanes[key] = {
            "endpoint": Lane("endpoint", endpoint_share, {}, "Too many concurrent queries; retry shortly"),
            "query_api": Lane("query_api", query_api_share, {"os_thread_priority": LOWEST_PRIORITY},
                              f"The Query API runs at most {query_api_share} queries at once (TBLOCAL_QUERY_API_CONCURRENCY); "
                              "retry shortly. Endpoints are not affected"),
        }
    return _lanes[key]


def can_lower_priority() -> bool:
    """Whether ClickHouse may set threads' nice values here (CAP_SYS_NICE in the effective capabilities)."""
    try:
        status = Path(f"/proc/{os.getpid()}/status").read_text()
    except OSError:
        return False
    caps = next((line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), "0")
    return bool(int(caps, 16) & (1 << 23))  # CAP_SYS_NICE
