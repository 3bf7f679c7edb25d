"""API routes of the episodes app, mounted under /api/v1/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
