"""Versioned documents in the registry: JSON records of one kind and name (experiments,
pipeline runs, tokens) that change over time, beside the definitions.

Each document has a version that grows by one with every write; :meth:`put_document` with
``expected`` writes only when the stored version is still that one (compare-and-set), so two
writers never lose each other's change, and a reader polls :meth:`document_version` (one
single-row query) to see whether anything changed. The table is created by the first write,
so registries made before it existed gain it then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skewless.errors import RegistryConflictError
from skewless.registry.sql import SqlConnections

__all__ = ["DOCUMENTS_SCHEMA", "Document", "DocumentTables"]

DOCUMENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS {documents} (
    project     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (project, kind, name)
)
"""


@dataclass(frozen=True)
class Document:
    """One stored document: its kind, name, version (1 for the first write) and JSON body."""

    kind: str
    name: str
    version: int
    body: str
    updated_at: datetime


class DocumentTables(SqlConnections):
    """The documents table of a registry (see the module docstring)."""

    def put_document(self, kind: str, name: str, body: str, expected: int | None) -> int:
        """Write document ``kind``/``name``; its new version.

        Args:
            expected: the version the caller read (0 for a new document); None writes
                whatever is stored.

        Raises:
            RegistryConflictError: the stored version is not ``expected`` (another writer
                changed it, or ``expected`` is 0 and it exists).
        """
        now = datetime.now(UTC).isoformat()
        with self._write("commit") as conn:
            self._execute(conn, DOCUMENTS_SCHEMA)
            row = self._execute(
                conn,
                "SELECT version FROM {documents} WHERE project = ? AND kind = ? AND name = ?",
                (self.project, kind, name),
            ).fetchone()
            stored = 0 if row is None else int(row[0])
            if expected is not None and stored != expected:
                what = "exists already" if expected == 0 else f"is at version {stored}"
                raise RegistryConflictError(
                    f"{kind} {name!r} {what}, not version {expected}, in registry "
                    f"{self.location}: another writer changed it; read it again and retry"
                )
            version = stored + 1
            self._execute(
                conn,
                "INSERT INTO {documents} (project, kind, name, version, body, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, kind, name) DO UPDATE SET "
                "version = excluded.version, body = excluded.body, "
                "updated_at = excluded.updated_at",
                (self.project, kind, name, version, body, now),
            )
        return version

    def get_document(self, kind: str, name: str) -> Document | None:
        """Document ``kind``/``name``; None when there is none."""

        def query(conn: Any) -> Document | None:
            row = self._execute(
                conn,
                "SELECT version, body, updated_at FROM {documents} "
                "WHERE project = ? AND kind = ? AND name = ?",
                (self.project, kind, name),
            ).fetchone()
            return None if row is None else _document(kind, name, row)

        return self._read(query, None, atomic=False)

    def document_version(self, kind: str, name: str) -> int:
        """The version of document ``kind``/``name`` (0 when there is none)."""
        found = self.get_document(kind, name)
        return 0 if found is None else found.version

    def list_documents(self, kind: str) -> list[Document]:
        """Every document of ``kind``, by name."""

        def query(conn: Any) -> list[Document]:
            rows = self._execute(
                conn,
                "SELECT name, version, body, updated_at FROM {documents} "
                "WHERE project = ? AND kind = ? ORDER BY name",
                (self.project, kind),
            ).fetchall()
            return [_document(kind, str(r[0]), r[1:]) for r in rows]

        return self._read(query, [], atomic=False)

    def delete_document(self, kind: str, name: str) -> bool:
        """Forget document ``kind``/``name``; True when there was one."""
        with self._write("commit") as conn:
            self._execute(conn, DOCUMENTS_SCHEMA)
            cursor = self._execute(
                conn,
                "DELETE FROM {documents} WHERE project = ? AND kind = ? AND name = ?",
                (self.project, kind, name),
            )
            return bool(cursor.rowcount)


def _document(kind: str, name: str, row: Any) -> Document:
    version, body, updated_at = row
    return Document(kind, name, int(version), str(body), datetime.fromisoformat(str(updated_at)))
