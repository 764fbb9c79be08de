"""`make bench`: tblocal against plain chDB, measured side by side in one run.

Modules, imports running one way (each imports only those above it):

  stats       the one percentile rule, summaries, timed loops, medians
  workload    the generated events, their batches, the endpoint cases and their naive SQL (naive.sql)
  servers     a tblocal server under test: requests, batches through the Events API, RSS, settling
  plain       plain chDB in a subprocess: the same batches ingested, then the naive SQL answered
  reports     targets, verdicts, tables, Markdown and the chart
  sizes, stream, usage, isolation, forget
              one module per workload, each runnable alone (`python -m benchmark.<name>`)
  __main__    `make bench`: every size, then the stream workload

Run from scripts/: `cd scripts && ../.venv/bin/python -m benchmark --events 1000000`.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
for _path in (str(ROOT), str(ROOT / "scripts")):  # tblocal, and the scripts the workloads drive (user_token, forget_user)
    if _path not in sys.path:
        sys.path.insert(0, _path)
