"""The stamp every token carries, and the token classes that put it there.

stamp = HMAC(signing key, user id : token generation : password hash). It changes when the password
changes (a change or a reset, by any path, with no hook needed) and when the generation is raised (sign
out everywhere, deactivation). A token whose stamp differs from the user's current one is revoked. The
stamp reveals neither the generation nor anything of the password hash.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token

from accounts.models import TokenGeneration
from atom.errors import DomainError

STAMP_CLAIM = "stamp"
_SALT = "atom.accounts.token-stamp"


class TokenRevokedError(DomainError, AuthenticationFailed):
    """A token issued before its user's password change, deactivation or sign-out everywhere (401).

    An AuthenticationFailed too, so that DRF treats it as a failed authentication (anonymous user,
    WWW-Authenticate header); the error shape comes from the DomainError side.
    """

    status_code = 401
    code = "TOKEN_REVOKED"

    def __init__(self) -> None:
        super().__init__("This token was revoked: sign in again.", code="TOKEN_REVOKED", status=401)


def token_stamp(*, user_id: Any, generation: int, password: str) -> str:
    """The stamp for a user at a generation with a password hash (keyed with the JWT signing key)."""
    value = f"{user_id}:{generation}:{password}"
    return salted_hmac(_SALT, value, secret=settings.JWT_SIGNING_KEY, algorithm="sha256").hexdigest()[:40]


def token_stamp_check(*, token: Token | dict[str, Any], expected: str) -> None:
    """Raise TokenRevokedError unless the token carries the expected stamp (a token without one is revoked:
    every token Atom issues carries it)."""
    carried = token.get(STAMP_CLAIM)
    if not isinstance(carried, str) or not constant_time_compare(carried, expected):
        raise TokenRevokedError


class StampedRefreshToken(RefreshToken):
    """A refresh token (and through ``access_token``, its access token) carrying the user's stamp."""

    @classmethod
    def for_user(cls, user: Any) -> StampedRefreshToken:
        token = cast(StampedRefreshToken, super().for_user(user))
        token[STAMP_CLAIM] = user_token_stamp(user=user)
        return token


def access_token_stamped(*, raw: str, user: Any) -> str:
    """An access token minted without the stamp (the agent runtime's), re-signed with the user's current one,
    so that it dies with its owner's other tokens."""
    token = AccessToken(raw)  # type: ignore[arg-type]
    token[STAMP_CLAIM] = user_token_stamp(user=user)
    return str(token)


def user_token_stamp(*, user: Any) -> str:
    """The user's current stamp, from an annotated user or with one query for the generation."""
    generation = getattr(user, "current_token_generation", None)
    if generation is None:
        generation = TokenGeneration.objects.filter(user_id=user.pk).values_list("generation", flat=True).first() or 0
    return token_stamp(user_id=user.pk, generation=int(generation), password=user.password)
