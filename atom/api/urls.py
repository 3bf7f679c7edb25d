"""Routes of the platform itself, mounted under /api/v1/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.settings import api_settings

from atom.api.permissions import DocsPermission
from atom.api.views import LogoutView, TokenObtainView, TokenRefreshRotateView

# The schema and docs also accept the admin's session so an operator signed in to the admin can read
# them in a browser; every other route takes tokens from the Authorization header only.
_docs_auth = [*api_settings.DEFAULT_AUTHENTICATION_CLASSES, SessionAuthentication]

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshRotateView.as_view(), name="token-refresh"),
    path("auth/logout/", LogoutView.as_view(), name="logout"),
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=_docs_auth, permission_classes=[DocsPermission]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=_docs_auth, permission_classes=[DocsPermission]),
        name="docs",
    ),
]
