"""Exactly one indexer writes: a lock kept in the index database itself (never a file next to it).

PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) taken on the indexer's own connection, which it
keeps for as long as it indexes and on which it also writes. The server releases the lock when that session
ends (a crash, a lost network), and a writer that lost its session cannot commit anything: fencing for free.
The `indexer_lock` row only names the holder, for the "waiting for …" log line of the others.

SQLite (no advisory locks): the `indexer_lock` row is the lock, a lease: owner + heartbeat. Taking it is one
BEGIN IMMEDIATE transaction (the file's write lock serialises contenders): free, expired (no heartbeat for
`ttl_s`) or already ours → ours. The holder renews the heartbeat while it runs, and every batch it commits
re-checks in the same transaction that the row still names it (`confirm`), so an indexer that stalled past
its lease and was replaced rolls its batch back instead of double-indexing.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Connection

from web.db.schema import indexer_lock, transaction, upsert

INDEXER_LOCK_KEY = 0x65636F6169_02  # "ecoai" + 2: the advisory lock's bigint key (1 is the migration lock)
DEFAULT_TTL_S = 30.0


class LockBusy(RuntimeError):
    """Another indexer holds the lock (its owner string is the message)."""


class LockLost(RuntimeError):
    """This indexer's lease expired and another one took over: stop writing."""


def default_owner() -> str:
    return f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:6]})"


class IndexerLock:
    """The indexer lock over one dedicated connection (the indexer's)."""

    def __init__(self, conn: Connection, owner: str | None = None, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.conn = conn
        self.owner = owner or default_owner()
        self.ttl_s = ttl_s
        self.held = False
        self._beat = 0.0
        self._postgresql = conn.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or expired, on SQLite); False if another indexer holds it."""
        now = time.time()
        with transaction(self.conn):
            if self._postgresql:
                if not self.conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": INDEXER_LOCK_KEY}).scalar():
                    return False
            else:
                row = self.conn.execute(select(indexer_lock).where(indexer_lock.c.id == 1)).mappings().first()
                if row is not None and row["owner"] != self.owner and now - row["heartbeat"] <= self.ttl_s:
                    return False
            upsert(self.conn, indexer_lock, {"id": 1, "owner": self.owner, "acquired_at": now, "heartbeat": now},
                   ("id",))
        self.held = True
        self._beat = now
        return True

    def holder(self) -> str | None:
        """Who holds the lock, as its holder wrote it (None: nobody, as far as the row says)."""
        with transaction(self.conn):
            row = self.conn.execute(select(indexer_lock.c.owner, indexer_lock.c.heartbeat)).first()
        if row is None:
            return None
        return f"{row[0]} (heartbeat {time.time() - row[1]:.0f} s ago)"

    def confirm(self) -> None:
        """Inside the caller's write transaction: renew the heartbeat and check the lock is still ours."""
        now = time.time()
        result = self.conn.execute(update(indexer_lock).where(indexer_lock.c.id == 1,
                                                              indexer_lock.c.owner == self.owner)
                                   .values(heartbeat=now))
        if result.rowcount != 1:
            self.held = False
            raise LockLost(f"the indexer lock is no longer held by {self.owner}")
        self._beat = now

    def keep_alive(self) -> None:
        """Renew the lease when a third of it has passed (an idle indexer writes nothing else)."""
        if time.time() - self._beat >= self.ttl_s / 3:
            with transaction(self.conn):
                self.confirm()

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with transaction(self.conn):
            self.conn.execute(delete(indexer_lock).where(indexer_lock.c.owner == self.owner))
            if self._postgresql:
                self.conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": INDEXER_LOCK_KEY})
