"""Alembic environment of the web index (env.py) and its revisions (versions/), applied by Database.upgrade."""
