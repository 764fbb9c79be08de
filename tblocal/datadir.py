"""Every path under the data dir, in one place: what tblocal keeps where.

    <data dir>/
      tblocal.lock                  held by the serving process (chDB opens a dir once)
      chdb/                         the chDB databases: one per workspace, plus its <db>__shadow
      spool/                        batches being parsed (FROM INFILE); a killed process's leftovers go at start
      disk-reserve                  bytes given up on a full disk so a failed commit can be undone
      workspaces.json               the workspaces, the user token, the organization id
      schema-<db>.json              what each workspace database holds (tables, views)
      tokens-<db>.json              each workspace's token values
      committing-<db>               the journal of a commit being published
      workspaces/<id>/              a non-default workspace's datafiles
      workspaces/<id>.deployments/  its staged deployments' datafiles
"""

from dataclasses import dataclass
from pathlib import Path


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
