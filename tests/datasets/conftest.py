"""The PostgreSQL fixtures, for the one test that keeps datasets in a PostgreSQL registry."""

from postgres_server import postgres_server, postgres_url  # noqa: F401
