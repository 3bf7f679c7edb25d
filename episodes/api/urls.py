"""API routes of the episodes app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from atom.api import converters  # noqa: F401  (registers <id64:…>)
from episodes.api import views

urlpatterns: list[URLPattern] = [
    path("agents/<id64:agent_id>/interactions/", views.InteractionIngestView.as_view(), name="agent-interactions"),
    path("agents/<id64:agent_id>/episodes/", views.EpisodeRetrievalView.as_view(), name="agent-episodes"),
    path("episodes/<id64:episode_id>/", views.EpisodeDetailView.as_view(), name="episode-detail"),
]
