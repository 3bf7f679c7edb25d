"""The one check of who may do what: the admin actions, the API permission classes and the management
commands all ask ``actor_may``. Being staff grants nothing by itself; only a permission (held directly, through
a group, or by being an active superuser) does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from atom.errors import ForbiddenError

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


def actor_argument(parser: CommandParser) -> None:
    """The ``--actor USERNAME`` option of every state-changing command."""
    parser.add_argument(
        "--actor",
        metavar="USERNAME",
        help="the user the command acts as, checked for the command's permissions (default: ATOM_COMMAND_ACTOR)",
    )


def command_actor(*, username: str | None, permissions: Sequence[str]) -> Any:
    """The active user a command acts as, holding every permission in ``permissions``, or CommandError.

    A command is one more way in, so it is checked like the admin and the API: shell access to manage.py
    names who acts, and that user's permissions decide.
    """
    name = username or settings.ATOM_COMMAND_ACTOR
    if not name:
        raise CommandError("Name the actor with --actor USERNAME (or ATOM_COMMAND_ACTOR): this command acts as a user.")
    actor = get_user_model().objects.filter(username=name, is_active=True).first()
    if actor is None:
        raise CommandError(f"No active user named {name!r} to act as (--actor).")
    missing = [permission for permission in permissions if not actor_may(actor, permission)]
    if missing:
        raise CommandError(f"{name!r} lacks the permission {', '.join(missing)} this command needs.")
    return actor
