"""The web's index on SQLite or PostgreSQL: engines, schema, Alembic migrations, indexer lock, summaries, reads."""
