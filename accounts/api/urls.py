"""API routes of the accounts app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from accounts.api import views

urlpatterns: list[URLPattern] = [
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
]
