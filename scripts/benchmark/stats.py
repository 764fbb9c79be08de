"""The one percentile rule every bench uses, and what is built on it."""

import statistics
import time


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile, interpolated linearly between the closest ranks (numpy's default); nan when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(ms: list[float]) -> dict:
    """Calls, p50, p90, p95, p99, max and mean of milliseconds."""
    out = {"n": len(ms)}
    for p in (50, 90, 95, 99):
        out[f"p{p}_ms"] = round(percentile(ms, p), 3)
    out["max_ms"] = round(max(ms), 3) if ms else None
    out["mean_ms"] = round(statistics.fmean(ms), 3) if ms else None
    return out


def timed_loop(fn, reps: int, budget_s: float = 1e9, min_reps: int = 5, warmup: int = 2) -> list[float]:
    """ms of fn(i) for i in 0..reps-1 after warmup calls; stops early past budget_s once min_reps are done."""
    for i in range(warmup):
        fn(i)
    out, start = [], time.perf_counter()
    for i in range(reps):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
        if len(out) >= min_reps and time.perf_counter() - start > budget_s:
            break
    return out


def median_of(runs: list[dict], *keys) -> float | None:
    """The median of runs[*][keys[0]][keys[1]]..., over the runs that have it."""
    values = []
    for r in runs:
        for k in keys:
            r = r.get(k) if isinstance(r, dict) else None
        if r is not None:
            values.append(r)
    return statistics.median(values) if values else None
