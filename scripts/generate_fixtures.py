#!/usr/bin/env python3
"""Generate realistic, seeded `user_events` NDJSON fixtures (docs/endpoints.md, "Data source: `user_events`").

Same arguments -> byte-identical output (for the pinned Faker version).
Events are streamed session by session, so 10M events need little memory.

Usage:
    python scripts/generate_fixtures.py --events 20000 --seed 42 \
        --start 2024-01-01 --days 30 --out fixtures/user_events.ndjson
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import io
import itertools
import json
import random
import sys
from dataclasses import dataclass
from typing import IO, Iterator

from faker import Faker
from tqdm import tqdm

# Algorithm -> probability that a recommended view is followed by a click.
# Distinct CTRs so recommendation_performance has something to rank.
ALGORITHMS = {
    "collaborative_filtering": 0.22,
    "content_based": 0.15,
    "trending": 0.10,
    "hybrid": 0.27,
    "popularity": 0.07,
}
ALGORITHM_NAMES = list(ALGORITHMS)
ALGORITHM_WEIGHTS = [0.25, 0.25, 0.15, 0.25, 0.10]
ORGANIC_CTR = 0.08
LIKE_AFTER_CLICK = 0.35
SHARE_AFTER_CLICK = 0.12
HOVER_RATE = 0.01  # a non-contract event type: must count only in `events`
RECOMMENDED_STEP_RATE = 0.46  # tuned so ~half of all events carry a recommendation

CONTENT_TYPES = ["video", "article", "podcast", "image"]
CONTENT_TYPE_WEIGHTS = [0.4, 0.35, 0.1, 0.15]
REC_SOURCES = ["home_feed", "similar_items", "email", "push"]
ORGANIC_SOURCES = ["search", "direct", "browse", "external"]

# (platform, device) per user; weights sum to 1.
PLATFORM_DEVICES = [
    ("ios", "mobile"), ("ios", "tablet"),
    ("android", "mobile"), ("android", "tablet"),
    ("web", "desktop"), ("web", "mobile"), ("web", "tablet"),
]
PLATFORM_DEVICE_WEIGHTS = [0.27, 0.06, 0.28, 0.04, 0.25, 0.07, 0.03]

# Session length 1..20, skewed to short sessions.
SESSION_LENGTHS = list(range(1, 21))
SESSION_LENGTH_WEIGHTS = [1.0 / (n ** 0.7) for n in SESSION_LENGTHS]
MEAN_SESSION_LENGTH = (
    sum(n * w for n, w in zip(SESSION_LENGTHS, SESSION_LENGTH_WEIGHTS))
    / sum(SESSION_LENGTH_WEIGHTS)
)

# Ids that tests use to exercise escaping (quotes, non-ASCII, 4-byte UTF-8).
SPECIAL_USERS = ["u_josé", "u_李雷", "u_😀emoji"]
SPECIAL_CONTENT = ["c'quote\"x", "c_ünïcödé"]


@dataclass(frozen=True)
class Options:
    """Generator settings."""

    events: int
    seed: int
    start: dt.date
    days: int
    users: int = 0  # 0: events // 40
    contents: int = 0  # 0: events // 50


def zipf_cum_weights(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights 1/rank**s for ranks 1..n (for bisect sampling)."""
    return list(itertools.accumulate(1.0 / (rank ** s) for rank in range(1, n + 1)))


def make_users(rng: random.Random, fake: Faker, count: int) -> list[tuple[str, str, str]]:
    """Build (user_id, platform, device) tuples; platform/device fixed per user."""
    seen: set[str] = set()
    users = []
    for i in range(count):
        name = f"u_{fake.user_name()}"
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        platform, device = rng.choices(PLATFORM_DEVICES, PLATFORM_DEVICE_WEIGHTS)[0]
        users.append((name, platform, device))
    # Put the special users at mid-popularity ranks so they appear but don't dominate.
    for k, special in enumerate(SPECIAL_USERS):
        idx = min(count - 1, 3 + 5 * k)
        users[idx] = (special,) + users[idx][1:]
    return users


def make_content(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Build (content_id, content_type) tuples ordered by popularity rank."""
    width = max(4, len(str(count)))
    content = [
        (f"c{i:0{width}d}", rng.choices(CONTENT_TYPES, CONTENT_TYPE_WEIGHTS)[0])
        for i in range(1, count + 1)
    ]
    for k, special in enumerate(SPECIAL_CONTENT):
        idx = min(count - 1, 2 + 4 * k)
        content[idx] = (special, content[idx][1])
    return content


def view_duration(rng: random.Random, content_type: str) -> int:
    """Seconds spent viewing; videos and podcasts run longer than articles/images."""
    median = {"video": 180.0, "podcast": 420.0, "article": 75.0, "image": 12.0}[content_type]
    return max(1, min(3600, int(rng.lognormvariate(0.0, 0.8) * median)))


class DayFormatter:
    """Format epoch seconds as 'YYYY-MM-DD hh:mm:ss' fast (strftime is slow at 10M rows)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        day, secs = divmod(epoch, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
            self._days[day] = prefix
        h, rem = divmod(secs, 3600)
        m, s = divmod(rem, 60)
        return f"{prefix} {h:02d}:{m:02d}:{s:02d}"


class Generator:
    """Seeded event stream: users browse in sessions, some views come from recommendations."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        fake = Faker("en_US")
        fake.seed_instance(opts.seed)
        n = max(1, opts.events)
        self.users = make_users(self.rng, fake, max(len(SPECIAL_USERS) + 5, opts.users or n // 40))
        self.user_cum = zipf_cum_weights(len(self.users), 0.6)
        self.content = make_content(self.rng, max(len(SPECIAL_CONTENT) + 10, opts.contents or n // 50))
        self.content_cum = zipf_cum_weights(len(self.content), 1.07)
        self.fmt = DayFormatter()
        self.dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._meta_cache: dict[tuple, str] = {}
        self._session_cum = list(itertools.accumulate(SESSION_LENGTH_WEIGHTS))
        self._alg_cum = list(itertools.accumulate(ALGORITHM_WEIGHTS))
        self._json_cache: dict[str, str] = {}

    def _pick(self, items: list, cum: list[float]):
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def _rec_metadata(self, algorithm: str, content_type: str, source: str, position: int) -> str:
        key = (algorithm, content_type, source, position)
        meta = self._meta_cache.get(key)
        if meta is None:
            meta = self.dumps({"algorithm": algorithm, "content_type": content_type,
                               "source": source, "position": position})
            self._meta_cache[key] = meta
        return meta

    def _organic_metadata(self, content_type: str) -> str:
        r = self.rng.random()
        if r < 0.3:
            return "{}"
        if r < 0.5:
            return self.dumps({"content_type": content_type})
        return self.dumps({"content_type": content_type,
                           "source": ORGANIC_SOURCES[int(r * 1000) % len(ORGANIC_SOURCES)]})

    def _event_id(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        # RFC 4122 version 4 layout: version nibble 4, variant nibble 8..b.
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"

    def _json(self, value: str) -> str:
        """JSON-encode a string, cached: ids and metadata repeat a lot."""
        enc = self._json_cache.get(value)
        if enc is None:
            enc = self.dumps(value)
            self._json_cache[value] = enc
        return enc

    def _session(self, start: int, end: int, budget: int) -> Iterator[str]:
        """Yield the NDJSON lines of one session (at most `budget`), clamped to the window."""
        rng = self.rng
        user_id, platform, device = self._pick(self.users, self.user_cum)
        # Constant per session: encode once. Line layout follows the column order of docs/endpoints.md.
        head = (f',"user_id":{self._json(user_id)},"event_type":"')
        tail = (f',"session_id":"s_{rng.getrandbits(64):016x}","device":{self._json(device)}'
                f',"platform":{self._json(platform)},"duration":')
        length = min(budget, rng.choices(SESSION_LENGTHS, cum_weights=self._session_cum)[0])
        t = start
        emitted = 0
        while emitted < length:
            content_id, content_type = self._pick(self.content, self.content_cum)
            if rng.random() < RECOMMENDED_STEP_RATE:
                algorithm = rng.choices(ALGORITHM_NAMES, cum_weights=self._alg_cum)[0]
                position = 1 + min(9, int(rng.expovariate(0.35)))
                ctr = ALGORITHMS[algorithm] * (1.3 - 0.06 * position)
                rec_id = f"r_{rng.getrandbits(64):016x}"
                meta = self._rec_metadata(algorithm, content_type,
                                          REC_SOURCES[position % len(REC_SOURCES)], position)
                roll = rng.random()
                if roll < 0.002:
                    meta = "not-json"  # kept as text, must read as {} -> algorithm 'unknown'
                elif roll < 0.006:
                    meta = self.dumps({"content_type": content_type})  # no algorithm
            else:
                ctr, rec_id, meta = ORGANIC_CTR, "", self._organic_metadata(content_type)
            first = "hover" if rng.random() < HOVER_RATE else "view"
            steps = [(first, rng.randint(0, 3) if first == "hover" else view_duration(rng, content_type))]
            if rng.random() < ctr:
                steps.append(("click", rng.randint(0, 5)))
                if rng.random() < LIKE_AFTER_CLICK:
                    steps.append(("like", rng.randint(0, 2)))
                if rng.random() < SHARE_AFTER_CLICK:
                    steps.append(("share", rng.randint(1, 15)))
            mid = (f'","content_id":{self._json(content_id)},"recommendation_id":"{rec_id}"'
                   ',"timestamp":"')
            meta_json = self._json(meta)
            for event_type, duration in steps:
                if emitted >= length:
                    break
                yield (f'{{"event_id":"{self._event_id()}"{head}{event_type}{mid}'
                       f'{self.fmt(min(t, end - 1))}"{tail}{duration},"metadata":{meta_json}}}')
                emitted += 1
                # Next event comes after this one's dwell time plus a short gap.
                t += duration + rng.randint(1, 45)

    def lines(self) -> Iterator[str]:
        """Yield exactly opts.events NDJSON lines (no newline), sessions in start-time order."""
        epoch0 = int(dt.datetime(self.opts.start.year, self.opts.start.month,
                                 self.opts.start.day, tzinfo=dt.timezone.utc).timestamp())
        end = epoch0 + self.opts.days * 86400
        t = float(epoch0)
        remaining = self.opts.events
        while remaining > 0:
            # Poisson-ish arrivals whose mean gap spreads the remaining events over the
            # remaining time, so the window is filled evenly and never overrun.
            mean_gap = (end - t) / max(1.0, remaining / MEAN_SESSION_LENGTH)
            t = min(t + self.rng.expovariate(1.0 / max(mean_gap, 1e-3)), end - 1)
            for line in self._session(int(t), end, remaining):
                remaining -= 1
                yield line


def write_events(opts: Options, out: IO[str], progress: bool | None = None) -> int:
    """Write opts.events NDJSON lines to `out`; returns the number written."""
    gen = Generator(opts)
    show = progress if progress is not None else (opts.events >= 100_000 and sys.stderr.isatty())
    written = 0
    buf: list[str] = []
    with tqdm(total=opts.events, unit="ev", unit_scale=True, disable=not show,
              file=sys.stderr) as bar:
        for line in gen.lines():
            buf.append(line)
            if len(buf) >= 10_000:
                out.write("\n".join(buf) + "\n")
                written += len(buf)
                bar.update(len(buf))
                buf.clear()
        if buf:
            out.write("\n".join(buf) + "\n")
            written += len(buf)
            bar.update(len(buf))
    return written


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000, help="number of events")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1),
                   help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--users", type=int, default=0, help="distinct users (default: events / 40)")
    p.add_argument("--contents", type=int, default=0, help="distinct contents (default: events / 50)")
    p.add_argument("--out", default="-", help="output path, '-' for stdout")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="force the progress bar on/off (default: on for large N on a tty)")
    args = p.parse_args(argv)
    if args.events < 0 or args.days < 1:
        p.error("--events must be >= 0 and --days >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    opts = Options(events=args.events, seed=args.seed, start=args.start, days=args.days, users=args.users, contents=args.contents)
    if args.out == "-":
        # Explicit UTF-8 and '\n' so output bytes don't depend on the locale or OS.
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            write_events(opts, out, args.progress)
        finally:
            out.flush()
            out.detach()
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as out:
            write_events(opts, out, args.progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
