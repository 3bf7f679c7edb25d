"""Bearer-token authentication that also refuses revoked tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from accounts.selectors import user_for_token
from accounts.tokens import token_stamp_check, user_token_stamp


class StampedJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, with the user's stamp checked before anything else about the user: a
    token issued before a password change, a deactivation or a sign-out everywhere answers TOKEN_REVOKED."""

    def get_user(self, validated_token: Token) -> Any:
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        user = user_for_token(user_id=user_id)
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        token_stamp_check(token=validated_token, expected=user_token_stamp(user=user))
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if settings.PRODUCTION and user.is_demo_account:
            raise AuthenticationFailed("Demo accounts are refused in production", code="demo_account")
        return user
