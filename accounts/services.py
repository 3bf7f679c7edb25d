"""Writes of the accounts app: revoking every token of a user at once."""

from __future__ import annotations

import secrets
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import DemoAccount, TokenGeneration
from accounts.roles import ROLES, roles_apply


def user_tokens_revoke(*, user_id: Any) -> None:
    """Raise the user's token generation: every access and refresh token issued before is refused.

    One conditional UPDATE (after creating the row once), so concurrent revocations never lose each other.
    """
    with transaction.atomic():
        TokenGeneration.objects.get_or_create(user_id=user_id)
        TokenGeneration.objects.filter(user_id=user_id).update(generation=F("generation") + 1, revoked_at=timezone.now())


def user_sign_out_everywhere(*, user: Any) -> None:
    """Sign the user out of every device: all their tokens die (their admin sessions end by their own hash)."""
    user_tokens_revoke(user_id=user.pk)


def user_deactivation_revoke(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """Revoke the tokens of a user being deactivated (pre_save receiver of the user model).

    Inactive users are refused anyway; revoking at the moment of deactivation is what keeps their old
    tokens dead after a reactivation.
    """
    if instance.pk is None or instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    if get_user_model().objects.filter(pk=instance.pk, is_active=True).exists():
        user_tokens_revoke(user_id=instance.pk)


DEMO_OWNER = "demo"  # the demo agents' owner, made by the governance seeder


def demo_username(role: str) -> str:
    return "demo-" + role.lower().replace(" ", "-")


def demo_data_seed(*, large: bool, stdout: TextIO) -> None:
    """The roles, and one demo user per role with a generated password printed once (idempotent: an
    existing demo user keeps its password). Never in production: demo passwords are printed."""
    roles_apply(group_model=Group, permission_model=Permission)
    if settings.PRODUCTION:
        stdout.write("Roles applied; demo users are refused in production and none was created.\n")
        return
    users = get_user_model().objects
    for role in ROLES:
        username = demo_username(role)
        if users.filter(username=username).exists():
            stdout.write(f"  {username} ({role}) already exists; password unchanged.\n")
            continue
        password = secrets.token_urlsafe(15)
        with transaction.atomic():
            user = users.create_user(username=username, password=password, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
            DemoAccount.objects.create(user=user)
        stdout.write(f"  {username} ({role}) password: {password}  (shown only this once)\n")
    owner = users.filter(username=DEMO_OWNER).first()
    if owner is not None:
        DemoAccount.objects.get_or_create(user=owner)
