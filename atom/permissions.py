"""The one check of who may do what: the admin actions, the API permission classes and the management
commands all ask ``actor_may``. Being staff grants nothing by itself; only a permission (held directly, through
a group, or by being an active superuser) does.
"""

from __future__ import annotations

import logging
from typing import Any

from atom.api.errors import ForbiddenError

logger = logging.getLogger("atom.permissions")


def actor_may(actor: Any, permission: str) -> bool:
    """Whether ``actor`` (a user, or None) holds ``permission`` ("app_label.codename").

    Fails closed: an anonymous or inactive actor, or any exception while checking, is a refusal.
    """
    try:
        if actor is None or not getattr(actor, "is_authenticated", False) or not getattr(actor, "is_active", False):
            return False
        return bool(actor.has_perm(permission))
    except Exception:
        logger.exception("Permission check for %s failed; denying", permission)
        return False


def actor_require(actor: Any, permission: str) -> None:
    """``actor_may`` for callers that stop on a refusal (commands, services): raises ForbiddenError."""
    if not actor_may(actor, permission):
        raise ForbiddenError(f"This needs the permission {permission}.", code="PERMISSION_DENIED", details={"permission": permission})
