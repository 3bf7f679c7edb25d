"""API routes of the episodes app, mounted under /api/v1/."""

from django.urls import URLPattern, path, register_converter

from episodes.api import views

MAX_ID = 2**63 - 1


class Id64Converter:
    """A positive id that fits the database's 64-bit integer; anything larger does not match (404),
    where ``<int:…>`` would hand the database a number it cannot bind (a 500)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("id out of range")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(Id64Converter, "episodes_id64")

urlpatterns: list[URLPattern] = [
    path("agents/<episodes_id64:agent_id>/interactions/", views.InteractionIngestView.as_view(), name="agent-interactions"),
    path("agents/<episodes_id64:agent_id>/episodes/", views.EpisodeRetrievalView.as_view(), name="agent-episodes"),
    path("episodes/<episodes_id64:episode_id>/", views.EpisodeDetailView.as_view(), name="episode-detail"),
]
