"""Disk faults: whether the data dir takes writes (full, read-only), the answer to a commit that failed, and when
writes are taken again."""

import logging
import os
import re
import tempfile

from ..engine import EngineError, storage_fault
from ..errors import ApiError, BadRequest, InsufficientStorage, Unavailable
from .body import EVENTS_DOCS

log = logging.getLogger("tblocal")
MIN_FREE_BYTES = 1024 * 1024  # ClickHouse reserves at least 1 MiB for any write
_RESERVE_NEED = re.compile(r"Cannot reserve ([\d.]+) (B|KiB|MiB|GiB|TiB)")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_MEMORY_CODES = {241}  # MEMORY_LIMIT_EXCEEDED


class DiskFaults:
    """The fault state of an Ingestor (mixed in): set when the disk refuses a commit, cleared when it takes one.

    Uses the Ingestor's data_dir, fault, _fault_free_needed, queues and _closing (set in its __init__).
    """

    def _publish_stalled(self, error: BaseException) -> bool:
        """Called while attaching a staged commit keeps failing: refuse new writes; give up only when closing."""
        kind = storage_fault(error)
        if kind:
            self.fault = (kind, self._message(kind))
        else:
            self.fault = ("stalled", f"A commit could not be published and is retried: {error}")
            self._fault_free_needed = 1 << 62  # no write is accepted until it is published
        return self._closing

    def _note_refusal(self, error: ApiError, cause: BaseException | None) -> None:
        if not isinstance(error, InsufficientStorage):
            return
        kind = "read-only" if "read-only" in error.message else "full"
        need = MIN_FREE_BYTES
        m = _RESERVE_NEED.search(str(getattr(cause, "message", "") or cause or ""))
        if m:
            need = max(need, int(float(m.group(1)) * _UNITS[m.group(2)]))
        self._fault_free_needed = need + MIN_FREE_BYTES  # more than the disk lacked when it refused
        if self.fault is None:
            log.warning("writes refused until the disk takes them again: %s (%s)", error.message, cause)
        self.fault = (kind, error.message)

    def _message(self, kind: str) -> str:
        where = str(self.data_dir.resolve()) if self.data_dir else "the data dir"
        if kind == "read-only":
            return (f"The data dir {where} is read-only: nothing of this request was written. "
                    "Writes are accepted again once it is writable.")
        return (f"The disk of the data dir {where} is full: nothing of this request was written. "
                "Free space on it; writes are accepted again by themselves.")

    def write_error(self, exc: BaseException) -> ApiError | None:
        """The answer for a commit that failed with exc (None: an unexpected error, left to the 500 handler)."""
        kind = storage_fault(exc)
        if kind:
            return InsufficientStorage(self._message(kind), EVENTS_DOCS)
        if isinstance(exc, EngineError):
            if exc.code in _MEMORY_CODES:
                return Unavailable(
                    f"Writing the rows ran out of memory, so none was written; retry, or send smaller requests: {exc.message}",
                    EVENTS_DOCS,
                )
            return BadRequest(f"The rows could not be written (a materialized view refused them), so none was: {exc.message}", EVENTS_DOCS)
        return None

    def free_bytes(self) -> int | None:
        """Free bytes on the data dir's disk (0 when read-only, None without a data dir)."""
        if self.data_dir is None:
            return None
        try:
            st = os.statvfs(self.data_dir)
        except OSError:
            return None
        return 0 if st.f_flag & os.ST_RDONLY else st.f_bavail * st.f_frsize

    def _read_only(self) -> bool:
        try:
            return bool(self.data_dir is not None and os.statvfs(self.data_dir).f_flag & os.ST_RDONLY)
        except OSError:
            return False

    def _writable(self) -> bool:
        try:
            fd, path = tempfile.mkstemp(prefix="probe-", dir=self.data_dir)
            os.close(fd)
            os.unlink(path)
            return True
        except OSError:
            return False

    def problem(self) -> str | None:
        """Why writes are refused right now, or None. A fault with nothing queued ends here once the
        disk has room again (or is writable again); with rows queued, their commit ends it."""
        if self.fault is None:
            return None
        if not any(self.queues.values()) and self._disk_ok(0):
            self.fault = None
            return None
        return self.fault[1]

    def _disk_ok(self, size: int) -> bool:
        free = self.free_bytes()
        if free is None:
            return True
        if self.fault is not None:
            if self.fault[0] == "read-only" and not self._writable():
                return False
            return free >= max(self._fault_free_needed, MIN_FREE_BYTES + size)
        return free >= MIN_FREE_BYTES + size

