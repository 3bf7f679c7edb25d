"""Permissions shared by the apps. Every check fails closed: an exception inside it denies."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission

from atom.permissions import actor_may
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


class HasAppPermissions(FailClosedPermission):
    """A user holding every Django permission named in ``view.required_permissions``, as ``actor_may`` decides
    (never an agent principal; being staff grants nothing by itself)."""

    def allowed(self, request: Any, view: Any) -> bool:
        if not _human(request):
            return False
        required = getattr(view, "required_permissions", None) or ()
        return bool(required) and all(actor_may(request.user, permission) for permission in required)


class DocsPermission(FailClosedPermission):
    """The schema and interactive docs: any signed-in user while developing, in production the holders of
    ``accounts.view_api_schema`` (never an agent principal)."""

    def allowed(self, request: Any, view: Any) -> bool:
        if not _human(request):
            return False
        return not settings.PRODUCTION or actor_may(request.user, "accounts.view_api_schema")
