"""Offline engines: point-in-time retrieval and latest-per-key pulls over source files.

The engine-neutral parts live here: where a source's files are (:mod:`.sources`), the
description of each query (:mod:`.query`), the SQL rendered from it (:mod:`.sql`) and the
entity frame's normalization (:mod:`.entity`). Each engine is a sub-package (``duckdb/``)
with its dialect and its ``OfflineEngine`` implementation.
"""
