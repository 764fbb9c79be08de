"""Independent plain-Python reference for the five endpoints of docs/endpoints.md.

It shares no code with tblocal or the pipes: it recomputes every endpoint from the raw
events so the regression suite can compare a target's answers against it.

Inputs
------
* ``events``: an iterable of event dicts exactly as parsed from the NDJSON (``json.loads``
  of each line), or dicts already returned by :func:`normalize_event` (re-normalizing is
  skipped). Rows that Tinybird would quarantine (missing required column, bad timestamp or
  duration, not an object) are dropped, as they never reach ``user_events``.
* params: keyword arguments named like the endpoint's query parameters. Each value may be
  the raw query-string text (``"10"``, ``"2024-01-05 00:00:00"``) or an already typed value
  (``10``, ``datetime``). ``None`` means "not given". DateTime params accept
  ``YYYY-MM-DD hh:mm:ss`` (and anything ``datetime.fromisoformat`` takes). Bad values raise
  ``ValueError`` naming the parameter (the server answers 400 there).

Outputs
-------
A list of dicts with exactly the contract's columns, in order. Timestamps are
``YYYY-MM-DD hh:mm:ss`` strings, counts ints, ratios/scores/averages floats rounded the way
ClickHouse's ``round(x, N)`` rounds Float64 (see :func:`ch_round`).

Choices where the contract is loose (all documented here so the harness can rely on them):
* ``metadata`` keys are read like ``JSONExtractString``: a key whose value is not a JSON
  string reads as ``''``; invalid JSON or a non-object reads as ``{}``. ``algorithm`` and
  ``content_type`` that are missing *or empty* read as ``'unknown'``.
* The ``algorithm`` filter compares against that derived value (so ``algorithm=unknown``
  selects events without one).
* Event types other than view/click/like/share add nothing to views/clicks/likes/shares,
  weights or scores, but they are events of their group: they count in ``events`` and
  their duration/timestamp/ids feed the sums, min/max and distinct counts.
* Ordering uses the rounded output values (what a client sees); ties beyond the
  contract's keys are broken by the remaining key columns ascending.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

TS_FORMAT = "%Y-%m-%d %H:%M:%S"
CORE_TYPES = ("view", "click", "like", "share")
DEFAULT_WEIGHTS = {"view": 1.0, "click": 2.0, "like": 3.0, "share": 4.0}
REQUIRED = ("event_id", "user_id", "event_type", "content_id", "timestamp", "session_id")
OPTIONAL_DEFAULTS = {"recommendation_id": "", "device": "", "platform": "", "metadata": "{}"}

# Decimal places of every rounded float column (docs/endpoints.md, "Rounding").
FLOAT_PLACES = {
    "affinity_score": 4, "ctr": 4, "engagement_rate": 4,
    "interaction_depth": 4, "content_diversity": 4, "avg_duration": 2,
}

COLUMNS = {
    "user_content_affinity": ["user_id", "content_id", "events", "views", "clicks", "likes",
                              "shares", "total_duration", "affinity_score", "last_interaction"],
    "recommendation_performance": ["algorithm", "recommendations", "users", "impressions",
                                   "clicks", "likes", "shares", "ctr", "engagement_rate",
                                   "avg_duration"],
    "session_analysis": ["session_id", "user_id", "platform", "device", "session_start",
                         "session_end", "duration_seconds", "engaged_seconds", "events",
                         "unique_content", "views", "clicks", "likes", "shares",
                         "interaction_depth", "content_diversity"],
    "content_engagement": ["content_id", "events", "views", "clicks", "likes", "shares",
                           "unique_users", "total_duration", "avg_duration", "ctr",
                           "engagement_rate", "first_event", "last_event"],
    "user_recommendations": ["user_id", "recommendation_id", "algorithm", "impressions",
                             "clicks", "likes", "shares", "ctr", "engaged_seconds",
                             "first_seen", "last_seen", "converted"],
    # API health over the service data source tinybird.pipe_stats_rt (not over events): tests/test_usage.py.
    "api_usage": ["pipe_name", "requests", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms",
                  "rows_read", "bytes_read", "last_call"],
}


# ---------------------------------------------------------------- numbers and values

def ch_round(x: float, places: int) -> float:
    """Round like ClickHouse round(Float64, N): scale, round half to even, unscale."""
    # ClickHouse multiplies by 10^N and rounds the binary product half-to-even, which
    # differs from Python's round(x, N) (that one rounds the exact decimal value):
    # round(2.675, 2) is 2.68 in ClickHouse, 2.67 in Python. Checked against chDB 4.4.
    scale = 10.0 ** places
    return round(x * scale) / scale


def ratio(num: float, den: float, places: int = 4) -> float:
    """num/den rounded; 0 when the denominator is 0 (docs/endpoints.md)."""
    return ch_round(num / den, places) if den else 0.0


def entropy_bits(values: Iterable[Any]) -> float:
    """Shannon entropy in bits of the value distribution (ClickHouse `entropy`)."""
    counts = Counter(values)
    total = sum(counts.values())
    return -sum((c / total) * math.log2(c / total) for c in counts.values()) if total else 0.0


def fmt_ts(ts: dt.datetime) -> str:
    """Format a naive UTC datetime as 'YYYY-MM-DD hh:mm:ss'."""
    return ts.strftime(TS_FORMAT)


def parse_ts(value: Any) -> dt.datetime:
    """Parse a DateTime value (docs/endpoints.md formats) to a naive UTC datetime, seconds only."""
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, str):
        ts = dt.datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a DateTime: {value!r}")
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return ts.replace(microsecond=0)


def read_metadata(value: Any) -> dict:
    """Parse the metadata column; invalid JSON or a non-object reads as {}."""
    if isinstance(value, dict):
        return value
    try:
        obj = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def meta_string(meta: dict, key: str) -> str:
    """Read a metadata key like JSONExtractString: non-string or missing -> ''."""
    value = meta.get(key)
    return value if isinstance(value, str) else ""


# ---------------------------------------------------------------- events

def normalize_event(raw: Any) -> dict | None:
    """Typed copy of one NDJSON event, or None when Tinybird would quarantine it."""
    if not isinstance(raw, dict):
        return None
    if "_algorithm" in raw:
        return raw  # already normalized
    event: dict[str, Any] = {}
    for col in REQUIRED:
        value = raw.get(col)
        if value is None:
            return None
        event[col] = value
    for col, default in OPTIONAL_DEFAULTS.items():
        value = raw.get(col)
        event[col] = default if value is None else value
    if not all(isinstance(event[c], str) for c in REQUIRED if c != "timestamp"):
        return None
    try:
        event["timestamp"] = parse_ts(event["timestamp"])
    except ValueError:
        return None
    duration = raw.get("duration", 0)
    duration = 0 if duration is None else duration
    if isinstance(duration, str) and duration.isdigit():
        duration = int(duration)
    if isinstance(duration, bool) or not isinstance(duration, int) or not 0 <= duration < 2**32:
        return None
    event["duration"] = duration
    meta = read_metadata(event["metadata"])
    event["_algorithm"] = meta_string(meta, "algorithm") or "unknown"
    event["_content_type"] = meta_string(meta, "content_type") or "unknown"
    return event


def normalize_events(events: Iterable[Any]) -> list[dict]:
    """Normalize many events, dropping the ones that would be quarantined."""
    return [e for e in map(normalize_event, events) if e is not None]


def load_events(path: str | Path) -> list[dict]:
    """Read an NDJSON file into normalized events (unparseable lines dropped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            event = normalize_event(raw)
            if event is not None:
                out.append(event)
    return out


# ---------------------------------------------------------------- params

def _int_param(name: str, value: Any, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    try:
        number = int(value) if not isinstance(value, float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool):
        raise ValueError(f"{name}: not an Int32: {value!r}")
    if not lo <= number <= hi:
        raise ValueError(f"{name}: {number} out of range {lo}..{hi}")
    return number


def _float_param(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a Float64: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: not finite: {value!r}")
    return number


def _enum_param(name: str, value: Any, choices: tuple[str, ...], default: str | None) -> str | None:
    if value is None:
        return default
    if value not in choices:
        raise ValueError(f"{name}: {value!r} not one of {', '.join(choices)}")
    return value


def _common(events, start_date, end_date, limit, offset):
    """Normalize events, apply the date range and validate paging; returns (events, start, end, limit, offset)."""
    start = _dt_param("start_date", start_date)
    end = _dt_param("end_date", end_date)
    if start is not None and end is not None and start > end:
        raise ValueError("start_date: must not be after end_date")
    limit = _int_param("limit", limit, 50, 1, 10000)
    offset = _int_param("offset", offset, 0, 0, 2**31 - 1)
    kept = [e for e in normalize_events(events)
            if (start is None or e["timestamp"] >= start) and (end is None or e["timestamp"] <= end)]
    return kept, start, end, limit, offset


def _dt_param(name: str, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        raise ValueError(f"{name}: not a DateTime: {value!r}") from None


def _match(event: dict, column: str, value: str | None) -> bool:
    return value is None or event[column] == value


def _page(rows: list[dict], limit: int, offset: int) -> list[dict]:
    return rows[offset:offset + limit]


def _type_counts(group: list[dict]) -> dict[str, int]:
    counts = Counter(e["event_type"] for e in group)
    return {t: counts.get(t, 0) for t in CORE_TYPES}


# ---------------------------------------------------------------- endpoints

def user_content_affinity(
    events: Iterable[dict], *, start_date: str | dt.datetime | None = None,
    end_date: str | dt.datetime | None = None, limit: int | str | None = None,
    offset: int | str | None = None, user_id: str | None = None, by: str | None = None,
    half_life_days: float | str | None = None, view_weight: float | str | None = None,
    click_weight: float | str | None = None, like_weight: float | str | None = None,
    share_weight: float | str | None = None, duration_weight: float | str | None = None,
) -> list[dict]:
    """Decayed, weighted engagement score per (user_id, content_id|content_type)."""
    kept, _, end, limit, offset = _common(events, start_date, end_date, limit, offset)
    key = _enum_param("by", by, ("content_id", "content_type"), "content_id")
    half_life = _float_param("half_life_days", half_life_days, 30.0)
    weights = {
        "view": _float_param("view_weight", view_weight, DEFAULT_WEIGHTS["view"]),
        "click": _float_param("click_weight", click_weight, DEFAULT_WEIGHTS["click"]),
        "like": _float_param("like_weight", like_weight, DEFAULT_WEIGHTS["like"]),
        "share": _float_param("share_weight", share_weight, DEFAULT_WEIGHTS["share"]),
    }
    per_minute = _float_param("duration_weight", duration_weight, 1.0)
    kept = [e for e in kept if _match(e, "user_id", user_id)]
    if not kept:
        return []
    # t0 is end_date when given, else the latest filtered event (docs/endpoints.md).
    t0 = (end or max(e["timestamp"] for e in kept)).date()
    key_of = (lambda e: e["content_id"]) if key == "content_id" else (lambda e: e["_content_type"])
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in kept:
        groups[(e["user_id"], key_of(e))].append(e)
    rows = []
    for (uid, k), group in groups.items():
        score = 0.0
        for e in group:
            weight = weights.get(e["event_type"])
            if weight is None:
                continue  # other event types add nothing to the score
            age_days = (t0 - e["timestamp"].date()).days
            decay = 0.5 ** (age_days / half_life) if half_life != 0 else 1.0
            score += (weight + per_minute * e["duration"] / 60) * decay
        counts = _type_counts(group)
        rows.append({
            "user_id": uid, key: k, "events": len(group), "views": counts["view"],
            "clicks": counts["click"], "likes": counts["like"], "shares": counts["share"],
            "total_duration": sum(e["duration"] for e in group),
            "affinity_score": ch_round(score, 4),
            "last_interaction": fmt_ts(max(e["timestamp"] for e in group)),
        })
    rows.sort(key=lambda r: (-r["affinity_score"], r["user_id"], r[key]))
    return _page(rows, limit, offset)


def recommendation_performance(
    events: Iterable[dict], *, start_date: str | dt.datetime | None = None,
    end_date: str | dt.datetime | None = None, limit: int | str | None = None,
    offset: int | str | None = None, platform: str | None = None, device: str | None = None,
    algorithm: str | None = None,
) -> list[dict]:
    """Per-algorithm reach, CTR and engagement over recommended events."""
    kept, _, _, limit, offset = _common(events, start_date, end_date, limit, offset)
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in kept:
        if (e["recommendation_id"] and _match(e, "platform", platform)
                and _match(e, "device", device) and _match(e, "_algorithm", algorithm)):
            groups[e["_algorithm"]].append(e)
    rows = []
    for alg, group in groups.items():
        c = _type_counts(group)
        interactions = c["click"] + c["like"] + c["share"]
        rows.append({
            "algorithm": alg,
            "recommendations": len({e["recommendation_id"] for e in group}),
            "users": len({e["user_id"] for e in group}),
            "impressions": c["view"], "clicks": c["click"], "likes": c["like"],
            "shares": c["share"],
            "ctr": ratio(c["click"], c["view"]),
            "engagement_rate": ratio(interactions, c["view"]),
            "avg_duration": ratio(sum(e["duration"] for e in group), len(group), 2),
        })
    rows.sort(key=lambda r: (-r["impressions"], r["algorithm"]))
    return _page(rows, limit, offset)


def session_analysis(
    events: Iterable[dict], *, start_date: str | dt.datetime | None = None,
    end_date: str | dt.datetime | None = None, limit: int | str | None = None,
    offset: int | str | None = None, platform: str | None = None, device: str | None = None,
    user_id: str | None = None, min_events: int | str | None = None,
) -> list[dict]:
    """One row per (session_id, user_id, platform, device) with depth and diversity."""
    kept, _, _, limit, offset = _common(events, start_date, end_date, limit, offset)
    min_n = _int_param("min_events", min_events, 1, -2**31, 2**31 - 1)
    groups: dict[tuple[str, str, str, str], list[dict]] = defaultdict(list)
    for e in kept:
        if _match(e, "platform", platform) and _match(e, "device", device) and _match(e, "user_id", user_id):
            groups[(e["session_id"], e["user_id"], e["platform"], e["device"])].append(e)
    rows = []
    for (sid, uid, plat, dev), group in groups.items():
        if len(group) < min_n:
            continue
        start = min(e["timestamp"] for e in group)
        end = max(e["timestamp"] for e in group)
        unique_content = len({e["content_id"] for e in group})
        c = _type_counts(group)
        rows.append({
            "session_id": sid, "user_id": uid, "platform": plat, "device": dev,
            "session_start": fmt_ts(start), "session_end": fmt_ts(end),
            "duration_seconds": int((end - start).total_seconds()),
            "engaged_seconds": sum(e["duration"] for e in group),
            "events": len(group), "unique_content": unique_content,
            "views": c["view"], "clicks": c["click"], "likes": c["like"], "shares": c["share"],
            "interaction_depth": ratio(len(group), unique_content),
            "content_diversity": ch_round(entropy_bits(e["content_id"] for e in group), 4),
        })
    # session_start DESC: sort ascending by the other keys first, then stably by start desc.
    rows.sort(key=lambda r: (r["session_id"], r["user_id"], r["platform"], r["device"]))
    rows.sort(key=lambda r: r["session_start"], reverse=True)
    return _page(rows, limit, offset)


def content_engagement(
    events: Iterable[dict], *, start_date: str | dt.datetime | None = None,
    end_date: str | dt.datetime | None = None, limit: int | str | None = None,
    offset: int | str | None = None, content_id: str | None = None, platform: str | None = None,
    device: str | None = None, event_type: str | None = None,
) -> list[dict]:
    """Top content with its per-type breakdown, ranked by events or one type's count."""
    kept, _, _, limit, offset = _common(events, start_date, end_date, limit, offset)
    rank_type = _enum_param("event_type", event_type, CORE_TYPES, None)
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in kept:
        if _match(e, "content_id", content_id) and _match(e, "platform", platform) and _match(e, "device", device):
            groups[e["content_id"]].append(e)
    ranked = []
    for cid, group in groups.items():
        c = _type_counts(group)
        rank = c[rank_type] if rank_type else len(group)
        if rank_type and rank == 0:
            continue
        interactions = c["click"] + c["like"] + c["share"]
        total = sum(e["duration"] for e in group)
        ranked.append((rank, {
            "content_id": cid, "events": len(group), "views": c["view"], "clicks": c["click"],
            "likes": c["like"], "shares": c["share"],
            "unique_users": len({e["user_id"] for e in group}),
            "total_duration": total, "avg_duration": ratio(total, len(group), 2),
            "ctr": ratio(c["click"], c["view"]),
            "engagement_rate": ratio(interactions, c["view"]),
            "first_event": fmt_ts(min(e["timestamp"] for e in group)),
            "last_event": fmt_ts(max(e["timestamp"] for e in group)),
        }))
    ranked.sort(key=lambda item: (-item[0], item[1]["content_id"]))
    return _page([row for _, row in ranked], limit, offset)


def user_recommendations(
    events: Iterable[dict], *, start_date: str | dt.datetime | None = None,
    end_date: str | dt.datetime | None = None, limit: int | str | None = None,
    offset: int | str | None = None, user_id: str | None = None,
    recommendation_id: str | None = None, algorithm: str | None = None,
) -> list[dict]:
    """How each user responded to each recommendation they were shown."""
    kept, _, _, limit, offset = _common(events, start_date, end_date, limit, offset)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in kept:
        if (e["recommendation_id"] and _match(e, "user_id", user_id)
                and _match(e, "recommendation_id", recommendation_id)
                and _match(e, "_algorithm", algorithm)):
            groups[(e["user_id"], e["recommendation_id"])].append(e)
    rows = []
    for (uid, rid), group in groups.items():
        c = _type_counts(group)
        rows.append({
            "user_id": uid, "recommendation_id": rid,
            "algorithm": max(e["_algorithm"] for e in group),
            "impressions": c["view"], "clicks": c["click"], "likes": c["like"],
            "shares": c["share"], "ctr": ratio(c["click"], c["view"]),
            "engaged_seconds": sum(e["duration"] for e in group),
            "first_seen": fmt_ts(min(e["timestamp"] for e in group)),
            "last_seen": fmt_ts(max(e["timestamp"] for e in group)),
            "converted": int(c["click"] + c["like"] + c["share"] > 0),
        })
    rows.sort(key=lambda r: (r["recommendation_id"], r["user_id"]))
    rows.sort(key=lambda r: r["last_seen"], reverse=True)
    return _page(rows, limit, offset)


ENDPOINTS: dict[str, Callable[..., list[dict]]] = {
    "user_content_affinity": user_content_affinity,
    "recommendation_performance": recommendation_performance,
    "session_analysis": session_analysis,
    "content_engagement": content_engagement,
    "user_recommendations": user_recommendations,
}


def run(endpoint: str, events: Iterable[dict], params: dict[str, Any] | None = None) -> list[dict]:
    """Call an endpoint by name with a params dict (e.g. parsed from a query string)."""
    return ENDPOINTS[endpoint](events, **(params or {}))


# ---------------------------------------------------------------- comparison

def diff_rows(expected: list[dict], actual: list[dict]) -> list[str]:
    """Differences between two result sets; floats may differ by one unit in the last rounded place."""
    problems = []
    if len(expected) != len(actual):
        problems.append(f"row count: expected {len(expected)}, got {len(actual)}")
    for i, (exp, act) in enumerate(zip(expected, actual)):
        if list(exp) != list(act):
            problems.append(f"row {i}: columns {list(act)} != expected {list(exp)}")
            continue
        for col, want in exp.items():
            got = act[col]
            if col in FLOAT_PLACES or isinstance(want, float):
                places = FLOAT_PLACES.get(col, 4)
                ok = (isinstance(got, (int, float)) and not isinstance(got, bool)
                      and abs(float(got) - float(want)) <= 10.0 ** -places + 1e-9)
            else:
                ok = type(got) is type(want) and got == want
            if not ok:
                problems.append(f"row {i} ({_row_key(exp)}): {col} expected {want!r}, got {got!r}")
    return problems


def compare_rows(expected: list[dict], actual: list[dict]) -> None:
    """Assert two result sets match (ints/strings exact, rounded floats within one last-place unit)."""
    problems = diff_rows(expected, actual)
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise AssertionError(f"{len(problems)} difference(s):\n{shown}{more}")


def _row_key(row: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in list(row.items())[:2])
