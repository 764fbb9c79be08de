"""tblocal.lanes: the endpoint and Query API lanes, each with its own threads and share (real chDB)."""

import asyncio
import threading

import pytest

from tblocal.errors import TooManyRequests
from tblocal.lanes import LOWEST_PRIORITY, Lane, lanes


def test_the_process_has_one_pair_of_lanes_per_shares():
    first = lanes(3, 2)
    assert lanes(3, 2) is first
    assert lanes(4, 2) is not first
    endpoint, query_api = first["endpoint"], first["query_api"]
    assert (endpoint.share, endpoint.settings) == (3, {})
    assert (query_api.share, query_api.settings) == (2, {"os_thread_priority": LOWEST_PRIORITY})
    assert query_api.refusal.startswith("The Query API runs at most 2 queries at once")


def test_a_lane_runs_queries_on_its_own_threads_with_its_settings(engine):
    lane = lanes(3, 2)["query_api"]

    async def run():
        thread = await lane.run(lambda: threading.current_thread().name)
        rows = await lane.run(engine.rows, "SELECT getSetting('os_thread_priority') AS p, sum(number) AS s FROM numbers(10)",
                              lane.settings)
        return thread, rows

    thread, rows = asyncio.run(run())
    assert thread.startswith("tblocal-query_api")
    assert rows == [{"p": LOWEST_PRIORITY, "s": 45}]
    assert lane.in_flight == 0


def test_past_its_share_a_lane_answers_429_and_takes_queries_again_once_one_ends():
    lane = Lane("unit", 1, {}, "The unit lane is busy")
    release = threading.Event()

    async def run():
        first = asyncio.create_task(lane.run(release.wait))
        await asyncio.sleep(0)  # the task takes the lane's one place before it waits for its thread
        assert lane.in_flight == 1
        with pytest.raises(TooManyRequests) as refused:
            await lane.run(lambda: "never runs")
        release.set()
        assert await first is True
        return refused.value, await lane.run(lambda: "ran")

    refused, after = asyncio.run(run())
    assert (refused.status, refused.message, refused.headers) == (429, "The unit lane is busy", {"Retry-After": "1"})
    assert after == "ran" and lane.in_flight == 0
