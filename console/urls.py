"""The console's pages, mounted under the admin's URL space and guarded by the admin site."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, path

from console.views import dashboard_view

urlpatterns: list[URLPattern] = [
    path("", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
]
