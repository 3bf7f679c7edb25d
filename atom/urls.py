"""URLconf: the admin, the health check and version 1 of the API."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path

from atom.api.views import ApiNotFoundView
from atom.favicon import favicon
from atom.health import healthz

api_v1: list[URLPattern | URLResolver] = [
    path("", include("atom.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("governance.api.urls")),
    path("", include("episodes.api.urls")),
    path("", include("bugs.api.urls")),
    re_path(r"^.*$", ApiNotFoundView.as_view(), name="api-not-found"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/dashboard/", include("console.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]

admin.site.site_header = "Atom operator console"
admin.site.site_title = "Atom"
admin.site.index_title = "Agents, memory and the hardening loop"

handler400 = "atom.api.errors.handler400"
handler403 = "atom.api.errors.handler403"
handler404 = "atom.api.errors.handler404"
handler500 = "atom.api.errors.handler500"
