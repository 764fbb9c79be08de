"""Group commit that waits a moment for the clients it just answered: larger commits, fewer publishes.

Each commit costs a fixed amount on top of its rows (staging.py: one attach per touched table and
partition, emptying the shadow). With N clients each sending a wait=true request and waiting for
the answer, a commit that starts as soon as the previous one ends takes only the requests that
arrived meanwhile, typically one: the clients it just answered are still sending their next body.
So before a commit the writer waits, at most a fraction of the last commit's duration, until the
queue holds as many requests as were in flight at the end of the last commit (the clients answered
plus the requests already queued). A client that never comes back costs one bounded wait.
"""

import asyncio
import time

LINGER_FRACTION = 0.25  # of the last commit's duration: the most a commit waits for late clients
LINGER_MAX_S = 0.05


class Linger:
    """Per data source: how many requests to expect before the next commit, and how long to wait for them."""

    def __init__(self, max_s: float = LINGER_MAX_S):
        self.max_s = max_s
        self.expect: dict[str, int] = {}
        self.budget: dict[str, float] = {}

    def committed(self, name: str, answered: int, still_queued: int, seconds: float) -> None:
        """After a commit: answered wait=true requests were answered; still_queued wait behind it."""
        self.expect[name] = answered + still_queued if answered else 0
        self.budget[name] = min(self.max_s, LINGER_FRACTION * seconds)

    async def gather(self, name: str, queue: list, wakeup: asyncio.Event) -> None:
        """Wait until queue holds the requests expected (or the budget is spent); wakeup is set on each arrival."""
        expect = self.expect.get(name, 0)
        deadline = time.monotonic() + self.budget.get(name, 0.0)
        while len(queue) < expect:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), left)
            except TimeoutError:
                return
