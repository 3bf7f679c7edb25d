"""Writes of the accounts app: revoking every token of a user at once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import TokenGeneration


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
