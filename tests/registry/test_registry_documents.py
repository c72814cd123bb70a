"""Versioned documents in every registry backend: compare-and-set writes, reads, listing and
concurrent writers (skewless/registry/documents.py)."""

from __future__ import annotations

import threading

import pytest
from registry_backends import RegistryBackend

from skewless.errors import RegistryConflictError


def test_documents_are_versioned_and_compared_on_write(registry_backend: RegistryBackend) -> None:
    registry = registry_backend.open()
    assert registry.get_document("experiment", "e1") is None
    assert registry.document_version("experiment", "e1") == 0
    assert registry.list_documents("experiment") == []
    assert registry.put_document("experiment", "e1", '{"a": 1}', expected=0) == 1
    with pytest.raises(RegistryConflictError, match="exists already, not version 0"):
        registry.put_document("experiment", "e1", '{"a": 2}', expected=0)
    assert registry.put_document("experiment", "e1", '{"a": 2}', expected=1) == 2
    with pytest.raises(RegistryConflictError, match="is at version 2, not version 1"):
        registry.put_document("experiment", "e1", '{"a": 3}', expected=1)
    assert registry.put_document("experiment", "e0", "{}", expected=None) == 1
    registry.put_document("pipeline_run", "e1", "{}", expected=0)
    found = registry_backend.open().get_document("experiment", "e1")
    assert found is not None and (found.version, found.body) == (2, '{"a": 2}')
    assert [d.name for d in registry.list_documents("experiment")] == ["e0", "e1"]
    other_project = registry_backend.open(project="other")
    assert other_project.list_documents("experiment") == []
    assert registry.delete_document("experiment", "e0") is True
    assert registry.delete_document("experiment", "e0") is False
    assert [d.name for d in registry.list_documents("experiment")] == ["e1"]


def test_concurrent_writers_never_lose_an_update(registry_backend: RegistryBackend) -> None:
    registry_backend.open().put_document("counter", "c", "0", expected=0)
    conflicts: list[int] = []

    def add(times: int) -> None:
        registry = registry_backend.open()
        for _ in range(times):
            while True:
                doc = registry.get_document("counter", "c")
                assert doc is not None
                try:
                    registry.put_document("counter", "c", str(int(doc.body) + 1), doc.version)
                    break
                except RegistryConflictError:
                    conflicts.append(1)

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = registry_backend.open().get_document("counter", "c")
    assert final is not None and int(final.body) == 100 and final.version == 101
