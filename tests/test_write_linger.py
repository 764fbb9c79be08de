"""tblocal/write/linger.py: how many requests the next commit waits for, and for how long at most."""

import asyncio
import time

from tblocal.write.linger import LINGER_MAX_S, Linger


def _gather(linger: Linger, queue: list, arrivals: list[float]) -> float:
    """Run gather() on queue while requests arrive after the given delays; seconds it waited."""

    async def main():
        wakeup = asyncio.Event()

        async def arrive(delay):
            await asyncio.sleep(delay)
            queue.append(object())
            wakeup.set()

        tasks = [asyncio.create_task(arrive(d)) for d in arrivals]
        start = time.monotonic()
        await linger.gather("events", queue, wakeup)
        waited = time.monotonic() - start
        for t in tasks:
            t.cancel()
        return waited

    return asyncio.run(main())


def test_waits_for_the_clients_just_answered_and_no_longer():
    linger = Linger()
    linger.committed("events", answered=1, still_queued=1, seconds=0.4)  # expects 2; waits 50 ms at most
    queue = [object()]
    waited = _gather(linger, queue, [0.0])
    assert len(queue) == 2
    assert waited < LINGER_MAX_S


def test_a_client_that_does_not_come_back_costs_one_bounded_wait():
    linger = Linger()
    linger.committed("events", answered=2, still_queued=0, seconds=0.08)  # expects 2; waits 20 ms at most
    queue = [object()]
    waited = _gather(linger, queue, [])
    assert len(queue) == 1
    assert 0.015 <= waited < 0.2


def test_no_wait_without_answered_clients_or_before_any_commit():
    linger = Linger()
    queue = [object()]
    assert _gather(linger, queue, [0.1]) < 0.05  # nothing committed yet
    linger.committed("events", answered=0, still_queued=3, seconds=1.0)  # wait=false requests: nobody comes back
    assert _gather(linger, queue, [0.1]) < 0.05
    assert len(queue) == 1
