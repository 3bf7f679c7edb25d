"""Routes of the accounts app: sign out everywhere."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from atom.api.serializers import error_responses
from atom.errors import ForbiddenError
from atom.principals import acting_agent_id


class LogoutAllView(APIView):
    """Revoke every access and refresh token of the caller, this one included (204)."""

    @extend_schema(request=None, responses={204: None, **error_responses(401, 403)})
    def post(self, request: Request) -> Response:
        if acting_agent_id(request) is not None:
            raise ForbiddenError("A token acting as an agent cannot sign its owner out.", code="AGENT_PRINCIPAL_FORBIDDEN")
        services.user_sign_out_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
