"""Serializers of the token routes: every token issued carries the user's stamp."""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.selectors import user_for_token
from accounts.tokens import STAMP_CLAIM, StampedRefreshToken, token_stamp_check, user_token_stamp
from atom.api.serializers import RotatingRefreshSerializer, refresh_token_parse


class StampedTokenObtainSerializer(TokenObtainPairSerializer):
    """Sign-in: a token pair stamped with the user's current stamp."""

    token_class = StampedRefreshToken


class StampedRefreshSerializer(RotatingRefreshSerializer):
    """Refresh with rotation, refusing a revoked refresh token (TOKEN_REVOKED).

    The rotated pair carries the stamp that was checked, not one read again later: a sign-out that lands
    between the check and the issue revokes the new pair as well, so a racing refresh never outlives it.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token = refresh_token_parse(attrs["refresh"])
        user = user_for_token(user_id=token.payload.get(api_settings.USER_ID_CLAIM))
        if user is not None:
            token_stamp_check(token=token, expected=user_token_stamp(user=user))
        return super().validate(attrs)

    def rotated_for(self, *, user: Any, spent: RefreshToken) -> RefreshToken:
        rotated = StampedRefreshToken.for_user(user)
        rotated[STAMP_CLAIM] = spent[STAMP_CLAIM]
        return rotated
