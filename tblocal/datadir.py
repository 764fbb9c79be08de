"""Every path under the data dir, in one place: what tblocal keeps where.

    <data dir>/
      tblocal.lock                  held by the serving process (chDB opens a dir once)
      chdb/                         the chDB databases: one per workspace (`tb`, `w_<id>`), with its <db>__shadow
                                    (commits being staged), <db>__internal (parse buffers, in memory) and, during a
                                    build or deployment, <db>__check (a scratch copy of the new tables), and
                                    <db>__tinybird (its service data sources, see usage.py)
      spool/                        batches being parsed (FROM INFILE); a killed process's leftovers go at start
      disk-reserve                  bytes given up on a full disk so a failed commit can be undone
      workspaces.json               the workspaces, the user token, the organization id
      schema-<db>.json              what each workspace database holds (tables, views)
      tokens-<db>.json              each workspace's token values
      committing-<db>               the journal of a commit being published
      workspaces/<id>/              a non-default workspace's datafiles
      workspaces/<id>.deployments/  datafiles of its builds and deployments being checked, and of staged ones
"""

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path


def write_private_json(path: Path, data) -> None:
    """Replace path with data as JSON, atomically, readable by the owner only (it holds tokens)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    tmp.replace(path)


# ---------------------------------------------------------------- database and table names (chdb/)

QUARANTINE_SUFFIX = "_quarantine"


def resource_id(database: str, kind: str, name: str) -> str:
    """A stable id for a workspace's resource ("pipe", "node", "datasource", "token"), shaped like Tinybird's (t_ + 32 hex)."""
    return "t_" + uuid.uuid5(uuid.NAMESPACE_URL, f"tblocal:{database}:{kind}:{name}").hex


def shadow_db(database: str) -> str:
    """The database where commits to database are staged (see write/staging.py)."""
    return f"{database}__shadow"


def internal_db(database: str) -> str:
    """The in-memory database of database's parse buffers."""
    return f"{database}__internal"


def check_db(database: str) -> str:
    """The scratch database a build or deployment of database is checked in."""
    return f"{database}__check"


def service_db(database: str) -> str:
    """The database holding a workspace's service data sources (tinybird.pipe_stats_rt, ...; see usage.py)."""
    return f"{database}__tinybird"


def rewrite_db(database: str) -> str:
    """Where a delete or replace stages the partitions it rewrites (rewrite.py)."""
    return f"{database}__rewrite"


def migration_table(datasource: str) -> str:
    """The table a deployment copies a data source's rows into before swapping it in (migrate.py)."""
    return f"{datasource}__migrate"


def quarantine(datasource: str) -> str:
    """The quarantine table of a data source."""
    return datasource + QUARANTINE_SUFFIX


def quarantined(table: str) -> str | None:
    """The data source whose quarantine table is named table, or None."""
    return table[: -len(QUARANTINE_SUFFIX)] if table.endswith(QUARANTINE_SUFFIX) else None


# ---------------------------------------------------------------- paths

@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "tblocal.lock"

    @property
    def chdb(self) -> Path:
        return self.root / "chdb"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def reserve(self) -> Path:
        return self.root / "disk-reserve"

    @property
    def registry(self) -> Path:
        return self.root / "workspaces.json"

    def schema(self, database: str) -> Path:
        """What a workspace database holds, as recorded at its last change."""
        return self.root / f"schema-{database}.json"

    def tokens(self, database: str) -> Path:
        """A workspace's token values."""
        return self.root / f"tokens-{database}.json"

    def journal(self, database: str) -> Path:
        """The file marking a commit of database being published."""
        return self.root / f"committing-{database}"

    def database_files(self, database: str) -> list[Path]:
        """Every file that belongs to one workspace database."""
        return [self.schema(database), self.tokens(database), self.journal(database)]

    def project(self, workspace_id: str) -> Path:
        """A non-default workspace's datafiles."""
        return self.root / "workspaces" / workspace_id

    def deployments(self, workspace_id: str) -> Path:
        """A workspace's staged deployments."""
        return self.root / "workspaces" / f"{workspace_id}.deployments"
