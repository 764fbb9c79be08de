"""limits.rps windows (tblocal/ratelimit.py) on a clock the test moves."""

import pytest

from tblocal.errors import TooManyRequests
from tblocal.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_past_the_limit_429_with_tinybirds_headers_then_the_next_second_answers():
    clock = Clock(1000.25)
    limiter = RateLimiter(clock)
    limiter.hit("front", 2)
    limiter.hit("front", 2)
    with pytest.raises(TooManyRequests) as e:
        limiter.hit("front", 2)
    assert e.value.status == 429
    assert e.value.headers == {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1", "Retry-After": "1"}
    assert "2 requests per second" in e.value.message
    limiter.hit("other", 2)  # each name has its own count
    clock.now = 1001.0
    limiter.hit("front", 2)
    limiter.hit("front", 2)
    with pytest.raises(TooManyRequests):
        limiter.hit("front", 2)


def test_a_refused_call_is_not_counted():
    clock = Clock(5.0)
    limiter = RateLimiter(clock)
    limiter.hit("k", 1)
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            limiter.hit("k", 1)
    assert limiter.windows["k"] == (5, 1)


def test_ended_windows_are_forgotten_past_max_keys(monkeypatch):
    monkeypatch.setattr("tblocal.ratelimit.MAX_KEYS", 3)
    clock = Clock(1.0)
    limiter = RateLimiter(clock)
    for k in "abc":
        limiter.hit(k, 1)
    clock.now = 2.0
    limiter.hit("d", 1)
    assert set(limiter.windows) == {"d"}
