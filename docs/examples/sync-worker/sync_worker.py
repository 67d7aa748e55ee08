"""A sync worker: copies the rows of a SQLite table into an Elasticsearch index.

Each row carries a `version` that the database bumps on every change. The worker writes a row
with that version as the document's external version (`version_type=external`), so that when
two workers race, or a retry arrives late, an older copy of a row can never overwrite a newer
one: Elasticsearch answers 409 to it, and the worker moves on.

`UnversionedSyncWorker` is the same worker without the versions, the mistake the tests catch.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from elasticsearch import ApiError, ConflictError, ConnectionError, Elasticsearch

ATTEMPTS = 50  # a node or a primary may be down for a moment: try a row this often
BACKOFF = 0.1  # seconds between two attempts


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    price: int
    version: int

    @property
    def document(self) -> dict:
        return {"name": self.name, "price": self.price}


class Catalog:
    """The database: one `products` table whose rows bump their version on every change."""

    def __init__(self, path: str = ":memory:") -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, "
                        "name TEXT NOT NULL, price INTEGER NOT NULL, version INTEGER NOT NULL)")

    def put(self, id: int, name: str, price: int) -> Row:
        with self.db:
            self.db.execute(
                "INSERT INTO products VALUES (?, ?, ?, 1) ON CONFLICT(id) DO UPDATE SET "
                "name = excluded.name, price = excluded.price, version = version + 1",
                (id, name, price))
        return self.row(id)

    def row(self, id: int) -> Row:
        return Row(*self.db.execute("SELECT id, name, price, version FROM products "
                                    "WHERE id = ?", (id,)).fetchone())

    def rows(self) -> list[Row]:
        return [Row(*r) for r in self.db.execute(
            "SELECT id, name, price, version FROM products ORDER BY id")]


class SyncWorker:
    """Copies every row into `index`, each as a document with the row's version."""

    def __init__(self, catalog: Catalog, es: Elasticsearch, index: str = "products") -> None:
        self.catalog = catalog
        self.es = es
        self.index = index

    def sync(self) -> None:
        self.write(self.catalog.rows())

    def write(self, rows: list[Row]) -> None:
        for row in rows:
            self._write_with_retries(row)

    def _write_with_retries(self, row: Row) -> None:
        for attempt in range(ATTEMPTS):
            try:
                self._index(row)
                return
            except ConflictError:
                return  # the index already holds this version of the row, or a newer one
            except (ConnectionError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.meta.status < 500:
                    raise
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(BACKOFF)  # a node is down or a primary is being replaced

    def _index(self, row: Row) -> None:
        self.es.index(index=self.index, id=str(row.id), document=row.document,
                      version=row.version, version_type="external")


class UnversionedSyncWorker(SyncWorker):
    """The wrong worker: no version, so the last write to arrive wins, even an older row."""

    def _index(self, row: Row) -> None:
        self.es.index(index=self.index, id=str(row.id), document=row.document)
