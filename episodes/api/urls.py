"""API routes of the episodes app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from episodes.api import views

urlpatterns: list[URLPattern] = [
    path("agents/<int:agent_id>/interactions/", views.InteractionIngestView.as_view(), name="agent-interactions"),
    path("agents/<int:agent_id>/episodes/", views.EpisodeRetrievalView.as_view(), name="agent-episodes"),
    path("episodes/<int:episode_id>/", views.EpisodeDetailView.as_view(), name="episode-detail"),
]
