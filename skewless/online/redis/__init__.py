"""The shared Redis online store (``online_store: {type: redis, connection_string: ...}``)."""
