"""Django's model backend, refusing demo accounts in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from accounts.models import DemoAccount


class AtomModelBackend(ModelBackend):
    """Sign-in (admin and token) and admin sessions: as Django's, except that a demo account cannot
    authenticate in production."""

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return not (settings.PRODUCTION and DemoAccount.objects.filter(user_id=user.pk).exists())
