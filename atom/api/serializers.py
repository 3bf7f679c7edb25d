"""Serializers of the authentication routes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken


def refresh_token_parse(raw: str) -> RefreshToken:
    """Verify a refresh token (signature, claims, type, blacklist) or raise InvalidToken (401)."""
    try:
        return RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken({"detail": str(exc)}) from exc


class RotatingRefreshSerializer(serializers.Serializer[Any]):
    """Refresh with rotation where a refresh token can be spent exactly once.

    The upstream serializer checks the blacklist and writes to it in two steps, so two concurrent
    refreshes with one token could both succeed, and a refresh for a deleted user raised an
    unhandled DoesNotExist. Here the outstanding row is locked and the blacklist entry is created
    in one transaction: the unique blacklist row decides the race, and a missing or inactive user
    is a 401.
    """

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token = refresh_token_parse(attrs["refresh"])
        user_id = token.payload.get(api_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise InvalidToken({"detail": "No active account found for the given token."})
        with transaction.atomic():
            outstanding = OutstandingToken.objects.select_for_update().filter(jti=token[api_settings.JTI_CLAIM]).first()
            if outstanding is None:
                raise InvalidToken({"detail": "Token is not known."})
            _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
            if not created:
                raise InvalidToken({"detail": "Token is blacklisted."})
            rotated = self.rotated_for(user=user, spent=token)
        return {"access": str(rotated.access_token), "refresh": str(rotated)}

    def rotated_for(self, *, user: Any, spent: RefreshToken) -> RefreshToken:
        """The pair that replaces ``spent``: a subclass adds the claims the spent token must hand on."""
        return RefreshToken.for_user(user)


class LogoutSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField()


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorOutputSerializer(serializers.Serializer[Any]):
    """The one error shape of the API, for the OpenAPI schema."""

    error = ErrorDetailSerializer()


def error_responses(*statuses: int) -> dict[int, type[ErrorOutputSerializer]]:
    """OpenAPI responses for the given error statuses, all in the one error shape."""
    return dict.fromkeys(statuses, ErrorOutputSerializer)
