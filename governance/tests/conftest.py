"""Governance test fixtures."""

from __future__ import annotations

import pytest

from governance.services.decision import governance_cache_clear


@pytest.fixture(autouse=True)
def _fresh_decision_cache() -> None:
    """Database rollbacks between tests rewind the action map's version; this process's cache must follow."""
    governance_cache_clear()
