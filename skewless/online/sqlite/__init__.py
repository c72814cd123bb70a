"""The embedded SQLite online store (``online_store: {type: sqlite, path: ...}``)."""
