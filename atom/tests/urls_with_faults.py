"""The real URLconf plus routes that fail on purpose, for the error-shape tests."""

from typing import Any

from django.urls import URLPattern, URLResolver, path
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from atom.urls import handler400, handler403, handler404, handler500  # noqa: F401 - same handlers as production
from atom.urls import urlpatterns as real_urlpatterns


class ExplodingView(APIView):
    """Raises an unexpected exception after authentication."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise RuntimeError("secret internals: /etc/passwd DATABASE_URL=postgres://u:p@h/db")


class EchoView(APIView):
    """Parses the JSON body and echoes its keys."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"keys": sorted(request.data)})


class BrokerDownView(APIView):
    """Enqueues a task while the broker is unreachable."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class DeleteAgentView(APIView):
    """Deletes an agent outright, as careless code might: its history must stop it (PROTECT)."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from governance.models import Agent

        body: dict[str, Any] = dict(request.data)
        Agent.objects.filter(pk=int(body["agent"])).delete()
        return Response(status=204)


urlpatterns: list[URLPattern | URLResolver] = [
    path("fault/explode/", ExplodingView.as_view()),
    path("fault/echo/", EchoView.as_view()),
    path("fault/broker-down/", BrokerDownView.as_view()),
    path("fault/delete-agent/", DeleteAgentView.as_view()),
    *real_urlpatterns,
]
