"""Admin pieces shared by the apps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from atom.permissions import actor_may


class ReadOnlyAdminMixin:
    """No add, change or delete: the rows are history, written by services only (admins and inlines alike)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def permission_check(permission: str) -> Callable[[Any, HttpRequest], bool]:
    """A ``has_<name>_permission`` method for an admin action stating ``permissions=["<name>"]``: the action is
    offered to, and runs for, only those ``actor_may`` lets do ``permission`` ("app_label.codename")."""

    def check(model_admin: Any, request: HttpRequest) -> bool:
        return actor_may(request.user, permission)

    check.__doc__ = f"Whether the user holds {permission}."
    return check
