"""A throw-away PostgreSQL server (the Debian binaries, run as the `postgres` user) for tests and benches."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from oracle.net import free_port

# Debian's `postgresql` package puts the server binaries here, outside PATH (pg_ctlcluster wraps them).
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SERVER_USER = "postgres"  # postgres refuses to run as root


def pg_bin(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", SERVER_USER, "--", *argv]


class TempPostgres:
    """initdb into a temporary directory, listen on 127.0.0.1:<free port> (unix sockets in the directory too),
    trust authentication for the loopback only; stop() shuts it down and deletes everything."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                         "max_connections": "60", **(settings or {})}
        self.dir: Path | None = None
        self.port = 0

    @staticmethod
    def available() -> bool:
        return pg_bin("initdb") is not None and pg_bin("pg_ctl") is not None

    def start(self) -> TempPostgres:
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="ecoai-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        data = self.dir / "data"
        subprocess.run(_as_server_user([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                        "--no-sync", "--no-instructions"]),
                       check=True, capture_output=True, text=True, timeout=120)
        self.port = free_port()
        options = " ".join(f"-c {k}={v}" for k, v in {"listen_addresses": "127.0.0.1", "port": str(self.port),
                                                        "unix_socket_directories": str(self.dir),
                                                        **self.settings}.items())
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-l", str(self.dir / "server.log"), "-w",
                                        "-t", "60", "-o", options, "start"]),
                       check=True, capture_output=True, text=True, timeout=90)
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh database; returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        pg_ctl = pg_bin("pg_ctl")
        try:
            if (self.dir / "data" / "postmaster.pid").exists() and pg_ctl:
                subprocess.run(_as_server_user([pg_ctl, "-D", str(self.dir / "data"), "-m", "fast", "-w",
                                                "-t", "60", "stop"]), capture_output=True, timeout=90)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
