"""tblocal/write/linger.py: how many requests the next commit waits for, and for how long at most.

Budgets here are seconds long (or zero), so what is asserted never depends on how fast this machine schedules:
a wait that ends on an arrival ends long before its budget, one that is spent lasts at least its budget."""

import asyncio
import time

from tblocal.write.linger import LINGER_FRACTION, LINGER_MAX_S, Linger


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


def test_the_budget_is_a_fraction_of_the_last_commit_capped():
    linger = Linger()
    linger.committed("events", answered=1, still_queued=1, seconds=0.08)
    linger.committed("clicks", answered=1, still_queued=0, seconds=10.0)
    assert linger.budget == {"events": LINGER_FRACTION * 0.08, "clicks": LINGER_MAX_S}
    assert linger.expect == {"events": 2, "clicks": 1}


def test_waits_for_the_clients_just_answered_and_no_longer():
    linger = Linger(max_s=60)
    linger.committed("events", answered=1, still_queued=1, seconds=240)  # expects 2; waits 60 s at most
    queue = [object()]
    waited = _gather(linger, queue, [0.0])
    assert len(queue) == 2
    assert waited < 30  # ended on the arrival, not on the budget


def test_a_client_that_does_not_come_back_costs_one_bounded_wait():
    linger = Linger(max_s=60)
    linger.committed("events", answered=2, still_queued=0, seconds=2.0)  # expects 2; waits 0.5 s at most
    queue = [object()]
    waited = _gather(linger, queue, [])
    assert len(queue) == 1
    assert 0.49 <= waited < 30  # the whole budget (less the loop clock's resolution), then it gives up


def test_no_wait_without_answered_clients_or_before_any_commit():
    linger = Linger(max_s=60)
    queue = [object()]
    _gather(linger, queue, [0.0])  # nothing committed yet: returns before the arrival can run
    assert len(queue) == 1
    linger.committed("events", answered=0, still_queued=3, seconds=240)  # wait=false requests: nobody comes back
    _gather(linger, queue, [0.0])
    assert len(queue) == 1
