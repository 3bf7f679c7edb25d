"""Fixtures for the episodes tests."""

from __future__ import annotations

import pytest

from episodes.vector_index import vector_index


@pytest.fixture(autouse=True)
def _fresh_vector_index() -> None:
    """Each test starts with an empty per-process vector index: the test database is reset between
    tests (ids and versions start again), which a long-lived process never sees in production."""
    vector_index.clear()
