"""Permissions shared by the apps. Every check fails closed: an exception inside it denies."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission

from atom.principals import acting_agent_id

logger = logging.getLogger("atom.permissions")


class FailClosedPermission(BasePermission):
    """Base class: subclasses implement ``allowed``; any exception there becomes a denial."""

    def allowed(self, request: Any, view: Any) -> bool:
        raise NotImplementedError

    def has_permission(self, request: Any, view: Any) -> bool:
        try:
            return bool(self.allowed(request, view))
        except Exception:
            logger.exception("Permission check %s failed; denying", type(self).__name__)
            return False


def _human(request: Any) -> bool:
    """An active, signed-in person: not anonymous, and not a token acting as one of the user's agents
    (an agent principal never holds its owner's staff status or permissions)."""
    user = request.user
    return bool(user and user.is_authenticated and user.is_active) and acting_agent_id(request) is None


class IsStaff(FailClosedPermission):
    """Authenticated staff only (never an agent principal)."""

    def allowed(self, request: Any, view: Any) -> bool:
        return _human(request) and bool(request.user.is_staff)


class HasAppPermissions(FailClosedPermission):
    """Staff, or a user holding every Django permission named in ``view.required_permissions`` (never an
    agent principal)."""

    def allowed(self, request: Any, view: Any) -> bool:
        if not _human(request):
            return False
        user = request.user
        if user.is_staff:
            return True
        required = getattr(view, "required_permissions", None)
        return bool(required) and bool(user.has_perms(required))


class DocsPermission(FailClosedPermission):
    """The schema and interactive docs: any signed-in user while developing, staff in production (never an
    agent principal)."""

    def allowed(self, request: Any, view: Any) -> bool:
        if not _human(request):
            return False
        return bool(request.user.is_staff) or not settings.PRODUCTION
