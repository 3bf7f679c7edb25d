"""Platform routes: token issue, refresh and logout, the health check, and the API's catch-all 404."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from atom.api.serializers import LogoutSerializer, refresh_token_parse
from atom.errors import NotFoundError
from atom.ratelimit import client_ip, rate_limit_enforce

logger = logging.getLogger("atom.api")


class TokenObtainView(TokenObtainPairView):
    """Issue an access/refresh pair; limited per client IP and per username."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rate_limit_enforce(request, group="login-ip", key=client_ip(request), rate=settings.ATOM_LOGIN_RATE_PER_IP)
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if isinstance(username, (str, int, float)) and not isinstance(username, bool):
            # Counted by its text, as the login serializer reads it: 12345 signs in as "12345".
            key = str(username).strip().lower()
            if key:
                rate_limit_enforce(request, group="login-user", key=key, rate=settings.ATOM_LOGIN_RATE_PER_USERNAME)
        return super().post(request, *args, **kwargs)


class TokenRefreshRotateView(TokenRefreshView):
    """Exchange a refresh token for a new pair; the old refresh token is spent."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rate_limit_enforce(request, group="refresh-ip", key=client_ip(request), rate=settings.ATOM_LOGIN_RATE_PER_IP)
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """Blacklist the caller's refresh token so it can never be used again."""

    @extend_schema(request=LogoutSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = refresh_token_parse(serializer.validated_data["refresh"])
        if str(token.payload.get(jwt_settings.USER_ID_CLAIM)) != str(request.user.pk):
            raise NotFoundError("No such refresh token for this user.", code="TOKEN_NOT_FOUND")
        outstanding = OutstandingToken.objects.filter(jti=token[jwt_settings.JTI_CLAIM]).first()
        if outstanding is None:
            raise NotFoundError("No such refresh token for this user.", code="TOKEN_NOT_FOUND")
        BlacklistedToken.objects.get_or_create(token=outstanding)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiNotFoundView(APIView):
    """Any unknown path under the API prefix: authenticated like every route, then 404."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFoundError("Not found.")

    post = put = patch = delete = get
