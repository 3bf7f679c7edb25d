"""API routes of the governance app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from atom.api import converters  # noqa: F401  (registers <id64:…>)
from governance.api import views

urlpatterns: list[URLPattern] = [
    path("agents/", views.AgentListView.as_view(), name="agent-list"),
    path("agents/<id64:agent_id>/", views.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<id64:agent_id>/actions/", views.AgentActionView.as_view(), name="agent-actions"),
    path("agents/<id64:agent_id>/feedback/", views.AgentFeedbackView.as_view(), name="agent-feedback"),
    path("agents/<id64:agent_id>/token/", views.AgentTokenView.as_view(), name="agent-token"),
    path("proposals/", views.ProposalListView.as_view(), name="proposal-list"),
    path("proposals/<id64:proposal_id>/", views.ProposalDetailView.as_view(), name="proposal-detail"),
    path("proposals/<id64:proposal_id>/approve/", views.ProposalApproveView.as_view(), name="proposal-approve"),
    path("proposals/<id64:proposal_id>/reject/", views.ProposalRejectView.as_view(), name="proposal-reject"),
    path("canvases/", views.CanvasListView.as_view(), name="canvas-list"),
    path("canvases/<id64:canvas_id>/", views.CanvasDetailView.as_view(), name="canvas-detail"),
    path("canvases/<id64:canvas_id>/execute/", views.CanvasExecuteView.as_view(), name="canvas-execute"),
    path("audit/", views.AuditListView.as_view(), name="audit-list"),
]
