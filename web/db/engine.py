"""Where the web index lives: a database URL (SQLite file or PostgreSQL) → SQLAlchemy engines, and upgrades.

One `Database` per process. SQLite (the default, a file under the state directory): WAL, writers take the
write lock up front (BEGIN IMMEDIATE, as oracle.sqlite.transaction does) so two writers queue instead of
failing half-way, readers open the file read-only. PostgreSQL (`postgresql://…`, driven by psycopg 3): readers
run in autocommit, so a page never holds a transaction open. Either way the tables are made and changed only
by the Alembic revisions in web/db/migrations, applied by `upgrade()`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL, Connection, Engine

from oracle.errors import UsageError

DATABASE_URL_ENV = "ECOAI_DATABASE_URL"  # the URL (with its password) stays out of the process list
READER_MMAP_BYTES = 1 << 30  # address space, not memory: the pages are the OS's file cache
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LEGACY_SCHEMA_VERSION = "2"  # what the pre-Alembic `open_store` wrote into meta: the same tables as revision 0001
# Key of the session advisory lock that serialises concurrent upgrades (N workers starting at once).
MIGRATION_LOCK_KEY = 0x65636F6169_01  # "ecoai" + 1


def normalise_url(value: str | Path) -> URL:
    """A SQLAlchemy URL from a database URL or a SQLite file path; postgresql:// means psycopg 3."""
    text_value = str(value)
    if "://" not in text_value:
        return URL.create("sqlite", database=str(Path(text_value).expanduser().resolve()))
    try:
        url = make_url(text_value)
    except Exception:  # noqa: BLE001 - SQLAlchemy's ArgumentError; one clear line instead
        raise UsageError(f"not a database URL: {_redact(text_value)!r}") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url.set(drivername="sqlite")
    raise UsageError(f"unsupported database URL scheme {url.drivername!r}: use postgresql://… or sqlite:///…")


def _redact(value: str) -> str:
    try:
        return make_url(value).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return value.split("@")[-1]


class Database:
    """The index's engines: `engine` for the indexer (and upgrades), `reader()` for pages."""

    def __init__(self, location: str | Path) -> None:
        self.url = normalise_url(location)
        self.dialect = "sqlite" if self.url.drivername == "sqlite" else "postgresql"
        self.path = Path(self.url.database) if self.dialect == "sqlite" and self.url.database else None
        self._engine: Engine | None = None
        self._reader_engine: Engine | None = None

    def __repr__(self) -> str:
        return f"Database({self.display})"

    @property
    def display(self) -> str:
        """The URL without its password (for logs and the start-up line)."""
        return str(self.path) if self.path is not None else self.url.render_as_string(hide_password=True)

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    # --- engines --------------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._make_engine(readonly=False)
        return self._engine

    def reader(self) -> Connection:
        """A connection for the pages: read-only on SQLite, autocommit on PostgreSQL (no transaction held)."""
        if self._reader_engine is None:
            self._reader_engine = self._make_engine(readonly=True)
        return self._reader_engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _make_engine(self, readonly: bool) -> Engine:
        if self.is_postgresql:
            # A page is one short statement after another on one connection per worker; the indexer holds one
            # connection (and its lock) for its lifetime.
            connect_args: dict[str, object] = {"application_name": "ecoai-web" + ("" if readonly else "-writer")}
            if readonly:
                # The pages' statements are prepared on the server (psycopg does after a few runs) and each is an
                # index lookup or range scan whatever its parameters: plan each once, not at every execution.
                # (With `LIMIT $n` unknown, PostgreSQL would otherwise judge the generic plan of a leaderboard
                # page dearer than a custom one and plan the page again on every request.)
                connect_args["options"] = "-c plan_cache_mode=force_generic_plan"
            return create_engine(self.url, pool_size=2, max_overflow=4, pool_pre_ping=False,
                                 connect_args=connect_args)
        assert self.path is not None, "SQLite needs a file (no :memory: index: readers open it separately)"
        path = self.path
        if readonly:
            engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=5.0, check_same_thread=False))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
                path, timeout=30.0, check_same_thread=False))

        @event.listens_for(engine, "connect")
        def _configure(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            # Driver-level autocommit: SQLAlchemy's "begin" hook below decides where a transaction starts.
            dbapi_conn.isolation_level = None
            if readonly:
                dbapi_conn.execute(f"PRAGMA mmap_size={READER_MMAP_BYTES}")
            else:
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        if not readonly:
            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Connection) -> None:
                # Take the write lock up front: two writers queue (busy timeout) instead of one failing mid-way.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def dispose(self) -> None:
        for engine in (self._engine, self._reader_engine):
            if engine is not None:
                engine.dispose()
        self._engine = self._reader_engine = None

    # --- migrations -----------------------------------------------------------------------------------

    def alembic_config(self, connection: Connection | None = None):  # -> alembic.config.Config
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (head: the newest), keeping every row; safe to run concurrently.

        A pre-Alembic SQLite index of today's schema is adopted as revision 0001; one of an older schema is a
        cache of public chain data, so it is emptied and rebuilt (the indexer re-reads the events).
        """
        from alembic import command

        with self.engine.begin() as conn:
            if self.is_postgresql:  # released at commit: concurrent starts upgrade one after the other
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = self.alembic_config(conn)
            self._adopt_legacy(conn, config)
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def _adopt_legacy(self, conn: Connection, config) -> None:
        from alembic import command

        tables = set(inspect(conn).get_table_names())
        if "alembic_version" in tables or "meta" not in tables:
            return
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
        if version == LEGACY_SCHEMA_VERSION:
            command.stamp(config, "0001")
            return
        for table in tables:
            conn.exec_driver_sql(f'DROP TABLE "{table}"')


def resolve_database(url: str | None, db: Path | None, default_path: Path) -> Database:
    """--database-url, else $ECOAI_DATABASE_URL, else --db / the default SQLite file."""
    if url and db:
        raise UsageError("give either --database-url or --db, not both")
    url = url or (None if db else os.environ.get(DATABASE_URL_ENV) or None)
    return Database(url if url else (db or default_path))
