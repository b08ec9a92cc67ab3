"""The one way EcoAI opens a SQLite database and runs a transaction (measure store, node state, web index)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path | str, *, synchronous: str = "NORMAL", timeout_s: float = 30.0) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with rows addressable by name.

    Autocommit (isolation_level=None) so that `transaction` alone decides where a transaction starts and ends;
    WAL so that readers (the web, `ecoai oracle status`) never block the writer.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error (the write lock is taken up front, so two writers
    queue instead of failing half-way with SQLITE_BUSY)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect_readonly(path: Path | str, *, timeout_s: float = 30.0, mmap_bytes: int = 0) -> sqlite3.Connection:
    """A read-only connection (rows addressable by name) to a database another connection writes in WAL mode.

    mmap_bytes > 0 maps the file instead of copying its pages through read() (address space, not memory: the
    pages are the OS's file cache); the web's readers use it for their hot lookups.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    if mmap_bytes:
        conn.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
    return conn
