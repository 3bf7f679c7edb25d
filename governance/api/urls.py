"""API routes of the governance app, mounted under /api/v1/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
