"""Governance test fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from governance.services.decision import governance_cache_clear


@pytest.fixture(autouse=True)
def _fresh_decision_cache() -> None:
    """Database rollbacks between tests rewind the action map's version; this process's cache must follow."""
    governance_cache_clear()


@pytest.fixture
def staff_user(staff_user: Any) -> Any:
    """The operator of these tests holds every permission of the governance app: being staff alone grants
    nothing."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="governance"))
    return get_user_model().objects.get(pk=staff_user.pk)
