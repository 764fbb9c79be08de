"""The write path, as the web layer sees it: bodies in, rows written all or nothing.

Modules: `body` (decoding, limits, draining), `rows` (validation, quarantine: the Writer),
`queue` (the group commit: the Ingestor), `disk` (fault state), `staging` (all-or-nothing
commits and their journal), `compaction` (merging parts when idle). Copies, deletes and replaces come in
through the Ingestor's door (`exclusive`, `write_select`, `parse_into`, `publish_rewrite`) and `repoint`.
"""

from .body import DRAIN_LIMIT_BYTES, EVENTS_DOCS, count_lines, decode_body, drain
from .queue import Ingestor
from .rows import Outcome, Request
from .staging import repoint

__all__ = ["DRAIN_LIMIT_BYTES", "EVENTS_DOCS", "Ingestor", "Outcome", "Request", "count_lines", "decode_body", "drain", "repoint"]
