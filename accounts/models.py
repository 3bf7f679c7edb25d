"""Per-user token generation: the state behind "sign out everywhere"."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TokenGeneration(models.Model):
    """How many times a user's tokens were revoked all at once.

    Every token carries a stamp derived from this number and from the user's password hash (see
    ``accounts.tokens``). Raising the number (sign out everywhere, deactivation) or changing the password
    makes the stamp of every token issued before differ from the user's current one, and those tokens are
    refused. A user without a row is at generation 0. The issue time is never used: it has one-second
    resolution, and a token issued in the same second as a revocation would survive it.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="token_generation")
    generation = models.PositiveBigIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The platform's own acts, which belong to no domain app.
        permissions = [
            ("sign_out_users", "Can sign users out everywhere (revoke all their tokens)"),
            ("view_api_schema", "Can read the API schema and docs in production"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: generation {self.generation}"


class DemoAccount(models.Model):
    """A user made by ``seed_demo``. Its password was printed on a terminal, so in production it is refused
    whatever it presents: no sign-in, no session, no token."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="demo_account")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"demo account {self.user_id}"
