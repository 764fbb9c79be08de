"""Parameter sets for the regression suite: every filter, second-precision ranges, paging, escaping."""

import itertools

# Ranges inside the fixture month (2024-01-01 .. 2024-01-30): none, whole days, second precision, one partial day.
RANGES = [
    {},
    {"start_date": "2024-01-05 00:00:00", "end_date": "2024-01-12 23:59:59"},
    {"start_date": "2024-01-03 13:45:07", "end_date": "2024-01-17 08:12:59"},
    {"start_date": "2024-01-10 09:30:00", "end_date": "2024-01-10 17:45:31"},
    {"start_date": "2024-01-20 00:00:01"},
    {"end_date": "2024-01-08 12:00:00"},
    {"start_date": "2024-01-29 23:59:59", "end_date": "2024-01-30 00:00:00"},
]
PAGES = [{}, {"limit": "5", "offset": "3"}, {"limit": "10000"}, {"limit": "1", "offset": "0"}]
USERS = ["u_johnsonjoshua", "u_garzaanthony", "u_josé", "u_李雷", "u_😀emoji", "u_nobody'; DROP TABLE x --"]
CONTENT = ["c'quote\"x", "c_ünïcödé", "c0001", "c0002", "nope\\"]
PLATFORMS = ["ios", "android", "web"]
DEVICES = ["mobile", "desktop", "tablet"]
ALGORITHMS = ["hybrid", "collaborative_filtering", "content_based", "trending", "popularity", "unknown"]


def _grid(*axes) -> list[dict]:
    out = []
    for combo in itertools.product(*axes):
        params = {}
        for part in combo:
            params.update(part)
        out.append(params)
    return out


def _seen(sets: list[dict]) -> list[dict]:
    unique, keys = [], set()
    for params in sets:
        key = tuple(sorted(params.items()))
        if key not in keys:
            keys.add(key)
            unique.append(params)
    return unique


def param_sets(pipe: str) -> list[dict]:
    """Deterministic parameter sets for one endpoint (strings, as a query string carries them)."""
    if pipe == "user_content_affinity":
        sets = _grid(RANGES, [{}, {"user_id": USERS[0]}, {"user_id": USERS[2]}, {"user_id": USERS[3]}], [{}, {"by": "content_type"}])
        sets += _grid(RANGES[:3], [{"half_life_days": "0"}, {"half_life_days": "7"}, {"half_life_days": "0.5"}])
        sets += _grid(
            [RANGES[0], RANGES[2]],
            [
                {"view_weight": "0.5", "click_weight": "3", "like_weight": "5", "share_weight": "8"},
                {"duration_weight": "0"},
                {"duration_weight": "2.5", "half_life_days": "14", "by": "content_type"},
            ],
        )
        sets += _grid([RANGES[0], RANGES[3]], PAGES)
        sets += [{"user_id": u} for u in USERS]
    elif pipe == "recommendation_performance":
        sets = _grid(RANGES, [{}, {"platform": "ios"}, {"device": "tablet"}, {"platform": "web", "device": "desktop"}])
        sets += _grid(RANGES[:4], [{"algorithm": a} for a in ALGORITHMS])
        sets += _grid([RANGES[0], RANGES[2]], PAGES)
    elif pipe == "session_analysis":
        sets = _grid(RANGES, [{}, {"platform": "android", "device": "mobile"}, {"user_id": USERS[1]}])
        sets += _grid(RANGES[:4], [{"min_events": "5"}, {"min_events": "15"}, {"platform": "web"}, {"device": "tablet"}])
        sets += _grid([RANGES[0], RANGES[2]], PAGES)
        sets += [{"user_id": u} for u in USERS]
    elif pipe == "content_engagement":
        sets = _grid(RANGES, [{}, {"event_type": "view"}, {"event_type": "click"}, {"event_type": "like"}, {"event_type": "share"}])
        sets += _grid(RANGES[:4], [{"platform": p} for p in PLATFORMS] + [{"device": d} for d in DEVICES])
        sets += _grid([RANGES[0], RANGES[2]], [{"content_id": c} for c in CONTENT])
        sets += _grid([RANGES[0], RANGES[2]], PAGES)
        sets += [{"content_id": CONTENT[0], "event_type": "view", **RANGES[1]}]
    elif pipe == "user_recommendations":
        sets = _grid(RANGES, [{}, {"user_id": USERS[0]}, {"algorithm": "trending"}])
        sets += _grid(RANGES[:4], [{"algorithm": a} for a in ALGORITHMS])
        sets += _grid([RANGES[0], RANGES[2]], PAGES + [{"user_id": u} for u in USERS])
        sets += [{"recommendation_id": "r_d8e88ebb7a9e8eef"}, {"recommendation_id": "r_none"}]
    else:
        raise KeyError(pipe)
    return _seen(sets)


PIPES = ["user_content_affinity", "recommendation_performance", "session_analysis", "content_engagement", "user_recommendations"]

# Bad values and the parameter the 400 message must name.
ERROR_CASES = {
    "user_content_affinity": [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2024-13-45 00:00:00"}, "end_date"),
        ({"start_date": "2024-01-10 00:00:00", "end_date": "2024-01-09 23:59:59"}, "start_date"),
        ({"by": "nonsense"}, "by"),
        ({"half_life_days": "fast"}, "half_life_days"),
        ({"half_life_days": "-1"}, "half_life_days"),
        ({"view_weight": "x"}, "view_weight"),
    ],
    "recommendation_performance": [
        ({"limit": "1.5"}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"start_date": "2024-02-01 00:00:00", "end_date": "2024-01-01 00:00:00"}, "start_date"),
    ],
    "session_analysis": [
        ({"min_events": "many"}, "min_events"),
        ({"limit": "-5"}, "limit"),
        ({"end_date": "not a date"}, "end_date"),
    ],
    "content_engagement": [
        ({"event_type": "hover"}, "event_type"),
        ({"event_type": "VIEW'; --"}, "event_type"),
        ({"limit": "100000"}, "limit"),
    ],
    "user_recommendations": [
        ({"limit": "0"}, "limit"),
        ({"start_date": "2024-01-01T25:00:00"}, "start_date"),
        ({"offset": "-10"}, "offset"),
    ],
}
