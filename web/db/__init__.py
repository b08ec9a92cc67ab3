"""The web's SQLite index: schema (schema.py), summary tables (summaries.py) and the pages' reads (queries.py)."""
