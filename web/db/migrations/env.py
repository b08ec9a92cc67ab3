"""Alembic's entry point for the web index: runs the revisions on the connection Database.upgrade hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from web.db.engine import normalise_url

connection = context.config.attributes.get("connection")
if connection is not None:  # Database.upgrade: its transaction (and migration lock) wraps every revision
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
else:  # the `alembic` command line, e.g. `alembic -x url=postgresql://… history` (url: a database URL)
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    with create_engine(normalise_url(url)).begin() as conn:
        context.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
