"""The group commit: bodies from many requests queue per data source and are written in batches by one thread."""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..datadir import DataDir
from ..engine import Engine, EngineError, quote_ident
from ..errors import ApiError, InsufficientStorage, TooManyRequests, Unavailable
from ..project import Project
from . import compaction
from .body import EVENTS_DOCS
from .disk import MIN_FREE_BYTES, DiskFaults
from .linger import Linger
from .rows import Outcome, Request, Writer
from .staging import PublishPending, Staging

log = logging.getLogger("tblocal")
_UNANSWERED = object()  # a commit left to finish at the next start: its waiters get no answer


@dataclass
class _Pending:
    request: Request
    done: asyncio.Future | None


class Ingestor(DiskFaults):
    """Accepts bodies from many requests and writes them in large batches from one thread.

    A wait=true request is answered after its batch was published (the rows are on disk and
    queryable); wait=false requests are answered at once and written with the next batch (at the
    latest at shutdown). When writes pause, partitions are compacted.

    Every commit is all or nothing (see staging.py). A commit the disk refuses (full or read-only)
    puts the ingestor in a fault: new writes are answered 507, acknowledged wait=false rows stay
    queued (within max_queue_bytes) and are retried every retry_s, and the fault ends by itself
    with the first commit that succeeds.
    """

    def __init__(self, engine: Engine, project: Project, database: str, max_queue_bytes: int,
                 batch_bytes: int = 32 * 1024 * 1024, compact_after_s: float = 0, journal: Path | None = None,
                 rebuild_views=None, reserve_bytes: int = 8 * 1024 * 1024, retry_s: float = 1.0):
        self.engine, self.database, self.compact_after_s = engine, database, compact_after_s
        engine_path = getattr(engine, "path", None)
        self.data_dir = Path(engine_path).parent if engine_path else None
        reserve = DataDir(self.data_dir).reserve if self.data_dir else None
        self.staging = Staging(engine, project, database, journal, reserve, reserve_bytes, rebuild_views)
        self.staging.open()
        self.writers = {name: Writer(engine, database, ds, self.staging.shadow) for name, ds in project.datasources.items()}
        self.max_queue_bytes, self.batch_bytes, self.retry_s = max_queue_bytes, batch_bytes, retry_s
        self.queues: dict[str, list[_Pending]] = {name: [] for name in self.writers}
        self.queued_bytes = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tblocal-writer")
        self._linger = Linger()
        self._lock = threading.Lock()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._compactor: asyncio.Task | None = None
        self._closing = False
        self._stopped = False  # closed: the queue is written and nothing more is
        self.closed_because = "The server is starting or shutting down"
        self.last_write = time.monotonic()
        # While the disk refuses writes: (kind, message) and the free space it must reach to accept again.
        self.fault: tuple[str, str] | None = None
        self._fault_free_needed = 0

    # -- the door for what writes the tables outside the queue: copies, deletes and replaces

    @contextlib.contextmanager
    def exclusive(self, docs: str = EVENTS_DOCS) -> Iterator[None]:
        """Hold the writer's lock: no commit lands until the block ends. 503 (with docs) once the writer is
        closed: a build or deployment is replacing these tables, or the server stops."""
        with self._lock:
            if self._stopped:
                raise Unavailable(self.closed_because, docs)
            yield

    def parse_into(self, database: str, datasource: str, requests: list[Request]) -> None:
        """Parse requests as an append does, but into database's copies of datasource and its quarantine (a
        replace's scratch tables), filling each outcome; called inside exclusive(), like every commit."""
        writer = self.writers[datasource]
        saved, writer.target_db = writer.target_db, database
        try:
            for request in requests:
                writer.commit([request])
        finally:
            writer.target_db = saved

    def publish_rewrite(self, datasource: str, swap: Callable[[], None], docs: str) -> None:
        """Run swap() (a delete's or replace's partitions swapped in) under the journal; inside exclusive()."""
        self.staging.publish_rewrite(datasource, swap, docs)

    def write_select(self, datasource: str, columns: list[str], select: str) -> int:
        """Write a SELECT's rows into datasource as one commit (staged with the views downstream, then
        published; errors as write_now's); how many rows it wrote."""
        written = [0]
        names = ", ".join(map(quote_ident, columns))

        def write() -> None:
            self.staging.begin()
            shadow = self.staging.shadow_table(datasource)
            self.engine.execute(f"INSERT INTO {shadow} ({names}) {select}")
            written[0] = int(self.engine.scalar(f"SELECT count() FROM {shadow}") or 0)

        self.write_staged(datasource, write)
        return written[0]

    # -- writing (the writer thread, or a caller loading files)

    def write_now(self, datasource: str, requests: list[Request], refused: str | None = None) -> None:
        """Write synchronously, bypassing the queue (loading files, tests): all of requests' rows, or none
        (raising the ApiError to answer: 507 when the disk refuses, 400 when a view refuses the rows)."""
        def reset() -> None:
            for r in requests:
                r.outcome = Outcome()

        self.write_staged(datasource, lambda: self.writers[datasource].commit(
            requests, refused, before_write=self.staging.begin), reset)

    def write_staged(self, datasource: str, write, on_failure=lambda: None) -> None:
        """Run write() between the writer's commits and publish what it staged (a write() that stages calls
        staging.begin(), then writes into the staging.shadow database): all or nothing, errors as write_now's."""
        with self.exclusive():
            try:
                try:
                    write()
                    self.staging.publish(self._publish_stalled, self.retry_s, datasource)
                except PublishPending:
                    raise
                except Exception:  # (a BaseException is a dying process: the next start drops the shadow)
                    on_failure()
                    self.staging.abort()
                    raise
            except PublishPending:
                raise
            except ApiError as e:
                self._note_refusal(e, None)
                raise
            except Exception as e:
                error = self.write_error(e)
                if error is None:
                    raise
                self._note_refusal(error, e)
                raise error from None
            if self.fault is not None:
                log.warning("writes accepted again: %s", self.fault[1])
            self.fault = None
            self.staging.ensure_reserve()

    def _wait_for_writes(self) -> None:
        with self._lock:
            pass

    def _write_batch(self, name: str, batch: list[_Pending]) -> list[tuple[_Pending, object]]:
        """Write a batch in the writer thread; (pending, None | error | _UNANSWERED) for each request.

        When a batch fails for a reason of its own (a view refused some rows), each request is
        retried alone, so only the guilty ones fail. An acknowledged (wait=false) request that fails
        alone has its lines quarantined with the reason."""
        try:
            self.write_now(name, [p.request for p in batch])
            return [(p, None) for p in batch]
        except PublishPending:
            return [(p, _UNANSWERED) for p in batch]
        except ApiError as e:
            first = e
        results: list[tuple[_Pending, object]] = []
        if isinstance(first, InsufficientStorage) or len(batch) == 1:
            results = [(p, first) for p in batch]
        else:
            for i, p in enumerate(batch):
                try:
                    self.write_now(name, [p.request])
                    results.append((p, None))
                except PublishPending:
                    results.append((p, _UNANSWERED))
                except InsufficientStorage as e:
                    results += [(q, e) for q in batch[i:]]
                    break
                except ApiError as e:
                    results.append((p, e))
        out = []
        for p, error in results:
            if isinstance(error, ApiError) and not isinstance(error, InsufficientStorage) and p.done is None:
                try:
                    self.write_now(name, [p.request], refused=error.message)
                    log.warning("an acknowledged request's rows were quarantined: %s", error.message)
                    error = None
                except ApiError as e:
                    if isinstance(e, InsufficientStorage):
                        error = e  # kept queued, retried when the disk takes it
                    else:
                        log.error("an acknowledged request could not be written nor quarantined (%s); its rows are dropped", e.message)
            out.append((p, error))
        return out

    # -- the queue (asyncio side)

    async def start(self) -> None:
        """Start the background writer loop."""
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run())
        if self.compact_after_s > 0:
            self._compactor = asyncio.create_task(self._compact_when_idle())

    async def submit(self, datasource: str, request: Request, wait: bool) -> Outcome | None:
        """Queue a body; with wait, return its outcome once written (507 while the disk refuses writes)."""
        if self._closing or self._task is None:
            raise Unavailable(self.closed_because, EVENTS_DOCS)
        if not self._disk_ok(len(request.body)):
            if self.fault is None:
                kind = "read-only" if self._read_only() else "full"
                self.fault = (kind, self._message(kind))
                self._fault_free_needed = MIN_FREE_BYTES + len(request.body)
                log.warning("writes refused until the disk has room again: %s", self.fault[1])
            raise InsufficientStorage(self.fault[1], EVENTS_DOCS)
        if self.queued_bytes + len(request.body) > self.max_queue_bytes:
            raise TooManyRequests("Too many rows waiting to be written; retry shortly", EVENTS_DOCS)
        done = asyncio.get_running_loop().create_future() if wait else None
        self.last_write = time.monotonic()
        self.queues[datasource].append(_Pending(request, done))
        self.queued_bytes += len(request.body)
        self._wakeup.set()
        return await done if done else None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stalls_at_close = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while any(self.queues.values()):
                stalled = False
                for name, queue in self.queues.items():
                    if not queue:
                        continue
                    if not self._closing:
                        await self._linger.gather(name, queue, self._wakeup)
                    started = time.monotonic()
                    batch, size = [], 0
                    while queue and (not batch or size + len(queue[0].request.body) <= self.batch_bytes):
                        batch.append(queue.pop(0))
                        size += len(batch[-1].request.body)
                    try:
                        results = await loop.run_in_executor(self._thread, self._write_batch, name, batch)
                    except Exception as e:  # a failed write must fail its waiters, never hang them
                        results = [(p, e) for p in batch]
                    requeue = []
                    for p, error in results:
                        if isinstance(error, InsufficientStorage) and p.done is None:
                            requeue.append(p)  # acknowledged: kept, in order, until the disk takes it
                            continue
                        self.queued_bytes -= len(p.request.body)
                        if error is _UNANSWERED or p.done is None or p.done.done():
                            continue
                        if error is None:
                            p.done.set_result(p.request.outcome)
                        else:
                            p.done.set_exception(error)
                    if requeue:
                        queue[0:0] = requeue
                        stalled = True
                    answered = sum(1 for p, error in results if p.done is not None and error is None)
                    self._linger.committed(name, answered, len(queue), time.monotonic() - started)
                if stalled:
                    if self._closing:
                        stalls_at_close += 1
                        if stalls_at_close > 3:
                            lost = sum(len(q) for q in self.queues.values())
                            log.error("stopping with %d acknowledged requests unwritten: %s", lost, self.fault and self.fault[1])
                            return
                    await asyncio.sleep(self.retry_s)
            if self._closing:
                return

    async def _compact_when_idle(self) -> None:
        """Once no rows have arrived for compact_after_s, merge each fragmented partition into one part
        (on its own thread, so writes go on; a write that arrives stops it after the current partition)."""
        compacted = None  # last_write as of the last finished compaction
        while not self._closing:
            await asyncio.sleep(min(1.0, self.compact_after_s))
            stamp = self.last_write
            if stamp == compacted or time.monotonic() - stamp < self.compact_after_s:
                continue
            stop = lambda: self._closing or self.last_write != stamp  # noqa: E731
            try:
                await asyncio.to_thread(compaction.compact, self.engine, self.database, stop)
            except EngineError:  # compaction only speeds reads up; it never fails a client
                pass
            if not stop():
                compacted = stamp

    async def close(self, because: str = "The server is shutting down") -> None:
        """Write everything still queued, then stop the writer; later writes get 503 saying because."""
        self.closed_because = because
        self._closing = True
        if self._compactor is not None:  # a partition being merged finishes on its thread; no other starts
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._task is not None:
            self._wakeup.set()
            await self._task
        self._stopped = True  # a copy (write_staged from another thread) still running finishes first
        await asyncio.to_thread(self._wait_for_writes)
        self._thread.shutdown(wait=True)
        await asyncio.to_thread(self.staging.close)
